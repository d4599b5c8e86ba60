"""atheris harness for the model loaders: ``python fuzz/fuzz_model.py -runs=100000``.

The first byte of each input chooses the loader: even, ``fastnn.load`` (fastnn's
checksummed ``.npz`` format); odd, ``fastnn.network2.load`` (the book's JSON format).
A correct answer is a network consistent with its sizes, or ``ModelFileError`` (a
``ValueError``) naming the file. See ``_harness.py``.
"""
import os

import _harness
import numpy as np

with _harness.instrumented_imports():
    import fastnn
    from fastnn import ModelFileError, network2

FNN = _harness.InputFile(".fnn")
JSON = _harness.InputFile(".json")


def test_one_input(data):
    book = bool(data[:1]) and data[0] % 2 == 1
    path = (JSON if book else FNN).write(data[1:])
    try:
        net = network2.load(path) if book else fastnn.load(path)
    except ModelFileError as exc:
        _harness.check_message(path, exc)
        return
    sizes = list(net.sizes)
    shapes = [w.shape for w in net.weights]
    assert shapes == [(b, a) for a, b in zip(sizes[:-1], sizes[1:])], (sizes, shapes)
    if book:
        assert [b.shape for b in net.biases] == [(b, 1) for b in sizes[1:]]
        assert net.cost in network2.COSTS.values()


def seeds():
    folder = FNN.folder
    net = fastnn.Network([3, 2, 2], ["tanh"], "softmax", "log_likelihood", seed=1)
    for dtype in ("float32", "float64"):
        path = os.path.join(folder, f"seed-{dtype}.fnn")
        fastnn.Network([3, 2, 2], dtype=dtype, seed=2).save(path)
        with open(path, "rb") as f:
            yield b"\x00" + f.read()
    path = os.path.join(folder, "seed.fnn")
    net.save(path)
    with open(path, "rb") as f:
        yield b"\x00" + f.read()
    np.random.seed(3)
    for cost in (network2.QuadraticCost, network2.CrossEntropyCost):
        path = os.path.join(folder, "seed.json")
        network2.Network([3, 2, 2], cost=cost).save(path)
        with open(path, "rb") as f:
            yield b"\x01" + f.read()


if __name__ == "__main__":
    _harness.main("model", test_one_input, seeds)
