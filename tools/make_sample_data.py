"""Build fastnn/sample_data: a small subset of Fashion-MNIST shipped with fastnn.

Reads the full Fashion-MNIST IDX files (by default from the Debian package
``dataset-fashion-mnist``, /usr/share/datasets/fashion-mnist) and writes the
first 2,500 training images and labels and the first 500 test images and
labels, gzip-compressed, under the standard four names. The output is
byte-for-byte reproducible (gzip header time stamp 0).

Usage::

    python tools/make_sample_data.py [SOURCE_DIR [OUTPUT_DIR]]
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fastnn.data import IDX_NAMES, read_idx, write_idx  # noqa: E402

N_TRAIN = 2500
N_TEST = 500


def _source_file(source, name):
    """Path of ``name`` or ``name.gz`` in ``source``."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(source, candidate)
        if os.path.isfile(path):
            return path
    sys.exit(f"{source}: missing {name} (or {name}.gz); "
             f"install dataset-fashion-mnist or pass the folder holding it")


def make_sample(source, output):
    """Write the first N_TRAIN training and N_TEST test examples of ``source``."""
    os.makedirs(output, exist_ok=True)
    counts = {"train": N_TRAIN, "test": N_TEST}
    for role, name in IDX_NAMES.items():
        array = read_idx(_source_file(source, name))
        subset = array[:counts[role.split("_")[0]]]
        target = os.path.join(output, name + ".gz")
        write_idx(target, subset)
        print(f"{target}: {subset.shape} {subset.dtype}, {os.path.getsize(target):,} bytes")


if __name__ == "__main__":
    source = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    output = sys.argv[2] if len(sys.argv) > 2 else os.path.join(REPO, "fastnn", "sample_data")
    make_sample(source, output)
