"""The matrix path: one BLAS GEMM per product, for networks whose mini-batches are big.

The engine's own loops (kernels/epoch.py) run a whole epoch in one compiled call, which
is what small layers and small mini-batches need: there, the cost of calling anything per
mini-batch from Python would dominate. For large layers the work per mini-batch is
millions of multiply-adds and the best code for it is the machine's BLAS; the cost of a
few Python calls per layer then disappears in it. This module drives that case: per
mini-batch and per layer, NumPy's ``matmul`` into preallocated outputs (no temporaries,
called from Python, so BLAS threads never run inside a Numba parallel region), and the
passes between the products in kernels/matrix.py.

On an AVX-512 core whose BLAS runs a narrower kernel, the products go to the engine's
own GEMM instead (kernels/gemm.py; fastnn/_engine/gemm.py decides), in Numba's threads: the
output layer's forward product too, as Zᵀ = W Aᵀ (m columns rather than its ten).
BLAS, left with what is narrower than a panel (mini-batches under 64 rows), is held to
one thread meanwhile, as its idle workers would spin against Numba's.

Per mini-batch of m rows, with hidden blocks feature-major (n, m) (kernels/matrix.py
says why) and the output block sample-major (m, n):

    forward   Zᵀ_l = W_l Aᵀ_{l-1};  Aᵀ_l = g(Zᵀ_l + b_l)          (Aᵀ_0 = X[rows]ᵀ, a view)
    output    Z = A_{L-1} W_Lᵀ + b;  A = g(Z);  δ_L = α ∂C/∂z       (α = −η/m or 1/m)
    backward  δᵀ_{l-1} = (W_lᵀ δᵀ_l) ⊙ g'(Zᵀ_{l-1}),  computed before W_l changes
    gradient  G_l = δᵀ_l A_{l-1};  W_l ← β W_l + G_l;  b_l ← b_l + Σ δ_l

Scaling the output δ by α once carries the step into every later δ and product, so no
pass scales a gradient. The SGD epoch applies the update at once: one BLAS GEMM with
the β term, ``W ← δᵀA + (1 − ηλ/n) W``, straight into the weights (the engine's GEMM has
that β term too; for BLAS fastnn/_engine/blas.py binds it; where it cannot, one GEMM into a
scratch matrix and one pass ``W ← βW + G``, about 5% slower on config C). The general
epoch writes the mean gradient into the flat gradient buffer and hands it to the fused
optimizer step, as the loop path does. Both give the same results as the loop path up to
floating-point rounding.
"""
import collections
import contextlib
import hashlib
import time

import numba
import numpy as np

from ..kernels import matrix as _k
from ..kernels.activations import activate, multiply_by_derivative
from ..kernels.costs import clipped_loss_sum, output_delta, sum_of_squares, weighted_loss_sum
from ..kernels.dropout import dropout_mask
from ..kernels.optim import apply_step, clip_by_norm
from . import blas as _blas
from . import calibrate as _calibrate
from . import gemm as _gemm
from . import threads as _threads

#: the auto rule: take the matrix path for mini-batches of at least MIN_ROWS rows that
#: cost at least MIN_FLOPS_PER_BATCH FLOPs (6 × weights × m); below either the loop path
#: wins (measured crossovers: docs/performance.md)
MIN_ROWS = 32
MIN_FLOPS_PER_BATCH = 50e6
#: within this factor of MIN_FLOPS_PER_BATCH (and from MIN_ROWS / 2 rows) the choice is
#: measured on the machine instead (fastnn/_engine/engine.py's ``uses_matrix``)
NEAR = 3.0
#: evaluation (forward only, blocks of 1,024 rows) takes the matrix path from this many
#: weights: measured at 10,000 rows on one core, [784,30,10] 11 ms loops vs 15 ms matrix,
#: [784,100,10] 32 vs 28 ms, [784,1024,1024,10] 543 vs 464 ms
MIN_WEIGHTS_EVAL = 75_000


class Plan:
    """How the matrix path runs mini-batches of one size: which GEMM (``engine_gemm``)
    on how many threads, and why (the measured seconds per mini-batch of every
    candidate, when measured). ``adapt``: the thread count may change during training
    (the default threads; see ``ThreadWatch``)."""

    def __init__(self, engine_gemm, threads, why, adapt=False):
        self.engine_gemm, self.threads, self.why = bool(engine_gemm), int(threads), why
        self.adapt = adapt
        self.watch = None
        #: with a watch: whether every thread count it may run gave the same bits
        self.same_bits = True

    @property
    def gemm(self):
        return "engine" if self.engine_gemm else "blas"

    def describe(self):
        what = "engine GEMM" if self.engine_gemm else "BLAS"
        adapts = "" if self.watch is None else (
            (", fewer under load" if self.threads > min(self.watch.calibrated)
             else ", more when faster")
            # whether a change of count keeps the results' bits (measured: the engine's
            # GEMM splits no sum by threads; OpenBLAS's float32 kernels may)
            + (" (same bits)" if self.same_bits else " (last bits may differ)"))
        return (f"{what} on {self.threads} thread{'s' if self.threads > 1 else ''}{adapts} "
                f"({self.why})")

    def __repr__(self):
        return f"Plan({self.gemm}@{self.threads}: {self.why})"


def candidate(gemm, threads):
    return f"{gemm}@{threads}"


def parse_candidate(text):
    gemm, _, threads = text.partition("@")
    return gemm, int(threads)


#: the kinds of epoch a plan is measured for (MatrixPath.plan)
KINDS = ("sgd", "general")

#: more threads must be this much faster than fewer to be chosen: a thread count that
#: gains a few percent on an idle machine loses many times that when another process
#: takes one of its cores
FEWER_THREADS_WITHIN = 1.10


def choose(seconds):
    """The plan's rule: among the candidates within FEWER_THREADS_WITHIN of the fastest,
    the one with the fewest threads (then the fastest)."""
    best = min(seconds.values())
    near = [c for c, v in seconds.items() if v <= best * FEWER_THREADS_WITHIN]
    return min(near, key=lambda c: (parse_candidate(c)[1], seconds[c]))


def thread_candidates(threads, fixed):
    """The thread counts to try: exactly ``threads`` when the user fixed it, else 1, 2,
    4, ... up to ``threads`` and ``threads`` itself (never more than asked)."""
    if fixed:
        return [threads]
    out, t = [], 1
    while t < threads:
        out.append(t)
        t *= 2
    return out + [threads]


class ThreadWatch:
    """Keeps the default thread count honest while training: a core taken by another
    process makes every multi-threaded product wait for it (two threads on two cores
    with one of them busy: many times slower than one thread), which no measurement made
    beforehand can know.

    The epoch runs in segments of SEGMENT mini-batches, each mini-batch timed, and only
    times seen in this run are compared (the calibration timed a few mini-batches of
    random data; dropout or the data's own layout add work it did not see, so its
    figures only rank the counts):

    * on the current count, when the median of its last RECENT segments is SLOW times
      slower than the best it did (or its calibration, if lower), that is a sign of load
      (one slow segment is not: an epoch's first waits for threads to wake): another
      count is tried for PROBE mini-batches (the next fewer, else the next more);
    * away from the plan's count (the one measured fastest), it is tried every
      ``backoff`` segments, so it comes back when the core is free;
    * a probe SWITCH times faster than the median of the current count's last RECENT
      segments takes over; a probe that is not doubles the backoff (from FIRST_BACKOFF
      up to MAX_BACKOFF segments), so a lasting competitor costs little.

    On an idle machine nothing is probed and the plan runs unchanged. Where the thread
    count changes BLAS's rounding (OpenBLAS's float32 kernels split their work by
    threads), a run whose load changed is equal to a run on one count up to rounding,
    not bit for bit; a fixed thread count (``threads=``, $FASTNN_NUM_THREADS) has no
    watch."""

    SEGMENT = 8
    PROBE = 6
    RECENT = 3
    SLOW = 1.5
    SWITCH = 1.1
    FIRST_BACKOFF = 4
    MAX_BACKOFF = 64

    def __init__(self, seconds, current):
        self.calibrated = dict(seconds)  # {threads: seconds per mini-batch}, measured idle
        self.counts = sorted(self.calibrated)
        self.best = dict(self.calibrated)  # the best seen per count (from the calibration)
        self.recent = {t: collections.deque(maxlen=self.RECENT) for t in self.counts}
        self.current = current
        self.fastest = current  # the plan's count: measured fastest (or nearly, with fewer)
        self.backoff = self.FIRST_BACKOFF
        self.since_probe = self.backoff  # the first sign of load is looked into at once
        self.pending = None
        self.switches = 0

    def _typical(self, threads):
        """The median of the count's last RECENT segments, the lower of two (infinite
        before the first)."""
        seen = sorted(self.recent[threads])
        return seen[(len(seen) - 1) // 2] if seen else np.inf

    def _neighbour(self):
        i = self.counts.index(self.current)
        return self.counts[i - 1] if i > 0 else self.counts[i + 1]

    def next(self):
        """(threads, mini-batches) of the next segment."""
        self.since_probe += 1
        if self.pending is not None:
            t, self.pending = self.pending, None
            return t, self.PROBE
        if self.current != self.fastest and self.since_probe >= self.backoff:
            self.since_probe = 0
            return self.fastest, self.PROBE
        return self.current, self.SEGMENT

    def done(self, threads, times):
        """Record the seconds each mini-batch of a segment on ``threads`` threads took.
        A segment counts by their mean: under load the cost is in the long waits of a
        few mini-batches (a thread whose core ran another process for a time slice);
        a try by the mean of its second half, after the change of thread count has
        settled (threads waking, OpenBLAS's workers still spinning on the core the
        next one needs)."""
        if not times:
            return
        if threads != self.current and len(times) >= 4:
            times = times[len(times) // 2:]
        per = sum(times) / len(times)
        if threads == self.current:
            self.recent[threads].append(per)
            slow = len(self.recent[threads]) >= 2 and \
                self._typical(threads) > self.SLOW * self.best[threads]
            if slow and self.since_probe >= self.backoff:
                self.since_probe = 0
                self.pending = self._neighbour()
            self.best[threads] = min(self.best[threads], per)
            return
        self.best[threads] = min(self.best[threads], per)  # a probe
        if per * self.SWITCH < self._typical(self.current):
            self.recent[threads].clear()
            self.recent[threads].append(per)
            self.current = threads
            self.backoff = self.FIRST_BACKOFF
            self.switches += 1
        else:
            self.backoff = min(2 * self.backoff, self.MAX_BACKOFF)


def _timed(starts, times):
    """The mini-batch starts, appending to ``times`` the seconds between one and the
    next: what the caller's loop spent on each."""
    last = time.perf_counter()
    for start in starts:
        yield start
        now = time.perf_counter()
        times.append(now - last)
        last = now


class _NoClock:
    """The clock the path reads between its calls when nobody profiles it."""

    def mark(self):
        pass

    def lap(self, layer, phase):
        pass


NO_CLOCK = _NoClock()


class _Blocks:
    """Preallocated blocks for mini-batches of m rows."""

    def __init__(self, sizes, m, dtype):
        self.m = m
        self.X = np.empty((m, sizes[0]), dtype)
        hidden = sizes[1:-1]
        self.ZT = [np.empty((n, m), dtype) for n in hidden]
        self.AT = [np.empty((n, m), dtype) for n in hidden]
        self.DT = [np.empty((n, m), dtype) for n in hidden]
        self.Z = np.empty((m, sizes[-1]), dtype)
        self.ZT_out = np.empty((sizes[-1], m), dtype)  # the output product, feature-major
        self.A = np.empty((m, sizes[-1]), dtype)
        self.D = np.empty((m, sizes[-1]), dtype)


class MatrixPath:
    """The matrix path for one engine layout (fastnn/_engine/engine.py's ``Engine``)."""

    def __init__(self, engine):
        self.engine = engine
        self.sizes = [int(s) for s in engine.sizes]
        self.L = len(self.sizes) - 1
        self.dtype = engine.dtype
        self.acts = [int(a) for a in engine.acts]
        self.act_params = [engine.act_params[l] for l in range(self.L)]
        self._blocks = {}
        self._gbuf = None
        offsets = np.concatenate([[0], np.cumsum(self.sizes[1:-1])]).astype(int)
        self._mask_slices = [slice(offsets[l], offsets[l + 1]) for l in range(self.L - 1)]
        #: the SGD update runs inside the weight-gradient GEMM (BLAS's β term) when
        #: fastnn/_engine/blas.py found a GEMM to bind; else as a second pass
        self.fused_update = _blas.binding() is not None
        #: the engine's own GEMM for the products wide enough for it: the plan's when
        #: training (``plan``), else fastnn/_engine/gemm.py's rule
        self.engine_gemm = _gemm.use_engine()[0]
        self._plans = {}

    # -- the plan: which GEMM, how many threads ----------------------------------
    def plan(self, m, threads, fixed, kind="sgd"):
        """The Plan for mini-batches of ``m`` rows with at most ``threads`` threads
        (exactly that many when the user ``fixed`` them), for the ``kind`` of epoch that
        will run (``sgd``: the book's SGD, its update inside the GEMM; ``general``: an
        optimizer's step after every mini-batch, which runs on one thread and changes
        what more threads gain): measured once per machine (fastnn/_engine/calibrate.py), or
        the built-in rule with $FASTNN_CALIBRATE=off."""
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} is invalid; expected one of {', '.join(KINDS)}")
        setting = self.engine.gemm or _gemm.setting()
        key = (m, threads, fixed, setting, kind)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._make_plan(m, threads, fixed, setting, kind)
        return plan

    def _make_plan(self, m, threads, fixed, setting, kind):
        gemms = ["blas", "engine"] if setting == "auto" else [setting]
        counts = thread_candidates(threads, fixed)
        candidates = [candidate(g, t) for g in gemms for t in counts]
        if len(candidates) == 1:
            why = f"{_gemm.ENV}={setting}" if self.engine.gemm is None else \
                f"this network's gemm={setting!r}"
            return Plan(setting == "engine", threads, why + (
                ", the threads set" if fixed else ", one thread available"))
        if _calibrate.mode() == "off":
            engine, why = _gemm.use_engine()
            return Plan(engine, threads, f"{_calibrate.ENV}=off: {why}; every thread given")
        dt = np.dtype(self.dtype).name
        key = (f"matrix-path {dt} {'x'.join(map(str, self.sizes))} mini-batch {m} {kind} "
               f"{'threads' if fixed else 'up to'} {threads}")
        choice, record = _calibrate.decide(
            key, candidates, lambda c: self.measure(m, c, kind=kind),
            f"the fastest GEMM and thread count for {key}", choose=choose)
        gemm, t = parse_candidate(choice)
        seconds = record["seconds"]
        ranked = sorted(seconds, key=seconds.get)
        why = "measured: " + ", ".join(f"{c} {seconds[c] * 1e3:.3g} ms" for c in ranked) + \
            " per mini-batch"
        plan = Plan(gemm == "engine", t, why, adapt=not fixed)
        if plan.adapt:
            same = {parse_candidate(c)[1]: v for c, v in seconds.items()
                    if parse_candidate(c)[0] == gemm}
            if len(same) > 1:
                plan.watch = ThreadWatch(same, t)
                digests = record.get("info", {})
                plan.same_bits = len({digests.get(candidate(gemm, n)) for n in same}) == 1
        return plan

    def measure(self, m, candidates, batches=None, rounds=3, kind="sgd"):
        """({candidate: seconds per mini-batch}, {candidate: digest of the parameters
        its last run left}): mini-batches of m rows of random data (the book's SGD, or
        with ``kind`` ``general`` Adam's step after each) on a scratch copy of random
        parameters, every candidate once per round (in an order rotated each round,
        after an untimed warm-up that compiles and wakes the threads), the best round
        kept. A few mini-batches per run, one when one takes over 50 ms."""
        e = self.engine
        dt = self.dtype
        rng = np.random.default_rng(0)
        scale = 1.0 / np.sqrt(np.asarray(self.sizes[:-1], dtype=np.float64)).max()
        params = (rng.standard_normal(e.n_params) * scale).astype(dt)
        k = batches or 3
        X = rng.random((k * m, self.sizes[0])).astype(dt)
        Y = np.eye(self.sizes[-1], dtype=dt)[rng.integers(0, self.sizes[-1], k * m)]
        scratch = np.empty_like(params)
        saved = self.engine_gemm
        if kind == "general":
            from ..optim import Adam, kernel_hyper
            adam = Adam()
            hyper = kernel_hyper(adam, dt)
            state = np.zeros((3, e.n_params), dt)
            step = np.zeros(1, np.int64)
            grad = np.empty(e.n_params, dt)
            no_drop = np.zeros(self.L)
            no_mask = np.empty(0, dt)

        digests = {}

        def run(c, n_batches):
            gemm, t = parse_candidate(c)
            self.engine_gemm = gemm == "engine"
            scratch[...] = params
            order = np.arange(n_batches * m, dtype=np.int64)
            with _threads.limit(t), self.quiet_blas():
                start = time.perf_counter()
                if kind == "general":
                    state[...] = 0
                    step[...] = 0
                    self.train_epoch_general(
                        scratch, X, Y, order, m, e.n_weights, adam.code, hyper, dt(0.001),
                        dt(0), dt(0), state, step, no_drop, np.uint64(1), 0, no_mask, grad)
                else:
                    self.train_epoch(scratch, X, Y, order, m, 0.01, dt(1.0))
                took = (time.perf_counter() - start) / n_batches
            digests[c] = hashlib.sha256(scratch.tobytes()).hexdigest()[:16]
            return took

        try:
            warm = {c: run(c, 1) for c in candidates}
            if batches is None and max(warm.values()) > 0.05:
                k = 1
            best = {c: np.inf for c in candidates}
            for r in range(rounds):
                for c in candidates[r % len(candidates):] + candidates[:r % len(candidates)]:
                    best[c] = min(best[c], run(c, k))
        finally:
            self.engine_gemm = saved
        return best, digests

    @contextlib.contextmanager
    def running(self, plan):
        """The context of a training pass under ``plan``: its GEMM, and its threads (set
        here, or per segment by the pass itself when the plan has a ThreadWatch)."""
        saved = self.engine_gemm
        self.engine_gemm = plan.engine_gemm
        try:
            if plan.watch is None:
                with _threads.limit(plan.threads), self.quiet_blas():
                    yield
            else:
                yield
        finally:
            self.engine_gemm = saved

    def _segments(self, n, m, watch):
        """Yield the mini-batch starts of an epoch of n rows: all at once without a
        ``watch``; else in the watch's segments, each run on its thread count (the limit
        changed only when the count does) and timed for the watch."""
        starts = range(0, n, m)
        if watch is None:
            yield starts
            return
        i, held, stack = 0, None, contextlib.ExitStack()
        with stack:
            while i < len(starts):
                threads, k = watch.next()
                if threads != held:
                    stack.close()
                    stack.enter_context(_threads.limit(threads))
                    stack.enter_context(self.quiet_blas())
                    held = threads
                times = []
                yield _timed(starts[i:i + k], times)
                watch.done(threads, times)
                i += k

    def blocks(self, m):
        b = self._blocks.get(m)
        if b is None:
            if len(self._blocks) >= 3:  # the batch size, a short last batch, evaluation
                self._blocks.clear()
            b = self._blocks[m] = _Blocks(self.sizes, m, self.dtype)
        return b

    def _scratch(self):
        if self._gbuf is None:
            self._gbuf = np.empty(max(a * b for a, b in zip(self.sizes[1:], self.sizes[:-1])),
                                  self.dtype)
        return self._gbuf

    def quiet_blas(self):
        """A context for a pass of the path: BLAS at one thread while the engine's GEMM
        runs the products in Numba's threads (``_threads.blas_limit`` says why)."""
        if self.engine_gemm and numba.get_num_threads() > 1:
            return _threads.blas_limit(1)
        return contextlib.nullcontext()

    def product(self, A, B, out):
        """out ← A B: the engine's GEMM where fastnn/_engine/gemm.py chose it and the product is
        wide enough, else NumPy's ``matmul`` (BLAS)."""
        if not (self.engine_gemm and _gemm.gemm_if_fits(A, B, out)):
            np.matmul(A, B, out=out)

    def gather(self, X, rows, out):
        """out ← X[rows]: a compiled copy for a C-contiguous X of the block's dtype, else
        NumPy's ``take``. Threaded only where Numba's threads run the products (the
        engine's GEMM): with BLAS's threads doing them, Numba's OpenMP workers would spin
        after the copy on the cores BLAS needs (measured on config C, two threads of a
        2-core Zen 4: 18-22 ms per mini-batch with a threaded copy, as slow as one thread,
        against 12.5 for NumPy's own matrix version)."""
        if X.flags.c_contiguous and X.dtype == out.dtype and rows.dtype == np.int64:
            if self.engine_gemm and numba.get_num_threads() > 1:
                with _threads.parallel_launch():
                    _k.gather_rows_parallel(X, rows, out)
            else:
                _k.gather_rows(X, rows, out)
        else:
            np.take(X, rows, axis=0, out=out)

    # -- one mini-batch -------------------------------------------------------
    def forward(self, Ws, bs, X, rows, blk, drop_p=None, mask=None, clock=NO_CLOCK):
        """Every layer's z and a for X[rows] into ``blk`` (masked a ⊙ s where dropped);
        ``rows`` None: X itself is the block (a contiguous slice, nothing gathered).
        ``clock.lap(layer, phase)`` is called after each step (``fastnn profile``)."""
        if rows is None:
            prev_t = X.T
        else:
            self.gather(X, rows, blk.X)
            prev_t = blk.X.T
            clock.lap(0, "gather")
        for l in range(self.L - 1):
            self.product(Ws[l], prev_t, blk.ZT[l])
            clock.lap(l, "forward_product")
            _k.add_bias_t(blk.ZT[l], bs[l])
            activate(blk.ZT[l], blk.AT[l], self.acts[l], self.act_params[l])
            if drop_p is not None and drop_p[l] > 0:
                _k.scale_rows(blk.AT[l], mask[self._mask_slices[l]])
            clock.lap(l, "activation")
            prev_t = blk.AT[l]
        last = self.L - 1
        # the output layer's few columns are too narrow for the engine's GEMM as
        # Z = A Wᵀ, but not as Zᵀ = W Aᵀ (a mini-batch of columns)
        if self.engine_gemm and _gemm.gemm_if_fits(Ws[last], prev_t, blk.ZT_out):
            clock.lap(last, "forward_product")
            _k.add_bias_from_t(blk.ZT_out, bs[last], blk.Z)
        else:
            self.product(prev_t.T, Ws[last].T, blk.Z)
            clock.lap(last, "forward_product")
            _k.add_bias(blk.Z, bs[last])
        activate(blk.Z, blk.A, self.acts[last], self.act_params[last])
        clock.lap(last, "activation")

    def backward(self, Ws, Y, rows, blk, alpha, out_W, out_b, beta_w, beta_b, drop_p=None,
                 mask=None, clock=NO_CLOCK, row_scale=None):
        """δ of every layer (scaled by α, and row i's by ``row_scale[i]`` when given: δ is
        linear in the output's δ), then per layer out_W ← β_w out_W + δᵀ A_in and
        out_b ← β_b out_b + Σ δ. ``out_W``/``out_b`` may be the parameters' own views (the
        fused SGD update: each δ is formed from W before W is written)."""
        e = self.engine
        last = self.L - 1
        output_delta(blk.Z, blk.A, Y, rows, e.cost, self.acts[last], self.act_params[last], blk.D)
        _k.scale(blk.D, alpha)
        if row_scale is not None:
            blk.D *= row_scale[:, None]
        clock.lap(last, "output_delta")
        in_place = beta_w != 0
        for l in range(last, -1, -1):
            d_t = blk.D.T if l == last else blk.DT[l]
            in_t = blk.X.T if l == 0 else blk.AT[l - 1]
            if l > 0:  # δ of the layer below, from the weights before their update
                below = blk.DT[l - 1]
                self.product(Ws[l].T, d_t, below)
                clock.lap(l - 1, "delta_product")
                dropped = drop_p is not None and drop_p[l - 1] > 0
                multiply_by_derivative(below, blk.ZT[l - 1], blk.AT[l - 1], self.acts[l - 1],
                                       self.act_params[l - 1], dropped)
                if dropped:
                    _k.scale_rows(below, mask[self._mask_slices[l - 1]])
                clock.lap(l - 1, "derivative")
            if in_place and self.engine_gemm and _gemm.gemm_if_fits(d_t, in_t.T, out_W[l],
                                                                    beta_w):
                clock.lap(l, "weight_product")  # W ← δᵀA + βW, the update included
            elif in_place and self.fused_update and _blas.gemm(d_t, in_t.T, out_W[l], 1.0,
                                                               beta_w):
                clock.lap(l, "weight_product")  # W ← δᵀA + βW, the update included
            elif in_place:
                G = self._scratch()[:out_W[l].size].reshape(out_W[l].shape)
                self.product(d_t, in_t.T, G)
                clock.lap(l, "weight_product")
                _k.decay_add(out_W[l], G, beta_w)
                clock.lap(l, "update")
            else:
                self.product(d_t, in_t.T, out_W[l])
                clock.lap(l, "weight_product")
            # Σ δ over the samples first, then into b (the output layer's δ too, through
            # its transposed view): adding each sample's δ to b in turn rounds m times at
            # the size of b (measured: 6 ulps of b = 1e4 after one float32 step of 40 rows)
            _k.bias_update_t(out_b[l], d_t, beta_b)
            clock.lap(l, "bias_gradient")

    # -- whole passes ---------------------------------------------------------
    def train_epoch(self, params, X, Y, order, m, eta, decay, clock=NO_CLOCK, watch=None,
                    loss_kind=0, loss_eps=0.0, losses=None):
        """The book's SGD epoch with L2 decay (``Engine.train_epoch``'s contract, the
        per-mini-batch ``losses`` too). A ``clock`` (``fastnn profile``) is read between
        the steps; the loop's own work between mini-batches is its ``(None, "overhead")``
        lap. ``watch``: a ThreadWatch that runs the epoch in segments on the thread counts
        it picks."""
        e = self.engine
        Ws, bs = e.weights(params), e.biases(params)
        dt = self.dtype
        one = dt(1)
        n = order.shape[0]
        clock.mark()
        for segment in self._segments(n, m, watch):
            for start in segment:
                rows = order[start:start + m]
                blk = self.blocks(rows.shape[0])
                clock.lap(None, "overhead")
                self.forward(Ws, bs, X, rows, blk, clock=clock)
                if losses is not None:
                    losses[start // m, 0] = clipped_loss_sum(blk.A, Y, rows, loss_kind,
                                                             loss_eps)
                    losses[start // m, 1] = sum_of_squares(params[:e.n_weights])
                self.backward(Ws, Y, rows, blk, dt(-eta / rows.shape[0]), Ws, bs, dt(decay),
                              one, clock=clock)

    def train_epoch_general(self, params, X, Y, order, m, n_weights, opt_code, hyper, eta,
                            l2, l1, state, step, drop_p, key, epoch, mask, grad, clip=0.0,
                            batch0=0, n_batches=None, watch=None, loss_kind=0, loss_eps=0.0,
                            losses=None, row_weight=None):
        """Any optimizer, L1/L2 and dropout (``Engine.train_epoch_general``'s contract,
        the per-mini-batch ``losses`` too); ``watch`` as in ``train_epoch``. With
        ``row_weight`` (a weight per sample of X), a mini-batch's gradient is
        (Σ w_x ∇C_x) / Σ w_x and its L2/L1 terms are multiplied by m / Σ w_x (with n = m
        they are λ/Σ w_x: scikit-learn's ``sample_weight``), and ``losses`` holds
        Σ w_x C_x."""
        e = self.engine
        Ws, bs = e.weights(params), e.biases(params)
        gW, gb = e.weights(grad), e.biases(grad)
        dt = self.dtype
        zero = dt(0)
        n = order.shape[0]
        if n_batches is None:
            n_batches = (n + m - 1) // m
        use_mask = mask.shape[0] > 0
        for segment in self._segments(n, m, watch):
            for start in segment:
                b = batch0 + start // m
                rows = order[start:start + m]
                if use_mask:
                    dropout_mask(key, epoch, b, n_batches, e.sizes, drop_p, mask)
                blk = self.blocks(rows.shape[0])
                self.forward(Ws, bs, X, rows, blk, drop_p, mask)
                if losses is not None:
                    losses[b - batch0, 0] = clipped_loss_sum(
                        blk.A, Y, rows, loss_kind, loss_eps) if row_weight is None else \
                        weighted_loss_sum(blk.A, Y, rows, loss_kind, loss_eps, row_weight)
                    losses[b - batch0, 1] = sum_of_squares(params[:n_weights])
                scale, l2_b, l1_b, weights = dt(1.0 / rows.shape[0]), l2, l1, None
                if row_weight is not None:   # Σ w in place of m
                    weights = row_weight[rows]
                    per = rows.shape[0] / float(weights.sum())
                    scale, l2_b, l1_b = dt(per / rows.shape[0]), dt(l2 * per), dt(l1 * per)
                self.backward(Ws, Y, rows, blk, scale, gW, gb, zero, zero, drop_p, mask,
                              row_scale=weights)
                if clip > 0:
                    clip_by_norm(grad, clip)
                apply_step(params, grad, n_weights, opt_code, hyper, eta, l2_b, l1_b, state,
                           step)

    def loss_and_gradient(self, params, X, Y, grad, chunk, loss_kind, loss_eps,
                          row_weight=None):
        """The full batch's loss, summed over the rows (``clipped_loss_sum``, float64),
        and its mean gradient into ``grad`` (unregularized), ``chunk`` rows at a time:
        each chunk's forward pass, its loss from the outputs, then its backward pass
        adding δᵀA / N to the gradient (BLAS's β term: 0 for the first chunk, then 1).
        With ``row_weight``: Σ w_x C_x, and (Σ w_x ∇C_x) / Σ w_x."""
        e = self.engine
        Ws, bs = e.weights(params), e.biases(params)
        gW, gb = e.weights(grad), e.biases(grad)
        dt = self.dtype
        N = X.shape[0]
        order = np.arange(N, dtype=np.int64)
        scale = dt(1.0 / (N if row_weight is None else float(row_weight.sum())))
        total = 0.0
        for start in range(0, N, chunk):
            rows = order[start:start + chunk]
            blk = self.blocks(rows.shape[0])
            self.forward(Ws, bs, X, rows, blk)
            total += clipped_loss_sum(blk.A, Y, rows, loss_kind, loss_eps) \
                if row_weight is None else \
                weighted_loss_sum(blk.A, Y, rows, loss_kind, loss_eps, row_weight)
            beta = dt(0 if start == 0 else 1)
            self.backward(Ws, Y, rows, blk, scale, gW, gb, beta, beta,
                          row_scale=None if row_weight is None else row_weight[rows])
        return total

    def forward_all(self, params, X, chunk, Z_out, A_out):
        """Output-layer z and a for every row of X, ``chunk`` rows at a time."""
        e = self.engine
        Ws, bs = e.weights(params), e.biases(params)
        N = X.shape[0]
        for start in range(0, N, chunk):
            stop = min(start + chunk, N)
            blk = self.blocks(stop - start)
            self.forward(Ws, bs, X[start:stop], None, blk)
            Z_out[start:stop] = blk.Z
            A_out[start:stop] = blk.A
