"""The "NumPy matrix" benchmark baseline: one matrix product per layer per mini-batch.

Used by ``fastnn bench`` and its regression gate, and by bench/; imports only NumPy.

Samples are rows: a mini-batch is X of shape (m, n_in), so a layer computes
Z = A_prev @ W.T + b with W of shape (n_out, n_in) and b of shape (n_out,). The supported
pairs are sigmoid + cross_entropy and softmax + log_likelihood, for which the output delta
is A - Y; hidden layers are sigmoid or relu. The update is the book's rule (L2 decay on
the weights only): W <- (1 - eta*lmbda/n) W - (eta/m) dW, b <- b - (eta/m) db, with
dW = delta.T @ A_prev and db = sum of delta over the rows.
"""

import numpy as np

_PAIRS = {("sigmoid", "cross_entropy"), ("softmax", "log_likelihood")}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


_HIDDEN = {  # name -> (g, g' written in terms of a = g(z))
    "sigmoid": (_sigmoid, lambda a: a * (1 - a)),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(a.dtype)),
}


class NumpyMatrixNetwork:
    """Mini-batch-as-matrix SGD in plain NumPy; weights (n_out, n_in), biases (n_out,)."""

    def __init__(self, weights, biases, hidden_activation="sigmoid",
                 output_activation="sigmoid", cost="cross_entropy", dtype=np.float32):
        if hidden_activation not in _HIDDEN:
            raise ValueError(f"hidden_activation={hidden_activation!r}; expected one of "
                             f"{sorted(_HIDDEN)}")
        if (output_activation, cost) not in _PAIRS:
            raise ValueError(f"output_activation={output_activation!r} with cost={cost!r}; "
                             f"expected one of {sorted(_PAIRS)}")
        self.dtype = np.dtype(dtype)
        self.weights = [np.array(w, dtype=self.dtype) for w in weights]
        self.biases = [np.array(b, dtype=self.dtype).reshape(-1) for b in biases]
        self.g, self.g_prime = _HIDDEN[hidden_activation]
        self.output = _sigmoid if output_activation == "sigmoid" else _softmax

    def _forward(self, X):
        activations = [X]
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = activations[-1] @ w.T + b
            last = i == len(self.weights) - 1
            activations.append(self.output(z) if last else self.g(z))
        return activations

    def feedforward(self, X):
        """Output activations for the rows of X, shape (n, n_out)."""
        with np.errstate(over="ignore"):
            return self._forward(np.asarray(X, dtype=self.dtype))[-1]

    def train_epoch(self, X, Y, order, mini_batch_size, eta, lmbda=0.0):
        """One epoch over X[order] in mini-batches order[k:k+mini_batch_size]."""
        X = np.asarray(X, dtype=self.dtype)
        Y = np.asarray(Y, dtype=self.dtype)
        order = np.asarray(order)
        n = len(order)
        decay = self.dtype.type(1.0 - eta * lmbda / n)
        with np.errstate(over="ignore"):  # exp overflow in sigmoid saturates correctly to 0
            for k in range(0, n, mini_batch_size):
                batch = order[k:k + mini_batch_size]
                m = len(batch)
                step = self.dtype.type(eta / m)
                activations = self._forward(X[batch])
                delta = activations[-1] - Y[batch]
                for l in range(len(self.weights) - 1, -1, -1):
                    grad_w = delta.T @ activations[l]
                    grad_b = delta.sum(axis=0)
                    if l > 0:  # propagate with the weights before they are updated
                        delta = (delta @ self.weights[l]) * self.g_prime(activations[l])
                    self.weights[l] *= decay
                    self.weights[l] -= step * grad_w
                    self.biases[l] -= step * grad_b
