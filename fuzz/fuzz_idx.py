"""atheris harness for ``fastnn.data.read_idx``: ``python fuzz/fuzz_idx.py -runs=100000``.

The first byte of each input chooses how the rest is stored: as it is (so the fuzzer can
also build gzip files byte by byte) or gzip-compressed (so mutations reach the IDX parser
behind a valid gzip stream). A correct answer is an array whose bytes are the file's
data, or ``DataError`` naming the file. See ``_harness.py``.
"""
import gzip

import _harness
import numpy as np

with _harness.instrumented_imports():
    from fastnn.data import DataError, read_idx, write_idx

FILE = _harness.InputFile(".idx")


def test_one_input(data):
    compress, body = (data[:1] == b"\x01"), data[1:]
    path = FILE.write(gzip.compress(body, mtime=0) if compress else body)
    try:
        array = read_idx(path)
    except DataError as exc:
        _harness.check_message(path, exc)
        return
    # the IDX bytes read_idx parsed: body, or body decompressed if it is a gzip file itself
    raw = body if compress or body[:2] != b"\x1f\x8b" else gzip.decompress(body)
    back = FILE.path + ".back"
    write_idx(back, array)
    with open(back, "rb") as f:
        if f.read() != raw:
            raise AssertionError(f"read_idx returned {array.dtype} {array.shape} but "
                                 f"write_idx does not write the same bytes back")


def seeds():
    rng = np.random.default_rng(0)
    path = FILE.path + ".seed"
    for dtype, shape in [(np.uint8, (3, 4, 4)), (np.uint8, (7,)), (np.int16, (2, 3)),
                         (np.float32, (2, 2)), (np.float64, (1, 2, 1, 2)), (np.int8, (5,))]:
        write_idx(path, (rng.normal(size=shape) * 50).astype(dtype))
        with open(path, "rb") as f:
            raw = f.read()
        yield b"\x00" + raw
        yield b"\x01" + raw


if __name__ == "__main__":
    _harness.main("idx", test_one_input, seeds)
