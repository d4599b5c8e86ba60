"""What the epoch benchmarks share: data, the cases timed, metrics, threads, compile time.

Used by ``bench/test_bench_epoch.py`` (pytest-benchmark) and ``bench/run_ratios.py``
(plain script), so both measure exactly the same thing:

* one epoch of the book's SGD -- mini-batch 10, sigmoid hidden and output layers,
  cross-entropy, eta = 0.5, lambda = 0 -- over 50,000 Fashion-MNIST training images, for
  config A [784, 30, 10] and config B [784, 100, 10];
* by the engine (``Network._engine.train_epoch``, float32 and float64), the NumPy matrix
  version (``fastnn.baselines.NumpyMatrixNetwork``, float32 and float64) and the naive
  per-sample reference (``fastnn.reference.ReferenceNetwork``, float64). The reference is
  timed on a 5,000-sample subset and its time is scaled to 50,000 samples (x10): it
  does the same work for every sample, so its time is linear in the sample count.

Every timed epoch starts from the same initial parameters (seed 0) and visits the samples
in the same order (an int64 permutation, seed 0). Compile time is kept out of the epoch
timings (every case is warmed up with a tiny epoch first) and measured on its own in a
fresh process (``measure_compile``).
"""
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

import fastnn
from fastnn.data import load_dataset
from fastnn.reference import ReferenceNetwork
from fastnn.baselines import NumpyMatrixNetwork

CONFIGS = {"A": [784, 30, 10], "B": [784, 100, 10]}
IMPLS = ("engine", "numpy", "reference")
DTYPES = {"engine": ("float32", "float64"), "numpy": ("float32", "float64"),
          "reference": ("float64",)}
N_EPOCH = 50_000       # samples per epoch; every s/epoch figure is per 50,000 samples
N_REFERENCE = 5_000    # samples the reference is timed on (scaled x10)
MINI_BATCH = 10
ETA = 0.5
LMBDA = 0.0
SEED = 0
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def case_ids():
    """(config, impl, dtype) for every timed case, in table order."""
    return [(c, i, d) for c in CONFIGS for i in IMPLS for d in DTYPES[i]]


def key(impl, dtype):
    return f"{impl}_{dtype}"


# ----------------------------------------------------------------------------- data

class BenchData:
    """The 50,000 training rows in both dtypes, one-hot targets, and the shuffle orders."""

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
        rng = np.random.default_rng(SEED)
        self.order = rng.permutation(N_EPOCH).astype(np.int64)
        # The reference's subset: the first 5,000 rows, in an order of their own.
        self.ref_X = np.ascontiguousarray(self.X["float64"][:N_REFERENCE])
        self.ref_Y = np.ascontiguousarray(self.Y["float64"][:N_REFERENCE])
        self.ref_order = rng.permutation(N_REFERENCE).astype(np.int64)


# ----------------------------------------------------------------------------- cases

class Case:
    """One timed epoch: ``state = case.fresh()`` (untimed), then ``case.run(state)`` (timed)."""

    def __init__(self, config, impl, dtype, data):
        self.config, self.impl, self.dtype = config, impl, dtype
        self.sizes = CONFIGS[config]
        net = fastnn.Network(self.sizes, dtype=dtype, seed=SEED)
        self.net = net
        self.init_params = net.params.copy()
        self.weights = [w.copy() for w in net.weights]
        self.biases = [b.copy() for b in net.biases]
        if impl == "reference":
            self.X, self.Y, self.order = data.ref_X, data.ref_Y, data.ref_order
        else:
            self.X, self.Y, self.order = data.X[dtype], data.Y[dtype], data.order
        self.n_samples = self.order.shape[0]
        self.scale = N_EPOCH / self.n_samples   # to seconds per 50,000 samples

    @property
    def name(self):
        return f"{self.config}-{self.impl}-{self.dtype}"

    def fresh(self):
        """New state with the initial parameters (not timed)."""
        if self.impl == "engine":
            return self.init_params.copy()
        if self.impl == "numpy":
            return NumpyMatrixNetwork(self.weights, self.biases, dtype=self.dtype)
        return ReferenceNetwork(self.weights, self.biases)

    def run(self, state, order=None):
        """One epoch over X[order] (default: the case's full order) on ``state``."""
        order = self.order if order is None else order
        if self.impl == "engine":
            self.net._engine.train_epoch(state, self.X, self.Y, order, MINI_BATCH, ETA, LMBDA)
        else:
            state.train_epoch(self.X, self.Y, order, MINI_BATCH, ETA, LMBDA)

    def warm_up(self):
        """A tiny epoch (20 samples): compiles (or loads) the engine's kernels, untimed."""
        self.run(self.fresh(), self.order[:20])

    def metrics(self, seconds):
        """extra_info figures from the seconds one timed epoch took."""
        s_epoch = seconds * self.scale
        out = {"s_per_epoch": s_epoch,
               "samples_per_s": N_EPOCH / s_epoch,
               "gflops": flop_per_epoch(self.sizes) / s_epoch / 1e9,
               "dtype": self.dtype, "config": self.config, "sizes": self.sizes,
               "impl": self.impl, "timed_samples": self.n_samples}
        if self.scale != 1:
            out["note"] = (f"timed on {self.n_samples:,} samples, scaled x{self.scale:g} "
                           f"to {N_EPOCH:,}")
        return out


def n_weights(sizes):
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))


def flop_per_epoch(sizes, n=N_EPOCH):
    """6 x weights x samples: forward, δ back and weight gradient, 2 FLOPs each per weight."""
    return 6 * n_weights(sizes) * n


# ----------------------------------------------------------------------------- threads

class ThreadLimit:
    """``threads='1'`` (default): BLAS (NumPy version, reference) and Numba limited to one
    thread, so every implementation runs on one core; ``'all'``: no limit; ``'N'``: N."""

    def __init__(self, threads="1"):
        self.mode = str(threads)
        if self.mode != "all" and not (self.mode.isdigit() and int(self.mode) > 0):
            raise ValueError(f"threads={threads!r}: expected 'all' or a positive integer")
        self._ctl = None

    def __enter__(self):
        import numba
        from threadpoolctl import threadpool_limits
        if self.mode != "all":
            n = int(self.mode)
            self._ctl = threadpool_limits(limits=n)
            self._numba_before = numba.get_num_threads()
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
        return self

    def __exit__(self, *exc):
        if self._ctl is not None:
            import numba
            self._ctl.restore_original_limits()
            numba.set_num_threads(self._numba_before)
            self._ctl = None


def thread_info(mode):
    """Threads in effect now: Numba's and every BLAS threadpoolctl sees."""
    import numba
    from threadpoolctl import threadpool_info
    blas = [{k: lib.get(k) for k in ("internal_api", "num_threads", "architecture",
                                      "version", "threading_layer")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {"mode": mode, "numba_threads": numba.get_num_threads(),
            "engine_note": "the engine's kernels are serial (no prange): it runs on 1 thread",
            "blas": blas}


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
    configs A and B (and any other sizes) alike.
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

def gemm_peak(dtype, n=1536, repeats=3):
    """Best GFLOP/s of an n x n x n matrix product (under whatever thread limit is on)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    c = np.empty((n, n), dtype)
    np.matmul(a, b, out=c)
    best = min(_timed(lambda: np.matmul(a, b, out=c)) for _ in range(repeats))
    return 2.0 * n ** 3 / best / 1e9


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
    return {"cpu": model, "logical_cpus": cores, "isa": isa,
            "python": platform.python_version(), "numpy": np.__version__,
            "numba": numba.__version__}


def build_report(s_per_epoch, *, threads, data_description, compile_times=None,
                 gemm=None, method="", command=""):
    """The ratio table as a dict. ``s_per_epoch[(config, impl, dtype)]`` = median seconds
    per 50,000-sample epoch (the reference's already scaled)."""
    report = {"date": datetime.date.today().isoformat(), "command": command,
              "method": method, "machine": machine_info(), "threads": threads,
              "data": data_description,
              "epoch": {"samples": N_EPOCH, "mini_batch": MINI_BATCH, "eta": ETA,
                        "lmbda": LMBDA, "hidden": "sigmoid", "output": "sigmoid",
                        "cost": "cross_entropy"},
              "reference_note": (f"the reference is timed on {N_REFERENCE:,} samples and "
                                 f"scaled x{N_EPOCH // N_REFERENCE} to {N_EPOCH:,}"),
              "configs": {}}
    for config, sizes in CONFIGS.items():
        s = {key(i, d): s_per_epoch[(config, i, d)] for (c, i, d) in case_ids()
             if c == config and (config, i, d) in s_per_epoch}
        ratios = {}
        for dt in ("float32", "float64"):
            eng = s.get(key("engine", dt))
            if eng:
                if key("reference", "float64") in s:
                    ratios[f"reference_float64/engine_{dt}"] = s[key("reference", "float64")] / eng
                if key("numpy", dt) in s:
                    ratios[f"numpy_{dt}/engine_{dt}"] = s[key("numpy", dt)] / eng
        flop = flop_per_epoch(sizes)
        entry = {"sizes": sizes, "weights": n_weights(sizes), "flop_per_epoch": flop,
                 "s_per_epoch": s, "ratios": ratios,
                 "gflops": {k: flop / v / 1e9 for k, v in s.items()}}
        if gemm:
            entry["limit_s_at_gemm_peak"] = {dt: flop / (g * 1e9) for dt, g in gemm.items()}
        report["configs"][config] = entry
    if compile_times:
        report["compile"] = compile_times
    if gemm:
        report["gemm_peak_gflops"] = gemm
    return report


def format_report(report):
    """The report as the text table printed at the end of a run."""
    th = report["threads"]
    lines = [f"fastnn epoch benchmark, {report['date']} -- seconds per {N_EPOCH:,}-sample "
             f"epoch (median), mb {MINI_BATCH}, sigmoid/sigmoid/cross-entropy, eta {ETA}",
             f"threads: {th.get('mode')} (numba {th.get('numba_threads')}"
             + "".join(f", {b['internal_api']} {b['num_threads']} ({b.get('architecture')})"
                       for b in th.get('blas', [])) + ")",
             f"data: {report['data']}",
             f"note: {report['reference_note']}"]
    if report.get("method"):
        lines.append(f"method: {report['method']}")
    cols = [("engine f32", "engine_float32"), ("engine f64", "engine_float64"),
            ("numpy f32", "numpy_float32"), ("numpy f64", "numpy_float64"),
            ("ref f64", "reference_float64")]
    rcols = [("ref/eng32", "reference_float64/engine_float32"),
             ("ref/eng64", "reference_float64/engine_float64"),
             ("np32/eng32", "numpy_float32/engine_float32"),
             ("np64/eng64", "numpy_float64/engine_float64")]
    head = f"{'config':<18}" + "".join(f"{c:>11}" for c, _ in cols) + \
        "".join(f"{c:>11}" for c, _ in rcols)
    lines += ["", head, "-" * len(head)]
    for config, e in report["configs"].items():
        row = f"{config + ' ' + str(e['sizes']).replace(' ', ''):<18}"
        row += "".join(f"{e['s_per_epoch'][k]:>11.3f}" if k in e["s_per_epoch"]
                       else f"{'-':>11}" for _, k in cols)
        row += "".join(f"{e['ratios'][k]:>10.2f}x" if k in e["ratios"]
                       else f"{'-':>11}" for _, k in rcols)
        lines.append(row)
    lines.append("")
    for config, e in report["configs"].items():
        g = e["gflops"]
        part = ", ".join(f"{k.replace('_float', ' f')} {v:.1f}" for k, v in g.items())
        lines.append(f"GFLOP/s {config} (6 x {e['weights']:,} weights x {N_EPOCH:,} = "
                     f"{e['flop_per_epoch'] / 1e9:.2f} GFLOP/epoch): {part}")
        if "limit_s_at_gemm_peak" in e:
            lim = e["limit_s_at_gemm_peak"]
            lines.append("  limit at measured GEMM peak: " + ", ".join(
                f"{dt} {v:.3f} s" for dt, v in lim.items()))
    if report.get("gemm_peak_gflops"):
        lines.append("GEMM peak (NumPy matmul 1536^3, same threads): " + ", ".join(
            f"{dt} {v:.1f} GFLOP/s" for dt, v in report["gemm_peak_gflops"].items()))
    comp = report.get("compile")
    if comp:
        for label in ("cold", "warm"):
            c = comp[label]
            lines.append(f"compile ({label} Numba cache, fresh process): import "
                         f"{c['import_s']:.2f} s, first tiny epoch f32 "
                         f"{c['first_epoch_float32_s']:.2f} s, f64 "
                         f"{c['first_epoch_float64_s']:.2f} s, total {c['total_s']:.2f} s")
    return "\n".join(lines)


def write_json(report, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
