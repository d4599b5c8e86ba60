"""Per-kernel benchmark cases: each engine kernel against NumPy doing the same operation.

Used by ``bench/test_bench_kernels.py``. A ``KernelSpec`` names a kernel and a layer
shape of configs A, B or C; ``KernelCase(spec, dtype)`` builds its arrays (seeded) and
offers ``kernel()`` (the Numba kernel, as the epoch loop calls it) and ``numpy()`` (the
NumPy expression of the same operation on the same arrays, written as the NumPy matrix
version writes it), ``check()`` (both on fresh copies must agree), and the work done per
call (FLOPs, bytes) for rates.

=========================  ==================================================  =============
kernel (fastnn.kernels)    NumPy equivalent                                    work per call
=========================  ==================================================  =============
dense.forward              Z = A_in[rows] @ W.T + b; A = g(Z)                  2 m n_in n_out
dense.hidden_delta         D = (D_next @ W_next) * g'(A)                       2 m n n_next
dense.weight_gradient      grad: W_out = (1/m) D.T @ A_in[rows] (b likewise)   2 m n_in n_out
  fused (the epoch's)      W *= decay; W -= (eta/m) D.T @ A_in[rows]; b ...    2 m n_in n_out
sgd_update (below)         p[:nw] = decay p[:nw] - step g[:nw]; p[nw:] -= ..   3 n x itemsize B
activations.softmax_rows   e = exp(Z - row max); A = e / row sum(e)            (time only)
gemm (the engine's own)    C = A @ B (matmul), or C ← A B + β C (BLAS's GEMM)  2 M K N
engine epoch (subset)      NumpyMatrixNetwork.train_epoch                      6 weights n
=========================  ==================================================  =============

Shapes: A1/B1 are the first layers of A and B (m = 10, 784 -> 30 / 100, sigmoid); C1 and
C2 the hidden layers of C (m = 128, 784 -> 1024 and 1024 -> 1024, ReLU). A first layer
reads its input rows through ``rows`` from a 4,096-row array (a gather, as in the epoch);
the same rows every call, so they stay in cache, which flatters both sides alike. C3 is
C's output layer (128 x 10) for the softmax. These are the engine's loop-path kernels: for
config C's mini-batches of 128 the engine now takes its matrix path (BLAS GEMM,
fastnn/_engine/matrix.py), so the C-shaped rows show what the loops would cost there, and the
``epoch`` row of C times the path the engine actually picks (its ``engine_path``). The
``gemm`` rows time the engine's own GEMM (kernels/gemm.py, which the matrix path runs on
AVX-512 cores whose BLAS runs a narrower kernel: fastnn/_engine/gemm.py) against NumPy's BLAS
on two of C's products, whatever the matrix path chose on this machine.
"""
import numba
import numpy as np

import fastnn
from fastnn._engine import blas as _blas
from fastnn._engine import gemm as _gemm
from fastnn.kernels import activations, dense
from fastnn.kernels._jit import FASTMATH
from fastnn.perf.baselines import NumpyMatrixNetwork
from fastnn.perf.bench import CONFIGS

SEED = 0
N_ROWS = 4096          # rows of the array a first layer gathers from
ETA, LMBDA, N_TRAIN = 0.1, 5.0, 50_000

#: layer -> (config, m, n_in, n_out, activation); n_in 784 means "first layer"
LAYERS = {
    "A1": ("A", 10, 784, 30, "sigmoid"),
    "B1": ("B", 10, 784, 100, "sigmoid"),
    "C1": ("C", 128, 784, 1024, "relu"),
    "C2": ("C", 128, 1024, 1024, "relu"),
}
#: hidden_delta shapes: layer -> (config, m, n, n_next, activation of the layer)
DELTA_LAYERS = {
    "A1": ("A", 10, 30, 10, "sigmoid"),
    "B1": ("B", 10, 100, 10, "sigmoid"),
    "C1": ("C", 128, 1024, 1024, "relu"),   # δ of C's first hidden layer, from the second
    "C2": ("C", 128, 1024, 10, "relu"),     # δ of C's second hidden layer, from the output
}
#: the engine's own GEMM (kernels/gemm.py) at config C's shapes: label -> (config, M, K,
#: N, beta, B transposed): layer 2's forward product W₂ Aᵀ and its fused update
#: W₂ ← βW₂ + δᵀA (B a transposed view, as the matrix path passes it)
GEMM_SHAPES = {
    "C2-forward": ("C", 1024, 1024, 128, 0.0, False),
    "C2-update": ("C", 1024, 128, 1024, 1 - ETA * LMBDA / N_TRAIN, True),
}
#: whole-epoch cases: config -> samples per timed epoch
EPOCH_SAMPLES = {"A": 2000, "B": 2000, "C": 1280}
_CODES = {"sigmoid": activations.SIGMOID, "relu": activations.RELU}
#: kernel name -> the KernelCase method that builds its arrays and both computations
_BUILDERS = {"forward": "_build_forward", "hidden_delta": "_build_hidden_delta",
             "weight_gradient_grad": "_build_weight_gradient",
             "weight_gradient_fused": "_build_weight_gradient",
             "sgd_update": "_build_sgd_update", "softmax_rows": "_build_softmax_rows",
             "epoch": "_build_epoch", "gemm": "_build_gemm"}


class KernelSpec:
    """A kernel at one shape: ``kernel`` name, ``layer`` label, ``config`` (A, B or C)."""

    def __init__(self, kernel, layer, config):
        self.kernel, self.layer, self.config = kernel, layer, config

    def __repr__(self):
        return f"{self.kernel}-{self.layer}"


@numba.njit(nogil=True, fastmath=set(FASTMATH))
def sgd_update(params, grad, n_weights, decay, step):
    """The book's update alone, in one pass over a flat buffer (the engine fuses it into
    the weight gradient; this standalone form measures a memory-bound pass):
    w ← decay·w − step·∇w for the first ``n_weights`` entries, b ← b − step·∇b after."""
    for i in range(n_weights):
        params[i] = decay * params[i] - step * grad[i]
    for i in range(n_weights, params.shape[0]):
        params[i] -= step * grad[i]


def specs():
    """Every kernel case, grouped by kernel."""
    out = [KernelSpec("forward", layer, c) for layer, (c, *_) in LAYERS.items()]
    out += [KernelSpec("hidden_delta", layer, c) for layer, (c, *_) in DELTA_LAYERS.items()]
    for mode in ("grad", "fused"):
        out += [KernelSpec(f"weight_gradient_{mode}", layer, c)
                for layer, (c, *_) in LAYERS.items()]
    out += [KernelSpec("sgd_update", c, c) for c in ("A", "B", "C")]
    out += [KernelSpec("softmax_rows", "C3", "C")]
    out += [KernelSpec("gemm", label, c) for label, (c, *_) in GEMM_SHAPES.items()]
    out += [KernelSpec("epoch", c, c) for c in ("A", "B", "C")]
    return out


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


_G = {"sigmoid": _sigmoid, "relu": lambda z: np.maximum(z, 0)}
_G_PRIME = {"sigmoid": lambda a: a * (1 - a), "relu": lambda a: (a > 0).astype(a.dtype)}


class KernelCase:
    """The arrays of one kernel case in one dtype, and the two ways to compute it."""

    def __init__(self, spec, dtype):
        self.spec, self.dtype = spec, np.dtype(dtype)
        self.rng = np.random.default_rng(SEED)
        self.work = {}         # "flop" and/or "bytes" per call
        getattr(self, _BUILDERS[spec.kernel])()

    # -- helpers ----------------------------------------------------------------------
    def _rand(self, *shape, scale=1.0):
        return (self.rng.standard_normal(shape) * scale).astype(self.dtype)

    def _first_layer_input(self, m, n_in):
        """(A_in, rows): a gather from N_ROWS rows for a first layer, else the m rows."""
        if n_in == 784:
            A_in = self.rng.random((N_ROWS, n_in)).astype(self.dtype)
            rows = np.sort(self.rng.choice(N_ROWS, m, replace=False)).astype(np.int64)
        else:
            A_in = self.rng.random((m, n_in)).astype(self.dtype)
            rows = np.arange(m, dtype=np.int64)
        return A_in, rows

    # -- builders: arrays, kernel(), numpy(), outputs() ----------------------------------
    def _build_forward(self):
        config, m, n_in, n_out, act = LAYERS[self.spec.layer]
        W = self._rand(n_out, n_in, scale=n_in ** -0.5)
        b = self._rand(n_out)
        A_in, rows = self._first_layer_input(m, n_in)
        Z = np.empty((m, n_out), self.dtype)
        A = np.empty_like(Z)
        code, param, g = np.int64(_CODES[act]), self.dtype.type(0), _G[act]
        self.work["flop"] = 2 * m * n_in * n_out
        self.kernel = lambda: dense.forward(W, b, A_in, rows, Z, A, code, param)
        self._numpy_out = {}

        def numpy():
            z = A_in[rows] @ W.T + b
            self._numpy_out["A"] = g(z)
        self.numpy = numpy
        self._kernel_outputs = lambda: {"A": A.copy(), "Z": Z.copy()}
        self._numpy_outputs = lambda: {"A": self._numpy_out["A"]}

    def _build_hidden_delta(self):
        config, m, n, n_next, act = DELTA_LAYERS[self.spec.layer]
        W_next = self._rand(n_next, n, scale=n ** -0.5)
        D_next = self._rand(m, n_next)
        Z = self._rand(m, n)
        A = _G[act](Z).astype(self.dtype)
        D = np.empty((m, n), self.dtype)
        code, param, gp = np.int64(_CODES[act]), self.dtype.type(0), _G_PRIME[act]
        self.work["flop"] = 2 * m * n * n_next
        self.kernel = lambda: dense.hidden_delta(W_next, D_next, Z, A, code, param, False, D)
        self._numpy_out = {}

        def numpy():
            self._numpy_out["D"] = (D_next @ W_next) * gp(A)
        self.numpy = numpy
        self._kernel_outputs = lambda: {"D": D.copy()}
        self._numpy_outputs = lambda: {"D": self._numpy_out["D"]}

    def _build_weight_gradient(self):
        config, m, n_in, n_out, act = LAYERS[self.spec.layer]
        fused = self.spec.kernel.endswith("fused")
        D = self._rand(m, n_out, scale=0.1)
        A_in, rows = self._first_layer_input(m, n_in)
        W0 = self._rand(n_out, n_in, scale=n_in ** -0.5)
        b0 = self._rand(n_out)
        W, b = W0.copy(), b0.copy()
        t = self.dtype.type
        if fused:   # the epoch's in-place update: α = -η/m, β_w = 1 - ηλ/n, β_b = 1
            alpha, beta_w, beta_b = t(-ETA / m), t(1 - ETA * LMBDA / N_TRAIN), t(1)
        else:       # the mean gradient into a buffer: α = 1/m, β = 0
            alpha, beta_w, beta_b = t(1 / m), t(0), t(0)
        self.work["flop"] = 2 * m * n_in * n_out
        self.kernel = lambda: dense.weight_gradient(D, A_in, rows, alpha, beta_w, beta_b, W, b)

        if fused:
            Wn, bn = W0.copy(), b0.copy()

            def numpy():
                Wn[...] *= beta_w
                Wn[...] -= t(ETA / m) * (D.T @ A_in[rows])
                bn[...] -= t(ETA / m) * D.sum(axis=0)
        else:
            Wn, bn = np.empty_like(W0), np.empty_like(b0)

            def numpy():
                Wn[...] = (D.T @ A_in[rows]) * alpha
                bn[...] = D.sum(axis=0) * alpha
        self.numpy = numpy

        def reset():  # the fused form updates W in place: start both from W0 for check()
            W[...], b[...], Wn[...], bn[...] = W0, b0, W0, b0
        self._reset = reset
        self._kernel_outputs = lambda: {"W": W.copy(), "b": b.copy()}
        self._numpy_outputs = lambda: {"W": Wn.copy(), "b": bn.copy()}

    def _build_sgd_update(self):
        sizes = CONFIGS[self.spec.config]["sizes"]
        n_w = sum(a * c for a, c in zip(sizes[:-1], sizes[1:]))
        n = n_w + sum(sizes[1:])
        p0 = self._rand(n, scale=0.1)
        grad = self._rand(n, scale=0.1)
        p, pn = p0.copy(), p0.copy()
        t = self.dtype.type
        decay, step = t(1 - ETA * LMBDA / N_TRAIN), t(ETA)
        self.work["bytes"] = 3 * self.dtype.itemsize * n   # read p and grad, write p
        self.work["flop"] = 3 * n_w + 2 * (n - n_w)
        self.kernel = lambda: sgd_update(p, grad, n_w, decay, step)

        def numpy():
            pn[:n_w] = decay * pn[:n_w] - step * grad[:n_w]
            pn[n_w:] -= step * grad[n_w:]
        self.numpy = numpy

        def reset():
            p[...], pn[...] = p0, p0
        self._reset = reset
        self._kernel_outputs = lambda: {"params": p.copy()}
        self._numpy_outputs = lambda: {"params": pn.copy()}

    def _build_gemm(self):
        config, M, K, N, beta, transposed = GEMM_SHAPES[self.spec.layer]
        A = self._rand(M, K)
        B = self._rand(N, K).T if transposed else self._rand(K, N)
        C0 = self._rand(M, N)
        C, Cn = C0.copy(), C0.copy()
        self.work["flop"] = 2 * M * K * N
        self.kernel = lambda: _gemm.engine_gemm(A, B, C, beta)

        def numpy():  # NumPy's own BLAS: matmul, or its GEMM with the β term when bound
            if beta == 0:
                np.matmul(A, B, out=Cn)
            elif not _blas.gemm(A, B, Cn, 1.0, beta):
                Cn[...] = beta * Cn + A @ B
        self.numpy = numpy

        def reset():
            C[...], Cn[...] = C0, C0
        self._reset = reset
        self._kernel_outputs = lambda: {"C": C.copy()}
        self._numpy_outputs = lambda: {"C": Cn.copy()}

    def _build_softmax_rows(self):
        Z = self._rand(128, 10, scale=3.0)
        A = np.empty_like(Z)
        self.kernel = lambda: activations.softmax_rows(Z, A)
        self._numpy_out = {}

        def numpy():
            e = np.exp(Z - Z.max(axis=1, keepdims=True))
            self._numpy_out["A"] = e / e.sum(axis=1, keepdims=True)
        self.numpy = numpy
        self._kernel_outputs = lambda: {"A": A.copy()}
        self._numpy_outputs = lambda: {"A": self._numpy_out["A"]}

    def _build_epoch(self):
        spec = CONFIGS[self.spec.config]
        kinds = (spec["hidden"], spec["output"], spec["cost"])
        n, m = EPOCH_SAMPLES[self.spec.config], spec["mini_batch_size"]
        net = fastnn.Network(spec["sizes"], *kinds, dtype=self.dtype, seed=SEED)
        X = self.rng.random((n, spec["sizes"][0])).astype(self.dtype)
        Y = np.eye(spec["sizes"][-1], dtype=self.dtype)[self.rng.integers(0, 10, n)]
        order = self.rng.permutation(n).astype(np.int64)
        p0 = net.params.copy()
        weights = [w.copy() for w in net.weights]
        biases = [b.copy() for b in net.biases]
        state = {"numpy": NumpyMatrixNetwork(weights, biases, *kinds, dtype=self.dtype)}
        self.work["flop"] = 6 * sum(a * c for a, c in zip(spec["sizes"][:-1],
                                                          spec["sizes"][1:])) * n
        self.kernel = lambda: net._engine.train_epoch(net.params, X, Y, order, m, ETA, 0.0)
        self.numpy = lambda: state["numpy"].train_epoch(X, Y, order, m, ETA, 0.0)

        def reset():
            net.params[...] = p0
            state["numpy"] = NumpyMatrixNetwork(weights, biases, *kinds, dtype=self.dtype)
        self._reset = reset
        self._kernel_outputs = lambda: {"params": net.params.copy()}
        self._numpy_outputs = lambda: {"params": np.concatenate(
            [a.ravel() for a in state["numpy"].weights + state["numpy"].biases])}
        self.engine_path = net._engine.path_name(m)

    # -- checking and metrics ---------------------------------------------------------
    def check(self):
        """Run both once from the same inputs; AssertionError unless every output agrees
        (float64: 1e-9 relative to the largest entry; float32: 1e-4). Returns the largest
        relative difference."""
        getattr(self, "_reset", lambda: None)()
        self.kernel()
        self.numpy()
        got, want = self._kernel_outputs(), self._numpy_outputs()
        getattr(self, "_reset", lambda: None)()
        limit = 1e-9 if self.dtype == np.float64 else 1e-4
        worst = 0.0
        for name, w in want.items():
            g = got[name]
            scale = max(float(np.max(np.abs(w))), 1e-30)
            err = float(np.max(np.abs(g - w))) / scale
            if not np.isfinite(g).all() or not err <= limit:
                raise AssertionError(f"{self.spec!r} {self.dtype.name}: output {name} of the "
                                     f"kernel differs from NumPy's by {err:.3g} (relative to "
                                     f"its largest entry); expected at most {limit:g}")
            worst = max(worst, err)
        return worst

    def metrics(self, seconds):
        """Rates from the seconds one call took."""
        out = {"s_per_call": seconds, "kernel": self.spec.kernel, "layer": self.spec.layer,
               "config": self.spec.config, "dtype": self.dtype.name}
        if "flop" in self.work:
            out["gflops"] = self.work["flop"] / seconds / 1e9
        if "bytes" in self.work:
            out["gbytes_per_s"] = self.work["bytes"] / seconds / 1e9
        if hasattr(self, "engine_path"):
            out["engine_path"] = self.engine_path
        return out


# ----------------------------------------------------------------------------- report

def build_report(results, gemm=None):
    """Rows (kernel, layer, dtype) with both sides' seconds and rates, and NumPy/kernel.

    ``results[(kernel, layer, dtype, runner)]`` = KernelCase.metrics() of the median, with
    runner "kernel" or "numpy"; ``gemm`` = benchlib.measure_gemm()'s dict (for the
    fraction of the peak).
    """
    import benchlib
    peak = (gemm or {}).get(benchlib.PEAK_SHAPE)
    rows = []
    for (kernel, layer, dtype, runner), r in results.items():
        if runner != "kernel":
            continue
        row = {"kernel": kernel, "layer": layer, "dtype": dtype, "config": r["config"],
               "kernel_s": r["s_per_call"], "kernel_gflops": r.get("gflops"),
               "kernel_gbytes_per_s": r.get("gbytes_per_s")}
        if r.get("engine_path"):
            row["engine_path"] = r["engine_path"]
        if peak and r.get("gflops") and kernel not in ("sgd_update",):
            row["kernel_peak_fraction"] = r["gflops"] / peak[dtype]
        other = results.get((kernel, layer, dtype, "numpy"))
        if other:
            row.update({"numpy_s": other["s_per_call"], "numpy_gflops": other.get("gflops"),
                        "numpy_gbytes_per_s": other.get("gbytes_per_s"),
                        "numpy/kernel": other["s_per_call"] / r["s_per_call"]})
        rows.append(row)
    return {"rows": rows, "peak_shape": benchlib.PEAK_SHAPE if peak else None}


def _rate(row, side):
    g, b = row.get(f"{side}_gflops"), row.get(f"{side}_gbytes_per_s")
    if b is not None:
        return f"{b:.1f} GB/s"
    return f"{g:.1f}" if g is not None else "-"


def format_report(report):
    """The kernel table printed at the end of a run."""
    head = (f"{'kernel':<24}{'shape':<6}{'dtype':<8}{'kernel us':>11}{'numpy us':>11}"
            f"{'np/kern':>9}{'kern GF/s':>12}{'np GF/s':>12}{'kern/peak':>10}")
    lines = ["", "kernels: microseconds per call (median), NumPy time / kernel time (> 1: "
                 "the kernel is faster), GFLOP/s (GB/s for sgd_update)", head,
             "-" * len(head)]
    for row in report["rows"]:
        numpy_us = f"{row['numpy_s'] * 1e6:.1f}" if "numpy_s" in row else "-"
        ratio = f"{row['numpy/kernel']:.2f}x" if "numpy/kernel" in row else "-"
        frac = (f"{row['kernel_peak_fraction']:.0%}" if "kernel_peak_fraction" in row
                else "-")
        lines.append(f"{row['kernel']:<24}{row['layer']:<6}{row['dtype']:<8}"
                     f"{row['kernel_s'] * 1e6:>11.1f}{numpy_us:>11}{ratio:>9}"
                     f"{_rate(row, 'kernel'):>12}{_rate(row, 'numpy'):>12}{frac:>10}")
    paths = sorted({(r["layer"], r["engine_path"]) for r in report["rows"]
                    if r.get("engine_path")})
    if paths:
        lines.append("epoch rows: the engine's path -- " + ", ".join(
            f"{layer} {path}" for layer, path in paths))
    return "\n".join(lines)
