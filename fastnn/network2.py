"""Drop-in replacement for the book's ``network2.py`` (Nielsen, chapter 3), on fastnn's engine.

A script written for the book's module (in its Python 3 form) runs unchanged after
``from fastnn import network2``: same classes, methods, arguments, return types, printed
lines and JSON files, with the same randomness (``np.random`` for the initial weights in
the book's order, Python's ``random.shuffle`` for the order of every epoch). Training,
``accuracy`` and ``total_cost`` run on the compiled engine in float64.

What differs, on purpose:

* ``SGD`` copies ``training_data`` into a list first (as the Python 3 form does), so the
  caller's list is not shuffled in place;
* bad arguments get a clear ``ValueError`` before training (the book would crash midway
  or train on garbage), and a run that diverges to NaN stops with
  ``fastnn.TrainingDiverged``, keeping the last good weights;
* ``load`` looks the cost class up in a fixed table, never by attribute lookup, and
  ``save`` writes atomically.

A cost class other than the two below (a user's own) still works through a slow NumPy
path that calls its ``fn`` and ``delta``, exactly like the book.
"""
import json
import random
import warnings

import numpy as np

from . import _checks
from ._io import ModelFileError, atomic_write
from .network import Network as _EngineNetwork


# -- the costs --------------------------------------------------------------------------
class QuadraticCost(object):
    """C = ½‖a − y‖² for a sigmoid output."""

    @staticmethod
    def fn(a, y):
        """The cost of output ``a`` for desired output ``y``."""
        return 0.5 * np.linalg.norm(a - y) ** 2

    @staticmethod
    def delta(z, a, y):
        """The output-layer error δ = (a − y) σ'(z)."""
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost(object):
    """C = −Σ [y ln a + (1 − y) ln(1 − a)] for a sigmoid output."""

    @staticmethod
    def fn(a, y):
        """The cost of output ``a`` for desired output ``y``; ``nan_to_num`` turns the
        0·log 0 of a saturated output into 0, as in the book."""
        return np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a)))

    @staticmethod
    def delta(z, a, y):
        """The output-layer error δ = a − y (``z`` is unused; kept for a uniform interface)."""
        return (a - y)


#: cost classes a model file may name (never looked up by attribute on a module)
COSTS = {"QuadraticCost": QuadraticCost, "CrossEntropyCost": CrossEntropyCost}
_ENGINE_COSTS = {QuadraticCost: "quadratic", CrossEntropyCost: "cross_entropy"}


# -- the network ------------------------------------------------------------------------
class Network(object):
    """The book's network: sigmoid layers of the given ``sizes``, trained by ``SGD``.

    Attributes are the book's: ``num_layers``, ``sizes``, ``weights`` (list of
    ``(n_out, n_in)`` arrays), ``biases`` (list of ``(n_out, 1)`` arrays), ``cost``.
    """

    def __init__(self, sizes, cost=CrossEntropyCost):
        _checks.check_sizes(sizes)
        self.num_layers = len(sizes)
        self.sizes = sizes
        self.default_weight_initializer()
        self.cost = cost

    def __repr__(self):
        cost = getattr(self.cost, "__name__", self.cost)
        return f"network2.Network({list(self.sizes)!r}, cost={cost})"

    def default_weight_initializer(self):
        """Weights N(0, 1/n_in) and biases N(0, 1), drawn from ``np.random`` in the book's order."""
        self.biases = [np.random.randn(y, 1) for y in self.sizes[1:]]
        self.weights = [np.random.randn(y, x) / np.sqrt(x)
                        for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    def large_weight_initializer(self):
        """Weights and biases N(0, 1), drawn from ``np.random`` in the book's order."""
        self.biases = [np.random.randn(y, 1) for y in self.sizes[1:]]
        self.weights = [np.random.randn(y, x)
                        for x, y in zip(self.sizes[:-1], self.sizes[1:])]

    def feedforward(self, a):
        """The network's output for input ``a`` (a column ``(n_in, 1)``)."""
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    # -- the engine behind it -------------------------------------------------------------
    def _engine_network(self):
        """A float64 fastnn.Network of this shape holding the current weights and biases."""
        cost = _ENGINE_COSTS.get(self.cost, "quadratic")
        key = (tuple(int(s) for s in self.sizes), cost)
        net = getattr(self, "_engine_net", None)
        if net is None or net[0] != key:
            net = (key, _EngineNetwork(key[0], "sigmoid", "sigmoid", cost, dtype="float64",
                                       seed=0))
            self._engine_net = net
        engine_net = net[1]
        engine_net.set_parameters(self.weights, self.biases)
        return engine_net

    def _store(self, engine_net):
        """Copy the engine's parameters back into the book's lists."""
        self.weights = [w.copy() for w in engine_net.weights]
        self.biases = [b.reshape(-1, 1).copy() for b in engine_net.biases]

    def _uses_engine(self):
        if self.cost in _ENGINE_COSTS:
            return True
        if not getattr(self, "_warned", False):
            warnings.warn(f"cost {getattr(self.cost, '__name__', self.cost)!r} is not one of "
                          f"network2's costs; training runs on the slow NumPy path",
                          RuntimeWarning, stacklevel=3)
            self._warned = True
        return False

    # -- training -------------------------------------------------------------------------
    def SGD(self, training_data, epochs, mini_batch_size, eta,
            lmbda=0.0,
            evaluation_data=None,
            monitor_evaluation_cost=False,
            monitor_evaluation_accuracy=False,
            monitor_training_cost=False,
            monitor_training_accuracy=False,
            early_stopping_n=0, restore_best=False, schedule=None, l1=0.0, optimizer=None,
            dropout=None, augment=None, threads=None, hogwild=False):
        """Train by mini-batch stochastic gradient descent, as in the book.

        ``training_data`` is a list of pairs ``(x, y)`` (``x`` a column, ``y`` a one-hot
        column); ``evaluation_data`` a list of pairs ``(x, label)``. Returns the four
        per-epoch lists ``(evaluation_cost, evaluation_accuracy, training_cost,
        training_accuracy)``; a list stays empty when its flag is off.

        Extras beyond the book, all off by default (then SGD behaves exactly as the book's):
        ``early_stopping_n`` stops after that many epochs without a better evaluation
        accuracy (needs ``monitor_evaluation_accuracy``) and ``restore_best`` then keeps the
        best epoch's weights; ``schedule`` is a ``fastnn.schedules`` object (e.g.
        ``HalveOnPlateau()``, the seeds' halving of η); ``l1``, ``optimizer``, ``dropout``,
        ``augment`` and ``hogwild`` are as in ``fastnn.Network.fit`` and ``threads`` as in
        ``fastnn.Network``.
        """
        training_data = list(training_data)
        n = len(training_data)
        epochs = _checks.check_positive("epochs", epochs, integer=True)
        mini_batch_size = _checks.check_positive("mini_batch_size", mini_batch_size, integer=True)
        eta = _checks.check_positive("eta", eta)
        lmbda = _checks.check_non_negative("lmbda", lmbda)
        if n == 0:
            raise ValueError("training_data is empty; expected a list of (x, y) pairs")
        if evaluation_data:
            evaluation_data = list(evaluation_data)
            n_data = len(evaluation_data)
        elif monitor_evaluation_cost or monitor_evaluation_accuracy:
            raise ValueError(f"evaluation_data={evaluation_data!r} but monitor_evaluation_cost or "
                             f"monitor_evaluation_accuracy is set; expected a list of (x, label) "
                             f"pairs")
        evaluation_cost, evaluation_accuracy = [], []
        training_cost, training_accuracy = [], []
        early_stopping_n = 0 if not early_stopping_n else _checks.check_positive(
            "early_stopping_n", early_stopping_n, integer=True)
        watches = [name for name, on in (("early_stopping_n", early_stopping_n),
                                         ("restore_best", restore_best),
                                         ("schedule", getattr(schedule, "needs_validation", 0)))
                   if on]
        if watches and not monitor_evaluation_accuracy:
            raise ValueError(f"{watches[0]} watches the evaluation accuracy; pass "
                             f"evaluation_data and monitor_evaluation_accuracy=True")
        extras = bool(l1 or optimizer is not None or dropout is not None or augment is not None)
        if (extras or hogwild or threads is not None) and self.cost not in _ENGINE_COSTS:
            raise ValueError("l1, optimizer, dropout, augment, threads and hogwild need one of "
                             "network2's costs (QuadraticCost or CrossEntropyCost)")
        if schedule is not None:
            schedule.start(eta)
        best = (-1, None)

        engine = self._uses_engine()
        if engine:
            X, Y = _inputs(training_data, self.sizes[0]), _targets(training_data, self.sizes[-1])
            net = self._engine_network()
            net.threads = threads
            runner = net.runner(mini_batch_size, eta, lmbda, l1=l1, optimizer=optimizer,
                                dropout=dropout, hogwild=hogwild)
            if extras or hogwild:
                runner.dropout_seed = int(np.random.randint(0, 2 ** 62))
        if evaluation_data and engine:
            X_eval = _inputs(evaluation_data, self.sizes[0])
            if monitor_evaluation_accuracy:
                eval_labels = _true_labels(evaluation_data, False)
        order = list(range(n))
        for j in range(epochs):
            random.shuffle(order)  # the same permutation random.shuffle(training_data) makes
            if engine:
                X_epoch = X if augment is None else runner.augmented(augment, X, j)
                runner.run(X_epoch, Y, np.array(order, dtype=np.int64), epoch=j)
                self._store(net)
            else:
                shuffled = [training_data[i] for i in order]
                for k in range(0, n, mini_batch_size):
                    self._numpy_update_mini_batch(shuffled[k:k + mini_batch_size], eta, lmbda, n)
            print("Epoch %s training complete" % j)
            if monitor_training_cost:
                cost = (self._total_cost(X, Y, lmbda) if engine
                        else self.total_cost(training_data, lmbda))
                training_cost.append(cost)
                print("Cost on training data: {}".format(cost))
            if monitor_training_accuracy:
                accuracy = (_count_correct(net, X, Y.argmax(axis=1)) if engine
                            else self.accuracy(training_data, convert=True))
                training_accuracy.append(accuracy)
                print("Accuracy on training data: {} / {}".format(accuracy, n))
            if monitor_evaluation_cost:
                cost = self.total_cost(evaluation_data, lmbda, convert=True)
                evaluation_cost.append(cost)
                print("Cost on evaluation data: {}".format(cost))
            if monitor_evaluation_accuracy:
                if engine:
                    accuracy = _count_correct(net, X_eval, eval_labels)
                else:
                    accuracy = self.accuracy(evaluation_data)
                evaluation_accuracy.append(accuracy)
                print("Accuracy on evaluation data: {} / {}".format(accuracy, n_data))
                if accuracy > best[0]:
                    kept = ([w.copy() for w in self.weights],
                            [b.copy() for b in self.biases]) if restore_best else None
                    best = (accuracy, j, kept)
            print()
            if early_stopping_n and j - best[1] >= early_stopping_n:
                print("Early stopping: no better accuracy in the last {} epochs".format(
                    early_stopping_n))
                break
            if schedule is not None:
                eta = schedule.after_epoch(j, {"evaluation_accuracy": evaluation_accuracy})
                if eta is None:
                    print("Schedule: the learning rate fell to its minimum; training stopped")
                    break
        if restore_best and best[2] is not None:
            self.weights, self.biases = best[2]
        return evaluation_cost, evaluation_accuracy, training_cost, training_accuracy

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """One gradient step on ``mini_batch`` (a list of (x, y) pairs) with L2 decay 1 − ηλ/n."""
        mini_batch = list(mini_batch)
        if not mini_batch:
            raise ValueError("mini_batch is empty; expected a list of (x, y) pairs")
        if not self._uses_engine():
            return self._numpy_update_mini_batch(mini_batch, eta, lmbda, n)
        net = self._engine_network()
        m = len(mini_batch)
        net.runner(m, float(eta), float(lmbda)).steps(
            _inputs(mini_batch, self.sizes[0]), _targets(mini_batch, self.sizes[-1]),
            np.arange(m, dtype=np.int64), epoch=0, n=n)
        self._store(net)

    def backprop(self, x, y):
        """``(nabla_b, nabla_w)``: the gradient of the cost C_x of one sample, layer by layer."""
        if not self._uses_engine():
            return self._numpy_backprop(x, y)
        net = self._engine_network()
        X = np.ascontiguousarray(np.reshape(x, (1, -1)), dtype=np.float64)
        Y = np.ascontiguousarray(np.reshape(y, (1, -1)), dtype=np.float64)
        grad_w, grad_b = net.gradients(X, Y)
        nabla_w = grad_w
        nabla_b = [b.reshape(-1, 1) for b in grad_b]
        return (nabla_b, nabla_w)

    # -- the NumPy path for a user's own cost class -----------------------------------------
    def _numpy_backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (self.cost).delta(zs[-1], activations[-1], y)
        nabla_b[-1] = delta
        nabla_w[-1] = np.dot(delta, activations[-2].transpose())
        for l in range(2, self.num_layers):
            delta = np.dot(self.weights[-l + 1].transpose(), delta) * sigmoid_prime(zs[-l])
            nabla_b[-l] = delta
            nabla_w[-l] = np.dot(delta, activations[-l - 1].transpose())
        return (nabla_b, nabla_w)

    def _numpy_update_mini_batch(self, mini_batch, eta, lmbda, n):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self._numpy_backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
        self.weights = [(1 - eta * (lmbda / n)) * w - (eta / len(mini_batch)) * nw
                        for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / len(mini_batch)) * nb
                       for b, nb in zip(self.biases, nabla_b)]

    # -- evaluation -----------------------------------------------------------------------
    def accuracy(self, data, convert=False):
        """How many inputs in ``data`` the network classifies correctly (an int).

        ``convert=False`` for validation/test data (labels are ints), ``True`` for
        training data (labels are one-hot columns), as in the book.
        """
        data = list(data)
        if not data:
            return 0
        return _count_correct(self._engine_network(), _inputs(data, self.sizes[0]),
                              _true_labels(data, convert))

    def total_cost(self, data, lmbda, convert=False):
        """Mean cost over ``data`` plus ½(λ/len(data))Σ‖w‖², as in the book.

        ``convert=True`` turns int labels into one-hot columns (validation/test data).
        """
        data = list(data)
        if not data:
            raise ValueError("data is empty; expected a list of (x, y) pairs")
        n_out = self.sizes[-1]
        if convert:
            Y = np.zeros((len(data), n_out))
            Y[np.arange(len(data)), [int(y) for _, y in data]] = 1.0
        else:
            Y = np.array([np.broadcast_to(np.reshape(np.asarray(y, dtype=np.float64), -1), n_out)
                          for _, y in data])
        if self._uses_engine():
            return self._total_cost(_inputs(data, self.sizes[0]), Y, lmbda)
        cost = 0.0
        for (x, _), y in zip(data, Y):
            cost += self.cost.fn(self.feedforward(x), y.reshape(-1, 1)) / len(data)
        cost += 0.5 * (lmbda / len(data)) * sum(np.linalg.norm(w) ** 2 for w in self.weights)
        return cost

    def _total_cost(self, X, Y, lmbda):
        """total_cost on arrays, with the outputs computed by the engine in one pass."""
        net = self._engine_network()
        A = net.feedforward(X)
        if self.cost is CrossEntropyCost:
            with np.errstate(divide="ignore", invalid="ignore"):
                per_sample = np.sum(np.nan_to_num(-Y * np.log(A) - (1 - Y) * np.log(1 - A)), axis=1)
        else:
            per_sample = 0.5 * np.sum((A - Y) ** 2, axis=1)
        n = X.shape[0]
        cost = np.sum(per_sample / n)
        cost += 0.5 * (lmbda / n) * sum(np.linalg.norm(w) ** 2 for w in self.weights)
        return cost

    # -- files ------------------------------------------------------------------------------
    def save(self, filename):
        """Write the network to ``filename`` in the book's JSON format (atomically)."""
        data = {"sizes": [int(s) for s in self.sizes],
                "weights": [w.tolist() for w in self.weights],
                "biases": [b.tolist() for b in self.biases],
                "cost": str(self.cost.__name__)}
        atomic_write(filename, lambda f: f.write(json.dumps(data).encode("utf-8")))


def load(filename):
    """Load a network saved by ``save`` (or by the book's network2.py).

    The cost is looked up by name in :data:`COSTS`, never by attribute lookup, and every
    weight and bias array is read and its shape checked against ``sizes`` before the
    network is built, so a file claiming huge layers is refused without allocating them.

    Raises
    ------
    ModelFileError
        (a ``ValueError``) if the file is missing, unreadable, not JSON, or not a network2
        file: missing keys, an unknown cost, invalid sizes, or weights and biases that are
        not arrays of numbers of the shapes ``sizes`` implies. The message names the file.
    """
    try:
        with open(filename, "rb") as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        raise ModelFileError(f"model file {filename!r} does not exist") from None
    except OSError as exc:
        raise ModelFileError(f"{filename!r}: cannot read model file: "
                             f"{exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors, so is an integer
        # of more than 4,300 digits; RecursionError: arrays nested too deeply
        raise ModelFileError(f"{filename!r} is not a network2 JSON file (truncated or "
                             f"corrupt?): {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict) or not {"sizes", "weights", "biases", "cost"} <= set(data):
        raise ModelFileError(f"{filename!r} lacks the keys sizes, weights, biases and cost of a "
                             f"network2 file")
    cost = COSTS.get(data["cost"]) if isinstance(data["cost"], str) else None
    if cost is None:
        raise ModelFileError(f"{filename!r} names cost {data['cost']!r:.80}; expected one of "
                             f"{', '.join(COSTS)}")
    try:
        sizes = _checks.check_sizes(data["sizes"])
    except ValueError as exc:
        raise ModelFileError(f"{filename!r}: {str(exc):.300}") from None
    weights = _load_arrays(filename, data["weights"], "weights")
    biases = _load_arrays(filename, data["biases"], "biases")
    expected_w = [(y, x) for x, y in zip(sizes[:-1], sizes[1:])]
    if [w.shape for w in weights] != expected_w or [b.shape for b in biases] != \
            [(y, 1) for y in sizes[1:]]:
        raise ModelFileError(f"{filename!r}: weight and bias shapes do not match sizes "
                             f"{list(sizes)!r:.100}: weight shapes "
                             f"{[w.shape for w in weights]!r:.150} and bias shapes "
                             f"{[b.shape for b in biases]!r:.150}, expected "
                             f"{expected_w!r:.150} and (n, 1) biases")
    net = Network(data["sizes"], cost=cost)
    net.weights = weights
    net.biases = biases
    return net


def _load_arrays(filename, value, key):
    """The list ``value`` of a network2 file as float64 arrays; ModelFileError otherwise."""
    if not isinstance(value, list):
        raise ModelFileError(f"{filename!r}: {key} is {type(value).__name__}; expected a list "
                             f"of nested lists of numbers, one per layer")
    arrays = []
    for i, item in enumerate(value):
        try:
            arrays.append(np.array(item, dtype=np.float64))
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise ModelFileError(f"{filename!r}: {key}[{i}] is not an array of numbers: "
                                 f"{str(exc):.200}") from None
    return arrays


# -- miscellaneous functions -------------------------------------------------------------
def vectorized_result(j):
    """A (10, 1) column with 1.0 in position j: digit j as a desired output."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e


def sigmoid(z):
    """The sigmoid function."""
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    """Derivative of the sigmoid function."""
    return sigmoid(z) * (1 - sigmoid(z))


# -- conversion at the edge: the book's lists of columns to one array, once -------------
def _inputs(data, n_in):
    """The x of every (x, y) pair as rows of one C-contiguous float64 array (n, n_in)."""
    X = np.empty((len(data), n_in))
    try:
        for i, (x, _) in enumerate(data):
            X[i] = np.reshape(x, -1)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"data[{i}]: expected a pair (x, y) with x of {n_in} values "
                         f"(shape ({n_in}, 1)); {exc}") from None
    if not np.isfinite(X).all():
        row = int(np.argwhere(~np.isfinite(X))[0][0])
        raise ValueError(f"data[{row}] holds a non-finite input value; expected finite numbers")
    return X


def _targets(data, n_out):
    """The y of every training pair as rows (n, n_out): one-hot columns, or int labels."""
    Y = np.zeros((len(data), n_out))
    for i, (_, y) in enumerate(data):
        if np.ndim(y) == 0:
            label = int(y)
            if not 0 <= label < n_out:
                raise ValueError(f"training_data[{i}] has label {label}; expected 0..{n_out - 1}")
            Y[i, label] = 1.0
        else:
            if np.size(y) != n_out:
                raise ValueError(f"training_data[{i}] has a target of shape {np.shape(y)}; "
                                 f"expected ({n_out}, 1)")
            Y[i] = np.reshape(y, -1)
    return Y


def _true_labels(data, convert):
    """The label of every pair: argmax of a one-hot y (``convert``) or the int y itself."""
    if convert:
        return np.array([np.argmax(y) for _, y in data])
    if any(np.ndim(y) != 0 for _, y in data):
        raise ValueError("accuracy(data, convert=False) expects int labels as in validation "
                         "or test data; pass convert=True for training data with one-hot "
                         "targets")
    return np.array([y for _, y in data])


def _count_correct(engine_net, X, truth):
    """The book's accuracy count, with the outputs computed by the engine in one pass."""
    predicted = engine_net.predict(X)
    return int(np.sum(predicted == truth))
