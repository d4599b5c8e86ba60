"""One knob for threads: the engine's own (Numba) and BLAS's, set together.

``threads`` (an argument of ``Network`` and of the CLI) or, when it is not given, the
``FASTNN_NUM_THREADS`` environment variable, or else every core Numba sees
(``numba.config.NUMBA_NUM_THREADS``). While fastnn computes, it runs the Numba thread
pool with that many threads and limits the BLAS library that NumPy loaded (through
threadpoolctl) to the same count, then restores both. Nothing runs BLAS inside a Numba
parallel region, so the two never multiply.

What runs where: the loop path's synchronous epochs are serial by design (one mini-batch
depends on the previous one's update); the matrix path's products use BLAS's threads;
the asynchronous mode (``hogwild=True``) runs one Numba thread per worker.
"""
import contextlib
import operator
import os
import sys
import threading

import numba

ENV = "FASTNN_NUM_THREADS"

_controller = None


def available():
    """The most threads the engine can use (Numba's pool size, by default every core)."""
    return int(numba.config.NUMBA_NUM_THREADS)


def resolve(threads=None):
    """The thread count to use: ``threads`` if given, else $FASTNN_NUM_THREADS, else
    every core. Raises ValueError naming the source when the value is not usable."""
    source = "threads"
    if threads is None:
        env = os.environ.get(ENV, "").strip()
        if not env:
            return available()
        source = f"environment variable {ENV}"
        try:
            threads = int(env)
        except ValueError:
            raise ValueError(f"{source}={env!r} is invalid; expected a positive integer "
                             f"number of threads") from None
    try:
        if isinstance(threads, bool):
            raise TypeError
        threads = operator.index(threads)
    except TypeError:
        raise ValueError(f"{source}={threads!r} is invalid; expected a positive integer "
                         f"number of threads") from None
    if threads < 1:
        raise ValueError(f"{source}={threads} is invalid; expected a positive integer "
                         f"number of threads")
    if threads > available():
        raise ValueError(f"{source}={threads} is more than the {available()} threads "
                         f"available (NUMBA_NUM_THREADS, the cores Numba sees)")
    return threads


def fixed(threads=None):
    """Whether the thread count was fixed by the user (``threads`` given, or
    $FASTNN_NUM_THREADS set) rather than the default, every core: a fixed count is run as
    given; the default is an upper bound the matrix path may run below where fewer
    threads are faster (fastnn/_engine/matrix.py's Plan)."""
    return threads is not None or bool(os.environ.get(ENV, "").strip())


def _blas_controller():
    """threadpoolctl's view of the loaded thread pools, renewed when libraries were loaded
    since (JAX, SciPy and PyTorch bring their own BLAS; a stale view would miss them)."""
    global _controller
    loaded = len(sys.modules)
    if _controller is None or _controller[0] != loaded:
        from threadpoolctl import ThreadpoolController
        _controller = (loaded, ThreadpoolController())
    return _controller[1]


_lock = threading.Lock()
_active = []          # the thread counts of every limit() in progress, in any Python thread
_original = None      # threadpoolctl's record of the BLAS limits from before the first
_refreshed = []       # and of those refresh() changed since, restored (last first) with it


def _take_blas_control():
    """Let this Python thread set OpenBLAS's limit. threadpoolctl ≥ 3.6 lets only one
    "controlling" thread change a pthreads OpenBLAS and silently ignores the others (it
    would leave the limit of a thread that ended in force). ``limit`` serializes every
    change under its own lock, so handing control to the thread making it is safe."""
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:  # older threadpoolctl: any thread may set it
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


def _set_blas(threads):
    _take_blas_control()
    return _blas_controller().limit(limits=threads, user_api="blas")


@contextlib.contextmanager
def limit(threads):
    """Run the block with ``threads`` Numba threads and at most ``threads`` BLAS threads.

    Numba's count is per Python thread. BLAS's is one per process, so blocks running at
    once in several Python threads share it: it is the largest count among them (each
    thread's innermost block counting, so a nested block narrows it), and the
    last one to finish restores what was there before the first began (a lock keeps the
    bookkeeping whole; without it two threads could leave BLAS limited after both ended).
    """
    global _original
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    entry = (threading.get_ident(), threads)
    try:
        with _lock:
            _active.append(entry)
            if len(_active) == 1:
                _original = _set_blas(threads)
            else:
                _set_blas(_in_force())
        yield
    finally:
        with _lock:
            _active.remove(entry)
            if not _active:
                _take_blas_control()
                while _refreshed:
                    _refreshed.pop().restore_original_limits()
                if _original is not None:
                    _original.restore_original_limits()
                _original = None
            else:
                _set_blas(_in_force())
        numba.set_num_threads(previous)


def _in_force():
    """The BLAS limit the running blocks need: the largest, over the Python threads, of
    each one's innermost block (a block nested in another of the same thread, such as
    the matrix path's one-thread plan inside a benchmark's two-thread limit, wins)."""
    innermost = {}
    for ident, threads in _active:
        innermost[ident] = threads
    return max(innermost.values())


_launch_lock = threading.Lock()


def _launches_must_be_serial():
    """Whether parallel kernels must not start from two Python threads at once: Numba's
    ``workqueue`` threading layer (no OpenMP or TBB found) ends the process when they do,
    and two networks may train from two Python threads. Until a first parallel kernel
    has run the layer is not chosen yet: serial then, to be safe."""
    try:
        return numba.threading_layer() == "workqueue"
    except ValueError:
        return True


def parallel_launch():
    """A context around a call of a ``prange`` kernel from Python: a process-wide lock
    where such calls must not overlap (``_launches_must_be_serial``), else nothing."""
    return _launch_lock if _launches_must_be_serial() else contextlib.nullcontext()


@contextlib.contextmanager
def blas_limit(threads):
    """Run the block with BLAS limited to ``threads``, whatever the ``limit`` blocks asked,
    and restore the limits in force before it at its end.

    For work whose products run in Numba's threads (the matrix path with the engine's
    GEMM): the narrow products it still hands to BLAS gain nothing from BLAS threads,
    and OpenBLAS's idle threads spin for a while after each call, taking cores from
    Numba's threads (measured on config C, two threads: 8-9 s per epoch instead of
    1.5-1.8 s). BLAS's limit is one per process, so other Python threads computing at
    the same time get it too: they still compute correctly, with fewer BLAS threads."""
    with _lock:
        limiter = _set_blas(threads)
    try:
        yield
    finally:
        with _lock:
            _take_blas_control()
            limiter.restore_original_limits()


def refresh():
    """Apply the BLAS limit in force (if any ``limit`` block is running) to the libraries
    loaded since it was set: compiling a first kernel makes Numba load SciPy's own
    OpenBLAS, which would otherwise run with every core inside a one-thread block. Its
    previous limits come back when the last block ends, with the others'."""
    with _lock:
        if _active:
            _refreshed.append(_set_blas(_in_force()))


def info():
    """What is in effect now: Numba's threading layer and thread count, and each BLAS
    library's name, thread count and kernel architecture (threadpoolctl)."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet: the layer is chosen lazily
        layer = "not yet chosen (no parallel kernel has run)"
    blas = [{k: lib.get(k) for k in ("internal_api", "version", "num_threads",
                                     "threading_layer", "architecture")}
            for lib in _blas_controller().info() if lib.get("user_api") == "blas"]
    return {"numba_threads": numba.get_num_threads(), "numba_threading_layer": layer,
            "blas": blas}
