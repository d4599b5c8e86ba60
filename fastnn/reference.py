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

Activations ``g`` and the derivatives used by backprop::

    sigmoid   1 / (1 + e^{-z})               g' = a (1 - a)
    tanh      tanh(z)                        g' = 1 - a^2
    relu      max(z, 0)                      g' = 1 if z > 0 else 0   (0 at z = 0)
    identity  z                              g' = 1
    softmax   e^{z_j} / sum_k e^{z_k}        Jacobian J = diag(a) - a a^T (output layer only)

Per-sample costs ``C_x`` (``y`` is the target column)::

    quadratic        0.5 * ||a - y||^2                          (any output activation)
    cross_entropy    -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]  (sigmoid output only)
    log_likelihood   -sum_j y_j ln a_j                          (softmax output only)

The logarithms are evaluated from ``z`` rather than from ``a`` so that the values stay
finite for saturated units: ln sigma(z) = -logaddexp(0, -z), ln(1 - sigma(z)) =
-logaddexp(0, z), ln softmax(z)_j = z_j - max(z) - ln sum_k e^{z_k - max(z)}.

Backprop for one sample: the output error ``delta^L = dC_x/dz^L`` is

    quadratic, elementwise g   (a - y) * g'(z^L)
    quadratic, softmax         J^T (a - y)
    cross_entropy + sigmoid    a - y
    log_likelihood + softmax   a - y

and for the hidden layers ``delta^l = (W^{l+1})^T delta^{l+1} * g'(z^l)``. The gradients
are ``dC_x/db^l = delta^l`` and ``dC_x/dW^l = delta^l (a^{l-1})^T``.

Training follows the book's mini-batch SGD with L2 weight decay (biases are not decayed);
for a mini-batch of ``m`` samples out of a training set of ``n``::

    W <- (1 - eta * lmbda / n) W - (eta / m) sum_x dC_x/dW
    b <- b - (eta / m) sum_x dC_x/db

The total cost of a data set of ``n`` samples is
``(1/n) sum_x C_x + 0.5 (lmbda / n) sum_l ||W^l||_F^2``.
"""

import numpy as np

ACTIVATIONS = frozenset({"sigmoid", "tanh", "relu", "identity", "softmax"})
COSTS = frozenset({"quadratic", "cross_entropy", "log_likelihood"})

_HIDDEN_ACTIVATIONS = ACTIVATIONS - {"softmax"}
# Output activations each cost may be paired with.
_VALID_OUTPUTS = {
    "quadratic": ACTIVATIONS,
    "cross_entropy": frozenset({"sigmoid"}),
    "log_likelihood": frozenset({"softmax"}),
}


# ---------------------------------------------------------------- activations

def _sigmoid(z):
    # Two branches written with e = exp(-|z|) <= 1, so nothing overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softmax(z):
    e = np.exp(z - np.max(z))
    return e / np.sum(e)


def _log_softmax(z):
    shifted = z - np.max(z)
    return shifted - np.log(np.sum(np.exp(shifted)))


_FORWARD = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "identity": lambda z: np.array(z, dtype=np.float64),
    "softmax": _softmax,
}

# g'(z) for the elementwise activations, written in terms of z and a = g(z).
_DERIVATIVE = {
    "sigmoid": lambda z, a: a * (1.0 - a),
    "tanh": lambda z, a: 1.0 - a * a,
    "relu": lambda z, a: (z > 0).astype(np.float64),
    "identity": lambda z, a: np.ones_like(z),
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
    # log_likelihood
    return -float(np.sum(y * _log_softmax(z)))


def _output_delta(cost, output_activation, z, a, y):
    """dC_x/dz^L for one sample (columns of shape (n_out, 1))."""
    if cost == "quadratic":
        if output_activation == "softmax":
            return _softmax_jacobian(a).T @ (a - y)
        return (a - y) * _DERIVATIVE[output_activation](z, a)
    # cross_entropy + sigmoid and log_likelihood + softmax both reduce to a - y.
    return a - y


# ---------------------------------------------------------------- validation

def _check_name(argument, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"{argument}={value!r} is not supported; expected one of {sorted(allowed)}"
        )


def _column(v, length, argument):
    col = np.array(v, dtype=np.float64, copy=True).reshape(-1, 1)
    if col.shape[0] != length:
        raise ValueError(
            f"{argument} has {col.shape[0]} entries; expected {length}"
        )
    return col


# ---------------------------------------------------------------- network

class ReferenceNetwork:
    """Fully connected network evaluated one sample at a time (float64, column vectors).

    Parameters
    ----------
    weights : list of arrays, shape (n_out, n_in) per layer
    biases : list of arrays, shape (n_out,) or (n_out, 1) per layer
    hidden_activation : str or list of str
        One name for every hidden layer, or one name per hidden layer.
    output_activation : str
    cost : str
        ``quadratic`` (any output activation), ``cross_entropy`` (sigmoid output) or
        ``log_likelihood`` (softmax output).

    Weights and biases are copied; biases are stored as (n_out, 1) columns.
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
        if isinstance(hidden_activation, str):
            hidden = [hidden_activation] * n_hidden
        else:
            hidden = list(hidden_activation)
            if len(hidden) != n_hidden:
                raise ValueError(
                    f"hidden_activation={hidden_activation!r} has {len(hidden)} names; "
                    f"expected one per hidden layer ({n_hidden})"
                )
        for name in hidden:
            _check_name("hidden_activation", name, _HIDDEN_ACTIVATIONS)
        _check_name("output_activation", output_activation, ACTIVATIONS)
        _check_name("cost", cost, COSTS)
        if output_activation not in _VALID_OUTPUTS[cost]:
            raise ValueError(
                f"cost={cost!r} cannot be used with output_activation="
                f"{output_activation!r}; it needs output_activation in "
                f"{sorted(_VALID_OUTPUTS[cost])}"
            )
        self.activations = hidden + [output_activation]
        self.hidden_activation = hidden
        self.output_activation = output_activation
        self.cost = cost

    def __repr__(self):
        return (f"ReferenceNetwork(sizes={self.sizes}, hidden_activation="
                f"{self.hidden_activation}, output_activation={self.output_activation!r}, "
                f"cost={self.cost!r})")

    # -------------------------------------------------------- forward

    def _forward(self, x):
        """Return (zs, activations): z^1..z^L and a^0 = x, a^1..a^L, as columns."""
        a = _column(x, self.sizes[0], "x")
        zs, activations = [], [a]
        for w, b, name in zip(self.weights, self.biases, self.activations):
            z = w @ a + b
            a = _FORWARD[name](z)
            zs.append(z)
            activations.append(a)
        return zs, activations

    def feedforward(self, x):
        """Output activation a^L, shape (n_out, 1), for one input x of shape (n_in, 1)."""
        return self._forward(x)[1][-1]

    # -------------------------------------------------------- backward

    def backprop(self, x, y):
        """Gradient of the per-sample cost C_x: (nabla_b, nabla_w), shaped like biases/weights."""
        y = _column(y, self.sizes[-1], "y")
        zs, activations = self._forward(x)
        n_layers = len(self.weights)
        nabla_b = [None] * n_layers
        nabla_w = [None] * n_layers

        delta = _output_delta(self.cost, self.output_activation, zs[-1], activations[-1], y)
        nabla_b[-1] = delta
        nabla_w[-1] = delta @ activations[-2].T
        for l in range(n_layers - 2, -1, -1):
            g_prime = _DERIVATIVE[self.activations[l]](zs[l], activations[l + 1])
            delta = (self.weights[l + 1].T @ delta) * g_prime
            nabla_b[l] = delta
            nabla_w[l] = delta @ activations[l].T
        return nabla_b, nabla_w

    def gradients(self, X, Y):
        """Mean gradient over the rows of X (n, n_in) and Y (n, n_out).

        Returns (grad_w, grad_b): lists of (n_out, n_in) and (n_out,) arrays.
        """
        X, Y = self._rows(X, Y)
        sum_b = [np.zeros_like(b) for b in self.biases]
        sum_w = [np.zeros_like(w) for w in self.weights]
        for x, y in zip(X, Y):
            nabla_b, nabla_w = self.backprop(x, y)
            sum_b = [s + nb for s, nb in zip(sum_b, nabla_b)]
            sum_w = [s + nw for s, nw in zip(sum_w, nabla_w)]
        n = len(X)
        return [s / n for s in sum_w], [s.ravel() / n for s in sum_b]

    # -------------------------------------------------------- training

    def update_mini_batch(self, X, Y, eta, lmbda, n):
        """One step of the book's rule on the mini-batch X (m, n_in), Y (m, n_out).

        W <- (1 - eta*lmbda/n) W - (eta/m) sum_x nabla_w;  b <- b - (eta/m) sum_x nabla_b.
        """
        X, Y = self._rows(X, Y)
        m = len(X)
        sum_b = [np.zeros_like(b) for b in self.biases]
        sum_w = [np.zeros_like(w) for w in self.weights]
        for x, y in zip(X, Y):
            nabla_b, nabla_w = self.backprop(x, y)
            sum_b = [s + nb for s, nb in zip(sum_b, nabla_b)]
            sum_w = [s + nw for s, nw in zip(sum_w, nabla_w)]
        decay = 1.0 - eta * lmbda / n
        self.weights = [decay * w - (eta / m) * s for w, s in zip(self.weights, sum_w)]
        self.biases = [b - (eta / m) * s for b, s in zip(self.biases, sum_b)]

    def train_epoch(self, X, Y, order, mini_batch_size, eta, lmbda=0.0):
        """One epoch over the samples in ``order``, in mini-batches of ``mini_batch_size``.

        Mini-batch k is X[order[k:k + mini_batch_size]]; the last one may be shorter and
        uses its own size as m. The decay uses n = len(order).
        """
        X, Y = self._rows(X, Y)
        order = np.asarray(order, dtype=np.int64)
        n = len(order)
        for k in range(0, n, mini_batch_size):
            batch = order[k:k + mini_batch_size]
            self.update_mini_batch(X[batch], Y[batch], eta, lmbda, n)

    # -------------------------------------------------------- evaluation

    def total_cost(self, X, Y, lmbda=0.0):
        """Mean per-sample cost over the rows of X, Y plus 0.5*(lmbda/n)*sum ||W||_F^2."""
        X, Y = self._rows(X, Y)
        n = len(X)
        cost = 0.0
        for x, y in zip(X, Y):
            zs, activations = self._forward(x)
            y = _column(y, self.sizes[-1], "y")
            cost += _cost_value(self.cost, self.output_activation, zs[-1], activations[-1], y)
        cost /= n
        cost += 0.5 * (lmbda / n) * sum(float(np.sum(w * w)) for w in self.weights)
        return cost

    def accuracy(self, X, labels):
        """Number of rows of X whose argmax output equals the integer label."""
        X = np.asarray(X, dtype=np.float64)
        return sum(int(np.argmax(self.feedforward(x)) == int(label))
                   for x, label in zip(X, labels))

    # -------------------------------------------------------- helpers

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
