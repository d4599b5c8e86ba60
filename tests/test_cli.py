"""The ``fastnn train`` command, run for real as a user runs it, and the end-to-end accuracy."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn.data import DEFAULT_DATA_DIRS, load_dataset

SAMPLE = os.path.join(os.path.dirname(fastnn.__file__), "sample_data")
FULL = DEFAULT_DATA_DIRS[0]
HAVE_FULL = os.path.exists(os.path.join(FULL, "train-images-idx3-ubyte.gz"))
NEED_FULL = pytest.mark.skipif(
    not HAVE_FULL, reason=f"the full Fashion-MNIST is not in {FULL}: "
                          f"apt-get install dataset-fashion-mnist")


def run_cli(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "fastnn", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env=env)


def test_train_on_the_sample_saves_a_model_that_reproduces_the_accuracy(tmp_path):
    out = run_cli("train", "--data", SAMPLE, "--epochs", "2", "--output", "m.npz",
                  "--history", "h.json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "data: IDX files in " in out.stdout and "sample_data" in out.stdout
    assert "epoch 1/2: validation accuracy" in out.stdout
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("test accuracy ") and "s per epoch" in last
    accuracy = float(last.split()[2])
    history = json.loads((tmp_path / "h.json").read_text())
    assert len(history["evaluation_accuracy"]) == 2 and history["test_accuracy"] == accuracy
    net = fastnn.load(tmp_path / "m.npz")
    _, _, (X_test, y_test) = (lambda d: (d.train, d.validation, d.test))(load_dataset(SAMPLE))
    assert net.evaluate(X_test, y_test)["accuracy"] == pytest.approx(accuracy, abs=1e-4)


@pytest.mark.parametrize("args, message", [
    (["--eta", "0"], "--eta=0.0 is invalid"),
    (["--epochs", "-3"], "--epochs=-3 is invalid"),
    (["--mini-batch-size", "0"], "--mini-batch-size=0 is invalid"),
    (["--lmbda", "-1"], "--lmbda=-1.0 is invalid"),
    (["--sizes", "784,0,10"], "every layer size must be a positive integer"),
    (["--sizes", "100,10"], "--sizes=100,10 takes 100 inputs, but the --data images have 784"),
    (["--cost", "cross_entropy", "--output-activation", "softmax"], "cannot be paired"),
    (["--data", "/no/such/folder"], "/no/such/folder"),
    (["--dropout", "1.5"], "--dropout=1.5 is invalid"),
    (["--early-stopping", "0"], "--early-stopping=0 is invalid"),
    (["--l1", "-2"], "--l1=-2.0 is invalid"),
    (["--clip-norm", "0"], "--clip-norm=0.0 is invalid"),
    (["--checkpoint-batches", "0"], "--checkpoint-batches=0 is invalid"),
    (["--checkpoint-batches", "5"], "--checkpoint-batches needs --checkpoint"),
    (["--threads", "0"], "--threads=0 is invalid"),
    (["--threads", "100000"], "more than the"),
    (["--hogwild", "--optimizer", "adam"], "hogwild=True runs the book's plain SGD"),
])
def test_bad_arguments_fail_with_one_clear_line(tmp_path, args, message):
    out = run_cli("train", "--data", SAMPLE, "--epochs", "1", *args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "fastnn-model.npz").exists()


def test_corrupt_data_file_is_reported(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in os.listdir(SAMPLE):
        if name.endswith(".gz"):
            (folder / name).write_bytes((open(os.path.join(SAMPLE, name), "rb").read()))
    images = folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:1000])  # truncated
    out = run_cli("train", "--data", str(folder), "--epochs", "1", cwd=tmp_path)
    assert out.returncode == 2 and "train-images-idx3-ubyte.gz" in out.stderr, out.stderr


def test_help_documents_every_option(tmp_path):
    out = run_cli("train", "--help", cwd=tmp_path)
    assert out.returncode == 0
    for option in ("--sizes", "--epochs", "--mini-batch-size", "--eta", "--lmbda", "--cost",
                   "--dtype", "--data", "--output"):
        assert option in out.stdout


@pytest.mark.slow
@NEED_FULL
@pytest.mark.parametrize("seed", [0, 1])
def test_one_epoch_of_the_books_network_on_full_fashion_mnist(seed):
    """[784, 30, 10], eta 0.5, lambda 5, mini-batch 10, the book's initializer: one epoch
    lands between about 0.79 and 0.83 test accuracy across seeds; 0.78 is the floor."""
    data = load_dataset(FULL)
    (X, y), _, (X_test, y_test) = data.train, data.validation, data.test
    assert X.shape == (50000, 784) and X_test.shape == (10000, 784)
    net = fastnn.Network([784, 30, 10], dtype="float32", seed=seed)
    net.fit(X, y, epochs=1, mini_batch_size=10, eta=0.5, lmbda=5.0)
    accuracy = net.evaluate(X_test, y_test)["accuracy"]
    assert accuracy >= 0.78, f"seed {seed}: test accuracy {accuracy:.4f} after one epoch"
    assert np.isfinite(net.params).all()


def test_train_with_the_chapter_3_techniques(tmp_path):
    out = run_cli("train", "--data", SAMPLE, "--epochs", "30", "--optimizer", "adam", "--eta",
                  "0.002", "--dropout", "0.2", "--l1", "0.5", "--hidden-activation", "swish",
                  "--initializer", "glorot", "--augment", "--halve-eta", "1",
                  "--early-stopping", "2", "--clip-norm", "5", "--output", "m.npz",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "stopped after epoch" in out.stdout
    net = fastnn.load(tmp_path / "m.npz")
    assert net.activations[0] == ("swish", 1.0) and net.initializers == ("glorot", "glorot")
    assert float(out.stdout.strip().splitlines()[-1].split()[2]) > 0.6


def test_every_output_activation_the_api_accepts_is_accepted(tmp_path):
    """The CLI lists the API's activations and costs (it used to list fewer outputs)."""
    from fastnn.cli import main
    for output in ("leaky_relu", "elu", "swish"):
        assert main(["train", "--data", SAMPLE, "--sizes", "784,8,10", "--epochs", "1",
                     "--cost", "quadratic", "--output-activation", output, "--quiet",
                     "--output", str(tmp_path / f"{output}.npz")]) == 0
        assert fastnn.load(tmp_path / f"{output}.npz").activations[-1][0] == output


def test_train_with_hogwild_on_two_threads(tmp_path):
    out = run_cli("train", "--data", SAMPLE, "--epochs", "3", "--threads", "2", "--hogwild",
                  "--eta", "0.1", "--output", "m.npz", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip().splitlines()[-1].split()[2]) > 0.6


@NEED_FULL
def test_train_on_full_fashion_mnist_peaks_under_the_memory_bound(tmp_path):
    """`fastnn train` peaks under 1.5 × (the float32 data set) + 200 MB resident: no
    per-sample Python objects, no float64 copies of the data set."""
    wrapper = ("import resource, subprocess, sys; "
               "r = subprocess.run([sys.executable, '-m', 'fastnn', 'train', '--epochs', '1', "
               "'--quiet', '--output', 'm.npz']); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
               "sys.exit(r.returncode)")
    out = subprocess.run([sys.executable, "-c", wrapper], cwd=tmp_path, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    peak_mb = int(out.stdout.strip().splitlines()[-1]) / 1024  # ru_maxrss is in KiB on Linux
    dataset_mb = 70000 * 784 * 4 / 2 ** 20
    assert peak_mb < 1.5 * dataset_mb + 200, f"peak {peak_mb:.0f} MB"
