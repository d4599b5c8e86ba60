"""The bridge between the API and the kernels: the parameter layout and the workspaces.

An ``Engine`` knows a network's shape (sizes, per-layer activation codes, cost code,
dtype) and calls the kernels on a flat parameter buffer. It holds no parameters itself,
so one engine serves any buffer of its layout (the network's, a checkpoint's, a copy).
"""
import contextlib
import time

import numpy as np

from ..kernels import activations as _activations
from ..kernels import costs as _costs
from ..kernels import dense as _dense
from ..kernels import dropout as _dropout
from ..kernels import epoch as _epoch
from ..kernels import hogwild as _hogwild
from ..kernels import optim as _optim
from ..kernels.costs import COST_SUMS
from ..kernels.dropout import splitmix64 as _splitmix64
from ..optim import kernel_hyper
from . import calibrate as _calibrate
from . import coldstart as _coldstart
from . import fpenv as _fpenv
from . import gemm as _gemm
from . import matrix as _matrix
from . import threads as _threads
from . import width as _width

#: rows per block when evaluating a whole data set
EVAL_CHUNK = 1024


class Engine:
    """Layout of a network's flat parameter buffer, and the kernel calls on it.

    The buffer holds every layer's weights, layer by layer, each ``(n_out, n_in)``
    row-major, and then every layer's biases ``(n_out,)``.
    """

    def __init__(self, sizes, act_codes, cost_code, dtype, act_params=None):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.acts = np.asarray(act_codes, dtype=np.int64)
        self.cost = int(cost_code)
        self.dtype = np.dtype(dtype).type
        self.act_params = np.asarray([0.0 if p is None else p for p in act_params]
                                     if act_params is not None else np.zeros(len(act_codes)),
                                     dtype=self.dtype)
        self.n_hidden_units = int(self.sizes[1:-1].sum())
        self._no_drop = np.zeros(len(self.acts))
        n_w = self.sizes[1:] * self.sizes[:-1]
        self.w_off = np.concatenate([[0], np.cumsum(n_w)[:-1]]).astype(np.int64)
        self.n_weights = int(n_w.sum())
        self.b_off = (self.n_weights + np.concatenate([[0], np.cumsum(self.sizes[1:])[:-1]])
                      ).astype(np.int64)
        self.n_params = self.n_weights + int(self.sizes[1:].sum())
        self._workspaces = {}
        self._scratch = np.zeros(2, dtype=self.dtype)
        #: which path trains and evaluates: None (auto, by work per mini-batch), True
        #: (always the matrix path, BLAS GEMM) or False (always the engine's own loops)
        self.matrix = None
        #: which GEMM the matrix path trains with: None ($FASTNN_GEMM; when that is auto,
        #: measured: fastnn/_engine/matrix.py's Plan), "engine" or "blas"
        self.gemm = None
        self._matrix_path = None
        self._paths = {}   # measured path choices (``_measured_path``)
        #: threads for BLAS and the parallel kernels (None: fastnn/_engine/threads.py's default)
        self.threads = None
        #: Hogwild workers exchange with the shared buffer every this many mini-batches
        #: (0: every step on the shared buffer itself; kernels/hogwild.py)
        self.sync_every = 4

    def __getstate__(self):
        """Pickled without the work buffers (rebuilt on first use): a [784, 100, 10]
        network would otherwise grow from 0.3 MB to 9 MB after one evaluation."""
        state = self.__dict__.copy()
        state["_workspaces"] = {}
        state["_matrix_path"] = None
        state["_paths"] = {}
        return state

    def __repr__(self):
        return f"Engine(sizes={self.sizes.tolist()}, dtype={np.dtype(self.dtype).name})"

    # -- layout ---------------------------------------------------------------
    def weights(self, params):
        """Per-layer views ``(n_out, n_in)`` of the weights in ``params``."""
        return [params[o:o + a * b].reshape(a, b)
                for o, a, b in zip(self.w_off, self.sizes[1:], self.sizes[:-1])]

    def biases(self, params):
        """Per-layer views ``(n_out,)`` of the biases in ``params``."""
        return [params[o:o + a] for o, a in zip(self.b_off, self.sizes[1:])]

    def pack(self, weights, biases):
        """A new flat buffer from per-layer weights and biases (biases may be columns)."""
        params = np.empty(self.n_params, dtype=self.dtype)
        for view, w in zip(self.weights(params), weights):
            view[...] = w
        for view, b in zip(self.biases(params), biases):
            view[...] = np.reshape(b, -1)
        return params

    def _workspace(self, m):
        ws = self._workspaces.get(m)
        if ws is None:
            total = m * int(self.sizes[1:].sum())
            ws = (np.arange(m, dtype=np.int64), np.empty(total, self.dtype),
                  np.empty(total, self.dtype), np.empty(total, self.dtype))
            if len(self._workspaces) >= 4:  # training and evaluation sizes, a few at most
                self._workspaces.clear()
            self._workspaces[m] = ws
        return ws

    # -- path choice ----------------------------------------------------------
    def uses_matrix(self, m, training=True):
        """Whether mini-batches of m rows go through the matrix path (fastnn/_engine/matrix.py):
        forced by ``self.matrix``; else, for training, measured on this machine when the
        work per mini-batch is within ``_matrix.NEAR`` of the rule's threshold (the
        crossover moves with the core, the BLAS and the threads: ``_measured_path``),
        and the rule elsewhere: m ≥ ``_matrix.MIN_ROWS`` and one mini-batch at least
        ``_matrix.MIN_FLOPS_PER_BATCH`` FLOPs (6 × weights × m); evaluation (``training``
        False) from ``_matrix.MIN_WEIGHTS_EVAL`` weights."""
        if self.matrix is not None:
            return bool(self.matrix)
        if not training:
            return self.n_weights >= _matrix.MIN_WEIGHTS_EVAL
        flops = 6.0 * self.n_weights * m
        rule = m >= _matrix.MIN_ROWS and flops >= _matrix.MIN_FLOPS_PER_BATCH
        near = m >= _matrix.MIN_ROWS // 2 and \
            _matrix.MIN_FLOPS_PER_BATCH / _matrix.NEAR <= flops <= \
            _matrix.MIN_FLOPS_PER_BATCH * _matrix.NEAR
        if not near or _calibrate.mode() == "off":
            return rule
        return self._measured_path(m) == "matrix"

    def _measured_path(self, m):
        """``loops`` or ``matrix`` for mini-batches of m rows, measured once per machine
        (fastnn/_engine/calibrate.py): a few SGD mini-batches of random data on each path, the
        matrix path on its own plan (GEMM and threads), alternated, the best of three."""
        threads = _threads.resolve(self.threads)
        fixed = _threads.fixed(self.threads)
        paths = self.__dict__.setdefault("_paths", {})  # (an engine pickled before it)
        key = (m, threads, fixed, self.gemm)
        if key not in paths:
            dt = np.dtype(self.dtype).name
            what = (f"path {dt} {'x'.join(map(str, self.sizes.tolist()))} mini-batch {m} "
                    f"{'threads' if fixed else 'up to'} {threads}")
            choice, _ = _calibrate.decide(
                what, ["loops", "matrix"], lambda c: self._measure_paths(m, threads, c),
                f"the faster of the loop and matrix paths for {what}")
            paths[key] = choice
        return paths[key]

    def _measure_paths(self, m, threads, candidates, batches=3, rounds=3):
        """{``loops``/``matrix``: seconds per mini-batch} (see ``_measured_path``)."""
        rng = np.random.default_rng(0)
        n_in, n_out = int(self.sizes[0]), int(self.sizes[-1])
        scale = 1.0 / np.sqrt(float(self.sizes[:-1].max()))
        params = (rng.standard_normal(self.n_params) * scale).astype(self.dtype)
        scratch = np.empty_like(params)
        X = rng.random((batches * m, n_in)).astype(self.dtype)
        Y = np.eye(n_out, dtype=self.dtype)[rng.integers(0, n_out, batches * m)]
        order = np.arange(batches * m, dtype=np.int64)
        eta, decay = self.dtype(0.01), self.dtype(1.0)
        plan = self.plan(m, threads)
        path = self.matrix_path()
        ident, ws_z, ws_a, ws_d = self._workspace(m)

        def run(which):
            scratch[...] = params
            start = time.perf_counter()
            if which == "matrix":
                with path.running(plan):
                    path.train_epoch(scratch, X, Y, order, m, eta, decay, watch=None)
            else:
                _epoch.train_epoch(scratch, self.w_off, self.b_off, self.sizes, self.acts,
                                   self.act_params, self.cost, X, Y, order, m, eta, decay,
                                   ident, ws_z, ws_a, ws_d, self._scratch, self.n_weights, 0,
                                   0.0, None)
            return (time.perf_counter() - start) / batches

        for c in candidates:
            run(c)  # compile, warm up
        best = {c: np.inf for c in candidates}
        for r in range(rounds):
            for c in candidates[r % len(candidates):] + candidates[:r % len(candidates)]:
                best[c] = min(best[c], run(c))
        return best

    def path_name(self, m, plan=False):
        """What trains mini-batches of m rows, for the reports: ``loops``, ``matrix
        (BLAS)`` or ``matrix (engine GEMM)``, the GEMM of the plan this process uses (or
        would: measured now when it has none); with ``plan`` also its threads and why."""
        if not self.uses_matrix(m):
            return "loops"
        p = self.plan(m, _threads.resolve(self.threads))
        text = "matrix (engine GEMM)" if p.engine_gemm else "matrix (BLAS)"
        return f"matrix: {p.describe()}" if plan else text

    def plan(self, m, threads, kind="sgd"):
        """The matrix path's Plan (GEMM and threads) for mini-batches of m rows with at
        most ``threads`` threads (exactly that many when the user set them), for the book's
        SGD epoch or (``kind="general"``) the epoch with an optimizer's step."""
        return self.matrix_path().plan(m, threads, _threads.fixed(self.threads), kind)

    def matrix_path(self):
        """The matrix path (``MatrixPath``, made on first use): its plan, GEMM choice and
        phases, for fastnn's measuring tools."""
        if self._matrix_path is None:
            self._matrix_path = _matrix.MatrixPath(self)
        return self._matrix_path

    # -- kernel calls ---------------------------------------------------------
    @contextlib.contextmanager
    def _running(self, matrix=False, workers=None):
        """The context of every kernel call: yields its thread count (``workers``, else
        the engine's ``threads``, else $FASTNN_NUM_THREADS) and runs the block with
        subnormals flushed to zero unless $FASTNN_SUBNORMALS=keep (fastnn/_engine/fpenv.py);
        ``matrix`` or ``workers`` say whether parallel kernels may run in it (the matrix
        path on several threads; Hogwild). Every call reads all of fastnn's settings
        ($FASTNN_GEMM, $FASTNN_CALIBRATE, $FASTNN_LOOP_WIDTH and $FASTNN_COLD_START too),
        whichever path it takes, so that a bad one is a ValueError naming the variable on
        the loop path as on the matrix path, never ignored."""
        threads = _threads.resolve(self.threads if workers is None else workers)
        _gemm.use_engine()
        _calibrate.mode()
        _width.setting()
        _coldstart.setting()
        if not matrix:
            _width.ensure()  # measured once per machine where the CPU has AVX-512
        parallel = workers is not None or (matrix and threads > 1)
        # enter/leave rather than the flushing context: one generator less on a call
        # that network2's update_mini_batch makes every mini-batch
        old = _fpenv.enter(_fpenv.resolve(), parallel=parallel)
        try:
            yield threads
        finally:
            _fpenv.leave(old)

    def train_epoch(self, params, X, Y, order, mini_batch_size, eta, lmbda, n=None,
                    losses=None, loss_kind=0):
        """One epoch of the book's SGD over X[order], in place on ``params``.

        ``X`` (N, n_in) and ``Y`` (N, n_out) must be C-contiguous arrays of the engine's
        dtype and ``order`` an int64 array of row indices; n (the training-set size in the
        decay 1 − ηλ/n) defaults to len(order). The path (loop or matrix) is chosen by the
        mini-batch size, at most n, so that every block of a streamed epoch takes the same.
        ``losses`` and ``loss_kind`` record each mini-batch's loss and Σ w² before its step,
        as in ``train_epoch_general``.
        """
        if n is None:
            n = order.shape[0]
        m = min(int(mini_batch_size), n)
        decay = self.dtype(1.0 - eta * lmbda / n)
        losses = self._losses(losses, order, m)
        loss_eps = np.float64(np.finfo(self.dtype).eps)
        matrix = self.uses_matrix(m)
        if not matrix:
            _coldstart.prepare(self)  # a cold first epoch compiles on two cores
        with self._running(matrix) as threads:
            if matrix:
                path = self.matrix_path()
                plan = self.plan(m, threads)
                with path.running(plan):
                    path.train_epoch(params, X, Y, order, m, eta, decay, watch=plan.watch,
                                     loss_kind=int(loss_kind), loss_eps=loss_eps,
                                     losses=losses)
            else:
                ident, ws_z, ws_a, ws_d = self._workspace(m)
                _epoch.train_epoch(params, self.w_off, self.b_off, self.sizes, self.acts,
                                   self.act_params, self.cost, X, Y, order, m,
                                   self.dtype(eta), decay, ident, ws_z, ws_a, ws_d,
                                   self._scratch, self.n_weights, int(loss_kind), loss_eps,
                                   losses)

    def train_epoch_async(self, params, X, Y, order, mini_batch_size, eta, lmbda, n=None,
                          workers=None, sync_every=None):
        """One epoch of lock-free parallel SGD (kernels/hogwild.py) sharing ``params``;
        the arguments are ``train_epoch``'s. ``workers`` defaults to the engine's threads,
        ``sync_every`` to ``self.sync_every``; one worker is the sequential epoch."""
        workers = _threads.resolve(self.threads if workers is None else workers)
        sync_every = self.sync_every if sync_every is None else int(sync_every)
        if n is None:
            n = order.shape[0]
        m = min(int(mini_batch_size), order.shape[0])
        total = m * int(self.sizes[1:].sum())
        private = self.n_params if workers > 1 and sync_every > 0 else 0
        key = ("async", m, workers, private)
        ws = self._workspaces.get(key)
        if ws is None:
            ws = (np.arange(m, dtype=np.int64),
                  *(np.empty((workers, total), self.dtype) for _ in range(3)),
                  *(np.empty((workers, private), self.dtype) for _ in range(2)),
                  np.zeros((workers, 2), self.dtype))
            if len(self._workspaces) >= 4:
                self._workspaces.clear()
            self._workspaces[key] = ws
        decay = self.dtype(1.0 - eta * lmbda / n)
        with self._running(workers=workers) as workers:
            with _threads.limit(workers):
                _hogwild.train_epoch_async(params, self.w_off, self.b_off, self.sizes,
                                           self.acts, self.act_params, self.cost, X, Y, order,
                                           m, self.dtype(eta), decay, workers, sync_every, *ws)

    @staticmethod
    def _losses(losses, order, m):
        """The per-mini-batch loss record, checked (None: not asked for, and the kernels
        then compile without the recording code)."""
        if losses is None:
            return None
        if losses.shape != ((order.shape[0] + m - 1) // m, 2) or losses.dtype != np.float64:
            raise ValueError(f"losses has shape {losses.shape} and dtype {losses.dtype}; "
                             f"expected float64 ({(order.shape[0] + m - 1) // m}, 2)")
        return losses

    def train_epoch_general(self, params, X, Y, order, mini_batch_size, eta, lmbda, l1,
                            optimizer, state, dropout, seed, epoch, clip_norm=None, n=None,
                            batch0=0, losses=None, loss_kind=0, row_weight=None):
        """One epoch with any optimizer, L1/L2 and dropout (see kernels/epoch.py).

        ``state`` is an ``OptimizerState`` (updated in place); ``dropout`` a per-layer
        float64 array of p (output 0); ``seed`` and ``epoch`` pick the dropout masks;
        ``clip_norm`` (None: off) bounds the norm of every mini-batch's mean gradient.
        ``n`` (default len(order)) is the epoch's size, for λ/n, the number of mini-batches
        and the path; a streamed epoch's block of rows starts at mini-batch ``batch0``.
        With ``loss_kind`` (kernels/costs.py's LOSS_*), ``losses`` (float64, one row per
        mini-batch of this call, 2 columns) receives each mini-batch's loss summed over its
        rows and its Σ w², taken before its step (kernels/epoch.py says how).
        ``row_weight`` (float64, one weight per row of X: scikit-learn's ``sample_weight``)
        weighs each sample's gradient and loss, a mini-batch's mean being over Σ w rather
        than m (``MatrixPath.train_epoch_general`` says how); it takes the matrix path.
        """
        if n is None:
            n = order.shape[0]
        m = min(int(mini_batch_size), n)
        n_batches = (n + m - 1) // m
        row_weight = self._row_weight(row_weight, X.shape[0])
        matrix = row_weight is not None or self.uses_matrix(m)
        mask = np.empty(self.n_hidden_units if np.any(dropout > 0) else 0, self.dtype)
        key = np.uint64(_splitmix64(np.uint64(seed)))
        hyper = kernel_hyper(optimizer, self.dtype)
        drop_p = np.asarray(dropout, dtype=np.float64)
        clip = np.float64(0.0 if clip_norm is None else clip_norm)
        loss_eps = np.float64(np.finfo(self.dtype).eps)
        losses = self._losses(losses, order, m)
        with self._running(matrix) as threads:
            if matrix:
                path = self.matrix_path()
                plan = self.plan(m, threads, "general")
                with path.running(plan):
                    path.train_epoch_general(
                        params, X, Y, order, m, self.n_weights, optimizer.code, hyper,
                        self.dtype(eta), self.dtype(lmbda / n), self.dtype(l1 / n),
                        state.buffers, state.step, drop_p, key, int(epoch), mask, state.grad,
                        clip, int(batch0), n_batches, watch=plan.watch,
                        loss_kind=int(loss_kind), loss_eps=loss_eps, losses=losses,
                        row_weight=row_weight)
            else:
                ident, ws_z, ws_a, ws_d = self._workspace(m)
                _epoch.train_epoch_general(
                    params, self.w_off, self.b_off, self.sizes, self.acts, self.act_params,
                    self.cost, X, Y, order, m, self.n_weights, optimizer.code, hyper,
                    self.dtype(eta), self.dtype(lmbda / n), self.dtype(l1 / n),
                    state.buffers, state.step, drop_p, key, int(epoch), ident, ws_z, ws_a,
                    ws_d, mask, state.grad, clip, int(batch0), n_batches, int(loss_kind),
                    loss_eps, losses)

    def optimizer_step(self, params, grad, state, eta, lmbda_over_n=0.0, l1_over_n=0.0):
        """One optimizer step on ``params`` from the mean gradient ``grad`` (read, not
        changed), with L2/L1 on the weights, as the epoch loop takes it after every mini-batch."""
        opt = state.optimizer
        with self._running():
            _optim.apply_step(params, grad, self.n_weights, opt.code,
                              kernel_hyper(opt, self.dtype), self.dtype(eta),
                              self.dtype(lmbda_over_n), self.dtype(l1_over_n), state.buffers,
                              state.step)

    def mean_gradient(self, params, X, Y, rows=None, mask=None, dropout=None):
        """Flat mean gradient (1/m) Σ ∇C_x over X[rows] (all rows when None), unregularized;
        with dropout multipliers ``mask`` (one per hidden unit) on the layers where the
        per-layer ``dropout`` p is positive."""
        if rows is None:
            rows = np.arange(X.shape[0], dtype=np.int64)
        m = rows.shape[0]
        ident = np.arange(m, dtype=np.int64)
        total = m * int(self.sizes[1:].sum())
        ws_z, ws_a, ws_d = (np.empty(total, self.dtype) for _ in range(3))
        grad = np.empty_like(params)
        drop_p = self._no_drop if dropout is None else np.asarray(dropout, dtype=np.float64)
        mask = np.ones(self.n_hidden_units, self.dtype) if mask is None else \
            np.ascontiguousarray(mask, dtype=self.dtype)
        with self._running():
            _epoch.mean_gradient(params, self.w_off, self.b_off, self.sizes, self.acts,
                                 self.act_params, drop_p, mask, self.cost, X, Y, rows, ident,
                                 ws_z, ws_a, ws_d, self._scratch, grad)
        return grad

    def loss_and_gradient(self, params, X, Y, loss_kind, row_weight=None):
        """(the loss summed over every row of X, float64; the flat mean gradient,
        unregularized) for full-batch optimizers (scikit-learn's L-BFGS). ``loss_kind``
        is kernels/costs.py's LOSS_*. From MIN_ROWS rows, or with ``row_weight`` (a
        weight per row: Σ w C and (Σ w ∇C) / Σ w), through the matrix path (BLAS
        products, ``EVAL_CHUNK`` rows at a time), else the loops."""
        N = X.shape[0]
        eps = np.float64(np.finfo(self.dtype).eps)
        row_weight = self._row_weight(row_weight, N)
        if N < _matrix.MIN_ROWS and row_weight is None:
            A = self.forward(params, X)[1]
            loss = _costs.clipped_loss_sum(A, Y, np.arange(N, dtype=np.int64),
                                           int(loss_kind), eps)
            return loss, self.mean_gradient(params, X, Y)
        grad = np.empty_like(params)
        path = self.matrix_path()
        with self._running(True) as threads:
            with _threads.limit(threads), path.quiet_blas():
                loss = path.loss_and_gradient(params, X, Y, grad, min(EVAL_CHUNK, N),
                                              int(loss_kind), eps, row_weight)
        return loss, grad

    def _row_weight(self, row_weight, N):
        """A per-row weight array checked: float64, one per row of X (or None)."""
        if row_weight is None:
            return None
        row_weight = np.asarray(row_weight)
        if row_weight.shape != (N,) or row_weight.dtype != np.float64:
            raise ValueError(f"row_weight has shape {row_weight.shape} and dtype "
                             f"{row_weight.dtype}; expected float64 ({N},), one per row of X")
        return row_weight

    def trace(self, params, X, Y, rows):
        """One mini-batch X[rows] through the loop path's forward and backward passes, as
        an epoch runs them (no dropout, no update): returns per-layer lists ``(Z, A, D)``
        of the ``(m, n_out)`` blocks they leave in the workspaces (copies), and the flat
        mean gradient. For fastnn's per-phase profile, which times each phase on these
        real values."""
        m = rows.shape[0]
        ident, ws_z, ws_a, ws_d = self._workspace(m)
        grad = np.zeros_like(params)
        no_mask = np.empty(0, self.dtype)
        with self._running():
            _epoch.forward_pass(params, self.w_off, self.b_off, self.sizes, self.acts,
                                self.act_params, self._no_drop, no_mask, X, rows, ident, ws_z,
                                ws_a)
            _epoch.backward_pass(params, self.w_off, self.b_off, self.sizes, self.acts,
                                 self.act_params, self._no_drop, no_mask, self.cost, X, Y, rows,
                                 ident, ws_z, ws_a, ws_d, self.dtype(1.0 / m), self.dtype(0),
                                 self.dtype(0), grad)
        ends = np.cumsum([0] + [m * int(s) for s in self.sizes[1:]])
        blocks = [[ws[a:b].reshape(m, -1).copy() for a, b in zip(ends[:-1], ends[1:])]
                  for ws in (ws_z, ws_a, ws_d)]
        return blocks[0], blocks[1], blocks[2], grad

    def dropout_mask(self, seed, epoch, batch, n_batches, dropout):
        """The multipliers s of every hidden unit for one mini-batch (kernels/dropout.py)."""
        mask = np.empty(self.n_hidden_units, self.dtype)
        _dropout.dropout_mask(np.uint64(_splitmix64(np.uint64(seed))), int(epoch), int(batch),
                              int(n_batches), self.sizes, np.asarray(dropout, np.float64), mask)
        return mask

    def forward(self, params, X):
        """Output-layer (z, a) for every row of X, each (N, n_out).

        On the loop path (below ``_matrix.MIN_WEIGHTS_EVAL`` weights) a row's result
        does not depend on the other rows nor on how many there are, on any CPU: every
        row runs through one compiled block (``dense.forward_product_uniform``). The
        matrix path's products are BLAS's, which rounds a row by its place in the block
        (OpenBLAS's Haswell kernel: 2-4 float32 ulps between a row alone and the same
        row in a block of 256); making those rows alike would cost 2.3-3.2x the
        evaluation time there (the loops, or the engine's GEMM on a 256-bit core)."""
        N = X.shape[0]
        m = min(EVAL_CHUNK, N)
        n_out = int(self.sizes[-1])
        Z = np.empty((N, n_out), self.dtype)
        A = np.empty((N, n_out), self.dtype)
        matrix = N > 0 and self.uses_matrix(m, training=False)
        with self._running(matrix) as threads:
            if matrix:
                with _threads.limit(threads), self.matrix_path().quiet_blas():
                    self.matrix_path().forward_all(params, X, m, Z, A)
            else:
                self._forward_loops(params, X, m, Z, A)
        return Z, A

    def _forward_loops(self, params, X, m, Z, A):
        """``forward`` on the loop path, ``m`` rows at a time."""
        N = X.shape[0]
        ident, ws_z, ws_a, _ = self._workspace(m)
        rows = np.arange(N, dtype=np.int64)
        # Layer by layer through small kernels (the uniform forward product, and the
        # layer's activation, which training has compiled already): a compiled loop
        # around them would cost a second of cold compile.
        Ws = self.weights(params)
        bs = self.biases(params)
        L = len(Ws)
        for start in range(0, N, m):
            stop = min(start + m, N)
            k = stop - start
            A_in, r_in = X, rows[start:stop]
            off = 0
            for l in range(L):
                if l == L - 1:
                    Zl, Al = Z[start:stop], A[start:stop]
                else:
                    n = int(self.sizes[l + 1])
                    Zl = ws_z[off:off + k * n].reshape(k, n)
                    Al = ws_a[off:off + k * n].reshape(k, n)
                    off += k * n
                _dense.forward_product_uniform(Ws[l], bs[l], A_in, r_in, Zl)
                _activations.activate(Zl, Al, self.acts[l], self.act_params[l])
                A_in, r_in = Al, ident[:k]

    def total_cost(self, params, Y, Z, A, lmbda):
        """Mean cost over the rows of outputs (Z, A) with targets Y, plus ½(λ/n)Σ‖W‖²."""
        n = Y.shape[0]
        rows = np.arange(n, dtype=np.int64)
        cost = COST_SUMS[self.cost](Z, A, Y, rows) / n
        return float(cost + self.weight_penalty(params, lmbda, n))

    def weight_penalty(self, params, lmbda, n):
        """The L2 term ½(λ/n)Σ‖W‖² of the total cost. NumPy's pairwise sum, not BLAS's
        dot: a threaded dot splits the sum by its thread count, so the reported cost
        would change in the last bits with the BLAS threads (e.g. in a Dask worker)."""
        if not lmbda:
            return 0.0
        w = params[:self.n_weights].astype(np.float64)
        return 0.5 * (lmbda / n) * float(np.sum(np.square(w)))
