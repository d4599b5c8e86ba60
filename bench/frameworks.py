"""Comparison implementations of one training epoch: JAX jit + lax.scan, PyTorch eager.

``DESIGN.md`` measures the engine against these two. Each anchor trains the same way as
``fastnn.perf.baselines.NumpyMatrixNetwork`` and the engine's ``train_epoch``: starting from
per-layer weights ``(n_out, n_in)`` and biases ``(n_out,)``, it visits the samples in a
given int64 ``order``, mini-batch b being ``X[order[b*m:(b+1)*m]]`` (the last one may be
shorter and then uses its own size m'), and applies the book's update

    W <- (1 - eta*lmbda/n) W - (eta/m) sum_x delta_x a_x^T,    b <- b - (eta/m) sum_x delta_x

with n = len(order). Supported networks, as in the NumPy matrix version: hidden layers
``sigmoid`` or ``relu``; output and cost ``sigmoid`` + ``cross_entropy`` or ``softmax`` +
``log_likelihood`` (for both, dC/dz of the output layer is a - y).

* ``JaxScanNetwork``: the whole epoch is one ``jax.jit`` function, a ``jax.lax.scan`` over
  the full mini-batches, with the gradient from ``jax.grad`` of the summed cost written
  on the output weighted input (``softplus(z) - y z`` for cross-entropy,
  ``-y . log_softmax(z)`` for the log-likelihood), so it is finite for any z. A last
  partial mini-batch (n not divisible by m) is one more jitted step of its own shape.
  Executables are compiled ahead of time per shape (``compile``), so the compile time is
  known and never inside a timed epoch.
* ``TorchEagerNetwork``: a Python loop over the mini-batches with PyTorch tensors;
  ``gradient="autograd"`` (default: ``loss.backward()`` then an update under
  ``torch.no_grad()``) or ``gradient="manual"`` (the NumPy version's hand-written
  backward pass, with torch operations).

Both read the parameters back as NumPy arrays through ``weights`` and ``biases``, and
are created by ``make_anchor(name, ...)``. JAX and PyTorch are imported lazily, when an
anchor is created; a missing one raises an ImportError saying what to install.

float64: JAX computes in float32 unless its ``jax_enable_x64`` option is on. A float64
JAX anchor turns it on (``jax.config.update("jax_enable_x64", True)``, process-wide). The
float32 path is unaffected: every array it passes to JAX has an explicit dtype (float32
values, int32 indices), so it traces to float32 operations with x64 on or off.

Threads (one thread against one thread is the benchmarks' default):

* PyTorch: ``limit_torch_threads(n)`` calls ``torch.set_num_threads(n)``; it takes
  effect at once and is reported by ``torch_thread_info()``.
* JAX: XLA reads its thread options from the environment variable ``XLA_FLAGS`` when JAX
  is imported, so they must be set before ``import jax``. ``limit_jax_threads(1)`` adds
  ``XLA_ONE_THREAD_FLAGS`` to ``XLA_FLAGS`` when JAX is not imported yet, and
  ``jax_thread_info()`` reports what is in effect. The flags switch off XLA's
  multi-threaded Eigen, the usual recipe, but they do not confine XLA to one thread:
  its CPU runtime (JAX 0.10) still hands the compiled epoch between its own worker
  threads. Measured on a 2-core machine, unpinned, the small configs' epochs then took
  up to 2 cores' CPU time (CPU/wall 1.96) or, while another process kept the other core
  busy, up to twice as long as pinned (CPU/wall 1.0). Only pinning the process to one
  core (``taskset -c 1``, or bench/'s default ``--bench-pin=auto``) makes one thread one
  core for JAX.
"""
import os
import sys
import time

import numpy as np

from fastnn import _checks

#: what ``limit_jax_threads(1)`` adds to XLA_FLAGS (must be there before ``import jax``)
XLA_ONE_THREAD_FLAGS = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")

_HIDDEN = ("sigmoid", "relu")
_PAIRS = (("sigmoid", "cross_entropy"), ("softmax", "log_likelihood"))

_JAX_MISSING = ("the JAX anchor needs JAX, which is not installed: pip install 'jax[cpu]' "
                "(CPU only; fastnn's bench extra includes it: pip install 'fastnn[bench]')")
_TORCH_MISSING = ("the PyTorch anchor needs PyTorch, which is not installed: pip install "
                  "torch (CPU wheels: --index-url https://download.pytorch.org/whl/cpu); it "
                  "is not part of any fastnn extra")

# What limit_jax_threads did, for jax_thread_info().
_jax_threads = {"requested": None, "set_before_import": False, "jax_was_imported": None}


def _module_loaded(name):
    return sys.modules.get(name) is not None


def _import_jax():
    try:
        import jax
    except ImportError as exc:
        raise ImportError(_JAX_MISSING) from exc
    return jax


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(_TORCH_MISSING) from exc
    return torch


# ------------------------------------------------------------------------------- threads

def limit_jax_threads(threads=1):
    """Ask XLA for one thread by putting ``XLA_ONE_THREAD_FLAGS`` into ``XLA_FLAGS``.

    ``threads`` is 1 (add the flags, if JAX is not imported yet), or ``"all"``/None
    (leave XLA_FLAGS alone). XLA has no flag for N > 1 threads, so N > 1 leaves it alone
    too, and the report says so. Returns ``jax_thread_info()``. Never imports JAX.
    """
    if threads not in (1, "1", "all", None) and not (str(threads).isdigit() and int(threads) > 1):
        raise ValueError(f"threads={threads!r} is invalid; expected 1, 'all', None or an "
                         f"integer > 1")
    _jax_threads["requested"] = None if threads is None else str(threads)
    _jax_threads["jax_was_imported"] = _module_loaded("jax")
    if str(threads) == "1" and not _jax_threads["jax_was_imported"]:
        flags = os.environ.get("XLA_FLAGS", "").split()
        flags += [f for f in XLA_ONE_THREAD_FLAGS if f not in flags]
        os.environ["XLA_FLAGS"] = " ".join(flags)
        _jax_threads["set_before_import"] = True
    return jax_thread_info()


def jax_thread_info():
    """What is known about XLA's threads: XLA_FLAGS, whether JAX is imported, and whether
    the one-thread flags were in XLA_FLAGS before JAX was imported (``in_effect``:
    True, False, or None when this cannot be known). The flags are all XLA offers; see
    the module docstring for what they do not do."""
    flags = os.environ.get("XLA_FLAGS", "")
    one_thread = all(f in flags.split() for f in XLA_ONE_THREAD_FLAGS)
    imported = _module_loaded("jax")
    if _jax_threads["set_before_import"]:
        in_effect, note = True, ("one-thread flags set by fastnn before JAX was imported "
                                 "(XLA's runtime still uses worker threads: pin the process "
                                 "to one CPU to keep them on one core)")
    elif one_thread and not imported:
        in_effect, note = True, "one-thread flags in XLA_FLAGS; JAX not imported yet"
    elif one_thread:
        in_effect, note = None, ("one-thread flags in XLA_FLAGS, set outside fastnn: in "
                                 "effect only if they were there before JAX was imported")
    elif _jax_threads["requested"] == "1" and _jax_threads["jax_was_imported"]:
        in_effect, note = False, ("one thread was requested after JAX had been imported: "
                                  "XLA_FLAGS left alone, XLA uses its default threads")
    elif _jax_threads["requested"] not in (None, "1", "all"):
        in_effect, note = False, (f"{_jax_threads['requested']} threads requested, but XLA "
                                  f"can only be limited to one by flags: default threads")
    else:
        in_effect, note = False, "no thread limit: XLA uses its default threads"
    return {"xla_flags": flags, "one_thread_flags": one_thread, "jax_imported": imported,
            "in_effect": in_effect, "note": note}


def limit_torch_threads(threads=1):
    """``torch.set_num_threads(threads)`` for an int (or a digit string); ``"all"`` or None
    leaves PyTorch's default. Imports PyTorch. Returns ``torch_thread_info()``."""
    torch = _import_torch()
    if threads not in ("all", None):
        if not str(threads).isdigit() or int(threads) < 1:
            raise ValueError(f"threads={threads!r} is invalid; expected a positive integer, "
                             f"'all' or None")
        torch.set_num_threads(int(threads))
    return torch_thread_info()


def torch_thread_info():
    """PyTorch's intra-op and inter-op thread counts and its math libraries (None for
    everything when PyTorch is not imported: this never imports it)."""
    if not _module_loaded("torch"):
        return {"torch_imported": False, "num_threads": None, "interop_threads": None}
    torch = sys.modules["torch"]
    return {"torch_imported": True, "version": torch.__version__,
            "num_threads": torch.get_num_threads(),
            "interop_threads": torch.get_num_interop_threads(),
            "mkl": bool(torch.backends.mkl.is_available()),
            "mkldnn": bool(torch.backends.mkldnn.is_available())}


# ------------------------------------------------------------------------------- checks

def _check_network(weights, biases, hidden_activation, output_activation, cost, dtype):
    """Validated (weights, biases as float arrays of ``dtype``, dtype)."""
    dtype = np.dtype(_checks.check_dtype(dtype))
    if hidden_activation not in _HIDDEN:
        raise ValueError(f"hidden_activation={hidden_activation!r} is not supported by the "
                         f"anchors; expected one of {list(_HIDDEN)}")
    if (output_activation, cost) not in _PAIRS:
        raise ValueError(f"output_activation={output_activation!r} with cost={cost!r} is not "
                         f"supported by the anchors; expected one of {list(_PAIRS)}")
    if len(weights) == 0 or len(weights) != len(biases):
        raise ValueError(f"weights has {len(weights)} layers and biases {len(biases)}; "
                         f"expected the same number, at least one")
    ws, bs = [], []
    for l, (w, b) in enumerate(zip(weights, biases)):
        w = np.array(w, dtype=dtype)
        b = np.array(b, dtype=dtype).reshape(-1)
        if w.ndim != 2:
            raise ValueError(f"weights[{l}] has shape {w.shape}; expected (n_out, n_in)")
        if l > 0 and w.shape[1] != ws[-1].shape[0]:
            raise ValueError(f"weights[{l}] has shape {w.shape}; expected {ws[-1].shape[0]} "
                             f"columns to follow weights[{l - 1}] {ws[-1].shape}")
        if b.shape != (w.shape[0],):
            raise ValueError(f"biases[{l}] has {b.size} entries; expected {w.shape[0]} "
                             f"(n_out of weights[{l}])")
        ws.append(w)
        bs.append(b)
    return ws, bs, dtype


def _check_epoch(X, Y, order, mini_batch_size, eta, lmbda, n_in, n_out):
    """Validated (order as int64 NumPy, m, eta, lmbda); X and Y are checked by shape only
    (they may be NumPy arrays or a framework's arrays)."""
    if len(X.shape) != 2 or X.shape[1] != n_in:
        raise ValueError(f"X has shape {tuple(X.shape)}; expected (n_samples, {n_in})")
    if tuple(Y.shape) != (X.shape[0], n_out):
        raise ValueError(f"Y has shape {tuple(Y.shape)}; expected ({X.shape[0]}, {n_out}) "
                         f"(one-hot rows, one per row of X)")
    order = np.asarray(order)
    if order.ndim != 1 or order.size == 0 or not np.issubdtype(order.dtype, np.integer):
        raise ValueError(f"order has shape {order.shape} and dtype {order.dtype}; expected a "
                         f"non-empty 1-D integer array of row indices")
    lo, hi = int(order.min()), int(order.max())
    if lo < 0 or hi >= X.shape[0]:
        raise ValueError(f"order holds indices from {lo} to {hi}; expected 0 to "
                         f"{X.shape[0] - 1} (rows of X)")
    m = _checks.check_positive("mini_batch_size", mini_batch_size, integer=True)
    eta = _checks.check_positive("eta", eta)
    lmbda = _checks.check_non_negative("lmbda", lmbda)
    return order.astype(np.int64, copy=False), m, eta, lmbda


class _Anchor:
    """What both anchors share: the checked network description and its repr."""

    framework = ""

    def _describe(self, weights, biases, hidden_activation, output_activation, cost, dtype):
        """Check and record the network; returns its weights and biases as NumPy copies."""
        ws, bs, self.dtype = _check_network(weights, biases, hidden_activation,
                                            output_activation, cost, dtype)
        self.sizes = [ws[0].shape[1]] + [w.shape[0] for w in ws]
        self.hidden_activation = hidden_activation
        self.output_activation = output_activation
        self.cost = cost
        return ws, bs

    def _checked_parameters(self, weights, biases):
        """``weights`` and ``biases`` as NumPy copies of this network's dtype, checked
        against its layer sizes."""
        ws, bs, _ = _check_network(weights, biases, self.hidden_activation,
                                   self.output_activation, self.cost, self.dtype)
        sizes = [ws[0].shape[1]] + [w.shape[0] for w in ws]
        if sizes != self.sizes:
            raise ValueError(f"weights describe layer sizes {sizes}; expected {self.sizes}")
        return ws, bs

    def __repr__(self):
        return (f"{type(self).__name__}(sizes={self.sizes}, hidden_activation="
                f"{self.hidden_activation!r}, output_activation={self.output_activation!r}, "
                f"cost={self.cost!r}, dtype={self.dtype.name!r})")


# ------------------------------------------------------------------------------- JAX

class JaxScanNetwork(_Anchor):
    """One epoch of mini-batch SGD as one ``jax.jit`` call: ``jax.lax.scan`` over the
    mini-batches, gradients by ``jax.grad`` (see the module docstring for the math).

    Parameters are JAX arrays held in ``self.params`` (a tuple of ``(W, b)`` per layer);
    ``weights`` and ``biases`` return NumPy copies. ``train_epoch`` accepts NumPy arrays
    (copied to JAX each call) or JAX arrays from ``to_device`` (no copy: what a timed
    epoch should use). The full mini-batches run in one compiled scan; a last partial
    one (n not divisible by m) runs as one more compiled step of its own size.
    """

    framework = "jax"

    def __init__(self, weights, biases, hidden_activation="sigmoid",
                 output_activation="sigmoid", cost="cross_entropy", dtype="float32"):
        ws, bs = self._describe(weights, biases, hidden_activation, output_activation, cost,
                                dtype)
        jax = _import_jax()
        if self.dtype == np.float64 and not jax.config.jax_enable_x64:
            jax.config.update("jax_enable_x64", True)
        self._jax = jax
        self.params = tuple((jax.device_put(w), jax.device_put(b)) for w, b in zip(ws, bs))
        self._epoch_fn, self._step_fn = _jax_functions(hidden_activation, output_activation)
        self._compiled = {}
        #: seconds each ahead-of-time compile took, by (what, shapes) key
        self.compile_seconds = {}

    @property
    def weights(self):
        """Per-layer weights as NumPy arrays (copies), (n_out, n_in)."""
        return [np.array(w) for w, _ in self.params]

    @property
    def biases(self):
        """Per-layer biases as NumPy arrays (copies), (n_out,)."""
        return [np.array(b) for _, b in self.params]

    def set_parameters(self, weights, biases):
        """Replace the parameters with copies of ``weights`` and ``biases`` (same sizes);
        compiled executables are kept."""
        ws, bs = self._checked_parameters(weights, biases)
        self.params = tuple((self._jax.device_put(w), self._jax.device_put(b))
                            for w, b in zip(ws, bs))

    def to_device(self, array):
        """``array`` as a JAX array of this network's dtype (pass X and Y this way to keep
        the host-to-JAX copy out of ``train_epoch``)."""
        return self._jax.device_put(np.ascontiguousarray(array, dtype=self.dtype))

    def _arrays(self, X, Y):
        jax = self._jax
        X = X if isinstance(X, jax.Array) and X.dtype == self.dtype else self.to_device(X)
        Y = Y if isinstance(Y, jax.Array) and Y.dtype == self.dtype else self.to_device(Y)
        return X, Y

    def _plan(self, order, m):
        """(full mini-batches as an int32 (n_full, m) array, the remainder's indices)."""
        n_full = order.shape[0] // m
        index = np.int32 if order.shape[0] < 2 ** 31 else np.int64
        batches = order[:n_full * m].astype(index).reshape(n_full, m)
        return batches, order[n_full * m:].astype(index)

    def _executable(self, what, args):
        """The compiled ``what`` ("epoch" or "step") for the shapes of ``args``: compiled
        ahead of time on first use, its compile time kept in ``compile_seconds``."""
        key = (what,) + tuple((tuple(a.shape), str(a.dtype))
                              for a in self._jax.tree_util.tree_leaves(args))
        exe = self._compiled.get(key)
        if exe is None:
            fn = self._epoch_fn if what == "epoch" else self._step_fn
            start = time.perf_counter()
            exe = self._jax.jit(fn).lower(*args).compile()
            self.compile_seconds[key] = time.perf_counter() - start
            self._compiled[key] = exe
        return exe

    def _calls(self, X, Y, order, mini_batch_size, eta, lmbda):
        """The (what, args-builder) calls one epoch makes, after checking the arguments."""
        order, m, eta, lmbda = _check_epoch(X, Y, order, mini_batch_size, eta, lmbda,
                                            self.sizes[0], self.sizes[-1])
        X, Y = self._arrays(X, Y)
        m = min(m, order.shape[0])
        batches, rest = self._plan(order, m)
        scalar = self.dtype.type
        decay = scalar(1.0 - eta * lmbda / order.shape[0])
        calls = []
        if batches.shape[0]:
            calls.append(("epoch", (X, Y, batches, decay, scalar(eta / m))))
        if rest.shape[0]:
            calls.append(("step", (X, Y, rest, decay, scalar(eta / rest.shape[0]))))
        return calls

    def compile(self, X, Y, order, mini_batch_size, eta=0.1, lmbda=0.0):
        """Compile (without running) what ``train_epoch`` with these arguments' shapes
        will run; returns the seconds spent compiling in this call (0 if all cached)."""
        before = sum(self.compile_seconds.values())
        for what, args in self._calls(X, Y, order, mini_batch_size, eta, lmbda):
            self._executable(what, (self.params,) + args)
        return sum(self.compile_seconds.values()) - before

    def train_epoch(self, X, Y, order, mini_batch_size, eta, lmbda=0.0):
        """One epoch over X[order] in mini-batches of ``mini_batch_size``; blocks until
        the new parameters are computed.

        X (N, n_in) and Y (N, n_out): NumPy arrays or JAX arrays from ``to_device``;
        order: 1-D integer row indices; eta > 0; lmbda >= 0 (n = len(order)).
        """
        params = self.params
        for what, args in self._calls(X, Y, order, mini_batch_size, eta, lmbda):
            params = self._executable(what, (params,) + args)(params, *args)
        self.params = self._jax.block_until_ready(params)


def _jax_functions(hidden_activation, output_activation):
    """(epoch, step): pure JAX functions of (params, X, Y, indices, decay, step_size)."""
    import jax
    import jax.numpy as jnp

    g = jax.nn.sigmoid if hidden_activation == "sigmoid" else jax.nn.relu

    def cost_sum(params, x, y):
        """Sum over the rows of the cost, written on the output weighted input z."""
        a = x
        for w, b in params[:-1]:
            a = g(a @ w.T + b)
        w, b = params[-1]
        z = a @ w.T + b
        if output_activation == "sigmoid":   # cross-entropy: -[y ln σ(z) + (1-y) ln(1-σ(z))]
            return jnp.sum(jax.nn.softplus(z) - y * z)
        return -jnp.sum(y * jax.nn.log_softmax(z, axis=-1))   # log-likelihood

    grad = jax.grad(cost_sum)

    def step(params, X, Y, rows, decay, step_size):
        """One mini-batch X[rows]: the book's update with step_size = eta/m."""
        grads = grad(params, X[rows], Y[rows])
        return tuple((decay * w - step_size * gw, b - step_size * gb)
                     for (w, b), (gw, gb) in zip(params, grads))

    def epoch(params, X, Y, batches, decay, step_size):
        """Every row of ``batches`` (n_batches, m) as a mini-batch, in one lax.scan."""
        def body(p, rows):
            return step(p, X, Y, rows, decay, step_size), None
        params, _ = jax.lax.scan(body, params, batches)
        return params

    return epoch, step


# ------------------------------------------------------------------------------- PyTorch

class TorchEagerNetwork(_Anchor):
    """Mini-batch SGD in PyTorch eager mode: a Python loop over the mini-batches.

    ``gradient="autograd"``: the summed cost (``binary_cross_entropy_with_logits`` or
    ``-(y * log_softmax(z)).sum()``), ``loss.backward()``, then the update in place under
    ``torch.no_grad()``. ``gradient="manual"``: the backward pass written out as in
    ``NumpyMatrixNetwork`` (delta = a - y, then delta <- (delta W) * g'(a) per layer),
    no autograd. ``weights`` and ``biases`` return NumPy copies. NumPy X and Y of the
    network's dtype are shared with PyTorch without a copy (``torch.from_numpy``).
    """

    framework = "torch"
    GRADIENTS = ("autograd", "manual")

    def __init__(self, weights, biases, hidden_activation="sigmoid",
                 output_activation="sigmoid", cost="cross_entropy", dtype="float32",
                 gradient="autograd"):
        ws, bs = self._describe(weights, biases, hidden_activation, output_activation, cost,
                                dtype)
        if gradient not in self.GRADIENTS:
            raise ValueError(f"gradient={gradient!r} is invalid; expected one of "
                             f"{list(self.GRADIENTS)}")
        torch = _import_torch()
        self._torch = torch
        self.gradient = gradient
        grad = gradient == "autograd"
        self._w = [torch.from_numpy(w).requires_grad_(grad) for w in ws]
        self._b = [torch.from_numpy(b).requires_grad_(grad) for b in bs]

    def __repr__(self):
        return super().__repr__()[:-1] + f", gradient={self.gradient!r})"

    @property
    def weights(self):
        """Per-layer weights as NumPy arrays (copies), (n_out, n_in)."""
        return [w.detach().numpy().copy() for w in self._w]

    @property
    def biases(self):
        """Per-layer biases as NumPy arrays (copies), (n_out,)."""
        return [b.detach().numpy().copy() for b in self._b]

    def set_parameters(self, weights, biases):
        """Copy ``weights`` and ``biases`` (same sizes) into the parameter tensors."""
        ws, bs = self._checked_parameters(weights, biases)
        with self._torch.no_grad():
            for t, a in zip(self._w + self._b, ws + bs):
                t.copy_(self._torch.from_numpy(a))

    def _tensor(self, array):
        torch = self._torch
        if isinstance(array, torch.Tensor):
            return array.to(dtype=getattr(torch, self.dtype.name))
        return torch.from_numpy(np.ascontiguousarray(array, dtype=self.dtype))

    def train_epoch(self, X, Y, order, mini_batch_size, eta, lmbda=0.0):
        """One epoch over X[order] in mini-batches of ``mini_batch_size``.

        X (N, n_in) and Y (N, n_out): NumPy arrays or tensors; order: 1-D integer row
        indices; eta > 0; lmbda >= 0 (n = len(order)).
        """
        order, m, eta, lmbda = _check_epoch(X, Y, order, mini_batch_size, eta, lmbda,
                                            self.sizes[0], self.sizes[-1])
        X, Y = self._tensor(X), self._tensor(Y)
        rows = self._torch.from_numpy(order)
        n = order.shape[0]
        decay = 1.0 - eta * lmbda / n
        batch = self._autograd_batch if self.gradient == "autograd" else self._manual_batch
        for k in range(0, n, m):
            idx = rows[k:k + m]
            batch(X[idx], Y[idx], decay, eta / idx.shape[0])

    def _hidden(self, z):
        torch = self._torch
        return torch.sigmoid(z) if self.hidden_activation == "sigmoid" else torch.relu(z)

    def _autograd_batch(self, x, y, decay, step):
        torch = self._torch
        a = x
        for w, b in zip(self._w[:-1], self._b[:-1]):
            a = self._hidden(torch.addmm(b, a, w.t()))
        z = torch.addmm(self._b[-1], a, self._w[-1].t())
        if self.output_activation == "sigmoid":
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="sum")
        else:
            loss = -(y * torch.log_softmax(z, dim=1)).sum()
        loss.backward()
        with torch.no_grad():
            for w, b in zip(self._w, self._b):
                if decay != 1.0:
                    w.mul_(decay)
                w.sub_(w.grad, alpha=step)
                b.sub_(b.grad, alpha=step)
                w.grad = None
                b.grad = None

    def _manual_batch(self, x, y, decay, step):
        torch = self._torch
        activations = [x]
        for w, b in zip(self._w[:-1], self._b[:-1]):
            activations.append(self._hidden(torch.addmm(b, activations[-1], w.t())))
        z = torch.addmm(self._b[-1], activations[-1], self._w[-1].t())
        a = torch.sigmoid(z) if self.output_activation == "sigmoid" else torch.softmax(z, dim=1)
        delta = a - y
        for l in range(len(self._w) - 1, -1, -1):
            grad_w = delta.t() @ activations[l]
            grad_b = delta.sum(dim=0)
            if l > 0:  # propagate with the weights before they are updated
                a_l = activations[l]
                prime = a_l * (1 - a_l) if self.hidden_activation == "sigmoid" else (a_l > 0)
                delta = (delta @ self._w[l]) * prime
            if decay != 1.0:
                self._w[l].mul_(decay)
            self._w[l].sub_(grad_w, alpha=step)
            self._b[l].sub_(grad_b, alpha=step)


# ------------------------------------------------------------------------------- factory

ANCHORS = {"jax": JaxScanNetwork, "torch": TorchEagerNetwork}


def make_anchor(name, weights, biases, hidden_activation="sigmoid",
                output_activation="sigmoid", cost="cross_entropy", dtype="float32", **options):
    """The anchor called ``name`` ("jax" or "torch") on a copy of the given parameters."""
    if name not in ANCHORS:
        raise ValueError(f"name={name!r} is not an anchor; expected one of {list(ANCHORS)}")
    return ANCHORS[name](weights, biases, hidden_activation, output_activation, cost, dtype,
                         **options)


def available(name):
    """True when the anchor ``name``'s framework can be imported (imports it)."""
    try:
        (_import_jax if name == "jax" else _import_torch)()
    except ImportError:
        return False
    return True
