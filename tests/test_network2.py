"""The network2 drop-in gives the book's results: checked against the naive reference
driven exactly as the book's SGD drives it (np.random for the initial weights in the
book's order, random.shuffle of the training list every epoch, the book's monitors)."""
import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest

from fastnn import ModelFileError, mnist_loader, network2
from fastnn.reference import ReferenceNetwork

SAMPLE = os.path.join(os.path.dirname(network2.__file__), "sample_data")


@pytest.fixture(scope="module")
def data():
    """A real data subset: the Fashion-MNIST sample shipped with fastnn, in the book's lists."""
    training, validation, test = mnist_loader.load_data_wrapper(SAMPLE)
    return training[:600], validation[:200], test[:200]


def book_sgd_on_reference(sizes, training_data, epochs, mini_batch_size, eta, lmbda,
                          evaluation_data, cost, large=False):
    """The book's SGD loop, step for step, with the oracle doing the arithmetic."""
    biases = [np.random.randn(y, 1) for y in sizes[1:]]
    weights = [np.random.randn(y, x) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]
    if large:  # Network() draws the default weights first, then large_weight_initializer()
        biases = [np.random.randn(y, 1) for y in sizes[1:]]
        weights = [np.random.randn(y, x) for x, y in zip(sizes[:-1], sizes[1:])]
    ref = ReferenceNetwork(weights, biases, "sigmoid", "sigmoid", cost)
    training_data = list(training_data)
    n = len(training_data)
    X_eval = np.array([x.ravel() for x, _ in evaluation_data])
    labels_eval = np.array([y for _, y in evaluation_data])
    Y_eval = np.eye(sizes[-1])[labels_eval]
    lists = ([], [], [], [])
    for _ in range(epochs):
        random.shuffle(training_data)
        for k in range(0, n, mini_batch_size):
            batch = training_data[k:k + mini_batch_size]
            ref.update_mini_batch(np.array([x.ravel() for x, _ in batch]),
                                  np.array([y.ravel() for _, y in batch]), eta, lmbda, n)
        X = np.array([x.ravel() for x, _ in training_data])
        Y = np.array([y.ravel() for _, y in training_data])
        lists[0].append(ref.total_cost(X_eval, Y_eval, lmbda))
        lists[1].append(ref.accuracy(X_eval, labels_eval))
        lists[2].append(ref.total_cost(X, Y, lmbda))
        lists[3].append(ref.accuracy(X, Y.argmax(axis=1)))
    return lists, ref


@pytest.mark.parametrize("cost, large", [(network2.CrossEntropyCost, False),
                                         (network2.QuadraticCost, True)])
def test_sgd_matches_the_book_driven_reference(data, cost, large, capsys):
    training, validation, _ = data
    cost_name = "cross_entropy" if cost is network2.CrossEntropyCost else "quadratic"
    np.random.seed(7)
    random.seed(11)
    expected, ref = book_sgd_on_reference([784, 20, 10], training, 3, 10, 0.5, 2.0, validation,
                                          cost_name, large)
    np.random.seed(7)
    random.seed(11)
    net = network2.Network([784, 20, 10], cost=cost)
    if large:
        net.large_weight_initializer()
    got = net.SGD(training, 3, 10, 0.5, lmbda=2.0, evaluation_data=validation,
                  monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
                  monitor_training_cost=True, monitor_training_accuracy=True)
    capsys.readouterr()
    assert [len(l) for l in got] == [3, 3, 3, 3]
    assert got[1] == expected[1] and got[3] == expected[3], (got, expected)
    assert all(isinstance(a, int) for a in got[1] + got[3])
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-9, err_msg="evaluation cost")
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-9, err_msg="training cost")
    for l, (w, b) in enumerate(zip(net.weights, net.biases)):
        assert w.shape == ref.weights[l].shape and b.shape == ref.biases[l].shape
        np.testing.assert_allclose(w, ref.weights[l], rtol=1e-9, atol=1e-12,
                                   err_msg=f"weights[{l}] drop-in vs reference")
        np.testing.assert_allclose(b, ref.biases[l], rtol=1e-9, atol=1e-12,
                                   err_msg=f"biases[{l}] drop-in vs reference")


def test_printed_lines_and_return_structure(data, capsys):
    training, validation, _ = data
    np.random.seed(0)
    random.seed(0)
    net = network2.Network([784, 10, 10])
    result = net.SGD(training[:50], 2, 10, 0.5, evaluation_data=validation[:30],
                     monitor_evaluation_accuracy=True, monitor_training_cost=True)
    lines = capsys.readouterr().out.split("\n")
    assert lines[0] == "Epoch 0 training complete"
    assert lines[1].startswith("Cost on training data: ")
    float(lines[1].split(": ")[1])
    assert lines[2] == f"Accuracy on evaluation data: {result[1][0]} / 30"
    assert lines[3] == ""
    assert lines[4] == "Epoch 1 training complete"
    assert result[0] == [] and result[3] == [] and len(result[2]) == 2


def test_the_caller_list_is_not_shuffled_and_shuffling_follows_random(data, capsys):
    training = data[0][:40]
    before = [id(p) for p in training]
    np.random.seed(1)
    random.seed(5)
    a = network2.Network([784, 5, 10])
    a.SGD(training, 1, 10, 0.5)
    assert [id(p) for p in training] == before
    np.random.seed(1)
    random.seed(6)  # another shuffle order gives other weights
    b = network2.Network([784, 5, 10])
    b.SGD(training, 1, 10, 0.5)
    capsys.readouterr()
    assert not np.allclose(a.weights[0], b.weights[0])


def test_initializers_draw_the_books_numbers():
    np.random.seed(3)
    net = network2.Network([4, 3, 2])
    np.random.seed(3)
    b0 = np.random.randn(3, 1)
    b1 = np.random.randn(2, 1)
    w0 = np.random.randn(3, 4) / np.sqrt(4)
    w1 = np.random.randn(2, 3) / np.sqrt(3)
    for got, want in zip(net.biases + net.weights, [b0, b1, w0, w1]):
        np.testing.assert_array_equal(got, want)
    np.random.seed(3)
    net.large_weight_initializer()
    np.random.seed(3)
    np.random.randn(3, 1), np.random.randn(2, 1)
    np.testing.assert_array_equal(net.weights[0], np.random.randn(3, 4))
    assert net.num_layers == 3 and net.sizes == [4, 3, 2] and net.cost is network2.CrossEntropyCost


def test_backprop_update_accuracy_and_total_cost_match_reference(data):
    training, validation, _ = data
    np.random.seed(2)
    net = network2.Network([784, 8, 10], cost=network2.QuadraticCost)
    ref = ReferenceNetwork(net.weights, net.biases, "sigmoid", "sigmoid", "quadratic")
    x, y = training[0]
    nb, nw = net.backprop(x, y)
    rb, rw = ref.backprop(x.astype(np.float64), y)
    for got, want in zip(nb + nw, rb + rw):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-14)
    X_val = np.array([x.ravel() for x, _ in validation])
    labels = np.array([y for _, y in validation])
    assert net.accuracy(validation) == ref.accuracy(X_val, labels)
    np.testing.assert_allclose(net.total_cost(validation, 3.0, convert=True),
                               ref.total_cost(X_val, np.eye(10)[labels], 3.0), rtol=1e-9)
    # the book's quirk: the λ term is scaled by the size of the data passed
    c0 = net.total_cost(validation[:50], 0.0, convert=True)
    c1 = net.total_cost(validation[:50], 1.0, convert=True)
    w2 = sum(np.linalg.norm(w) ** 2 for w in net.weights)
    np.testing.assert_allclose(c1 - c0, 0.5 * (1.0 / 50) * w2, rtol=1e-9)
    batch = training[:7]
    net.update_mini_batch(batch, 0.3, 4.0, 600)
    ref.update_mini_batch(np.array([x.ravel() for x, _ in batch]),
                          np.array([y.ravel() for _, y in batch]), 0.3, 4.0, 600)
    for got, want in zip(net.weights + net.biases, ref.weights + ref.biases):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-14)


def test_cost_classes_and_helpers():
    a = np.array([[0.2], [0.9]])
    y = np.array([[0.0], [1.0]])
    assert network2.QuadraticCost.fn(a, y) == pytest.approx(0.5 * (0.04 + 0.01))
    assert network2.CrossEntropyCost.fn(a, y) == pytest.approx(-np.log(0.8) - np.log(0.9))
    # saturated output equal to the target: nan_to_num turns 0*log(0) into 0, as in the book
    assert network2.CrossEntropyCost.fn(np.array([[1.0]]), np.array([[1.0]])) == 0.0
    z = np.array([[0.3], [-1.2]])
    np.testing.assert_allclose(network2.CrossEntropyCost.delta(z, a, y), a - y)
    np.testing.assert_allclose(network2.QuadraticCost.delta(z, a, y),
                               (a - y) * network2.sigmoid(z) * (1 - network2.sigmoid(z)))
    e = network2.vectorized_result(4)
    assert e.shape == (10, 1) and e[4, 0] == 1.0 and e.sum() == 1.0
    assert network2.sigmoid(0.0) == 0.5 and network2.sigmoid_prime(0.0) == 0.25


def test_json_files_both_ways(tmp_path):
    np.random.seed(4)
    net = network2.Network([6, 4, 3], cost=network2.QuadraticCost)
    path = tmp_path / "net.json"
    net.save(str(path))
    raw = json.loads(path.read_text())
    assert set(raw) == {"sizes", "weights", "biases", "cost"}
    assert raw["sizes"] == [6, 4, 3] and raw["cost"] == "QuadraticCost"
    assert np.array(raw["weights"][0]).shape == (4, 6)
    assert np.array(raw["biases"][1]).shape == (3, 1)
    loaded = network2.load(str(path))
    assert loaded.cost is network2.QuadraticCost
    for got, want in zip(loaded.weights + loaded.biases, net.weights + net.biases):
        np.testing.assert_array_equal(got, want)
    # a file as the book's save writes it (json.dump of lists) loads too
    book = {"sizes": [2, 2], "weights": [[[1.0, 2.0], [3.0, 4.0]]], "biases": [[[0.5], [-0.5]]],
            "cost": "CrossEntropyCost"}
    (tmp_path / "book.json").write_text(json.dumps(book))
    b = network2.load(str(tmp_path / "book.json"))
    np.testing.assert_array_equal(b.weights[0], [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(b.feedforward(np.array([[1.0], [0.0]])),
                               network2.sigmoid(np.array([[1.5], [2.5]])))


def test_load_refuses_bad_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"sizes": [2, 2], "weights": [[[1.0')
    with pytest.raises(ModelFileError, match="bad.json"):
        network2.load(str(bad))
    bad.write_text(json.dumps({"sizes": [2, 2], "weights": [[[1, 2], [3, 4]]],
                               "biases": [[[0], [0]]], "cost": "__import__"}))
    with pytest.raises(ModelFileError, match="__import__"):
        network2.load(str(bad))
    bad.write_text(json.dumps({"sizes": [2, 2], "weights": [[[1, 2, 3]]], "biases": [[[0], [0]]],
                               "cost": "QuadraticCost"}))
    with pytest.raises(ModelFileError, match="do not match sizes"):
        network2.load(str(bad))
    with pytest.raises(ModelFileError, match="does not exist"):
        network2.load(str(tmp_path / "missing.json"))


def test_bad_arguments_are_refused_before_training(data):
    training, validation, _ = data
    net = network2.Network([784, 5, 10])
    with pytest.raises(ValueError, match="eta=0"):
        net.SGD(training[:20], 1, 10, 0)
    with pytest.raises(ValueError, match="mini_batch_size=0"):
        net.SGD(training[:20], 1, 0, 0.5)
    with pytest.raises(ValueError, match="training_data is empty"):
        net.SGD([], 1, 10, 0.5)
    with pytest.raises(ValueError, match="evaluation_data=None"):
        net.SGD(training[:20], 1, 10, 0.5, monitor_evaluation_accuracy=True)
    with pytest.raises(ValueError, match=r"training_data\[1\] has label 12"):
        net.SGD([training[0], (training[1][0], 12)], 1, 10, 0.5)
    with pytest.raises(ValueError, match="sizes"):
        network2.Network([784])


def test_a_users_own_cost_class_runs_on_the_numpy_path(data, capsys):
    class HalfQuadratic(network2.QuadraticCost):
        pass

    training = data[0][:30]
    np.random.seed(9)
    random.seed(9)
    mine = network2.Network([784, 6, 10], cost=HalfQuadratic)
    with pytest.warns(RuntimeWarning, match="slow NumPy path"):
        mine.SGD(training, 1, 10, 0.5, lmbda=1.0)
    np.random.seed(9)
    random.seed(9)
    engine = network2.Network([784, 6, 10], cost=network2.QuadraticCost)
    engine.SGD(training, 1, 10, 0.5, lmbda=1.0)
    capsys.readouterr()
    for got, want in zip(mine.weights, engine.weights):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_a_book_script_runs_unchanged(tmp_path):
    """The book's chapter-3 script with only the import changed, in a fresh interpreter."""
    script = (
        "from fastnn import mnist_loader\n"
        "from fastnn import network2\n"
        f"training_data, validation_data, test_data = mnist_loader.load_data_wrapper({SAMPLE!r})\n"
        "net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)\n"
        "net.large_weight_initializer()\n"
        "net.SGD(training_data[:1000], 2, 10, 0.5, evaluation_data=test_data[:100],\n"
        "        monitor_evaluation_accuracy=True, monitor_training_cost=True)\n"
        "net.save('net.json')\n"
        "print(network2.load('net.json').accuracy(test_data[:100]))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Epoch 0 training complete"
    assert lines[2].startswith("Accuracy on evaluation data: ") and lines[2].endswith(" / 100")
    assert 0 <= int(lines[-1]) <= 100
    assert int(lines[-1]) == int(lines[6].split(": ")[1].split(" / ")[0])
