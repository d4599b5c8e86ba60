"""Property-based fuzzing of the file loaders (issue 6, "Fuzzed inputs").

Every property writes real files to ``tmp_path`` and hands them to a loader:
``fastnn.data.read_idx``, ``fastnn.data.load_mnist_pickle``, ``fastnn.Network.load``
(fastnn's model format) and ``fastnn.network2.load`` (the book's JSON format). The
inputs are arbitrary bytes, arbitrary bytes behind a valid prefix, mutations of valid
files (bit flips, truncations, insertions, deletions, splices) and structured files
whose fields take arbitrary values. Each loader must either return a correct result or
raise its documented exception, whose message names the file: ``DataError`` for the
data readers, ``ModelFileError`` for the model loaders (both ``ValueError``
subclasses). Any other exception (KeyError, TypeError, IndexError, MemoryError, ...)
fails the test, and :func:`_no_hang` fails any single load that runs past
``HANG_SECONDS`` (a hang: a load of these small files takes milliseconds). Hypothesis's
per-example ``deadline`` is off: it was 5 s, a timing assertion that a busy two-core CI
machine (or a first call that loads compiled kernels) can break without any fault in a
loader. Headers and lengths claiming huge sizes are checked with ``tracemalloc``: they
must be refused while the peak of traced allocations stays under ``PEAK_LIMIT``.

The default run tries a few hundred inputs per property (about half a minute in all).
Set ``FASTNN_FUZZ_EXAMPLES=N`` for a long run with N inputs per property; at the end of
the module every property's count of inputs tried is printed, and written as JSON to
the file named by ``FASTNN_FUZZ_REPORT`` if that is set.
"""

import contextlib
import gzip
import io
import json
import math
import os
import pickle
import pickletools
import signal
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="pip install hypothesis (the test extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import fastnn  # noqa: E402
from fastnn import ModelFileError, Network, network2  # noqa: E402
from fastnn._io import save_model  # noqa: E402
from fastnn.data import DataError, load_mnist_pickle, read_idx, write_idx  # noqa: E402

#: inputs per property in a long run (FASTNN_FUZZ_EXAMPLES); 0: the default counts below
LONG_RUN = int(os.environ.get("FASTNN_FUZZ_EXAMPLES", "0") or 0)
#: a single load taking longer than this is a hang
HANG_SECONDS = 30
#: traced allocation peak allowed while refusing a header that claims a huge size
PEAK_LIMIT = 10 * 2 ** 20

#: property name -> inputs tried in this run (printed at the end of the module)
TRIED = {}


def fuzz(default_examples):
    """Hypothesis settings: ``default_examples`` inputs, or ``FASTNN_FUZZ_EXAMPLES``."""
    return settings(max_examples=LONG_RUN or default_examples, deadline=None,
                    database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def _tried(name):
    TRIED[name] = TRIED.get(name, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request):
    """Print (and optionally write) how many inputs each property tried."""
    yield
    if not TRIED:
        return
    lines = [f"fuzz: {name}: {count:,} inputs" for name, count in sorted(TRIED.items())]
    lines.insert(0, f"fuzz: inputs per property (FASTNN_FUZZ_EXAMPLES={LONG_RUN or 'unset'})")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + "\n".join(lines))
    report = os.environ.get("FASTNN_FUZZ_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump({"FASTNN_FUZZ_EXAMPLES": LONG_RUN, "tried": TRIED}, f, indent=1,
                      sort_keys=True)


class _Hang(Exception):
    """A single load ran past HANG_SECONDS."""


@contextlib.contextmanager
def _no_hang(what):
    """Fail with _Hang if the body runs longer than HANG_SECONDS (SIGALRM, main thread)."""
    def alarm(signum, frame):
        raise _Hang(f"loading {what} took more than {HANG_SECONDS} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _load(loader, path, error):
    """``loader(path)``, or None if it raised ``error`` with a message naming ``path``.

    Any other exception propagates and fails the property.
    """
    try:
        with _no_hang(path):
            return loader(path)
    except error as exc:
        assert str(path) in str(exc), f"error message does not name the file: {exc}"
        return None


@contextlib.contextmanager
def _peak_below(limit=PEAK_LIMIT):
    """Assert that the traced allocation peak of the body stays below ``limit`` bytes."""
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < limit, f"allocated {peak:,} bytes (peak), expected < {limit:,}"


# ---------------------------------------------------------------- mutations

#: one edit of a byte string: (kind, relative position, relative position, bytes, bit)
_EDIT = st.tuples(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite",
                                   "splice"]),
                  st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True),
                  st.binary(min_size=1, max_size=16), st.integers(0, 7))
EDITS = st.lists(_EDIT, min_size=1, max_size=4)


def mutate(data, edits):
    """Apply ``edits`` (drawn from EDITS) to ``data``: bit flips, truncations, insertions,
    deletions, overwrites and splices (a chunk of the data copied elsewhere)."""
    data = bytearray(data)
    for kind, u, v, chunk, bit in edits:
        at = int(u * (len(data) + 1))
        if kind == "flip" and data:
            data[min(at, len(data) - 1)] ^= 1 << bit
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = chunk
        elif kind == "delete":
            del data[at:at + 1 + int(v * 64)]
        elif kind == "overwrite":
            data[at:at + len(chunk)] = chunk
        elif kind == "splice":
            start = int(v * len(data))
            data[at:at] = data[start:start + 1 + len(chunk) * 8]
    return bytes(data)


def _gzip(data):
    return gzip.compress(data, mtime=0)


# ---------------------------------------------------------------- IDX

#: IDX type code -> big-endian dtype as stored
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _check_idx_result(array, raw, tmp_path):
    """A successful read of the IDX bytes ``raw`` (decompressed): compare with the
    header and data as stored, and check that write_idx writes the same bytes back."""
    code, ndim = raw[2], raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    assert raw[:2] == b"\0\0" and code in IDX_DTYPES and 1 <= ndim <= 4
    assert array.shape == shape
    stored = np.dtype(IDX_DTYPES[code])
    assert array.dtype == stored.newbyteorder("=")
    assert array.astype(stored).tobytes() == raw[4 + 4 * ndim:], "data differs from file"
    back = tmp_path / "round-trip.idx"
    write_idx(back, array)
    assert back.read_bytes() == raw, "write_idx does not write the bytes read back"


def _read_idx_checked(tmp_path, data, compressed):
    """Write ``data`` (compressing it if asked), read it with read_idx, check the outcome."""
    path = tmp_path / ("input.idx.gz" if compressed else "input.idx")
    path.write_bytes(_gzip(data) if compressed else data)
    array = _load(read_idx, path, DataError)
    if array is not None:
        _check_idx_result(array, data, tmp_path)
    return array


@fuzz(300)
@given(data=st.binary(max_size=3000))
def test_read_idx_arbitrary_bytes(tmp_path, data):
    _tried("read_idx: arbitrary bytes")
    path = tmp_path / "input.idx"
    path.write_bytes(data)
    array = _load(read_idx, path, DataError)
    if array is not None:
        raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        _check_idx_result(array, raw, tmp_path)


@st.composite
def idx_files(draw):
    """An IDX header (often valid, sometimes not) followed by data of about the right size."""
    code = draw(st.one_of(st.sampled_from(sorted(IDX_DTYPES)), st.integers(0, 255)))
    ndim = draw(st.one_of(st.integers(1, 4), st.integers(0, 255)))
    small = st.integers(1, 5)
    dims = draw(st.lists(st.one_of(small, small, st.integers(0, 2 ** 32 - 1)),
                         min_size=min(ndim, 5), max_size=min(ndim, 5)))
    zeros = draw(st.sampled_from([b"\0\0", b"\0\0", b"\0\0", b"\x01\0", b"\0\x08"]))
    header = zeros + bytes([code, ndim]) + b"".join(struct.pack(">I", d) for d in dims)
    itemsize = np.dtype(IDX_DTYPES.get(code, ">u1")).itemsize
    n_bytes = min(math.prod(dims) * itemsize, 4096)
    size = draw(st.one_of(st.just(n_bytes), st.integers(max(0, n_bytes - 3), n_bytes + 3),
                          st.integers(0, 4096)))
    body = draw(st.binary(min_size=size, max_size=size))
    return draw(st.sampled_from([header, header[:draw(st.integers(0, len(header)))]])) + body


@fuzz(300)
@given(data=idx_files(), compressed=st.booleans())
def test_read_idx_header_and_arbitrary_data(tmp_path, data, compressed):
    _tried("read_idx: IDX header + arbitrary data")
    _read_idx_checked(tmp_path, data, compressed)


def _valid_idx_bytes(rng_seed, code, shape):
    rng = np.random.default_rng(rng_seed)
    stored = np.dtype(IDX_DTYPES[code])
    n_bytes = math.prod(shape) * stored.itemsize
    return (bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
            + rng.integers(0, 256, n_bytes, dtype=np.uint8).tobytes())


@fuzz(300)
@given(seed=st.integers(0, 2 ** 16), code=st.sampled_from(sorted(IDX_DTYPES)),
       shape=st.lists(st.integers(1, 6), min_size=1, max_size=4), edits=EDITS,
       where=st.sampled_from(["raw", "gzip content", "gzip file"]))
def test_read_idx_mutated_valid_file(tmp_path, seed, code, shape, edits, where):
    _tried("read_idx: mutated valid IDX (raw, gzip)")
    valid = _valid_idx_bytes(seed, code, shape)
    if where == "gzip file":
        # mutate the compressed bytes: header, deflate stream, CRC and length
        data = mutate(_gzip(valid), edits)
        path = tmp_path / "input.idx.gz"
        path.write_bytes(data)
        array = _load(read_idx, path, DataError)
        if array is not None:
            _check_idx_result(array, gzip.decompress(data), tmp_path)
    else:
        _read_idx_checked(tmp_path, mutate(valid, edits), compressed=where == "gzip content")


#: headers claiming huge data: 10**12 items, and sizes whose product overflows int64
HUGE_SHAPES = [(10 ** 6, 10 ** 6), (5 ** 12, 2 ** 12), (2 ** 32 - 1,) * 4,
               (2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1), (2 ** 31, 2 ** 31, 4)]


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("shape", HUGE_SHAPES, ids=str)
@pytest.mark.parametrize("code", [0x08, 0x0E], ids=["u1", "f8"])
def test_read_idx_huge_header_refused_before_allocating(tmp_path, shape, code, compressed):
    assert math.prod(shape) >= 10 ** 12
    data = bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) \
        + bytes(1000)
    path = tmp_path / "huge.idx"
    path.write_bytes(_gzip(data) if compressed else data)
    with _peak_below(), pytest.raises(DataError, match="header") as err:
        read_idx(path)
    assert str(path) in str(err.value)


@fuzz(100)
@given(dims=st.lists(st.integers(2 ** 20, 2 ** 32 - 1), min_size=2, max_size=4),
       code=st.sampled_from(sorted(IDX_DTYPES)), compressed=st.booleans(),
       tail=st.binary(max_size=256))
def test_read_idx_claimed_sizes_never_allocated(tmp_path, dims, code, compressed, tail):
    _tried("read_idx: huge claimed sizes (tracemalloc)")
    data = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + tail
    path = tmp_path / "huge.idx"
    path.write_bytes(_gzip(data) if compressed else data)
    with _peak_below():
        assert _load(read_idx, path, DataError) is None


# ---------------------------------------------------------------- MNIST pickle

def _small_parts(seed=0, sizes=(3, 2, 2)):
    rng = np.random.default_rng(seed)
    return tuple((rng.random((n, 784), dtype=np.float32),
                  rng.integers(0, 10, n).astype(np.int64)) for n in sizes)


def _check_pickle_result(parts):
    """A successful load_mnist_pickle: three (images, labels) pairs as documented."""
    assert isinstance(parts, tuple) and len(parts) == 3
    for images, labels in parts:
        assert isinstance(images, np.ndarray) and type(images) is np.ndarray
        assert images.ndim == 2 and images.shape[1] == 784 and images.dtype.kind == "f"
        assert isinstance(labels, np.ndarray) and labels.ndim == 1
        assert labels.dtype.kind in "iu" and len(labels) == len(images)
        assert np.all((labels >= 0) & (labels <= 9))


#: valid pickles of small MNIST-like data, one per protocol (made once)
_VALID_PICKLES = [pickle.dumps(_small_parts(seed=p, sizes=(2, 1, 1)), protocol=p)
                  for p in range(pickle.HIGHEST_PROTOCOL + 1)]


@fuzz(300)
@given(data=st.binary(max_size=3000), compressed=st.booleans())
def test_load_mnist_pickle_arbitrary_bytes(tmp_path, data, compressed):
    _tried("load_mnist_pickle: arbitrary bytes")
    path = tmp_path / "input.pkl.gz"
    path.write_bytes(_gzip(data) if compressed else data)
    parts = _load(load_mnist_pickle, path, DataError)
    if parts is not None:
        _check_pickle_result(parts)


@fuzz(300)
@given(which=st.sampled_from(range(len(_VALID_PICKLES))), edits=EDITS,
       where=st.sampled_from(["raw", "gzip content", "gzip file"]))
def test_load_mnist_pickle_mutated_valid_pickle(tmp_path, which, edits, where):
    _tried("load_mnist_pickle: mutated valid pickle (protocols 0-5, raw, gzip)")
    valid = _VALID_PICKLES[which]
    if where == "raw":
        data = mutate(valid, edits)
    elif where == "gzip content":
        data = _gzip(mutate(valid, edits))
    else:
        data = mutate(_gzip(valid), edits)
    path = tmp_path / "input.pkl.gz"
    path.write_bytes(data)
    parts = _load(load_mnist_pickle, path, DataError)
    if parts is not None:
        _check_pickle_result(parts)


_ARRAYS = st.builds(
    lambda dtype, shape, seed: np.random.default_rng(seed).integers(
        0, 12, shape).astype(dtype),
    st.sampled_from(["f4", "f8", "i8", "u1", "i4", "f2", "c8", "?", "U3", "S2", "O", ">f4"]),
    st.one_of(st.tuples(st.integers(0, 3)), st.tuples(st.integers(0, 3), st.just(784)),
              st.tuples(st.integers(0, 3), st.integers(0, 5))),
    st.integers(0, 100))
_PICKLE_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
              st.binary(max_size=8), _ARRAYS),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.tuples(inner, inner, inner),
                            st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=12)


@fuzz(200)
@given(obj=_PICKLE_VALUES, protocol=st.integers(0, pickle.HIGHEST_PROTOCOL),
       compressed=st.booleans())
def test_load_mnist_pickle_structured_values(tmp_path, obj, protocol, compressed):
    _tried("load_mnist_pickle: pickles of arbitrary values and arrays")
    data = pickle.dumps(obj, protocol=protocol)
    path = tmp_path / "input.pkl.gz"
    path.write_bytes(_gzip(data) if compressed else data)
    parts = _load(load_mnist_pickle, path, DataError)
    if parts is not None:
        _check_pickle_result(parts)


# pickles that try to run code -------------------------------------------------------

def _global(module, name, protocol):
    """Opcodes pushing the global module.name (GLOBAL, or STACK_GLOBAL from protocol 4)."""
    if protocol < 4:
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"
    return (b"\x8c" + bytes([len(module)]) + module.encode()
            + b"\x8c" + bytes([len(name)]) + name.encode() + b"\x93")


def _call(module, name, arg, protocol):
    """A pickle calling module.name(arg) as its result."""
    head = b"\x80" + bytes([max(2, protocol)]) if protocol >= 2 else b""
    text = arg.encode()
    return (head + _global(module, name, protocol) + b"(X" + struct.pack("<I", len(text))
            + text + b"tR.")


class _Payload:
    """Pickles as a call of ``func(arg)``: plain pickle.load would run it."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


#: (module, name, argument template) of calls that would create the marker file
_CODE_RUNNERS = [
    ("os", "system", "touch {marker}"),
    ("posix", "system", "touch {marker}"),
    ("builtins", "eval", "open({marker!r}, 'w').close()"),
    ("builtins", "exec", "open({marker!r}, 'w').close()"),
    ("__builtin__", "eval", "open({marker!r}, 'w').close()"),
    ("subprocess", "getoutput", "touch {marker}"),
    ("subprocess", "check_call", "touch {marker}"),
    ("numpy", "load", "{marker}"),
    ("numpy.core.multiarray", "scalar", "{marker}"),
    ("pickle", "loads", "{marker}"),
    ("io", "open", "{marker}"),
    ("builtins", "getattr", "{marker}"),
]


@pytest.mark.parametrize("module, name, template", _CODE_RUNNERS,
                         ids=[f"{m}.{n}" for m, n, _ in _CODE_RUNNERS])
@pytest.mark.parametrize("protocol", [0, 2, 4])
@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
def test_pickle_that_runs_code_is_refused(tmp_path, module, name, template, protocol,
                                          compressed):
    marker = tmp_path / "pwned"
    data = _call(module, name, template.format(marker=str(marker)), protocol)
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(_gzip(data) if compressed else data)
    with pytest.raises(DataError, match=f"refusing to load global {module}.{name} from"):
        load_mnist_pickle(path)
    assert not marker.exists(), "the pickle's payload ran"


@pytest.mark.parametrize("func", [os.system, eval, exec], ids=["os.system", "eval", "exec"])
def test_reduce_payload_inside_valid_data_is_refused(tmp_path, func):
    marker = tmp_path / "pwned"
    arg = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w').close()"
    (x, y), part, _ = _small_parts()
    data = pickle.dumps(((x, y), part, (x, _Payload(func, arg))), protocol=2)
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(_gzip(data))
    with pytest.raises(DataError, match="refusing to load global"):
        load_mnist_pickle(path)
    assert not marker.exists(), "the pickle's payload ran"


@fuzz(100)
@given(runner=st.sampled_from(_CODE_RUNNERS), protocol=st.integers(0, 5),
       edits=st.one_of(st.just([]), EDITS), compressed=st.booleans())
def test_mutated_code_running_pickles_never_run(tmp_path, runner, protocol, edits,
                                                compressed):
    _tried("load_mnist_pickle: mutated code-running pickles")
    marker = tmp_path / "pwned"
    module, name, template = runner
    data = mutate(_call(module, name, template.format(marker=str(marker)), protocol), edits) \
        if edits else _call(module, name, template.format(marker=str(marker)), protocol)
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(_gzip(data) if compressed else data)
    assert _load(load_mnist_pickle, path, DataError) is None
    assert not marker.exists(), "the pickle's payload ran"


# pickles that claim huge sizes ------------------------------------------------------

_ND = _global("numpy", "ndarray", 2)
_REC = _global("numpy.core.multiarray", "_reconstruct", 2)
_BIG = b"J\0\0\0\x10J\0\0\0\x10\x86"  # the tuple (2**28, 2**28): 2**56 items
_HUGE_PICKLES = {
    "BINBYTES8 of 2**40 bytes": b"\x80\x04\x8e" + struct.pack("<Q", 2 ** 40) + b"abc.",
    "BINBYTES of 2**31 bytes": b"\x80\x03B" + struct.pack("<I", 2 ** 31) + b"abc.",
    "BINUNICODE8 of 2**40 bytes": b"\x80\x04\x8d" + struct.pack("<Q", 2 ** 40) + b"abc.",
    "BYTEARRAY8 of 2**40 bytes": b"\x80\x05\x96" + struct.pack("<Q", 2 ** 40) + b"abc.",
    "FRAME of 2**40 bytes": b"\x80\x04\x95" + struct.pack("<Q", 2 ** 40) + b"N.",
    "LONG4 of 2**31 bytes": b"\x80\x02\x8b" + struct.pack("<i", 2 ** 31 - 1) + b"abc.",
    "numpy.ndarray((2**28, 2**28))": b"\x80\x02" + _ND + _BIG + b"\x85R.",
    "NEWOBJ numpy.ndarray": b"\x80\x02" + _ND + _BIG + b"\x85\x81.",
    "_reconstruct(ndarray, (2**28, 2**28))": b"\x80\x02" + _REC + _ND + _BIG
                                             + b"U\x01b\x87R.",
    # the C unpickler grows its memo table to twice the index stored (found by fuzzing:
    # a mutated pickle made it allocate and touch 16 GB)
    "LONG_BINPUT to memo index 2**31": b"\x80\x02Nr" + struct.pack("<I", 2 ** 31) + b".",
    "LONG_BINPUT to memo index 2**27": b"\x80\x02Nr" + struct.pack("<I", 2 ** 27) + b".",
    "PUT to memo index 10**9": b"Np1000000000\n.",
}


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("name", list(_HUGE_PICKLES))
def test_pickle_claiming_huge_sizes_refused_before_allocating(tmp_path, name, compressed):
    data = _HUGE_PICKLES[name]
    path = tmp_path / "huge.pkl.gz"
    path.write_bytes(_gzip(data) if compressed else data)
    with _peak_below(), pytest.raises(DataError) as err:
        load_mnist_pickle(path)
    assert str(path) in str(err.value)


def _array_pickle(shape_opcodes, data):
    """A protocol-2 pickle of a uint8 array as numpy writes one: _reconstruct(ndarray,
    (0,), b'b'), then __setstate__((1, shape, dtype, False, data))."""
    dtype = (_global("numpy", "dtype", 2) + b"U\x02u1K\x00K\x01\x87R(K\x03U\x01|NNN"
             + b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    return (b"\x80\x02" + _REC + _ND + b"K\x00\x85U\x01b\x87R(K\x01" + shape_opcodes + dtype
            + b"\x89U" + bytes([len(data)]) + data + b"tb.")


def test_pickle_setstate_with_huge_shape_refused(tmp_path):
    path = tmp_path / "array.pkl"
    # the control: with its true shape (3,) the array loads (and is then refused as not
    # being MNIST's 3-tuple)
    path.write_bytes(_array_pickle(b"K\x03\x85", b"abc"))
    assert pickle.loads(path.read_bytes()).tolist() == [97, 98, 99]
    with pytest.raises(DataError, match="expected a 3-tuple"):
        load_mnist_pickle(path)
    # the same array claiming 2**56 items for its 3 bytes
    path.write_bytes(_array_pickle(_BIG, b"abc"))
    with _peak_below(), pytest.raises(DataError, match="not a valid MNIST pickle") as err:
        load_mnist_pickle(path)
    assert str(path) in str(err.value)


_PLAIN_STATE = b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"  # dtype state (..., -1, -1, 0)


@pytest.mark.parametrize("old, new", [
    (_PLAIN_STATE, _PLAIN_STATE.replace(b"K\x00t", b"K\x3ft")),  # flags: "holds objects"
    (_PLAIN_STATE, _PLAIN_STATE.replace(b"K\x00t", b"K\x01t")),
    (_PLAIN_STATE, b"J\xff\xff\xff\xffJ\x00\x00\x00\x10K\x00t"),  # alignment 2**28
    (b"U\x02u1", b"U\x01O"), (b"U\x02u1", b"U\x05V1000"),  # object and void dtypes
])
def test_pickle_with_crafted_dtype_state_refused(tmp_path, old, new):
    # numpy's own dtype.__setstate__ trusts these fields: with flags 0x3f on a plain
    # dtype, pickle.loads fails with "RuntimeError: Internal error, get_clear_loop not
    # set" and then SystemError (found by atheris)
    data = _array_pickle(b"K\x03\x85", b"abc")
    assert data.count(old) == 1
    path = tmp_path / "dtype.pkl"
    path.write_bytes(data.replace(old, new))
    with pytest.raises(DataError, match="not a valid MNIST pickle") as err:
        load_mnist_pickle(path)
    assert str(path) in str(err.value) and "expected" in str(err.value)


def test_pickle_memo_numbered_from_one_like_python2_cpickle(tmp_path):
    # Python 2's cPickle numbers memo entries from 1; such pickles must still load
    parts = _small_parts(seed=5)
    data = bytearray(pickle.dumps(parts, protocol=2))
    ops = [(op.name, pos) for op, _, pos in pickletools.genops(bytes(data))]
    puts = [pos for name, pos in ops if name in ("BINPUT", "BINGET")]
    assert puts and all(name not in ("LONG_BINPUT", "LONG_BINGET") for name, _ in ops)
    for pos in puts:
        data[pos + 1] += 1
    assert pickle.loads(bytes(data))[2][1].tolist() == parts[2][1].tolist()
    path = tmp_path / "cpickle.pkl"
    path.write_bytes(bytes(data))
    for (x, y), (x0, y0) in zip(load_mnist_pickle(path), parts):
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(y, y0)


# ---------------------------------------------------------------- fastnn model files

def _model_net():
    return Network([3, 2, 2], ["tanh"], "softmax", "log_likelihood", dtype="float64", seed=1)


_NET = _model_net()


def _saved_model_bytes(tmp_dir):
    path = os.path.join(tmp_dir, "valid.fnn")
    _NET.save(path)
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def valid_model(tmp_path_factory):
    return _saved_model_bytes(str(tmp_path_factory.mktemp("model")))


def _check_net(net):
    """A successfully loaded fastnn network is the one that was saved."""
    assert isinstance(net, Network)
    assert net.sizes == _NET.sizes and net.activations == _NET.activations
    assert net.cost == _NET.cost and net.params.dtype == _NET.params.dtype
    np.testing.assert_array_equal(net.params, _NET.params)


@fuzz(300)
@given(data=st.binary(max_size=3000))
def test_fastnn_load_arbitrary_bytes(tmp_path, data):
    _tried("fastnn.load: arbitrary bytes")
    path = tmp_path / "input.fnn"
    path.write_bytes(data)
    net = _load(fastnn.load, path, ModelFileError)
    if net is not None:
        _check_net(net)


@fuzz(300)
@given(edits=EDITS)
def test_fastnn_load_mutated_valid_file(tmp_path, valid_model, edits):
    _tried("fastnn.load: mutated valid model file")
    path = tmp_path / "input.fnn"
    path.write_bytes(mutate(valid_model, edits))
    net = _load(Network.load, path, ModelFileError)
    if net is not None:
        _check_net(net)


def _npz(members):
    """A zip archive of .npy members: {name: (header dict or raw header bytes, data)}."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, (header, data) in members.items():
            npy = io.BytesIO()
            if isinstance(header, dict):
                np.lib.format.write_array_header_1_0(npy, header)
            else:
                npy.write(header)
            npy.write(data)
            z.writestr(name, npy.getvalue())
    return out.getvalue()


_DESCRS = st.sampled_from(["<f8", "<f4", ">f8", "<f2", "|u1", "<i8", "|O", "<U4", "|V8",
                           "<c16", [("a", "<f8")], "|S3"])
_NPY_HEADERS = st.fixed_dictionaries({
    "descr": _DESCRS, "fortran_order": st.booleans(),
    "shape": st.lists(st.one_of(st.integers(0, 40), st.integers(0, 2 ** 62)),
                      max_size=3).map(tuple)})


@fuzz(200)
@given(params=_NPY_HEADERS, meta=_NPY_HEADERS, names=st.sampled_from(
    [("params.npy", "meta.npy"), ("params.npy", "x.npy"), ("params", "meta.npy")]),
    data=st.binary(max_size=400))
def test_fastnn_load_arbitrary_npy_headers(tmp_path, params, meta, names, data):
    _tried("fastnn.load: .npy members with arbitrary headers (tracemalloc)")
    path = tmp_path / "input.fnn"
    path.write_bytes(_npz({names[0]: (params, data), names[1]: (meta, data)}))
    with _peak_below():
        net = _load(Network.load, path, ModelFileError)
    assert net is None  # no valid checksum in there


@pytest.mark.parametrize("n_items", [10 ** 12, 2 ** 61])
def test_fastnn_model_claiming_huge_params_refused_before_allocating(tmp_path, n_items):
    header = {"descr": "<f8", "fortran_order": False, "shape": (n_items,)}
    path = tmp_path / "huge.fnn"
    path.write_bytes(_npz({"params.npy": (header, bytes(64)),
                           "meta.npy": ({"descr": "|u1", "fortran_order": False,
                                         "shape": (2,)}, b"{}")}))
    with _peak_below(), pytest.raises(ModelFileError, match="claims") as err:
        fastnn.load(path)
    assert str(path) in str(err.value)


# fastnn files with a valid checksum and arbitrary metadata ---------------------------

_NAMES = ["sigmoid", "tanh", "relu", "softmax", "identity", "leaky_relu", "__class__",
          "os.system", "__import__", "eval", "", "Sigmoid", "cross_entropy", "quadratic",
          "log_likelihood", "__init__", "default", "he", "glorot", "large", "mro"]
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.sampled_from(_NAMES), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=10)
_SIZES = st.one_of(st.lists(st.integers(1, 4), min_size=2, max_size=4),
                   st.lists(st.integers(-2, 10 ** 13), max_size=4), _JSON)
_ACTIVATION = st.one_of(st.sampled_from(_NAMES),
                        st.tuples(st.sampled_from(_NAMES),
                                  st.one_of(_JSON, st.integers(10 ** 300, 10 ** 400))).map(list),
                        _JSON)


def _n_params(sizes):
    """Parameters a network of ``sizes`` has (0 unless sizes is a list of ints)."""
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        return 0
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


@st.composite
def fastnn_metadata(draw):
    """(params, meta): metadata fields often valid, each sometimes arbitrary JSON."""
    sizes = draw(_SIZES)
    n = _n_params(sizes) if isinstance(sizes, list) else 0
    n = n if 0 < n <= 200 and draw(st.booleans()) else draw(st.integers(0, 30))
    dtype = draw(st.sampled_from(["float64", "float32"]))
    params = np.random.default_rng(n).normal(size=n).astype(dtype)
    n_layers = max(len(sizes) - 1, 0) if isinstance(sizes, list) else 1
    meta = {"sizes": sizes,
            "activations": draw(st.one_of(st.lists(_ACTIVATION, min_size=n_layers,
                                                   max_size=n_layers), _JSON)),
            "cost": draw(st.one_of(st.sampled_from(_NAMES), _JSON)),
            "initializers": draw(st.one_of(st.lists(st.sampled_from(_NAMES), min_size=n_layers,
                                                    max_size=n_layers), _JSON)),
            "format": draw(st.sampled_from(["fastnn-model", "fastnn-model", "x", None])),
            "version": draw(st.sampled_from([1, 1, 0, 2, "1", True, None, 1.0])),
            "dtype": draw(st.sampled_from([dtype, dtype, "float16", "object", None, 7])),
            "sha256": None}
    for key in draw(st.lists(st.sampled_from(sorted(meta)), max_size=2)):
        if draw(st.booleans()):
            meta.pop(key, None)
        else:
            meta[key] = draw(_JSON)
    if "sha256" in meta and draw(st.integers(0, 9)):
        meta["sha256"] = fastnn._io._digest(params)
    if draw(st.integers(0, 9)) == 0:
        meta = draw(_JSON)
    return params, meta


@fuzz(300)
@given(case=fastnn_metadata())
def test_fastnn_load_arbitrary_metadata(tmp_path, case):
    _tried("fastnn.load: valid checksum, arbitrary metadata")
    params, meta = case
    path = tmp_path / "input.fnn"
    blob = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, params=params, meta=blob)
    net = _load(Network.load, path, ModelFileError)
    if net is not None:
        assert list(net.sizes) == meta["sizes"]
        assert len(net.activations) == len(net.sizes) - 1
        assert net.cost == meta["cost"] and len(net.initializers) == len(net.sizes) - 1
        np.testing.assert_array_equal(net.params, params)


@pytest.mark.parametrize("field, value", [
    ("cost", "__class__"), ("cost", "os.system"), ("activations", ["__class__", "softmax"]),
    ("activations", ["tanh", "os.system"]), ("activations", [["__import__", 1], "softmax"]),
    ("initializers", ["__class__", "default"]), ("initializers", 5),
    ("activations", []), ("sizes", [10 ** 6, 10 ** 6, 10 ** 6]), ("sizes", [10 ** 30, 2]),
    ("activations", [["leaky_relu", 10 ** 400], "softmax"])])
def test_fastnn_metadata_names_looked_up_in_tables(tmp_path, field, value):
    path = tmp_path / "named.fnn"
    meta = {"sizes": list(_NET.sizes), "activations": ["tanh", "softmax"],
            "cost": "log_likelihood", "initializers": ["default", "default"], field: value}
    save_model(path, _NET.params, meta)
    with _peak_below(), pytest.raises(ModelFileError) as err:
        Network.load(path)
    message = str(err.value)
    assert str(path) in message
    assert "expected" in message or "need" in message, message


# ---------------------------------------------------------------- network2 JSON files

def _book_net():
    np.random.seed(2)
    return network2.Network([3, 2, 2], cost=network2.QuadraticCost)


_BOOK = _book_net()


@pytest.fixture(scope="module")
def valid_json(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("book") / "valid.json")
    _BOOK.save(path)
    with open(path, "rb") as f:
        return f.read()


def _check_book_net(net):
    """A successfully loaded network2 network is consistent: shapes follow sizes."""
    assert isinstance(net, network2.Network)
    assert net.cost in network2.COSTS.values()
    sizes = list(net.sizes)
    assert [w.shape for w in net.weights] == [(b, a) for a, b in zip(sizes[:-1], sizes[1:])]
    assert [b.shape for b in net.biases] == [(b, 1) for b in sizes[1:]]
    assert all(a.dtype == np.float64 for a in net.weights + net.biases)


def _network2_load(path):
    return network2.load(str(path))


@fuzz(300)
@given(data=st.binary(max_size=3000))
def test_network2_load_arbitrary_bytes(tmp_path, data):
    _tried("network2.load: arbitrary bytes")
    path = tmp_path / "input.json"
    path.write_bytes(data)
    net = _load(_network2_load, path, ModelFileError)
    if net is not None:
        _check_book_net(net)


@fuzz(300)
@given(edits=EDITS)
def test_network2_load_mutated_valid_file(tmp_path, valid_json, edits):
    _tried("network2.load: mutated valid JSON file")
    path = tmp_path / "input.json"
    path.write_bytes(mutate(valid_json, edits))
    net = _load(_network2_load, path, ModelFileError)
    if net is not None:
        _check_book_net(net)


@st.composite
def network2_documents(draw):
    """A network2 JSON document: fields often valid, each sometimes arbitrary JSON."""
    sizes = draw(_SIZES)
    shaped = isinstance(sizes, list) and len(sizes) >= 2 and all(
        isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= 5 for s in sizes)
    rng = np.random.default_rng(draw(st.integers(0, 100)))
    if shaped and draw(st.booleans()):
        weights = [rng.normal(size=(b, a)).tolist() for a, b in zip(sizes[:-1], sizes[1:])]
        biases = [rng.normal(size=(b, 1)).tolist() for b in sizes[1:]]
    else:
        weights, biases = draw(_JSON), draw(_JSON)
    doc = {"sizes": sizes, "weights": weights, "biases": biases,
           "cost": draw(st.one_of(st.sampled_from(["QuadraticCost", "CrossEntropyCost"]
                                                  + _NAMES), _JSON))}
    for key in draw(st.lists(st.sampled_from(sorted(doc)), max_size=2)):
        if draw(st.booleans()):
            doc.pop(key, None)
        else:
            doc[key] = draw(_JSON)
    return doc if draw(st.integers(0, 9)) else draw(_JSON)


@fuzz(300)
@given(doc=network2_documents())
def test_network2_load_arbitrary_documents(tmp_path, doc):
    _tried("network2.load: JSON documents with arbitrary fields")
    path = tmp_path / "input.json"
    path.write_text(json.dumps(doc))
    net = _load(_network2_load, path, ModelFileError)
    if net is not None:
        _check_book_net(net)
        assert list(net.sizes) == doc["sizes"]
        for got, want in zip(net.weights + net.biases, doc["weights"] + doc["biases"]):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("text, message", [
    ('{"sizes": [2, 2], "weights": [[[1, 2], [3, 4]]], "biases": [[[0], [0]]], '
     '"cost": "__class__"}', "__class__"),
    ('{"sizes": [2, 2], "weights": [[[1, 2], [3, 4]]], "biases": [[[0], [0]]], '
     '"cost": "os.system"}', "os.system"),
    ('{"sizes": [1000000, 1000000, 1000000], "weights": [], "biases": [], '
     '"cost": "QuadraticCost"}', "do not match sizes"),
    ('{"sizes": [2, 2], "weights": 5, "biases": [], "cost": "QuadraticCost"}', "weights"),
    ('{"sizes": [2, 2], "weights": [[[1, "a"], [3, 4]]], "biases": [[[0], [0]]], '
     '"cost": "QuadraticCost"}', "not an array of numbers"),
    ("[" * 100000 + "]" * 100000, "RecursionError"),
    ("1" * 5000, "not a network2 JSON file"),
])
def test_network2_bad_documents_refused_clearly(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with _peak_below(), pytest.raises(ModelFileError, match=message) as err:
        network2.load(str(path))
    assert str(path) in str(err.value)
