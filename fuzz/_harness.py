"""Shared code of the atheris harnesses in this folder.

Each harness (``fuzz_idx.py``, ``fuzz_pickle.py``, ``fuzz_model.py``) writes every input
libFuzzer makes to a temporary file, hands the file to a fastnn loader and treats the
loader's documented exception as a correct answer; anything else (another exception, a
crash, an input slower than ``-timeout`` or a process larger than ``-rss_limit_mb``) is
reported by libFuzzer as a finding, with the input saved as ``crash-*``/``timeout-*``/
``oom-*`` in the current folder.

Run one as ``python fuzz/fuzz_idx.py -runs=100000`` (any libFuzzer flag works, e.g.
``-max_total_time=600 -timeout=10 -rss_limit_mb=2048``). Without a corpus folder on the
command line, a temporary one seeded with small valid files is used, so the fuzzer
starts from inputs that get past the first checks. atheris is optional:
``pip install atheris`` (or ``pip install -e .[fuzz]``).
"""
import os
import sys
import tempfile

try:
    import atheris
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("these harnesses need atheris: pip install atheris (or pip install -e .[fuzz])")

#: fastnn modules whose code is instrumented for coverage feedback (the loaders)
INSTRUMENTED = ["fastnn.data", "fastnn._io", "fastnn.network2", "fastnn.network"]


def instrumented_imports():
    """Context manager: instrument the loader modules imported inside it."""
    return atheris.instrument_imports(include=INSTRUMENTED)


class InputFile:
    """One temporary file, rewritten with each input."""

    def __init__(self, suffix):
        self.folder = tempfile.mkdtemp(prefix="fastnn-fuzz-")
        self.path = os.path.join(self.folder, "input" + suffix)

    def write(self, data):
        """Write ``data`` to the file and return its path."""
        with open(self.path, "wb") as f:
            f.write(data)
        return self.path


def check_message(path, exc):
    """A documented exception must name the file it is about."""
    if path not in str(exc):
        raise AssertionError(f"{type(exc).__name__} does not name the file {path}: {exc}")


def main(name, test_one_input, seeds):
    """Run libFuzzer on ``test_one_input``, seeding a temporary corpus from ``seeds()``
    (an iterable of bytes) unless a corpus folder is given on the command line."""
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        corpus = tempfile.mkdtemp(prefix=f"fastnn-fuzz-{name}-corpus-")
        for i, seed in enumerate(seeds()):
            with open(os.path.join(corpus, f"seed-{i}"), "wb") as f:
                f.write(seed)
        argv.append(corpus)
        print(f"fuzz_{name}: seed corpus in {corpus}", file=sys.stderr)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
