"""The naive reference network: the oracle for parity tests and the benchmark baseline.

Written in the book's style on purpose -- column vectors of shape ``(n, 1)``, a Python
loop over the samples of every mini-batch, float64 throughout -- so that each line can be
checked against the math by eye. It imports only NumPy, so it stays independent of the
Numba engine it is used to check. Speed is not a goal.

Math
----
Layer ``l`` computes the weighted input and the activation

    z^l = W^l a^{l-1} + b^l,        a^l = g_l(z^l),        a^0 = x,

with ``W^l`` of shape ``(n_out, n_in)`` and ``b^l`` of shape ``(n_out, 1)``.

Activations ``g`` and the derivatives used by backprop (``sigma`` is the logistic
sigmoid; alpha and beta are the activation's parameter, see "Activation specs")::

    sigmoid     1 / (1 + e^{-z})             g' = a (1 - a)
    tanh        tanh(z)                      g' = 1 - a^2
    relu        max(z, 0)                    g' = 1 if z > 0 else 0   (0 at z = 0)
    identity    z                            g' = 1
    leaky_relu  z if z > 0 else alpha z      g' = 1 if z > 0 else alpha
    elu         z if z > 0 else alpha (e^z - 1)
                                             g' = 1 if z > 0 else alpha e^z
    swish       z sigma(beta z)              g' = s + beta z s (1 - s),  s = sigma(beta z)
    softmax     e^{z_j} / sum_k e^{z_k}      Jacobian J = diag(a) - a a^T (output layer only)
    exp         e^z                          g' = e^z                     (output layer only)

At the kinks (z = 0) relu takes g' = 0, leaky_relu g' = alpha and elu g' = alpha.

Per-sample costs ``C_x`` (``y`` is the target column)::

    quadratic        0.5 * ||a - y||^2                          (any output activation)
    cross_entropy    -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]  (sigmoid output only)
    log_likelihood   -sum_j y_j ln a_j                          (softmax output only)
    poisson          sum_j y_j ln(y_j / a_j) - y_j + a_j          (exp output only; counts
                     y >= 0, y ln y = 0 at y = 0; from z: e^z - y z + y ln y - y)

The logarithms are evaluated from ``z`` rather than from ``a`` so that the values stay
finite for saturated units: ln sigma(z) = -logaddexp(0, -z), ln(1 - sigma(z)) =
-logaddexp(0, z), ln softmax(z)_j = z_j - max(z) - ln(1 + sum_{k != argmax} e^{z_k - max(z)})
(log1p: exact when the other terms are tiny).

Backprop for one sample: the output error ``delta^L = dC_x/dz^L`` is

    quadratic, elementwise g   (a - y) * g'(z^L)
    quadratic, softmax         J^T (a - y)
    cross_entropy + sigmoid    a - y
    log_likelihood + softmax   a * sum(y) - y   (a - y for targets summing to 1)
    poisson + exp              a - y

and for the hidden layers ``delta^l = (W^{l+1})^T delta^{l+1} * g'(z^l)``. The gradients
are ``dC_x/db^l = delta^l`` and ``dC_x/dW^l = delta^l (a^{l-1})^T``.

Activation specs
----------------
Wherever an activation is accepted (``hidden_activation``, one for all hidden layers or a
list with one per hidden layer, and ``output_activation``) it may be a name or a
``(name, parameter)`` tuple. ``leaky_relu`` takes alpha (default 0.01, alpha >= 0),
``elu`` takes alpha (default 1.0, alpha >= 0) and ``swish`` takes beta (default 1.0,
beta > 0); the parameter must be a finite real number. The other activations take no
parameter (``(name, None)`` is accepted for them). Only a *tuple* whose second item is not
a string is read as one ``(name, parameter)`` spec; a list, or a tuple of names, is a
per-layer sequence. The new activations (leaky_relu, elu, swish) may also be the output
activation with the quadratic cost, which pairs with any elementwise output.

The network exposes the resolved specs as ``ReferenceNetwork.activations``: a list with
one ``(name, parameter)`` tuple per layer (hidden layers first, then the output layer),
the parameter being a float for leaky_relu/elu/swish and ``None`` otherwise, e.g.
``[("leaky_relu", 0.1), ("sigmoid", None)]``. ``hidden_activation`` stays the list of
hidden-layer *names* and ``output_activation`` the output *name*.

Training: the gradient
----------------------
For a mini-batch of ``m`` samples out of a training set of ``n``, with L2 strength
``lmbda`` and L1 strength ``l1``, every optimizer is fed, per layer,

    g_W = (1/m) sum_x dC_x/dW + (lmbda / n) W + (l1 / n) sgn(W)
    g_b = (1/m) sum_x dC_x/db                       (biases are never regularized)

with sgn(0) = 0, so an L1 term is not applied to a weight that is exactly 0. This is the
gradient of the regularized cost ``(1/n) sum_x C_x + 0.5 (lmbda/n) sum ||W||^2 +
(l1/n) sum |W|`` (the per-mini-batch estimate of its first term). See
``regularized_gradients``.

PyTorch's ``weight_decay`` adds ``weight_decay * theta`` to the gradient of every
parameter in its group; the book's L2 term is exactly that with ``weight_decay = lmbda/n``
on the weight tensors and ``weight_decay = 0`` on the biases.

With ``optimizer=None`` the update is the book's rule, written as in the book:

    W <- (1 - eta * lmbda / n) W - (eta * l1 / n) sgn(W) - (eta / m) sum_x dC_x/dW
    b <- b - (eta / m) sum_x dC_x/db

which is mathematically the ``"sgd"`` optimizer below (theta <- theta - eta g); the two
may differ in the last bits. Other rules: see ``ReferenceOptimizer``.

Dropout
-------
Inverted dropout on the hidden layers with one mask per mini-batch, shared by every sample
of the mini-batch. For hidden layer ``l`` with drop probability ``p_l`` the mask is the
vector ``s`` with ``s_j = 1 / (1 - p_l)`` if unit ``j`` is kept and 0 if it is dropped.
During training the next layer sees ``a^l * s`` instead of ``a^l``:

    z^{l+1} = W^{l+1} (a^l * s) + b^{l+1}
    delta^l = ((W^{l+1})^T delta^{l+1}) * s * g'(z^l)
    dC_x/dW^{l+1} = delta^{l+1} (a^l * s)^T

Evaluation (``feedforward``, ``total_cost``, ``accuracy``, ``gradients``) uses the whole
network with no mask; inverted dropout needs no rescaling there since E[s_j] = 1.

The masks come from a counter-based hash (``dropout_masks``, ``splitmix64``) that the
Numba engine implements bit for bit: unit ``h`` (numbered over all hidden layers, first
hidden layer first) of mini-batch ``b`` of epoch ``e`` is kept iff
``u = (splitmix64(splitmix64(seed) ^ c) >> 11) * 2^-53 >= p`` with
``c = (e * n_batches + b) * H + h`` and ``H`` the total number of hidden units.

Evaluation cost
---------------
The total cost of a data set of ``n`` samples is
``(1/n) sum_x C_x + 0.5 (lmbda / n) sum_l ||W^l||_F^2 + (l1 / n) sum_l sum |W^l|``.
"""

import math

import numpy as np

ACTIVATIONS = frozenset({"sigmoid", "tanh", "relu", "identity", "softmax",
                         "leaky_relu", "elu", "swish", "exp"})
COSTS = frozenset({"quadratic", "cross_entropy", "log_likelihood", "poisson"})
OPTIMIZERS = frozenset({"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"})

# Activations that take a parameter, with its name and default value.
ACTIVATION_PARAMETERS = {"leaky_relu": ("alpha", 0.01), "elu": ("alpha", 1.0),
                         "swish": ("beta", 1.0)}

_HIDDEN_ACTIVATIONS = ACTIVATIONS - {"softmax", "exp"}
# Output activations each cost may be paired with.
_VALID_OUTPUTS = {
    "quadratic": ACTIVATIONS,
    "cross_entropy": frozenset({"sigmoid"}),
    "log_likelihood": frozenset({"softmax"}),
    "poisson": frozenset({"exp"}),
}

_REAL_TYPES = (int, float, np.integer, np.floating)
_INT_TYPES = (int, np.integer)


def _is_real(value):
    return isinstance(value, _REAL_TYPES) and not isinstance(value, (bool, np.bool_))


def _is_int(value):
    return isinstance(value, _INT_TYPES) and not isinstance(value, (bool, np.bool_))


# ---------------------------------------------------------------- activations

def _sigmoid(z):
    # Two branches written with e = exp(-|z|) <= 1, so nothing overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def _log_softmax(z):
    # (z_j - max) - ln(1 + sum of the other e^{z_k - max}): the maximum's own term (exactly
    # 1) goes to log1p, so the result keeps its precision when the others are tiny.
    shifted = z - np.max(z)
    e = np.exp(shifted)
    e.flat[np.argmax(z)] = 0.0
    return shifted - np.log1p(np.sum(e))


# g(z; p) for every activation; p is the activation's parameter (None if it has none).
_FORWARD = {
    "sigmoid": lambda z, p: _sigmoid(z),
    "tanh": lambda z, p: np.tanh(z),
    "relu": lambda z, p: np.maximum(z, 0.0),
    "identity": lambda z, p: np.array(z, dtype=np.float64),
    "softmax": lambda z, p: _softmax(z),
    "leaky_relu": lambda z, p: np.where(z > 0, z, p * z),
    # min(z, 0) inside the exponentials keeps the unused branch from overflowing.
    "elu": lambda z, p: np.where(z > 0, z, p * np.expm1(np.minimum(z, 0.0))),
    "swish": lambda z, p: z * _sigmoid(p * z),
    "exp": lambda z, p: np.exp(z),
}


def _swish_prime(z, beta):
    s = _sigmoid(beta * z)
    return s + beta * z * s * (1.0 - s)


# g'(z; p) for the elementwise activations, written in terms of z and a = g(z; p).
_DERIVATIVE = {
    "sigmoid": lambda z, a, p: a * (1.0 - a),
    "tanh": lambda z, a, p: 1.0 - a * a,
    "relu": lambda z, a, p: (z > 0).astype(np.float64),
    "identity": lambda z, a, p: np.ones_like(z),
    "leaky_relu": lambda z, a, p: np.where(z > 0, 1.0, p),
    "elu": lambda z, a, p: np.where(z > 0, 1.0, p * np.exp(np.minimum(z, 0.0))),
    "swish": lambda z, a, p: _swish_prime(z, p),
    "exp": lambda z, a, p: np.exp(z),
}


def _softmax_jacobian(a):
    """J[i, j] = da_i / dz_j = a_i (delta_ij - a_j), for a column ``a`` of shape (k, 1)."""
    return np.diagflat(a) - a @ a.T


# ---------------------------------------------------------------- costs

def _cost_value(cost, output_activation, z, a, y):
    """Per-sample cost C_x from the output weighted input ``z`` and activation ``a``."""
    if cost == "quadratic":
        return 0.5 * float(np.sum((a - y) ** 2))
    if cost == "cross_entropy":
        log_a = -np.logaddexp(0.0, -z)             # ln sigma(z)
        log_one_minus_a = -np.logaddexp(0.0, z)    # ln (1 - sigma(z))
        return -float(np.sum(y * log_a + (1.0 - y) * log_one_minus_a))
    if cost == "poisson":
        # half the Poisson deviance, sum_j y ln(y / a) - y + a with a = e^z, from z
        y_log_y = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)
        return float(np.sum(np.exp(z) - y * z + y_log_y - y))
    # log_likelihood
    return -float(np.sum(y * _log_softmax(z)))


def _output_delta(cost, output_activation, parameter, z, a, y):
    """dC_x/dz^L for one sample (columns of shape (n_out, 1))."""
    if cost == "quadratic":
        if output_activation == "softmax":
            return _softmax_jacobian(a).T @ (a - y)
        return (a - y) * _DERIVATIVE[output_activation](z, a, parameter)
    if cost == "log_likelihood":
        # d/dz_k of -sum_j y_j ln a_j, with d ln a_j / dz_k = [j == k] - a_k:
        # a_k sum_j y_j - y_k (the book's a - y when the targets sum to 1)
        return a * float(np.sum(y)) - y
    # cross_entropy + sigmoid, poisson + exp: the g'(z) factor cancels, a - y for any y.
    return a - y


# ---------------------------------------------------------------- validation

def _check_name(argument, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"{argument}={value!r} is not supported; expected one of {sorted(allowed)}"
        )


def _is_spec_tuple(value):
    """True for a single ``(name, parameter)`` spec, as opposed to a sequence of names."""
    return (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)
            and not isinstance(value[1], (str, tuple, list)))


def _resolve_activation(argument, spec, allowed):
    """A name or (name, parameter) -> (name, float parameter or None), validated."""
    if _is_spec_tuple(spec):
        name, parameter = spec
    else:
        name, parameter = spec, None
    _check_name(argument, name, allowed)
    if name not in ACTIVATION_PARAMETERS:
        if parameter is not None:
            raise ValueError(
                f"{argument}={spec!r}: activation {name!r} takes no parameter; "
                f"give {name!r} or ({name!r}, None)"
            )
        return name, None
    pname, default = ACTIVATION_PARAMETERS[name]
    if parameter is None:
        return name, float(default)
    need = "> 0" if name == "swish" else ">= 0"
    ok = _is_real(parameter) and np.isfinite(parameter)
    if ok:
        ok = parameter > 0 if name == "swish" else parameter >= 0
    if not ok:
        raise ValueError(
            f"{argument}={spec!r}: the {pname} of {name!r} is {parameter!r}; "
            f"expected a finite real number {need}"
        )
    return name, float(parameter)


def _check_non_negative(argument, value):
    if not _is_real(value) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{argument}={value!r} is invalid; expected a finite number >= 0")
    return float(value)


def _check_probabilities(argument, p, count):
    """A float or a list of ``count`` floats in [0, 1) -> list of ``count`` floats."""
    if _is_real(p):
        ps = [p] * count
    else:
        try:
            ps = list(p)
        except TypeError:
            raise ValueError(
                f"{argument}={p!r} is invalid; expected a float in [0, 1) or a list of "
                f"one per hidden layer ({count})"
            ) from None
        if len(ps) != count:
            raise ValueError(
                f"{argument}={p!r} has {len(ps)} entries; expected one per hidden layer "
                f"({count})"
            )
    for value in ps:
        if not _is_real(value) or not np.isfinite(value) or not 0.0 <= value < 1.0:
            raise ValueError(
                f"{argument}={p!r} is invalid: {value!r} is not a drop probability in [0, 1)"
            )
    return [float(value) for value in ps]


def _column(v, length, argument):
    col = np.array(v, dtype=np.float64, copy=True).reshape(-1, 1)
    if col.shape[0] != length:
        raise ValueError(
            f"{argument} has {col.shape[0]} entries; expected {length}"
        )
    return col


# ---------------------------------------------------------------- dropout masks

_MASK64 = (1 << 64) - 1


def splitmix64(x):
    """The splitmix64 finalizer of ``x`` (an int in [0, 2^64) or an array of them).

    Wrapping uint64 arithmetic (mod 2^64)::

        x = x + 0x9E3779B97F4A7C15;  z = x
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB
        return z ^ (z >> 31)

    Returns a np.uint64 array of the same shape (0-d for a scalar; ``int()`` it).
    splitmix64(0) == 0xE220A8397B1DCDAF.
    """
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def dropout_masks(seed, epoch, batch_index, n_batches, hidden_sizes, p):
    """The inverted-dropout multipliers ``s`` of one mini-batch, one vector per hidden layer.

    seed : int in [0, 2^63)
    epoch : int >= 0
    batch_index : int in [0, n_batches), the mini-batch's index within the epoch
    n_batches : int >= 1, ceil(len(order) / mini_batch_size) for an epoch
    hidden_sizes : list of the hidden layer sizes
    p : float, or a list with one drop probability per hidden layer, each in [0, 1)

    With ``key = splitmix64(seed)``, ``H = sum(hidden_sizes)`` and unit ``h`` numbered over
    all hidden layers (layer l's unit j is h = offset_l + j, first hidden layer first),
    the counter of unit h is ``c = (epoch * n_batches + batch_index) * H + h`` (mod 2^64),
    its uniform draw ``u = (splitmix64(key ^ c) >> 11) * 2^-53`` in [0, 1), and the unit
    is kept iff ``u >= p`` of its layer. Returns a list of float64 arrays with
    ``s_j = 1 / (1 - p)`` for a kept unit and 0 for a dropped one.
    """
    if not _is_int(seed) or not 0 <= seed < 2 ** 63:
        raise ValueError(f"seed={seed!r} is invalid; expected an int in [0, 2**63)")
    if not _is_int(epoch) or epoch < 0:
        raise ValueError(f"epoch={epoch!r} is invalid; expected an int >= 0")
    if not _is_int(n_batches) or n_batches < 1:
        raise ValueError(f"n_batches={n_batches!r} is invalid; expected an int >= 1")
    if not _is_int(batch_index) or not 0 <= batch_index < n_batches:
        raise ValueError(
            f"batch_index={batch_index!r} is invalid; expected an int in [0, {n_batches})"
        )
    sizes = list(hidden_sizes)
    for size in sizes:
        if not _is_int(size) or size < 1:
            raise ValueError(f"hidden_sizes={hidden_sizes!r}: {size!r} is not a positive int")
    ps = _check_probabilities("p", p, len(sizes))
    H = sum(int(size) for size in sizes)
    if H == 0:
        return []

    key = splitmix64(int(seed))
    base = ((int(epoch) * int(n_batches) + int(batch_index)) * H) & _MASK64
    with np.errstate(over="ignore"):
        counters = np.uint64(base) + np.arange(H, dtype=np.uint64)
    bits = splitmix64(key ^ counters)
    u = (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53

    masks, offset = [], 0
    for size, p_layer in zip(sizes, ps):
        kept = u[offset:offset + size] >= p_layer
        masks.append(np.where(kept, 1.0 / (1.0 - p_layer), 0.0))
        offset += size
    return masks


# ---------------------------------------------------------------- the regularized gradient

def regularized_gradients(weights, biases, grad_w, grad_b, n, lmbda=0.0, l1=0.0):
    """The gradient every optimizer is fed, as one list: weights' entries, then biases'.

        g_W = grad_W + (lmbda / n) W + (l1 / n) sgn(W)      (sgn(0) = 0)
        g_b = grad_b                                       (biases never regularized)

    ``grad_w``/``grad_b`` are the mini-batch means (1/m) sum_x dC_x/dW and dC_x/db; each
    g has the shape of its parameter (biases as in ``biases``, e.g. (n_out, 1) columns).
    """
    n = float(n)
    if not n > 0:
        raise ValueError(f"n={n!r} is invalid; expected the training-set size, > 0")
    lmbda = _check_non_negative("lmbda", lmbda)
    l1 = _check_non_negative("l1", l1)
    g_w = []
    for w, gw in zip(weights, grad_w):
        g = np.array(gw, dtype=np.float64).reshape(w.shape) + (lmbda / n) * w
        if l1 != 0.0:
            g = g + (l1 / n) * np.sign(w)
        g_w.append(g)
    g_b = [np.array(gb, dtype=np.float64).reshape(np.shape(b)) for b, gb in zip(biases, grad_b)]
    return g_w + g_b


# ---------------------------------------------------------------- optimizers

class ReferenceOptimizer:
    """One optimizer's rule and state, for the parameters ``weights + biases``.

    ``ReferenceOptimizer(name, **hyper)``; ``step(params, grads, eta)`` updates every array
    of the list ``params`` in place from the matching gradient ``g`` in ``grads`` (the
    regularized gradient of ``regularized_gradients``). The state (per parameter, same
    shapes) starts at 0 and is created on the first step; ``t`` counts the steps from 1.
    All rules are elementwise:

    ``"sgd"``                                      theta <- theta - eta g
    ``"momentum"`` (mu=0.9, the seeds' form)       v <- mu v - eta g;  theta <- theta + v
    ``"nesterov"`` (mu=0.9)                        v <- mu v - eta g;  theta <- theta + mu v - eta g
    ``"adagrad"`` (eps=1e-10, as PyTorch)          G <- G + g^2;
                                                   theta <- theta - eta g / (sqrt(G) + eps)
    ``"rmsprop"`` (alpha=0.99, eps=1e-8)           v <- alpha v + (1 - alpha) g^2;
                                                   theta <- theta - eta g / (sqrt(v) + eps)
    ``"adam"`` (beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=False)
        m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2;  m_hat = m / (1 - beta1^t)
        amsgrad=False:  theta <- theta - eta m_hat / (sqrt(v / (1 - beta2^t)) + eps)
        amsgrad=True:   v_max <- max(v_max, v)  (the running maximum of the *raw* v, as
                        PyTorch's implementation in torch/optim/adam.py keeps it);
                        theta <- theta - eta m_hat / (sqrt(v_max / (1 - beta2^t)) + eps)

    Correspondence with ``torch.optim`` (float64, constant eta):
    momentum/nesterov = SGD(lr=eta, momentum=mu, nesterov=...), whose buffer b <- mu b + g,
    theta <- theta - eta b (nesterov: theta <- theta - eta (g + mu b)) is the rule above with
    v = -eta b; adagrad = Adagrad(lr=eta, eps=eps) (lr_decay=0, initial accumulator 0);
    rmsprop = RMSprop(lr=eta, alpha=alpha, eps=eps) (momentum=0, centered=False);
    adam = Adam(lr=eta, betas=(beta1, beta2), eps=eps, amsgrad=amsgrad). PyTorch's
    ``weight_decay`` adds ``weight_decay * theta`` to g; the book's L2 is
    ``weight_decay = lmbda / n`` on the weights and 0 on the biases, which is what
    ``regularized_gradients`` puts in g.

    Hyperparameters: mu in [0, 1); eps finite > 0; alpha in [0, 1]; beta1, beta2 in [0, 1);
    amsgrad a bool. Unknown names or hyperparameters, or bad values, raise ValueError.
    """

    _DEFAULTS = {
        "sgd": {},
        "momentum": {"mu": 0.9},
        "nesterov": {"mu": 0.9},
        "adagrad": {"eps": 1e-10},
        "rmsprop": {"alpha": 0.99, "eps": 1e-8},
        "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "amsgrad": False},
    }
    # State arrays each rule keeps, one per parameter.
    _STATE = {
        "sgd": (),
        "momentum": ("v",),
        "nesterov": ("v",),
        "adagrad": ("G",),
        "rmsprop": ("v",),
        "adam": ("m", "v", "v_max"),
    }

    def __init__(self, name, **hyper):
        _check_name("optimizer", name, OPTIMIZERS)
        defaults = self._DEFAULTS[name]
        unknown = sorted(set(hyper) - set(defaults))
        if unknown:
            raise ValueError(
                f"optimizer {name!r} has no hyperparameter {', '.join(map(repr, unknown))}; "
                f"it takes {sorted(defaults) or 'none'}"
            )
        values = dict(defaults, **hyper)
        for key, value in values.items():
            values[key] = self._check_hyper(name, key, value)
        self.name = name
        self.hyper = values
        self.t = 0
        self.state = {}          # state name -> list of arrays shaped like params

    @staticmethod
    def _check_hyper(name, key, value):
        if key == "amsgrad":
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"optimizer {name!r}: amsgrad={value!r} is invalid; "
                                 f"expected True or False")
            return bool(value)
        ranges = {"mu": (0.0, 1.0, False), "alpha": (0.0, 1.0, True),
                  "beta1": (0.0, 1.0, False), "beta2": (0.0, 1.0, False)}
        ok = _is_real(value) and np.isfinite(value)
        if key == "eps":
            ok = ok and value > 0
            expected = "a finite number > 0"
        else:
            low, high, closed = ranges[key]
            ok = ok and low <= value and (value <= high if closed else value < high)
            expected = f"a number in [{low:g}, {high:g}{']' if closed else ')'}"
        if not ok:
            raise ValueError(f"optimizer {name!r}: {key}={value!r} is invalid; "
                             f"expected {expected}")
        return float(value)

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"ReferenceOptimizer({self.name!r}{', ' if hyper else ''}{hyper})"

    def step(self, params, grads, eta):
        """Update each float64 array in ``params`` in place with its gradient in ``grads``."""
        if not _is_real(eta) or not np.isfinite(eta):
            raise ValueError(f"eta={eta!r} is invalid; expected a finite number")
        eta = float(eta)
        if len(params) != len(grads):
            raise ValueError(f"params has {len(params)} arrays but grads has {len(grads)}")
        grads = [np.asarray(g, dtype=np.float64) for g in grads]
        for i, (p, g) in enumerate(zip(params, grads)):
            if not isinstance(p, np.ndarray) or p.dtype != np.float64:
                raise ValueError(f"params[{i}] must be a float64 NumPy array (updated in place)")
            if g.shape != p.shape:
                raise ValueError(f"grads[{i}] has shape {g.shape}; expected {p.shape}")
        if not self.state:
            self.state = {key: [np.zeros_like(p) for p in params]
                          for key in self._STATE[self.name]}
        for key, arrays in self.state.items():
            if [a.shape for a in arrays] != [p.shape for p in params]:
                raise ValueError(
                    f"params shapes {[p.shape for p in params]} differ from the shapes "
                    f"this optimizer's state was created for {[a.shape for a in arrays]}"
                )
        self.t += 1
        t = self.t
        h = self.hyper
        for i, (theta, g) in enumerate(zip(params, grads)):
            if self.name == "sgd":
                theta -= eta * g
            elif self.name == "momentum":
                v = self.state["v"][i]
                v[...] = h["mu"] * v - eta * g
                theta += v
            elif self.name == "nesterov":
                v = self.state["v"][i]
                v[...] = h["mu"] * v - eta * g
                theta += h["mu"] * v - eta * g
            elif self.name == "adagrad":
                G = self.state["G"][i]
                G += g * g
                theta -= eta * g / (np.sqrt(G) + h["eps"])
            elif self.name == "rmsprop":
                v = self.state["v"][i]
                v[...] = h["alpha"] * v + (1.0 - h["alpha"]) * g * g
                theta -= eta * g / (np.sqrt(v) + h["eps"])
            else:  # adam
                m, v, v_max = self.state["m"][i], self.state["v"][i], self.state["v_max"][i]
                m[...] = h["beta1"] * m + (1.0 - h["beta1"]) * g
                v[...] = h["beta2"] * v + (1.0 - h["beta2"]) * g * g
                m_hat = m / (1.0 - h["beta1"] ** t)
                if h["amsgrad"]:
                    np.maximum(v_max, v, out=v_max)
                    second = v_max
                else:
                    second = v
                theta -= eta * m_hat / (np.sqrt(second / (1.0 - h["beta2"] ** t)) + h["eps"])


# ---------------------------------------------------------------- network

class ReferenceNetwork:
    """Fully connected network evaluated one sample at a time (float64, column vectors).

    Parameters
    ----------
    weights : list of arrays, shape (n_out, n_in) per layer
    biases : list of arrays, shape (n_out,) or (n_out, 1) per layer
    hidden_activation : activation spec or list of specs
        One spec for every hidden layer, or one per hidden layer. A spec is a name or a
        ``(name, parameter)`` tuple (see the module docstring, "Activation specs").
    output_activation : activation spec
    cost : str
        ``quadratic`` (any output activation), ``cross_entropy`` (sigmoid output) or
        ``log_likelihood`` (softmax output).

    Weights and biases are copied; biases are stored as (n_out, 1) columns.

    Attributes: ``weights``, ``biases``, ``sizes``; ``activations`` (one resolved
    ``(name, parameter)`` tuple per layer, output last, parameter None for activations
    without one); ``hidden_activation`` (the hidden layers' names); ``output_activation``
    (the output name); ``cost``.
    """

    def __init__(self, weights, biases, hidden_activation="sigmoid",
                 output_activation="sigmoid", cost="cross_entropy"):
        self.weights = [np.array(w, dtype=np.float64) for w in weights]
        if not self.weights:
            raise ValueError("weights is empty; expected at least one layer")
        for i, w in enumerate(self.weights):
            if w.ndim != 2:
                raise ValueError(f"weights[{i}] has shape {w.shape}; expected (n_out, n_in)")
            if i > 0 and w.shape[1] != self.weights[i - 1].shape[0]:
                raise ValueError(
                    f"weights[{i}] has shape {w.shape}; expected {w.shape[0]} x "
                    f"{self.weights[i - 1].shape[0]} to follow weights[{i - 1}]"
                )
        if len(biases) != len(self.weights):
            raise ValueError(
                f"biases has {len(biases)} layers; expected {len(self.weights)} like weights"
            )
        self.biases = [_column(b, w.shape[0], f"biases[{i}]")
                       for i, (b, w) in enumerate(zip(biases, self.weights))]
        self.sizes = [self.weights[0].shape[1]] + [w.shape[0] for w in self.weights]

        n_hidden = len(self.weights) - 1
        if isinstance(hidden_activation, str) or _is_spec_tuple(hidden_activation):
            hidden = [hidden_activation] * n_hidden
        else:
            hidden = list(hidden_activation)
            if len(hidden) != n_hidden:
                raise ValueError(
                    f"hidden_activation={hidden_activation!r} has {len(hidden)} names; "
                    f"expected one per hidden layer ({n_hidden})"
                )
        hidden = [_resolve_activation("hidden_activation", spec, _HIDDEN_ACTIVATIONS)
                  for spec in hidden]
        output = _resolve_activation("output_activation", output_activation, ACTIVATIONS)
        _check_name("cost", cost, COSTS)
        if output[0] not in _VALID_OUTPUTS[cost]:
            raise ValueError(
                f"cost={cost!r} cannot be used with output_activation="
                f"{output[0]!r}; it needs output_activation in "
                f"{sorted(_VALID_OUTPUTS[cost])}"
            )
        self.activations = hidden + [output]
        self.hidden_activation = [name for name, _ in hidden]
        self.output_activation = output[0]
        self.cost = cost

    def __repr__(self):
        return (f"ReferenceNetwork(sizes={self.sizes}, activations={self.activations}, "
                f"cost={self.cost!r})")

    # -------------------------------------------------------- forward

    def _forward(self, x, masks=None):
        """Return (zs, activations): z^1..z^L and a^0 = x, a^1..a^L, as columns.

        With ``masks`` (one column s per hidden layer) the hidden entries of
        ``activations`` are the masked a^l * s that the next layer sees.
        """
        a = _column(x, self.sizes[0], "x")
        zs, activations = [], [a]
        for l, (w, b, (name, p)) in enumerate(zip(self.weights, self.biases,
                                                  self.activations)):
            z = w @ a + b
            a = _FORWARD[name](z, p)
            if masks is not None and l < len(self.weights) - 1:
                a = a * masks[l]
            zs.append(z)
            activations.append(a)
        return zs, activations

    def feedforward(self, x):
        """Output activation a^L, shape (n_out, 1), for one input x of shape (n_in, 1)."""
        return self._forward(x)[1][-1]

    # -------------------------------------------------------- backward

    def backprop(self, x, y, masks=None):
        """Gradient of the per-sample cost C_x: (nabla_b, nabla_w), shaped like biases/weights.

        ``masks``: optional list of dropout multipliers s, one per hidden layer (see
        ``dropout_masks``); the gradient is then that of the masked network.
        """
        y = _column(y, self.sizes[-1], "y")
        masks = self._check_masks(masks)
        zs, activations = self._forward(x, masks)
        n_layers = len(self.weights)
        nabla_b = [None] * n_layers
        nabla_w = [None] * n_layers

        name, p = self.activations[-1]
        delta = _output_delta(self.cost, name, p, zs[-1], activations[-1], y)
        nabla_b[-1] = delta
        nabla_w[-1] = delta @ activations[-2].T
        for l in range(n_layers - 2, -1, -1):
            name, p = self.activations[l]
            unmasked_a = _FORWARD[name](zs[l], p)
            g_prime = _DERIVATIVE[name](zs[l], unmasked_a, p)
            back = self.weights[l + 1].T @ delta
            if masks is not None:
                back = back * masks[l]
            delta = back * g_prime
            nabla_b[l] = delta
            nabla_w[l] = delta @ activations[l].T
        return nabla_b, nabla_w

    def gradients(self, X, Y, masks=None):
        """Mean gradient over the rows of X (n, n_in) and Y (n, n_out).

        Returns (grad_w, grad_b): lists of (n_out, n_in) and (n_out,) arrays. Unregularized;
        ``masks`` as in ``backprop`` (one mask for all rows).
        """
        X, Y = self._rows(X, Y)
        masks = self._check_masks(masks)
        sum_b, sum_w = self._summed_gradients(X, Y, masks)
        n = len(X)
        return [s / n for s in sum_w], [s.ravel() / n for s in sum_b]

    def _summed_gradients(self, X, Y, masks):
        sum_b = [np.zeros_like(b) for b in self.biases]
        sum_w = [np.zeros_like(w) for w in self.weights]
        for x, y in zip(X, Y):
            nabla_b, nabla_w = self.backprop(x, y, masks)
            sum_b = [s + nb for s, nb in zip(sum_b, nabla_b)]
            sum_w = [s + nw for s, nw in zip(sum_w, nabla_w)]
        return sum_b, sum_w

    # -------------------------------------------------------- training

    def update_mini_batch(self, X, Y, eta, lmbda, n, l1=0.0, optimizer=None, dropout=None,
                          masks=None, clip_norm=None):
        """One step on the mini-batch X (m, n_in), Y (m, n_out) of a training set of n.

        optimizer=None: the book's rule,
            W <- (1 - eta*lmbda/n) W - (eta*l1/n) sgn(W) - (eta/m) sum_x nabla_w;
            b <- b - (eta/m) sum_x nabla_b.
        optimizer=ReferenceOptimizer(...): ``optimizer.step(weights + biases, g, eta)`` with
            g from ``regularized_gradients`` (the optimizer keeps its state between calls).
        masks: list of dropout multipliers s, one per hidden layer, applied to every sample
            of the mini-batch. dropout (float or per-hidden-layer list of p) only checks
            that each s_j is 0 or 1/(1 - p); a dropout with some p > 0 needs ``masks``
            (``train_epoch`` generates them with ``dropout_masks``).
        clip_norm: if the mean gradient (1/m) sum_x nabla, all layers' weights and biases
            taken as one vector, has a Euclidean norm above clip_norm, it is scaled down to
            norm clip_norm before the rule above (regularization terms are not clipped).
        """
        X, Y = self._rows(X, Y)
        lmbda = _check_non_negative("lmbda", lmbda)
        l1 = _check_non_negative("l1", l1)
        if clip_norm is not None and not (_is_real(clip_norm) and math.isfinite(clip_norm)
                                          and clip_norm > 0):
            raise ValueError(f"clip_norm={clip_norm!r} is invalid; expected None or a "
                             f"positive finite number")
        if optimizer is not None and not isinstance(optimizer, ReferenceOptimizer):
            raise ValueError(
                f"optimizer={optimizer!r} is invalid; expected None or a ReferenceOptimizer "
                f"(it keeps its state between mini-batches), e.g. ReferenceOptimizer('adam')"
            )
        masks = self._masks_for_update(dropout, masks)
        m = len(X)
        sum_b, sum_w = self._summed_gradients(X, Y, masks)
        if clip_norm is not None:
            norm = math.sqrt(math.fsum(float(np.sum((s / m) ** 2)) for s in sum_w + sum_b))
            if norm > clip_norm:
                sum_w = [s * (clip_norm / norm) for s in sum_w]
                sum_b = [s * (clip_norm / norm) for s in sum_b]
        if optimizer is None:
            decay = 1.0 - eta * lmbda / n
            if l1 == 0.0:
                self.weights = [decay * w - (eta / m) * s for w, s in zip(self.weights, sum_w)]
            else:
                self.weights = [decay * w - (eta * l1 / n) * np.sign(w) - (eta / m) * s
                                for w, s in zip(self.weights, sum_w)]
            self.biases = [b - (eta / m) * s for b, s in zip(self.biases, sum_b)]
        else:
            grads = regularized_gradients(self.weights, self.biases,
                                          [s / m for s in sum_w], [s / m for s in sum_b],
                                          n, lmbda, l1)
            optimizer.step(self.weights + self.biases, grads, eta)

    def train_epoch(self, X, Y, order, mini_batch_size, eta, lmbda=0.0, l1=0.0,
                    optimizer=None, dropout=None, seed=0, epoch=0, clip_norm=None):
        """One epoch over the samples in ``order``, in mini-batches of ``mini_batch_size``.

        Mini-batch b is X[order[b*size:(b + 1)*size]]; the last one may be shorter and
        uses its own size as m. The regularization uses n = len(order). With ``dropout``
        (a float or one p per hidden layer) mini-batch b gets the masks
        ``dropout_masks(seed, epoch, b, n_batches, hidden sizes, dropout)`` with
        n_batches = ceil(len(order) / mini_batch_size). ``optimizer``: see
        ``update_mini_batch``; pass the same ReferenceOptimizer to every epoch.
        """
        X, Y = self._rows(X, Y)
        order = np.asarray(order, dtype=np.int64)
        if not _is_int(mini_batch_size) or mini_batch_size < 1:
            raise ValueError(f"mini_batch_size={mini_batch_size!r} is invalid; "
                             f"expected a positive int")
        n = len(order)
        n_batches = -(-n // mini_batch_size)
        hidden_sizes = self.sizes[1:-1]
        if dropout is not None:
            dropout = _check_probabilities("dropout", dropout, len(hidden_sizes))
        for b, k in enumerate(range(0, n, mini_batch_size)):
            batch = order[k:k + mini_batch_size]
            masks = None
            if dropout is not None:
                masks = dropout_masks(seed, epoch, b, n_batches, hidden_sizes, dropout)
            self.update_mini_batch(X[batch], Y[batch], eta, lmbda, n, l1=l1,
                                   optimizer=optimizer, dropout=dropout, masks=masks,
                                   clip_norm=clip_norm)

    # -------------------------------------------------------- evaluation

    def total_cost(self, X, Y, lmbda=0.0, l1=0.0):
        """Mean per-sample cost over the rows of X, Y plus the regularization terms.

        (1/n) sum_x C_x + 0.5*(lmbda/n)*sum ||W||_F^2 + (l1/n)*sum |W|; no dropout mask.
        """
        X, Y = self._rows(X, Y)
        n = len(X)
        cost = 0.0
        for x, y in zip(X, Y):
            zs, activations = self._forward(x)
            y = _column(y, self.sizes[-1], "y")
            cost += _cost_value(self.cost, self.output_activation, zs[-1], activations[-1], y)
        cost /= n
        cost += 0.5 * (lmbda / n) * sum(float(np.sum(w * w)) for w in self.weights)
        if l1:
            cost += (l1 / n) * sum(float(np.sum(np.abs(w))) for w in self.weights)
        return cost

    def accuracy(self, X, labels):
        """Number of rows of X whose argmax output equals the integer label."""
        X = np.asarray(X, dtype=np.float64)
        return sum(int(np.argmax(self.feedforward(x)) == int(label))
                   for x, label in zip(X, labels))

    # -------------------------------------------------------- helpers

    def _check_masks(self, masks):
        """None, or a list of one finite non-negative column per hidden layer."""
        if masks is None:
            return None
        hidden_sizes = self.sizes[1:-1]
        masks = list(masks)
        if len(masks) != len(hidden_sizes):
            raise ValueError(f"masks has {len(masks)} vectors; expected one per hidden "
                             f"layer ({len(hidden_sizes)})")
        columns = [_column(s, size, f"masks[{l}]")
                   for l, (s, size) in enumerate(zip(masks, hidden_sizes))]
        for l, s in enumerate(columns):
            if not np.all(np.isfinite(s)) or np.any(s < 0):
                raise ValueError(f"masks[{l}] has entries that are negative or not finite")
        return columns

    def _masks_for_update(self, dropout, masks):
        hidden_sizes = self.sizes[1:-1]
        ps = None
        if dropout is not None:
            ps = _check_probabilities("dropout", dropout, len(hidden_sizes))
        masks = self._check_masks(masks)
        if masks is None:
            if ps is not None and any(p > 0 for p in ps):
                raise ValueError(
                    f"dropout={dropout!r} needs masks= in update_mini_batch (one vector s "
                    f"per hidden layer, see dropout_masks); train_epoch generates them"
                )
            return None
        if ps is not None:
            for l, (s, p) in enumerate(zip(masks, ps)):
                if not np.all((s == 0.0) | (s == 1.0 / (1.0 - p))):
                    raise ValueError(f"masks[{l}] has entries other than 0 and 1/(1 - p) "
                                     f"for dropout p = {p!r}")
        return masks

    def _rows(self, X, Y):
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"X has shape {X.shape}; expected (n, {self.sizes[0]})")
        if Y.ndim != 2 or Y.shape != (X.shape[0], self.sizes[-1]):
            raise ValueError(
                f"Y has shape {Y.shape}; expected ({X.shape[0]}, {self.sizes[-1]})"
            )
        return X, Y
