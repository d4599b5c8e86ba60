"""What the epoch benchmarks share: data, the cases timed, metrics, threads, compile time.

Used by ``bench/test_bench_epoch.py`` (pytest-benchmark) and ``bench/run_ratios.py``
(plain script), so both measure exactly the same thing: one epoch of the book's SGD over
50,000 Fashion-MNIST training images, for three configs (the design's anchors, specs
from ``fastnn.perf.bench.CONFIGS``):

* A [784, 30, 10] and B [784, 100, 10]: sigmoid hidden and output, cross-entropy,
  mini-batch 10, eta 0.5;
* C [784, 1024, 1024, 10]: ReLU hidden, softmax output, log-likelihood, mini-batch 128,
  eta 0.1 (50,000 = 390 x 128 + 80: the last mini-batch has 80 samples);

lambda = 0 for all. Implementations: the engine (``Network._engine.train_epoch``), the
public API (``Network.train_epoch`` with class labels: its checks included), the NumPy
matrix version (``fastnn.perf.baselines.NumpyMatrixNetwork``), JAX jit + lax.scan and
PyTorch eager (bench/frameworks.py, when installed), each in float32 and float64, and the
naive per-sample reference (``fastnn.reference.ReferenceNetwork``, float64). The
reference is timed on a subset (5,000 samples for A and B, 500 for C) and its time is
scaled to 50,000 samples: it does the same work for every sample, so its time is linear
in the sample count.

Every timed epoch starts from the same initial parameters (``fastnn.Network(sizes, ...,
seed=0)``) and visits the samples in the same order (an int64 permutation, seed 0).
Compile time is kept out of the epoch timings (``Case.warm_up``: a tiny epoch for the
engine and PyTorch, the ahead-of-time compile of the full epoch for JAX) and measured on
its own: the engine's in fresh processes (``measure_compile``), JAX's per case.
"""
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import frameworks as anchors
import numpy as np

import fastnn
from fastnn.data import load_dataset
from fastnn.perf.baselines import NumpyMatrixNetwork
from fastnn.perf.bench import CONFIGS as _NETWORKS
from fastnn.reference import ReferenceNetwork

N_EPOCH = 50_000       # samples per epoch; every s/epoch figure is per 50,000 samples
LMBDA = 0.0
SEED = 0
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: name -> sizes, hidden, output, cost, mini_batch_size (from fastnn.perf.bench), eta, the
#: reference's subset size and the default number of timed rounds (C's epochs are long)
CONFIGS = {
    name: dict(_NETWORKS[name], eta=eta, reference_samples=ref, rounds=rounds)
    for name, eta, ref, rounds in (("A", 0.5, 5_000, 5), ("B", 0.5, 5_000, 5),
                                   ("C", 0.1, 500, 3))
}
IMPLS = ("engine", "api", "numpy", "jax", "torch", "reference")
DTYPES = {"engine": ("float32", "float64"), "api": ("float32", "float64"),
          "numpy": ("float32", "float64"),
          "jax": ("float32", "float64"), "torch": ("float32", "float64"),
          "reference": ("float64",)}
#: the module each implementation needs beyond fastnn's own, and how to install it
REQUIRES = {"jax": ("jax", "pip install 'jax[cpu]'"),
            "torch": ("torch", "pip install torch "
                      "--index-url https://download.pytorch.org/whl/cpu")}
#: GEMM shapes (m, k, n) measured for the peak: square, and a layer of config C
GEMM_SHAPES = {"square 1536^3": (1536, 1536, 1536), "C layer 128x1024x1024": (128, 1024, 1024)}
PEAK_SHAPE = "square 1536^3"
#: fastnn's one threads knob (fastnn/_engine/threads.py): the engine's Numba and BLAS threads
THREADS_ENV = "FASTNN_NUM_THREADS"


def case_ids(configs=None, impls=None):
    """(config, impl, dtype) for every timed case, in table order (all by default)."""
    configs = list(CONFIGS) if configs is None else configs
    impls = IMPLS if impls is None else impls
    return [(c, i, d) for c in configs for i in IMPLS if i in impls for d in DTYPES[i]]


def key(impl, dtype):
    return f"{impl}_{dtype}"


def parse_selection(text, allowed, what):
    """A comma-separated selection ("A,C") as a list, each checked against ``allowed``."""
    chosen = [t.strip() for t in str(text).split(",") if t.strip()]
    bad = [t for t in chosen if t not in allowed]
    if bad or not chosen:
        raise ValueError(f"{what}={text!r} is invalid; expected a comma-separated selection "
                         f"from {', '.join(allowed)}")
    return chosen


def missing_requirement(impl):
    """None when ``impl`` can run here, else why not (and what to install)."""
    if impl not in REQUIRES:
        return None
    module, install = REQUIRES[impl]
    if anchors.available(impl):
        return None
    return f"{module} is not installed ({install})"


# ----------------------------------------------------------------------------- data

class BenchData:
    """The 50,000 training rows in both dtypes, one-hot targets, and the shuffle order."""

    def __init__(self):
        ds = load_dataset(dtype=np.float64)
        X, labels = ds.train
        self.description = ds.description
        self.tiled = X.shape[0] < N_EPOCH
        if self.tiled:  # the shipped sample: repeat its rows up to a full-size epoch
            rows = np.arange(N_EPOCH) % X.shape[0]
            self.description += (f"; its {X.shape[0]:,} training images TILED up to "
                                 f"{N_EPOCH:,} rows (install dataset-fashion-mnist for "
                                 f"real data)")
            X, labels = X[rows], labels[rows]
        X, labels = X[:N_EPOCH], labels[:N_EPOCH]
        self.X = {"float64": np.ascontiguousarray(X),
                  "float32": np.ascontiguousarray(X, dtype=np.float32)}
        eye = np.eye(10)
        self.Y = {dt: np.ascontiguousarray(eye[labels], dtype=dt) for dt in self.X}
        self.labels = np.ascontiguousarray(labels, dtype=np.int64)
        self.order = np.random.default_rng(SEED).permutation(N_EPOCH).astype(np.int64)
        self._on_jax = {}

    def on_jax(self, anchor):
        """X and Y of the anchor's dtype as JAX arrays, copied once and shared by every
        JAX case (a copy costs a fraction of a second; no timed epoch pays for it)."""
        dtype = anchor.dtype.name
        if dtype not in self._on_jax:
            self._on_jax[dtype] = (anchor.to_device(self.X[dtype]),
                                   anchor.to_device(self.Y[dtype]))
        return self._on_jax[dtype]

    def subset(self, n):
        """The first ``n`` rows (float64, for the reference) and an order of their own."""
        order = np.random.default_rng(SEED + n).permutation(n).astype(np.int64)
        return (np.ascontiguousarray(self.X["float64"][:n]),
                np.ascontiguousarray(self.Y["float64"][:n]), order)


# ----------------------------------------------------------------------------- cases

class Case:
    """One timed epoch: ``state = case.fresh()`` (untimed), then ``case.run(state)`` (timed).

    ``run`` also records the process CPU time over the wall time of each call in
    ``cpu_per_wall``: about the number of cores busy, so a thread limit that did not
    hold shows up (≈ 1 for one thread).
    """

    def __init__(self, config, impl, dtype, data):
        self.config, self.impl, self.dtype = config, impl, dtype
        spec = CONFIGS[config]
        self.sizes, self.m, self.eta = spec["sizes"], spec["mini_batch_size"], spec["eta"]
        self.kinds = (spec["hidden"], spec["output"], spec["cost"])
        self.net = fastnn.Network(self.sizes, *self.kinds, dtype=dtype, seed=SEED)
        self.init_params = self.net.params.copy()
        self.weights = [w.copy() for w in self.net.weights]
        self.biases = [b.copy() for b in self.net.biases]
        if impl == "reference":
            self.X, self.Y, self.order = data.subset(spec["reference_samples"])
        else:
            self.X, self.Y, self.order = data.X[dtype], data.Y[dtype], data.order
        self.anchor = None
        if impl in ("jax", "torch"):
            self.anchor = anchors.make_anchor(impl, self.weights, self.biases, *self.kinds,
                                              dtype)
            if impl == "jax":  # on JAX's side once, so no epoch pays for the copy
                self.X, self.Y = data.on_jax(self.anchor)
        if impl == "api":  # the public entry point takes class labels, as users pass them
            self.labels = data.labels
        self.n_samples = self.order.shape[0]
        self.scale = N_EPOCH / self.n_samples   # to seconds per 50,000 samples
        self.compile_s = None
        self.cpu_per_wall = []

    @property
    def name(self):
        return f"{self.config}-{self.impl}-{self.dtype}"

    def short_order(self):
        """Two full mini-batches and a half one: a cheap epoch that exercises everything."""
        return self.order[:2 * self.m + self.m // 2]

    def fresh(self):
        """State holding the initial parameters (not timed)."""
        if self.impl == "engine":
            return self.init_params.copy()
        if self.impl == "api":
            net = fastnn.Network(self.sizes, *self.kinds, dtype=self.dtype, seed=SEED)
            net.params[...] = self.init_params
            return net
        if self.impl == "numpy":
            return NumpyMatrixNetwork(self.weights, self.biases, *self.kinds, dtype=self.dtype)
        if self.impl == "reference":
            return ReferenceNetwork(self.weights, self.biases, *self.kinds)
        self.anchor.set_parameters(self.weights, self.biases)
        return self.anchor

    def run(self, state, order=None):
        """One epoch over X[order] (default: the case's full order) on ``state``."""
        order = self.order if order is None else order
        cpu, wall = time.process_time(), time.perf_counter()
        if self.impl == "engine":
            self.net._engine.train_epoch(state, self.X, self.Y, order, self.m, self.eta, LMBDA)
        elif self.impl == "api":
            state.train_epoch(self.X, self.labels, order, self.m, self.eta, LMBDA)
        else:
            state.train_epoch(self.X, self.Y, order, self.m, self.eta, LMBDA)
        wall = time.perf_counter() - wall
        self.cpu_per_wall.append((time.process_time() - cpu) / wall if wall > 0 else 0.0)

    def parameters(self, state):
        """The flat parameters of ``state`` (weights then biases), as NumPy."""
        if self.impl == "engine":
            return state.copy()
        if self.impl == "api":
            return state.params.copy()
        return np.concatenate([np.ravel(a) for a in list(state.weights) + list(state.biases)])

    def warm_up(self):
        """Compile before anything is timed: a tiny epoch (engine kernels, PyTorch's first
        calls), and for JAX the ahead-of-time compile of the full epoch's shapes, whose
        seconds are kept in ``compile_s``."""
        self.run(self.fresh(), self.order[:2 * self.m])
        if self.impl == "jax":
            self.compile_s = self.anchor.compile(self.X, self.Y, self.order, self.m, self.eta)
        self.cpu_per_wall.clear()

    def metrics(self, seconds, gemm=None):
        """extra_info figures from the seconds one timed epoch took; with ``gemm``
        ({dtype: GFLOP/s at the peak shape}) also the fraction of that peak."""
        s_epoch = seconds * self.scale
        gflops = flop_per_epoch(self.sizes) / s_epoch / 1e9
        out = {"s_per_epoch": s_epoch,
               "samples_per_s": N_EPOCH / s_epoch,
               "gflops": gflops,
               "peak_fraction": gflops / gemm[self.dtype] if gemm else None,
               "dtype": self.dtype, "config": self.config, "sizes": self.sizes,
               "impl": self.impl, "timed_samples": self.n_samples,
               "cpu_per_wall": (float(np.median(self.cpu_per_wall))
                                if self.cpu_per_wall else None)}
        if self.compile_s is not None:
            out["compile_s"] = self.compile_s
        if self.impl == "engine":
            out["engine_path"] = self.net._engine.path_name(self.m)
        if self.scale != 1:
            out["note"] = (f"timed on {self.n_samples:,} samples, scaled x{self.scale:g} "
                           f"to {N_EPOCH:,}")
        return out


def check_against_numpy(case, order, state=None):
    """Train ``case`` and the NumPy matrix version (same dtype) one epoch over ``order``
    from the same parameters; raise AssertionError unless they agree (float64 to 1e-8
    relative, float32 to 1e-3), so a benchmark cannot time an implementation that is
    wrong. ``state``: the case's state already trained that way (else trained here).
    Returns the largest difference relative to the largest parameter."""
    if state is None:
        state = case.fresh()
        case.run(state, order)
        case.cpu_per_wall.clear()
    got = case.parameters(state)
    dtype = "float64" if case.impl == "reference" else case.dtype
    X, Y = np.asarray(case.X), np.asarray(case.Y)   # JAX's arrays back to NumPy
    ref = NumpyMatrixNetwork(case.weights, case.biases, *case.kinds, dtype=dtype)
    ref.train_epoch(X, Y, order, case.m, case.eta, LMBDA)
    want = np.concatenate([a.ravel() for a in ref.weights + ref.biases])
    scale = float(np.max(np.abs(want)))
    error = float(np.max(np.abs(got - want))) / scale
    limit = 1e-8 if dtype == "float64" else 1e-3
    if not np.isfinite(got).all() or not error <= limit:
        raise AssertionError(f"{case.name}: one epoch over {len(order)} samples differs from "
                             f"the NumPy matrix version by {error:.3g} (relative to the "
                             f"largest parameter); expected at most {limit:g}")
    return error


def n_weights(sizes):
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def flop_per_epoch(sizes, n=N_EPOCH):
    """6 x weights x samples: forward, δ back and weight gradient, 2 FLOPs each per weight."""
    return 6 * n_weights(sizes) * n


# ----------------------------------------------------------------------------- threads

class ThreadLimit:
    """``threads='1'`` (default): every implementation on one thread -- the engine
    (``FASTNN_NUM_THREADS``, fastnn's one knob for its Numba threads and the BLAS of its
    matrix path), BLAS (NumPy version, reference) through threadpoolctl, Numba, PyTorch
    (``torch.set_num_threads``) and XLA (``frameworks.limit_jax_threads``: flags in
    XLA_FLAGS, which only work if JAX is not imported yet); ``'all'``: no limit; ``'N'``:
    N threads (XLA: no limit, it has no N-thread flag).

    JAX and PyTorch, when installed, are imported before the BLAS limit is set, so that
    the libraries they load are limited too.

    ``pin``: ``"auto"`` (default) pins every thread of the process, and every thread
    started later, to one CPU (the highest-numbered one it may run on) when ``threads``
    is 1, and does nothing otherwise; a CPU number pins to that CPU (one thread only);
    ``"none"`` or None never pins. Pinning is what makes one thread one core for JAX:
    XLA's CPU runtime hands the compiled epoch between its own threads even with the
    one-thread flags, and unpinned those threads run on both cores (CPU/wall up to 2 on
    configs A and B) or, on a busy machine, move between them.
    """

    def __init__(self, threads="1", pin="auto"):
        self.mode = str(threads)
        if self.mode != "all" and not (self.mode.isdigit() and int(self.mode) > 0):
            raise ValueError(f"threads={threads!r}: expected 'all' or a positive integer")
        can_pin = hasattr(os, "sched_setaffinity")
        cpus = sorted(os.sched_getaffinity(0)) if can_pin else []
        if pin in (None, "none") or (pin == "auto" and (self.mode != "1" or not can_pin)):
            pin = None
        elif pin == "auto":
            pin = cpus[-1]
        elif self.mode != "1":
            raise ValueError(f"pin={pin!r} needs threads='1', not {threads!r}")
        elif not can_pin:
            raise ValueError(f"pin={pin!r}: this system cannot pin threads to CPUs")
        elif not str(pin).isdigit() or int(pin) not in cpus:
            raise ValueError(f"pin={pin!r} is invalid; expected 'auto', 'none' or one of the "
                             f"CPUs this process may run on: {cpus}")
        self.pin = None if pin is None else int(pin)
        self._affinity_before = None
        self._ctl = None
        self._later = []
        self._torch_before = None
        self._env_before = None

    def __enter__(self):
        import numba
        from threadpoolctl import threadpool_limits
        if self.pin is not None:
            self._affinity_before = os.sched_getaffinity(0)
            _set_affinity({self.pin})
        anchors.limit_jax_threads(None if self.mode == "all" else self.mode)
        if self.mode != "all":
            n = int(self.mode)
            self._env_before = os.environ.get(THREADS_ENV)
            os.environ[THREADS_ENV] = str(n)
            # Numba first: launching its thread pool resets OpenMP's thread count, which
            # PyTorch shares. Then JAX (after its XLA flags; it loads SciPy's OpenBLAS)
            # and PyTorch, so that the BLAS limit below covers the libraries they load.
            self._numba_before = numba.get_num_threads()
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            anchors.available("jax")
            if anchors.available("torch"):
                import torch
                self._torch_before = torch.get_num_threads()
                torch.set_num_threads(n)
            self._ctl = threadpool_limits(limits=n)
        return self

    def refresh(self):
        """Limit the thread pools loaded since ``__enter__`` too (JAX, for one, imports
        SciPy's own OpenBLAS only when first used). Call before timing."""
        if self._ctl is None:
            return
        from threadpoolctl import threadpool_info, threadpool_limits
        n = int(self.mode)
        if any((lib.get("num_threads") or 0) > n for lib in threadpool_info()):
            self._later.append(threadpool_limits(limits=n))

    def __exit__(self, *exc):
        if self._ctl is not None:
            import numba
            for ctl in reversed(self._later):
                ctl.restore_original_limits()
            self._later = []
            self._ctl.restore_original_limits()
            numba.set_num_threads(self._numba_before)
            self._ctl = None
        if self._torch_before is not None:
            import torch
            torch.set_num_threads(self._torch_before)
            self._torch_before = None
        if self.mode != "all":
            if self._env_before is None:
                os.environ.pop(THREADS_ENV, None)
            else:
                os.environ[THREADS_ENV] = self._env_before
        if self._affinity_before is not None:
            _set_affinity(self._affinity_before)
            self._affinity_before = None


def _set_affinity(cpus):
    """Every thread of this process (and, through the main thread, threads started
    later) on ``cpus``."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # a thread that ended meanwhile
            pass


def thread_info(mode):
    """Threads in effect now: Numba's, every BLAS threadpoolctl sees, PyTorch's and XLA's."""
    import numba
    from threadpoolctl import threadpool_info
    blas = [{k: lib.get(k) for k in ("internal_api", "num_threads", "architecture",
                                      "version", "threading_layer", "filepath")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    from fastnn._engine import threads as _threads
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {"mode": mode, "affinity": affinity,
            "numba_threads": numba.get_num_threads(),
            "engine_threads": _threads.resolve(),
            "engine_note": ("the engine's loop path is serial; its matrix path (large "
                            "mini-batches, e.g. config C) runs BLAS on engine_threads "
                            f"threads (${THREADS_ENV})"),
            "blas": blas, "torch": anchors.torch_thread_info(),
            "jax": anchors.jax_thread_info()}


# ----------------------------------------------------------------------------- compile

_COMPILE_SCRIPT = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
import fastnn
t_import = time.perf_counter() - t0
out = {"import_s": t_import}
for dt in ("float32", "float64"):
    net = fastnn.Network([784, 30, 10], dtype=dt, seed=0)
    X = np.zeros((20, 784), dt); Y = np.zeros((20, 10), dt)
    order = np.arange(20, dtype=np.int64)
    t = time.perf_counter()
    net._engine.train_epoch(net.params, X, Y, order, 10, 0.5, 0.0)
    out["first_epoch_" + dt + "_s"] = time.perf_counter() - t
out["total_s"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def measure_compile():
    """Import + first tiny epoch (float32, then float64) in fresh processes.

    ``cold``: NUMBA_CACHE_DIR is a new empty folder, so every kernel is compiled;
    ``warm``: a second process with the same folder, so every kernel loads from the
    cache. The kernels' signatures do not depend on the layer sizes, so this covers
    every config alike.
    """
    results = {}
    with tempfile.TemporaryDirectory(prefix="fastnn-numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("cold", "warm"):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env,
                                  cwd=REPO_ROOT, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                raise RuntimeError(f"compile-time subprocess failed:\n{proc.stderr}")
            results[label] = json.loads(proc.stdout.strip().splitlines()[-1])
            results[label]["process_wall_s"] = wall
    return results


# ----------------------------------------------------------------------------- GEMM peak

def gemm_gflops(dtype, m, k, n, repeats=5, min_seconds=0.2):
    """Best GFLOP/s of NumPy's (m, k) @ (k, n) product, under whatever thread limit is on.

    Each of ``repeats`` samples times enough back-to-back products to last at least
    ``min_seconds``, so small shapes are not timer noise.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    c = np.empty((m, n), dtype)
    np.matmul(a, b, out=c)
    calls = max(1, int(min_seconds / max(_timed(lambda: np.matmul(a, b, out=c)), 1e-6)))

    def burst():
        for _ in range(calls):
            np.matmul(a, b, out=c)
    best = min(_timed(burst) for _ in range(repeats)) / calls
    return 2.0 * m * k * n / best / 1e9


def gemm_peak(dtype, n=1536, repeats=5):
    """Best GFLOP/s of an n x n x n matrix product (under whatever thread limit is on)."""
    return gemm_gflops(dtype, n, n, n, repeats=repeats)


def measure_gemm():
    """{shape name: {dtype: GFLOP/s}} for every shape in GEMM_SHAPES."""
    return {name: {dt: gemm_gflops(dt, *shape) for dt in ("float32", "float64")}
            for name, shape in GEMM_SHAPES.items()}


def measure_fma():
    """{dtype: GFLOP/s} of the core's multiply-add peak (fastnn/_engine/peak.py: chains of FMAs)
    on Numba's current thread count: the machine's limit where the BLAS behind the GEMM
    peak runs narrower vectors than the core has."""
    import numba

    from fastnn._engine import peak as _peak
    return {dt: _peak.fma_peak(dt, threads=numba.get_num_threads())
            for dt in ("float32", "float64")}


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ----------------------------------------------------------------------------- report

def machine_info():
    model, cores = platform.processor() or platform.machine(), os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
        flags = fields.get("Flags", "")
        isa = [f for f in ("avx512f", "avx2", "fma") if f in flags.split()]
    except OSError:
        isa = []
    import numba
    info = {"cpu": model, "logical_cpus": cores, "isa": isa,
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__}
    for module in ("jax", "torch"):
        if sys.modules.get(module) is not None:
            info[module] = sys.modules[module].__version__
    return info


def build_report(s_per_epoch, *, threads, data_description, compile_times=None,
                 gemm=None, method="", command="", extra=None, fma=None):
    """The ratio table as a dict.

    ``s_per_epoch[(config, impl, dtype)]`` = median seconds per 50,000-sample epoch (the
    reference's already scaled); ``gemm`` = measure_gemm()'s dict, ``fma`` measure_fma()'s;
    ``extra[(config, impl,
    dtype)]`` = more per-case figures (cpu_per_wall, compile_s) to keep.
    """
    report = {"date": datetime.date.today().isoformat(), "command": command,
              "method": method, "machine": machine_info(), "threads": threads,
              "data": data_description, "samples_per_epoch": N_EPOCH, "lmbda": LMBDA,
              "configs": {}}
    peak = gemm.get(PEAK_SHAPE) if gemm else None
    for config, spec in CONFIGS.items():
        s = {key(i, d): s_per_epoch[(c, i, d)] for (c, i, d) in case_ids([config])
             if (c, i, d) in s_per_epoch}
        if not s:
            continue
        ratios = {}
        for dt in ("float32", "float64"):
            eng = s.get(key("engine", dt))
            if not eng:
                continue
            for impl in IMPLS[1:]:
                for other in DTYPES[impl]:
                    if key(impl, other) in s and (other == dt or impl == "reference"):
                        ratios[f"{key(impl, other)}/engine_{dt}"] = s[key(impl, other)] / eng
        flop = flop_per_epoch(spec["sizes"])
        gflops = {k: flop / v / 1e9 for k, v in s.items()}
        entry = {"sizes": spec["sizes"], "hidden": spec["hidden"], "output": spec["output"],
                 "cost": spec["cost"], "mini_batch": spec["mini_batch_size"],
                 "eta": spec["eta"], "weights": n_weights(spec["sizes"]),
                 "flop_per_epoch": flop, "s_per_epoch": s, "ratios": ratios,
                 "gflops": gflops,
                 "reference_note": (f"the reference is timed on {spec['reference_samples']:,} "
                                    f"samples and scaled x{N_EPOCH // spec['reference_samples']}"
                                    f" to {N_EPOCH:,}")}
        if peak:
            entry["peak_fraction"] = {k: g / peak[k.rsplit("_", 1)[1]]
                                      for k, g in gflops.items()}
            entry["limit_s_at_gemm_peak"] = {dt: flop / (g * 1e9) for dt, g in peak.items()}
        if fma:
            entry["fma_fraction"] = {k: g / fma[k.rsplit("_", 1)[1]] for k, g in gflops.items()}
        if extra:
            entry["extra"] = {key(i, d): v for (c, i, d), v in extra.items() if c == config}
        report["configs"][config] = entry
    if compile_times:
        report["compile"] = compile_times
    if gemm:
        report["gemm_gflops"] = gemm
        report["peak_shape"] = PEAK_SHAPE
    if fma:
        report["fma_gflops"] = fma
    return report


_COLS = [("eng f32", "engine_float32"), ("eng f64", "engine_float64"),
         ("api f32", "api_float32"), ("api f64", "api_float64"),
         ("np f32", "numpy_float32"), ("np f64", "numpy_float64"),
         ("jax f32", "jax_float32"), ("jax f64", "jax_float64"),
         ("torch f32", "torch_float32"), ("torch f64", "torch_float64"),
         ("ref f64", "reference_float64")]


def _table(report, title, cell):
    """Rows = configs, columns = those of _COLS measured for some config;
    ``cell(entry, key)`` gives the text or None."""
    cols = [(c, k) for c, k in _COLS
            if any(k in e["s_per_epoch"] for e in report["configs"].values())]
    head = f"{'config':<22}" + "".join(f"{c:>10}" for c, _ in cols)
    lines = ["", title, head, "-" * len(head)]
    for config, e in report["configs"].items():
        row = f"{config + ' ' + str(e['sizes']).replace(' ', ''):<22}"
        row += "".join(f"{cell(e, k) or '-':>10}" for _, k in cols)
        lines.append(row)
    return lines


def format_report(report):
    """The report as the text tables printed at the end of a run."""
    th = report["threads"]
    blas = ", ".join(f"{b['internal_api']} {b['num_threads']} thread(s) "
                     f"({b.get('architecture')})" for b in th.get("blas", []))
    torch_th = th.get("torch") or {}
    jax_th = th.get("jax") or {}
    lines = [f"fastnn epoch benchmark, {report['date']} -- seconds per {N_EPOCH:,}-sample "
             f"epoch (median), lambda {report['lmbda']}",
             f"threads: {th.get('mode')}, on CPUs {th.get('affinity')} -- numba "
             f"{th.get('numba_threads')}; BLAS: "
             f"{blas or 'none seen'}; torch: {torch_th.get('num_threads')}; XLA: "
             f"{jax_th.get('note', '?')} (XLA_FLAGS={jax_th.get('xla_flags', '')!r})",
             f"data: {report['data']}"]
    for config, e in report["configs"].items():
        lines.append(f"config {config}: {e['hidden']} hidden, {e['output']} output, "
                     f"{e['cost']}, mini-batch {e['mini_batch']}, eta {e['eta']}; "
                     f"{e['reference_note']}")
    if report.get("method"):
        lines.append(f"method: {report['method']}")
    lines += _table(report, "seconds per epoch", lambda e, k: (
        f"{e['s_per_epoch'][k]:.3f}" if k in e["s_per_epoch"] else None))

    def ratio(e, k):
        if k == "reference_float64":
            r = [e["ratios"].get(f"reference_float64/engine_{dt}") for dt in ("float32",
                                                                               "float64")]
            return "/".join(f"{x:.0f}x" for x in r if x) or None
        dt = k.rsplit("_", 1)[1]
        r = e["ratios"].get(f"{k}/engine_{dt}")
        return f"{r:.2f}x" if r else None
    lines += _table(report, "time / engine time, same dtype (> 1: the engine is faster; "
                            "ref: vs engine f32/f64)", ratio)
    lines += _table(report, "GFLOP/s (6 x weights x samples / s)", lambda e, k: (
        f"{e['gflops'][k]:.1f}" if k in e["gflops"] else None))
    if report.get("gemm_gflops"):
        lines += _table(report, f"fraction of the NumPy GEMM peak ({report['peak_shape']}, "
                                f"same dtype, same threads)", lambda e, k: (
            f"{e['peak_fraction'][k]:.0%}" if k in e.get("peak_fraction", {}) else None))
    if report.get("fma_gflops"):
        lines += _table(report, "fraction of the FMA peak (multiply-add chains, same dtype, "
                                "same threads)", lambda e, k: (
            f"{e['fma_fraction'][k]:.0%}" if k in e.get("fma_fraction", {}) else None))
    if any(e.get("extra") for e in report["configs"].values()):
        lines += _table(report, "CPU time / wall time during the timed epochs (~ cores "
                                "busy)", lambda e, k: (
            f"{e['extra'][k]['cpu_per_wall']:.2f}"
            if e.get("extra", {}).get(k, {}).get("cpu_per_wall") is not None else None))
        compiled = [f"{c} {k.split('_')[1]} {v['compile_s']:.2f} s"
                    for c, e in report["configs"].items()
                    for k, v in e.get("extra", {}).items() if v.get("compile_s")]
        if compiled:
            lines.append("JAX compile (ahead of time, full epoch, not in the timings): "
                         + ", ".join(compiled))
        paths = [f"{c} {k.split('_')[1]} {v['engine_path']}"
                 for c, e in report["configs"].items()
                 for k, v in e.get("extra", {}).items() if v.get("engine_path")]
        if paths:
            lines.append("engine path (fastnn chooses by work per mini-batch): "
                         + ", ".join(paths))
    if (th.get("mode") == "1" and len(th.get("affinity") or []) > 1 and any(
            "jax_float32" in e["s_per_epoch"] for e in report["configs"].values())):
        lines.append("note: JAX ran unpinned: XLA's runtime hands work between its own "
                     "threads despite the one-thread flags, so it may use both cores (see "
                     "CPU/wall); pin the run (--bench-pin / --pin) for one core each")
    lines.append("")
    for config, e in report["configs"].items():
        text = (f"config {config}: 6 x {e['weights']:,} weights x {N_EPOCH:,} = "
                f"{e['flop_per_epoch'] / 1e9:.2f} GFLOP/epoch")
        if "limit_s_at_gemm_peak" in e:
            text += "; at the GEMM peak: " + ", ".join(
                f"{dt} {v:.3f} s" for dt, v in e["limit_s_at_gemm_peak"].items())
        lines.append(text)
    for name, g in (report.get("gemm_gflops") or {}).items():
        lines.append(f"NumPy GEMM {name}, same threads: " + ", ".join(
            f"{dt} {v:.1f} GFLOP/s" for dt, v in g.items()))
    if report.get("fma_gflops"):
        lines.append("FMA peak (multiply-add chains), same threads: " + ", ".join(
            f"{dt} {v:.1f} GFLOP/s" for dt, v in report["fma_gflops"].items()))
    comp = report.get("compile")
    if comp:
        for label in ("cold", "warm"):
            c = comp[label]
            lines.append(f"engine compile ({label} Numba cache, fresh process): import "
                         f"{c['import_s']:.2f} s, first tiny epoch f32 "
                         f"{c['first_epoch_float32_s']:.2f} s, f64 "
                         f"{c['first_epoch_float64_s']:.2f} s, total {c['total_s']:.2f} s")
    return "\n".join(lines)


def write_json(report, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2, default=str)
        f.write("\n")
