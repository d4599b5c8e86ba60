"""``fastnn profile``: where an epoch of backprop spends its time, per layer and phase.

For one network (sizes, activations, cost, mini-batch size, dtype, threads) the profiler
times every phase of every layer with the engine's own kernels, compiled and warmed up:

========================  =========================================================
phase                     what runs (loop path; the matrix path's equivalent)
========================  =========================================================
``gather``                matrix path only: X[rows] copied into the input block
``forward_product``       z = W a_in + b (``dense.forward_product``; NumPy matmul)
``activation``            a = g(z) (``activate``; the matrix path: ``add_bias`` then g)
``output_delta``          δ^L = ∂C/∂z^L (``output_delta``; and the scale by −η/m)
``delta_product``         (W^{l+1})ᵀ δ^{l+1} (``dense.delta_product``; matmul)
``derivative``            δ^l ⊙= g'(z^l) (``multiply_by_derivative``)
``weight_product``        W += −(η/m) δ a_inᵀ (``dense.weight_product``; BLAS GEMM
                          W ← δᵀA + βW, or matmul into G where no GEMM is bound)
``bias_gradient``         b += −(η/m) Σ δ (``bias_gradient``; ``bias_update_t``)
``update``                the fused update's remaining pass: weight decay W *= 1 − ηλ/n
                          when λ > 0 (``scale_weights``); matrix path without a
                          bound GEMM: W ← βW + G
``overhead``              the epoch loop itself with every kernel left out (matrix
                          path: the time between mini-batches in the epoch)
========================  =========================================================

On the loop path, whose kernels take microseconds per mini-batch, each phase runs once
per mini-batch over a whole epoch in one compiled call (kernels/profile.py) on the
buffers of one real mini-batch, so no clock is read per mini-batch; the activation
derivative is the hidden-δ kernel's time less the δ product's (kernels/profile.py says
why). On the matrix path, whose calls take milliseconds, a real epoch runs with a clock
read between its calls (``MatrixPath.train_epoch(clock=)``); the loop's own work between
mini-batches is its overhead. Either way, an uninstrumented epoch (``Engine.train_epoch``)
is timed in the same run, interleaved with the phases, and the report gives the sum of
the phases against it.

The cost model (:func:`cost_model`) gives every phase's FLOPs and bytes. Counting rules:
a product counts 2 FLOPs per multiply-add (the 6 × weights model's rule: forward 2, δ 2,
gradient 2 per weight per sample; the first layer needs no δ product, so the model's
products total 6 × weights − 2 × the first layer's); element-wise work counts 1 FLOP per
element for a bias add, a − y, an activation value, a bias-gradient add, a scale or a
decay, and 2 (g′ and the product) per element of the derivative. Bytes count every array
a phase reads or writes once per call (a product reads W, its input rows and writes its
output; the fused weight product reads and writes W), at the dtype's size; indices are
not counted. Achieved rates are placed on a roofline made of the machine's compute peak
and a streaming copy's bandwidth, all measured in the same run under the same thread
count. The compute peak is the larger of two yardsticks: the GEMM peak (NumPy's
``matmul``, 1024³; ``%peak`` is against it, as the targets are) and the core's
multiply-add peak (chains of FMAs, fastnn/_engine/peak.py; ``%fma``), which is the higher one
where the BLAS runs narrower vectors than the core and Numba's loops have (OpenBLAS's
Haswell kernel on an AVX-512 core).
"""
import platform
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import _checks
from .. import plot as _plot
from .._engine import fpenv as _fpenv
from .._engine import gemm as _gemm
from .._engine import peak as _peak
from .._engine import threads as _threads
from .._engine import width as _width
from ..kernels import profile as _kp
from ..kernels.activations import IDENTITY, SOFTMAX
from ..kernels.costs import QUADRATIC

#: the JSON schema's name and version: bumped when a field changes meaning or goes away
#: /2 added the FMA peak (machine: fma_peak_gflops, compute_peak_gflops; phases: fma_fraction)
#: and puts the roofline at the compute peak, the larger of the GEMM and FMA peaks
#: (fields added since, without a bump: machine.matrix_gemm, which GEMM the matrix path runs;
#: machine.loop_width, the vector width the loops are compiled for)
SCHEMA = "fastnn.profile/2"

#: phase keys in epoch order, with the names the table prints
PHASES = {
    "gather": "gather inputs",
    "forward_product": "forward product",
    "activation": "activation",
    "output_delta": "output delta",
    "delta_product": "hidden delta product",
    "derivative": "activation derivative",
    "weight_product": "weight-gradient product",
    "bias_gradient": "bias gradient",
    "update": "fused update",
    "overhead": "loop overhead",
}

#: a phase that reaches less than this fraction of its roofline time is "overhead-bound":
#: its time goes to calls, loop set-up and latency rather than to its FLOPs or bytes
OVERHEAD_EFFICIENCY = 0.1

GEMM_N = 1024
#: the streaming copy that measures memory bandwidth: far larger than any cache
STREAM_BYTES = 128 * 2 ** 20
#: the copy that measures cache bandwidth (one core): source and copy fit a 1 MB L2
CACHE_COPY_BYTES = 256 * 2 ** 10
#: a phase whose footprint (the distinct bytes one call touches) is at most this is taken
#: to run from the caches: its bandwidth roof is the cache copy's × threads, not memory's
CACHE_RESIDENT_BYTES = 2 ** 20


# -- the cost model -----------------------------------------------------------
def _batch_sizes(n, m):
    """(size, count) of the mini-batches of an epoch of n samples."""
    full, rest = divmod(n, m)
    out = [(m, full)] if full else []
    if rest:
        out.append((rest, 1))
    return out


def cost_model(sizes, mini_batch_size, n_samples, itemsize=4, path="loops", decay=False,
               quadratic=False, output_identity=False, hidden_identity=None,
               fused_update=False):
    """FLOPs and bytes of every phase of every layer for one epoch (module docstring).

    Returns a list with one dict per layer (index 0 is the first weight layer), mapping
    each phase the layer has to ``{"flops": int, "bytes": int, "calls": int, "footprint":
    int}``: calls, one per mini-batch; footprint, the distinct bytes one call touches (an
    array read and written counts once), for the largest mini-batch. ``decay``: the SGD step
    has λ > 0 (the loop path's decay pass); ``quadratic``: the quadratic cost (its output
    δ multiplies by g′); ``hidden_identity``: per hidden layer, whether its activation is
    the identity (the derivative pass is then skipped); ``fused_update``: on the matrix
    path, the update runs inside the weight-gradient GEMM (BLAS's β term, fastnn/_engine/blas.py)
    and has no pass of its own.
    """
    sizes = [int(s) for s in sizes]
    L = len(sizes) - 1
    if path not in ("loops", "matrix"):
        raise ValueError(f"path={path!r} is invalid; expected 'loops' or 'matrix'")
    if hidden_identity is None:
        hidden_identity = [False] * (L - 1)
    s = int(itemsize)
    layers = [dict() for _ in range(L)]

    def add(l, phase, flops, nbytes, footprint):
        entry = layers[l].setdefault(phase, {"flops": 0, "bytes": 0, "calls": 0,
                                             "footprint": 0})
        entry["flops"] += int(flops) * count
        entry["bytes"] += int(nbytes) * count
        entry["calls"] += count
        entry["footprint"] = max(entry["footprint"], int(footprint))

    for k, count in _batch_sizes(int(n_samples), int(mini_batch_size)):
        for l in range(L):
            n_in, n_out = sizes[l], sizes[l + 1]
            w = n_in * n_out
            if path == "matrix":
                if l == 0:
                    add(l, "gather", 0, s * 2 * k * n_in, s * 2 * k * n_in)
                nb = s * (w + k * n_in + k * n_out)
                add(l, "forward_product", 2 * k * w, nb, nb)
                add(l, "activation", 2 * k * n_out, s * (2 * k * n_out + n_out),
                    s * (2 * k * n_out + n_out))
            else:
                nb = s * (w + k * n_in + n_out + k * n_out)
                add(l, "forward_product", 2 * k * w + k * n_out, nb, nb)
                add(l, "activation", k * n_out, s * 2 * k * n_out, s * 2 * k * n_out)
            if l == L - 1:
                flops = k * n_out * (3 if quadratic and not output_identity else 1)
                nbytes = s * k * n_out * (4 if quadratic else 3)
                if path == "matrix":  # the pass that scales δ by −η/m, in place
                    flops += k * n_out
                    nbytes += s * 2 * k * n_out
                add(l, "output_delta", flops, nbytes, s * k * n_out * (4 if quadratic else 3))
            else:
                n_next = sizes[l + 2]
                nb = s * (n_next * n_out + k * n_next + k * n_out)
                add(l, "delta_product", 2 * k * n_next * n_out, nb, nb)
                if not hidden_identity[l]:
                    add(l, "derivative", 2 * k * n_out, s * 3 * k * n_out, s * 2 * k * n_out)
            if path == "matrix" and fused_update:  # W ← δᵀA + βW: W read and written
                nb = s * (w + k * n_in + k * n_out)
                add(l, "weight_product", 2 * k * w + 2 * w, nb + s * w, nb)
            elif path == "matrix":
                nb = s * (w + k * n_in + k * n_out)
                add(l, "weight_product", 2 * k * w, nb, nb)
                add(l, "update", 2 * w, s * 3 * w, s * 2 * w)
            else:
                add(l, "weight_product", 2 * k * w, s * (2 * w + k * n_in + k * n_out),
                    s * (w + k * n_in + k * n_out))
                if decay:
                    add(l, "update", w, s * 2 * w, s * w)
            add(l, "bias_gradient", k * n_out, s * (k * n_out + 2 * n_out),
                s * (k * n_out + n_out))
    return layers


# -- the machine's yardsticks ---------------------------------------------------
def _gemm_runner(dtype, seed=0):
    rng = np.random.default_rng(seed)
    A, B, C = (rng.random((GEMM_N, GEMM_N)).astype(dtype) for _ in range(3))

    def run():
        np.matmul(A, B, out=C)
    return run, 2 * GEMM_N ** 3


def _copy_runner(nbytes, threads, pool):
    """A copy of ``nbytes`` split over ``threads`` (NumPy releases the GIL while it
    copies); returns (run, bytes moved per run: one read and one write)."""
    src = np.ones(max(1, nbytes // 8), np.float64)
    dst = np.empty_like(src)
    cuts = np.linspace(0, src.size, threads + 1).astype(int)
    parts = [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:])]
    reps = max(1, (32 * 2 ** 20) // src.nbytes)  # about 32 MB per timing

    def run():
        if threads == 1:
            for _ in range(reps):
                np.copyto(dst, src)
        else:
            list(pool.map(lambda s: np.copyto(dst[s], src[s]), parts))
    return run, 2 * src.nbytes * (reps if threads == 1 else 1)


# -- one profile ------------------------------------------------------------------
def _load_inputs(sizes, n_samples, dtype, data, seed):
    """(X, Y, description): real images when the network is 784 → … → 10, else random."""
    rng = np.random.default_rng(seed)
    if sizes[0] == 784 and sizes[-1] == 10:
        from ..data import load_dataset

        ds = load_dataset(data, dtype=dtype)
        X, y = ds.train
        reps = -(-n_samples // len(y))
        X = np.ascontiguousarray(np.concatenate([X] * reps)[:n_samples]) if reps > 1 else \
            np.ascontiguousarray(X[:n_samples])
        y = np.concatenate([y] * reps)[:n_samples]
        note = f"{ds.source}" + (f" (repeated x{reps})" if reps > 1 else "")
    else:
        X = rng.random((n_samples, sizes[0])).astype(dtype)
        y = rng.integers(0, sizes[-1], n_samples)
        note = "uniform random inputs (the network's sizes do not fit the image data)"
    Y = np.zeros((n_samples, sizes[-1]), dtype)
    Y[np.arange(n_samples), y] = 1
    return X, Y, note


def _loop_runners(net, X, Y, order, m, eta, lmbda):
    """{(layer, phase): run} for the loop path, on buffers filled by one real mini-batch."""
    e = net.engine
    dt = e.dtype
    sizes = e.sizes
    L = len(sizes) - 1
    n = order.shape[0]
    params = net.params.copy()
    Z, A, D, _ = e.trace(params, X, Y, order[:m])
    Ws, bs = e.weights(params), e.biases(params)
    ident = np.arange(m, dtype=np.int64)
    ws_z, ws_a, ws_d = (np.empty(m * int(sizes[1:].sum()), dt) for _ in range(3))
    # buffers the phases may write without touching the ones others read
    Zs = [z.copy() for z in Z]
    As = [a.copy() for a in A]
    Ds = [d.copy() for d in D]
    Wout = [w.copy() for w in Ws]
    bout = [b.copy() for b in bs]
    alpha = dt(-eta / m)
    decay = dt(1.0 - eta * lmbda / n)
    runners = {}
    for l in range(L):
        first = l == 0
        A_in = X if first else A[l - 1]
        act, param = int(e.acts[l]), e.act_params[l]
        runners[(l, "forward_product")] = (
            lambda W=Ws[l], b=bs[l], A_in=A_in, first=first, Zo=Zs[l]:
            _kp.loop_forward_product(W, b, A_in, order, ident, first, m, Zo))
        runners[(l, "activation")] = (
            lambda Zl=Z[l], Ao=As[l], act=act, param=param:
            _kp.loop_activation(Zl, Ao, act, param, n, m))
        if l == L - 1:
            runners[(l, "output_delta")] = (
                lambda Zl=Z[l], Al=A[l], act=act, param=param, Do=Ds[l]:
                _kp.loop_output_delta(Zl, Al, Y, order, e.cost, act, param, m, Do))
        else:
            runners[(l, "delta_product")] = (
                lambda Wn=Ws[l + 1], Dn=D[l + 1], Do=Ds[l]:
                _kp.loop_delta_product(Wn, Dn, n, m, Do))
            if act != IDENTITY:  # timed with the δ product; the difference is g'
                runners[(l, "delta_and_derivative")] = (
                    lambda Wn=Ws[l + 1], Dn=D[l + 1], Zl=Z[l], Al=A[l], act=act, param=param,
                    Do=Ds[l]: _kp.loop_hidden_delta(Wn, Dn, Zl, Al, act, param, n, m, Do))
        runners[(l, "weight_product")] = (
            lambda Dl=D[l], A_in=A_in, first=first, Wo=Wout[l]:
            _kp.loop_weight_product(Dl, A_in, order, ident, first, alpha, m, Wo))
        runners[(l, "bias_gradient")] = (
            lambda Dl=D[l], bo=bout[l]: _kp.loop_bias_gradient(Dl, alpha, n, m, bo))
        if decay != 1:
            runners[(l, "update")] = lambda Wo=Wout[l]: _kp.loop_decay(Wo, decay, n, m)
    runners[(None, "overhead")] = lambda: _kp.loop_skeleton(
        params, e.w_off, e.b_off, sizes, order, ident, m, ws_z, ws_a, ws_d)
    return runners


class _Clock:
    """Sums the seconds between laps per (layer, phase); the matrix path reads it."""

    def __init__(self):
        self.seconds = {}
        self.last = time.perf_counter()

    def mark(self):
        self.last = time.perf_counter()

    def lap(self, layer, phase):
        now = time.perf_counter()
        key = (layer, phase)
        self.seconds[key] = self.seconds.get(key, 0.0) + now - self.last
        self.last = now


def _matrix_runners(net, X, Y, order, m, eta, lmbda):
    """{("matrix", "epoch"): run} for the matrix path: run trains one real epoch (on a
    copy of the parameters) through ``MatrixPath.train_epoch`` with a clock read between
    its calls, and returns the seconds per (layer, phase). Its calls take milliseconds,
    so a clock read (about 0.1 µs) and a Python call per step cost nothing measurable;
    timing the phases inside the epoch keeps the caches as the epoch leaves them."""
    e = net.engine
    mp = e.matrix_path()
    params = net.params.copy()
    n = order.shape[0]
    decay = e.dtype(1.0 - eta * lmbda / n)

    def run():
        params[:] = net.params
        clock = _Clock()
        with _threads.limit(_threads.resolve(e.threads)), mp.quiet_blas():
            mp.train_epoch(params, X, Y, order, m, eta, decay, clock=clock)
        return clock.seconds
    return {("matrix", "epoch"): run}


def _roofline(flops, nbytes, footprint, seconds, gemm_peak, memory_bw, cache_bw, fma_peak):
    """Achieved rates and where the phase sits on the roofline: the compute peak (the
    larger of ``gemm_peak`` and ``fma_peak``, in GFLOP/s), and the cache
    bandwidth when one call's footprint fits ``CACHE_RESIDENT_BYTES``, else memory's."""
    peak = max(gemm_peak, fma_peak)
    cached = 0 < footprint <= CACHE_RESIDENT_BYTES
    bandwidth = cache_bw if cached else memory_bw
    out = {"gflops": flops / seconds / 1e9 if seconds > 0 else 0.0,
           "gbs": nbytes / seconds / 1e9 if seconds > 0 else 0.0,
           "intensity": flops / nbytes if nbytes else None,
           "footprint": footprint, "roof": "cache" if cached else "memory"}
    out["peak_fraction"] = out["gflops"] / gemm_peak
    out["fma_fraction"] = out["gflops"] / fma_peak
    out["bandwidth_fraction"] = out["gbs"] / bandwidth
    roof = max(flops / (peak * 1e9), nbytes / (bandwidth * 1e9))
    out["roofline_seconds"] = roof
    out["roofline_efficiency"] = roof / seconds if seconds > 0 else None
    if roof <= 0 or (seconds > 0 and roof / seconds < OVERHEAD_EFFICIENCY):
        out["bound"] = "overhead"
    elif flops / nbytes >= peak / bandwidth:
        out["bound"] = "compute"
    else:
        out["bound"] = "memory"
    return out


def profile(sizes=(784, 100, 10), hidden_activation="sigmoid", output_activation=None,
            cost="cross_entropy", mini_batch_size=10, dtype="float32", threads=1,
            samples=10000, repeats=5, path="auto", eta=0.1, lmbda=0.0, data=None, seed=0):
    """Profile one network's epoch, per layer and phase (module docstring).

    The GEMM peak and the copy bandwidths are measured first (best of ``repeats``, at
    least 3). Then every phase and the whole epoch (``Engine.train_epoch`` on a copy of
    the parameters) are timed ``repeats`` times, interleaved (the order rotates each
    repeat), after a warm-up call of each; medians are reported.
    ``threads`` is a count or "all"; ``path`` "auto" (the engine's choice), "loops" or
    "matrix". Returns a JSON-ready dict (schema ``SCHEMA``; :func:`format_report`
    prints it).
    """
    from ..network import Network

    sizes = _checks.check_sizes(sizes)
    repeats = _checks.check_positive("repeats", repeats, integer=True)
    samples = _checks.check_positive("samples", samples, integer=True)
    m = _checks.check_positive("mini_batch_size", mini_batch_size, integer=True)
    if m > samples:
        raise ValueError(f"mini_batch_size={m} is invalid; expected at most samples={samples}")
    eta = _checks.check_positive("eta", eta)
    lmbda = _checks.check_non_negative("lmbda", lmbda)
    threads = _threads.available() if threads == "all" else _threads.resolve(threads)
    dtype = _checks.check_dtype(dtype)
    if path not in ("auto", "loops", "matrix"):
        raise ValueError(f"path={path!r} is invalid; expected 'auto', 'loops' or 'matrix'")
    if output_activation is None:
        output_activation = "softmax" if cost == "log_likelihood" else "sigmoid"
    net = Network(sizes, hidden_activation, output_activation, cost, dtype=dtype, seed=seed,
                  threads=threads)
    e = net.engine
    if path != "auto":
        e.matrix = path == "matrix"
    chosen = "matrix" if e.uses_matrix(m) else "loops"
    if chosen == "matrix":  # the GEMM training would run at these threads (measured)
        plan = e.matrix_path().plan(m, threads, True)
        e.matrix_path().engine_gemm = plan.engine_gemm
        gemm_note = plan.describe()
    else:
        gemm_note = _gemm.describe()
        _width.ensure()  # as training's first loop call would (fastnn/_engine/width.py)
    X, Y, data_note = _load_inputs(list(sizes), samples, dtype, data, seed)
    order = np.random.default_rng(seed).permutation(samples).astype(np.int64)
    model = cost_model(sizes, m, samples, np.dtype(dtype).itemsize, chosen, decay=lmbda > 0,
                       quadratic=e.cost == QUADRATIC,
                       output_identity=int(e.acts[-1]) in (IDENTITY, SOFTMAX),
                       hidden_identity=[int(a) == IDENTITY for a in e.acts[:-1]],
                       fused_update=chosen == "matrix" and (e.matrix_path().fused_update
                                                                 or e.matrix_path().engine_gemm))
    # the phases run in the engine's subnormal mode (fastnn/_engine/fpenv.py), as training does
    with _threads.limit(threads), _fpenv.flushing(_fpenv.resolve(), parallel=threads > 1):
        build = _matrix_runners if chosen == "matrix" else _loop_runners
        runners = build(net, X, Y, order, m, eta, lmbda)
        epoch_params = net.params.copy()

        def epoch():
            epoch_params[:] = net.params
            start = time.perf_counter()
            e.train_epoch(epoch_params, X, Y, order, m, eta, lmbda)
            return time.perf_counter() - start
        gemm, gemm_flops = _gemm_runner(dtype, seed)
        fma, fma_flops = _peak.fma_runner(dtype, threads)
        pool = ThreadPoolExecutor(threads) if threads > 1 else None
        stream, stream_bytes = _copy_runner(STREAM_BYTES, threads, pool)
        cache_copy, cache_bytes = _copy_runner(CACHE_COPY_BYTES, 1, None)
        # the yardsticks first, each repeated: interleaved with the phases, the threads a
        # multi-threaded GEMM leaves spinning would slow the single-threaded loop kernels
        times = {}
        for key, run in ((("machine", "gemm"), gemm), (("machine", "fma"), fma),
                         (("machine", "stream"), stream), (("machine", "cache"), cache_copy)):
            run()
            times[key] = []
            for _ in range(max(repeats, 3)):
                start = time.perf_counter()
                took = run()  # the FMA runner returns its own seconds (after a pause)
                times[key].append(took if key == ("machine", "fma")
                                  else time.perf_counter() - start)
        if pool is not None:
            pool.shutdown()
        time.sleep(0.05)  # let BLAS worker threads stop spinning
        timed = dict(runners)
        compile_start = time.perf_counter()
        epoch()
        for run in timed.values():
            run()
        warmup = time.perf_counter() - compile_start
        _threads.refresh()  # compiling loaded SciPy's own OpenBLAS: limit it too
        times.update({key: [] for key in timed})
        times[("epoch", "epoch")] = []
        keys = list(timed) + [("epoch", "epoch")]
        for r in range(repeats):
            for key in keys[r % len(keys):] + keys[:r % len(keys)]:
                if key == ("epoch", "epoch"):
                    times[key].append(epoch())
                    continue
                start = time.perf_counter()
                laps = timed[key]()
                times[key].append(time.perf_counter() - start)
                if isinstance(laps, dict):  # the matrix path's instrumented epoch
                    for phase_key, seconds in laps.items():
                        times.setdefault(phase_key, []).append(seconds)
        info = _threads.info()
    med = {key: float(np.median(v)) for key, v in times.items()}
    for key in (("machine", "gemm"), ("machine", "fma"), ("machine", "stream"),
                ("machine", "cache")):
        med[key] = float(np.min(times[key]))  # a peak is the best the machine did
    peak = gemm_flops / med[("machine", "gemm")] / 1e9
    fma_peak = fma_flops / med[("machine", "fma")] / 1e9
    compute = max(peak, fma_peak)
    bandwidth = stream_bytes / med[("machine", "stream")] / 1e9
    cache_bw = cache_bytes / med[("machine", "cache")] / 1e9 * threads
    for (layer, phase) in list(runners):
        if phase == "delta_and_derivative":
            both = med.pop((layer, phase))
            med[(layer, "derivative")] = max(0.0, both - med[(layer, "delta_product")])
            del runners[(layer, phase)]
            runners[(layer, "derivative")] = None
    if ("matrix", "epoch") in runners:
        runners = {key: None for key in med if key[0] is None or isinstance(key[0], int)}
    phases = []
    for (layer, phase) in runners:
        seconds = med[(layer, phase)]
        if layer is None:
            cost_entry = {"flops": 0, "bytes": 0, "footprint": 0}
        else:
            cost_entry = model[layer].get(phase, {"flops": 0, "bytes": 0, "footprint": 0})
        row = {"layer": None if layer is None else layer + 1, "phase": phase,
               "seconds": seconds, "flops": cost_entry["flops"], "bytes": cost_entry["bytes"]}
        row.update(_roofline(cost_entry["flops"], cost_entry["bytes"], cost_entry["footprint"],
                             seconds, peak, bandwidth, cache_bw, fma_peak))
        if layer is None:
            row["bound"] = "overhead"
        phases.append(row)
    order_of = {p: i for i, p in enumerate(PHASES)}
    phases.sort(key=lambda r: (order_of[r["phase"]] if r["phase"] in ("gather", "overhead")
                               else 0, r["layer"] or 0, order_of[r["phase"]]))
    epoch_s = med[("epoch", "epoch")]
    total = sum(r["seconds"] for r in phases)
    for r in phases:
        r["share"] = r["seconds"] / total if total else 0.0
    shares = {}
    for r in phases:
        shares[r["bound"]] = shares.get(r["bound"], 0.0) + r["share"]
    regime = max(shares, key=shares.get)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    model_flops = sum(c["flops"] for layer in model for c in layer.values())
    model_bytes = sum(c["bytes"] for layer in model for c in layer.values())
    blas = ", ".join(f"{b['internal_api']} {b['version']} {b['num_threads']} thread(s) "
                     f"({b['architecture']})" for b in info["blas"]) or "no BLAS found"
    return {
        "schema": SCHEMA,
        "network": {"sizes": [int(s) for s in sizes],
                    "activations": [str(a) for a in net.activations],
                    "cost": cost, "weights": weights},
        "mini_batch_size": m, "samples": samples, "dtype": np.dtype(dtype).name,
        "threads": threads, "path": chosen, "eta": eta, "lmbda": lmbda, "repeats": repeats,
        "data": data_note,
        "machine": {"gemm_peak_gflops": peak, "fma_peak_gflops": fma_peak,
                    "compute_peak_gflops": compute, "stream_gbs": bandwidth,
                    "cache_gbs": cache_bw, "ridge_flops_per_byte": compute / bandwidth,
                    "matrix_gemm": gemm_note, "loop_width": _width.describe(),
                    "cache_ridge_flops_per_byte": compute / cache_bw, "blas": blas,
                    "numba_threads": info["numba_threads"],
                    "numba_threading_layer": info["numba_threading_layer"],
                    "processor": platform.processor() or platform.machine()},
        "phases": phases,
        "epoch_seconds": epoch_s,
        "phase_sum_seconds": total,
        "difference": (total - epoch_s) / epoch_s,
        "per_sample_us": epoch_s / samples * 1e6,
        "warmup_seconds": warmup,
        "model": {"flops": model_flops, "bytes": model_bytes,
                  "six_weights_flops": 6 * weights * samples,
                  "epoch_gflops": model_flops / epoch_s / 1e9,
                  "six_weights_gflops": 6 * weights * samples / epoch_s / 1e9},
        "regime": regime, "bound_shares": shares,
    }


def _fmt_bytes(n):
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


def format_report(result):
    """The profile as a readable table."""
    r = result
    mach = r["machine"]
    lines = [
        f"fastnn profile: {r['network']['sizes']} {'/'.join(r['network']['activations'])}, "
        f"{r['network']['cost']}, mini-batch {r['mini_batch_size']}, {r['dtype']}, "
        f"{r['threads']} thread(s), {r['path']} path, {r['samples']:,} samples, "
        f"median of {r['repeats']}",
        f"machine: GEMM peak {mach['gemm_peak_gflops']:.1f} GFLOP/s, FMA peak "
        f"{mach['fma_peak_gflops']:.1f} GFLOP/s; copy bandwidth: memory "
        f"{mach['stream_gbs']:.1f} GB/s (ridge {mach['ridge_flops_per_byte']:.1f} FLOP/byte), "
        f"cache {mach['cache_gbs']:.1f} GB/s (ridge {mach['cache_ridge_flops_per_byte']:.1f}); "
        f"{mach['blas']}; numba {mach['numba_threads']} thread(s), "
        f"{mach['numba_threading_layer']}"
        + (f"; matrix-path GEMM: {mach['matrix_gemm']}" if r["path"] == "matrix" else
           f"; loop vector width: {mach.get('loop_width', 'not recorded')}"),
        "",
        f"{'layer':>5} {'phase':<24} {'ms':>9} {'share':>6} {'MFLOP':>9} {'bytes':>9} "
        f"{'GFLOP/s':>8} {'GB/s':>7} {'FLOP/B':>7} {'%peak':>6} {'%fma':>6} {'%bw':>6} "
        f"{'roof':>6}  bound",
        "-" * 132,
    ]
    for p in r["phases"]:
        layer = "-" if p["layer"] is None else str(p["layer"])
        intensity = "-" if p["intensity"] is None else f"{p['intensity']:.2f}"
        lines.append(
            f"{layer:>5} {PHASES[p['phase']]:<24} {p['seconds'] * 1e3:9.2f} "
            f"{p['share']:6.1%} {p['flops'] / 1e6:9.1f} {_fmt_bytes(p['bytes']):>9} "
            f"{p['gflops']:8.1f} {p['gbs']:7.1f} {intensity:>7} {p['peak_fraction']:6.1%} "
            f"{p['fma_fraction']:6.1%} "
            f"{p['bandwidth_fraction']:6.1%} {p['roof']:>6}  {p['bound']}")
    lines.append("-" * 132)
    diff = r["difference"]
    lines += [
        f"sum of phases {r['phase_sum_seconds'] * 1e3:.2f} ms; whole epoch measured "
        f"{r['epoch_seconds'] * 1e3:.2f} ms ({r['per_sample_us']:.2f} µs/sample): the phases "
        f"{'over' if diff >= 0 else 'under'}state it by {abs(diff):.1%}",
        f"FLOPs: cost model {r['model']['flops'] / 1e9:.3f} G ({r['model']['epoch_gflops']:.1f} "
        f"GFLOP/s over the epoch), 6 x weights model {r['model']['six_weights_flops'] / 1e9:.3f} G "
        f"({r['model']['six_weights_gflops']:.1f} GFLOP/s, "
        f"{r['model']['six_weights_gflops'] / mach['gemm_peak_gflops']:.0%} of the GEMM peak, "
        f"{r['model']['six_weights_gflops'] / mach['fma_peak_gflops']:.0%} of the FMA peak); "
        f"bytes {_fmt_bytes(r['model']['bytes'])}",
        "time by bound: " + ", ".join(f"{k} {v:.0%}" for k, v in
                                      sorted(r["bound_shares"].items(), key=lambda kv: -kv[1]))
        + f"  ->  {r['regime']}-bound",
        f"data: {r['data']}",
    ]
    return "\n".join(lines)


# -- sweeps -------------------------------------------------------------------------
#: what ``sweep`` varies, one at a time, and over which values (full and quick forms);
#: "threads" runs from 1 to every core
SWEEPS = {
    "batch": ([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], [1, 10, 100]),
    "width": ([16, 64, 256, 1024, 4096], [16, 128]),
    "depth": ([1, 2, 4, 8], [1, 2]),
    "threads": (None, None),
    "dtype": (["float32", "float64"], ["float32", "float64"]),
}


def _thread_values(quick):
    cores = _threads.available()
    values = sorted({1, cores} | {2 ** k for k in range(1, cores.bit_length()) if 2 ** k < cores})
    return [1, cores] if quick else values


def sweep(kind, sizes=(784, 100, 10), mini_batch_size=10, dtype="float32", threads=1,
          samples=4096, repeats=3, quick=False, values=None, **options):
    """Profile the network once per value of one thing, the others held at the given ones.

    ``kind``: "batch" (mini-batch size), "width" (every hidden layer's width), "depth"
    (the number of hidden layers, each as wide as the first), "threads" or "dtype";
    ``values`` overrides the defaults in ``SWEEPS`` (``quick``: a reduced set, for CI).
    Other keyword arguments go to :func:`profile`. Returns a JSON-ready dict with one
    point per value: seconds per sample, per phase (summed over layers) and in total,
    the time shares by bound and the regime; for "threads" also each phase's scaling
    efficiency t(1) / (threads × t(threads)).
    """
    if kind not in SWEEPS:
        raise ValueError(f"kind={kind!r} is invalid; expected one of {', '.join(SWEEPS)}")
    sizes = list(_checks.check_sizes(sizes))
    if values is None:
        values = _thread_values(quick) if kind == "threads" else SWEEPS[kind][1 if quick else 0]
    if not values:
        raise ValueError(f"values={values!r} is invalid; expected at least one value")
    if quick:
        samples = min(samples, 1024)
        repeats = min(repeats, 2)
    points = []
    for value in values:
        args = dict(sizes=sizes, mini_batch_size=mini_batch_size, dtype=dtype, threads=threads,
                    samples=samples, repeats=repeats, **options)
        if kind == "batch":
            args["mini_batch_size"] = int(value)
            args["samples"] = max(samples, int(value))
        elif kind == "width":
            args["sizes"] = [sizes[0]] + [int(value)] * (len(sizes) - 2) + [sizes[-1]]
        elif kind == "depth":
            args["sizes"] = [sizes[0]] + [sizes[1]] * int(value) + [sizes[-1]]
        elif kind == "threads":
            args["threads"] = int(value)
        else:
            args["dtype"] = value
        r = profile(**args)
        per_phase = {}
        for p in r["phases"]:
            per_phase[p["phase"]] = per_phase.get(p["phase"], 0.0) + p["seconds"]
        n = r["samples"]
        points.append({
            "value": value, "sizes": r["network"]["sizes"], "mini_batch_size": r["mini_batch_size"],
            "threads": r["threads"], "dtype": r["dtype"], "path": r["path"],
            "per_sample_us": r["per_sample_us"],
            "phase_us_per_sample": {k: v / n * 1e6 for k, v in per_phase.items()},
            "difference": r["difference"], "regime": r["regime"],
            "bound_shares": r["bound_shares"],
            "six_weights_gflops": r["model"]["six_weights_gflops"],
            "model_gflops": r["model"]["epoch_gflops"],
            "peak_fraction": r["model"]["epoch_gflops"] / r["machine"]["gemm_peak_gflops"],
            "gemm_peak_gflops": r["machine"]["gemm_peak_gflops"]})
    if kind == "threads" and points and points[0]["threads"] == 1:
        one = points[0]["phase_us_per_sample"]
        for pt in points:
            t = pt["threads"]
            pt["efficiency"] = {k: (one[k] / (t * v) if v > 0 and k in one else None)
                                for k, v in pt["phase_us_per_sample"].items()}
            pt["speedup"] = points[0]["per_sample_us"] / pt["per_sample_us"]
    return {"schema": SCHEMA, "sweep": kind, "values": list(values), "base": {
        "sizes": sizes, "mini_batch_size": mini_batch_size, "dtype": np.dtype(dtype).name,
        "threads": threads, "samples": samples,
        "repeats": repeats, **{k: v for k, v in options.items() if k != "data"}},
        "points": points}


def format_sweep(result):
    """A sweep as a readable table: cost per sample, its growth, and the regime."""
    kind = result["sweep"]
    pts = result["points"]
    shown = [k for k in PHASES if any(k in p["phase_us_per_sample"] for p in pts)]
    short = {"gather": "gath", "forward_product": "fwd", "activation": "act",
             "output_delta": "outδ", "delta_product": "Wᵀδ", "derivative": "g'",
             "weight_product": "δaᵀ", "bias_gradient": "bias", "update": "upd",
             "overhead": "loop"}
    head = (f"{kind:>8} {'path':>6} {'µs/sample':>10} {'growth':>7} {'%peak':>6} "
            + " ".join(f"{short[k]:>7}" for k in shown) + "  regime (compute/memory/overhead)")
    lines = [f"fastnn profile --sweep {kind}: base {result['base']['sizes']}, mini-batch "
             f"{result['base']['mini_batch_size']}, {result['base']['dtype']}, "
             f"{result['base']['threads']} thread(s); µs per sample by phase; %peak: the cost "
             f"model's FLOPs per second over the epoch against the GEMM peak", "", head,
             "-" * len(head)]
    prev = None
    for p in pts:
        growth = "-" if prev is None else f"{p['per_sample_us'] / prev:.2f}x"
        prev = p["per_sample_us"]
        shares = "/".join(f"{p['bound_shares'].get(b, 0):.0%}" for b in
                          ("compute", "memory", "overhead"))
        lines.append(f"{str(p['value']):>8} {p['path']:>6} {p['per_sample_us']:10.3f} {growth:>7} "
                     f"{p['peak_fraction']:6.1%} "
                     + " ".join(f"{p['phase_us_per_sample'].get(k, 0):7.3f}" for k in shown)
                     + f"  {p['regime']} ({shares})")
    if kind == "threads" and pts and "efficiency" in pts[0]:
        lines += ["", "scaling efficiency t(1) / (threads x t(threads)) per phase:"]
        for p in pts:
            eff = " ".join(f"{short[k]} {v:.0%}" for k, v in p["efficiency"].items()
                           if v is not None)
            lines.append(f"{p['threads']:>3} threads: speed-up {p['speedup']:.2f}x; {eff}")
    return "\n".join(lines)


# -- figures (made by fastnn.plot: Figure and Agg canvas, no pyplot) -----------------
def plot_profile(result, folder):
    """Write phases.png (time per layer and phase) and roofline.png; returns the paths."""
    import os

    os.makedirs(folder, exist_ok=True)
    phases = result["phases"]
    labels = [f"{'L' + str(p['layer']) if p['layer'] else 'all'} {PHASES[p['phase']]}"
              for p in phases]
    fig = _plot.figure(figsize=(8, 0.3 * len(phases) + 1.5))
    ax = fig.subplots()
    ax.barh(range(len(phases)), [p["seconds"] * 1e3 for p in phases],
            color=[{"compute": "tab:blue", "memory": "tab:orange", "overhead": "tab:gray"}
                   [p["bound"]] for p in phases])
    ax.set_yticks(range(len(phases)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("ms per epoch")
    ax.set_title(_title(result) + f"\nepoch {result['epoch_seconds'] * 1e3:.1f} ms, phases "
                 f"{result['phase_sum_seconds'] * 1e3:.1f} ms (blue compute, orange memory, "
                 "gray overhead)", fontsize=8)
    fig.tight_layout()
    out = [os.path.join(folder, "phases.png")]
    fig.savefig(out[0], dpi=110)

    mach = result["machine"]
    fig = _plot.figure(figsize=(7, 5))
    ax = fig.subplots()
    xs = np.logspace(-2, 3, 200)
    peak = mach.get("compute_peak_gflops", mach["gemm_peak_gflops"])  # older files: GEMM only
    ax.loglog(xs, np.minimum(peak, xs * mach["stream_gbs"]), "k-", label="memory roof")
    ax.loglog(xs, np.minimum(peak, xs * mach["cache_gbs"]), "k--", label="cache roof")
    for p in phases:
        if p["intensity"] and p["gflops"] > 0:
            ax.loglog(p["intensity"], p["gflops"], "o", color="tab:red" if p["roof"] == "cache"
                      else "tab:blue")
            ax.annotate(f"L{p['layer']} {p['phase']}", (p["intensity"], p["gflops"]),
                        fontsize=6)
    ax.set_xlabel("FLOP per byte (cost model)")
    ax.set_ylabel("GFLOP/s achieved")
    ax.set_title(_title(result), fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.append(os.path.join(folder, "roofline.png"))
    fig.savefig(out[1], dpi=110)
    return out


def _title(r):
    return (f"{r['network']['sizes']} mini-batch {r['mini_batch_size']} {r['dtype']} "
            f"{r['threads']} thread(s), {r['path']} path")


def plot_sweep(result, folder):
    """Write sweep-KIND.png: µs per sample by phase against the swept value."""
    import os

    os.makedirs(folder, exist_ok=True)
    pts = result["points"]
    kind = result["sweep"]
    xs = list(range(len(pts)))
    fig = _plot.figure(figsize=(11, 4.5))
    axes = fig.subplots(1, 2)
    bottom = np.zeros(len(pts))
    for k, name in PHASES.items():
        ys = np.array([p["phase_us_per_sample"].get(k, 0.0) for p in pts])
        if ys.any():
            axes[0].bar(xs, ys, bottom=bottom, label=name)
            bottom += ys
    axes[0].plot(xs, [p["per_sample_us"] for p in pts], "k.-", label="whole epoch")
    axes[0].set_xticks(xs, [str(p["value"]) for p in pts])
    axes[0].set_xlabel(kind)
    axes[0].set_ylabel("µs per sample")
    axes[0].set_yscale("log" if max(bottom) > 20 * max(min(bottom), 1e-9) else "linear")
    axes[0].legend(fontsize=6)
    if kind == "threads" and "efficiency" in pts[0]:
        for k, name in PHASES.items():
            ys = [p["efficiency"].get(k) for p in pts]
            if all(y is not None for y in ys):
                axes[1].plot(xs, ys, ".-", label=name)
        axes[1].set_ylabel("scaling efficiency")
    else:
        axes[1].plot(xs, [p["peak_fraction"] for p in pts], "k.-")
        axes[1].set_ylabel("fraction of GEMM peak (cost-model FLOPs)")
        for x, p in zip(xs, pts):
            axes[1].annotate(p["regime"], (x, p["peak_fraction"]), fontsize=7)
    axes[1].set_xticks(xs, [str(p["value"]) for p in pts])
    axes[1].set_xlabel(kind)
    if kind == "threads":
        axes[1].legend(fontsize=6)
    fig.suptitle(f"sweep {kind}: base {result['base']['sizes']}, mini-batch "
                 f"{result['base']['mini_batch_size']}, {result['base']['dtype']}", fontsize=9)
    fig.tight_layout()
    path = os.path.join(folder, f"sweep-{kind}.png")
    fig.savefig(path, dpi=110)
    return [path]
