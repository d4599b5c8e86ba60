"""The bridge between the API and the kernels: the parameter layout and the workspaces.

An ``Engine`` knows a network's shape (sizes, per-layer activation codes, cost code,
dtype) and calls the kernels on a flat parameter buffer. It holds no parameters itself,
so one engine serves any buffer of its layout (the network's, a checkpoint's, a copy).
"""
import numpy as np

from .kernels import epoch as _epoch
from .kernels import update as _update
from .kernels.costs import cost_sum

#: rows per block when evaluating a whole data set
EVAL_CHUNK = 1024


class Engine:
    """Layout of a network's flat parameter buffer, and the kernel calls on it.

    The buffer holds every layer's weights, layer by layer, each ``(n_out, n_in)``
    row-major, and then every layer's biases ``(n_out,)``.
    """

    def __init__(self, sizes, act_codes, cost_code, dtype):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.acts = np.asarray(act_codes, dtype=np.int64)
        self.cost = int(cost_code)
        self.dtype = np.dtype(dtype).type
        n_w = self.sizes[1:] * self.sizes[:-1]
        self.w_off = np.concatenate([[0], np.cumsum(n_w)[:-1]]).astype(np.int64)
        self.n_weights = int(n_w.sum())
        self.b_off = (self.n_weights + np.concatenate([[0], np.cumsum(self.sizes[1:])[:-1]])
                      ).astype(np.int64)
        self.n_params = self.n_weights + int(self.sizes[1:].sum())
        self._workspaces = {}
        self._scratch = np.zeros(2, dtype=self.dtype)

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

    # -- kernel calls ---------------------------------------------------------
    def train_epoch(self, params, X, Y, order, mini_batch_size, eta, lmbda, n=None):
        """One epoch of the book's SGD over X[order], in place on ``params``.

        ``X`` (N, n_in) and ``Y`` (N, n_out) must be C-contiguous arrays of the engine's
        dtype and ``order`` an int64 array of row indices; n (the training-set size in the
        decay 1 − ηλ/n) defaults to len(order).
        """
        if n is None:
            n = order.shape[0]
        m = min(int(mini_batch_size), order.shape[0])
        ident, ws_z, ws_a, ws_d = self._workspace(m)
        decay = self.dtype(1.0 - eta * lmbda / n)
        _epoch.train_epoch(params, self.w_off, self.b_off, self.sizes, self.acts, self.cost,
                           X, Y, order, m, self.dtype(eta), decay, ident, ws_z, ws_a, ws_d,
                           self._scratch)

    def mean_gradient(self, params, X, Y, rows=None):
        """Flat mean gradient (1/m) Σ ∇C_x over X[rows] (all rows when None), unregularized."""
        if rows is None:
            rows = np.arange(X.shape[0], dtype=np.int64)
        m = rows.shape[0]
        ident = np.arange(m, dtype=np.int64)
        total = m * int(self.sizes[1:].sum())
        ws_z, ws_a, ws_d = (np.empty(total, self.dtype) for _ in range(3))
        grad = np.empty_like(params)
        _epoch.mean_gradient(params, self.w_off, self.b_off, self.sizes, self.acts, self.cost,
                             X, Y, rows, ident, ws_z, ws_a, ws_d, self._scratch, grad)
        return grad

    def sgd_update(self, params, grad, eta, lmbda, n):
        """params ← (1 − ηλ/n) w − η ∇w, b − η ∇b in one pass (grad is a mean gradient)."""
        _update.sgd_update(params, grad, self.n_weights, self.dtype(1.0 - eta * lmbda / n),
                           self.dtype(eta))

    def forward(self, params, X):
        """Output-layer (z, a) for every row of X, each (N, n_out)."""
        N = X.shape[0]
        m = min(EVAL_CHUNK, N)
        ident, ws_z, ws_a, _ = self._workspace(m)
        n_out = int(self.sizes[-1])
        Z = np.empty((N, n_out), self.dtype)
        A = np.empty((N, n_out), self.dtype)
        rows = np.arange(N, dtype=np.int64)
        _epoch.forward_all(params, self.w_off, self.b_off, self.sizes, self.acts, X, rows,
                           ident, ws_z, ws_a, Z, A)
        return Z, A

    def total_cost(self, params, Y, Z, A, lmbda):
        """Mean cost over the rows of outputs (Z, A) with targets Y, plus ½(λ/n)Σ‖W‖²."""
        n = Y.shape[0]
        rows = np.arange(n, dtype=np.int64)
        cost = cost_sum(Z, A, Y, rows, self.cost) / n
        if lmbda:
            w = params[:self.n_weights].astype(np.float64)
            cost += 0.5 * (lmbda / n) * float(w @ w)
        return float(cost)
