"""``fastnn train --plot/--monitor-training``, its progress bar, and the ``evaluate``,
``predict`` and ``plot`` subcommands, run in-process through ``fastnn.cli.main`` on real
files (a model trained on the shipped sample) and checked against the array API."""
import contextlib
import gzip
import io
import json
import os
import sys

import numpy as np
import pytest
from test_cli import SAMPLE, run_cli

import fastnn
from fastnn import cli, network2
from fastnn.data import load_dataset, read_idx
from fastnn.plot import learning_curves, plot_history

matplotlib_image = pytest.importorskip("matplotlib.image", reason='pip install "fastnn[plot]"')

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEST_IMAGES = os.path.join(SAMPLE, "t10k-images-idx3-ubyte.gz")
EPOCHS = 3
# tab:blue draws the training curves, tab:orange the evaluation (validation) ones
BLUE, ORANGE = (31, 119, 180), (255, 127, 14)


def main(*argv):
    """``fastnn.cli.main(argv)`` with stdout and stderr captured: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main([str(a) for a in argv])
    return status, out.getvalue(), err.getvalue()


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal, as stderr is in an interactive shell."""

    def isatty(self):
        return True


@pytest.fixture(scope="module")
def data():
    return load_dataset(SAMPLE)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A [784, 16, 10] model trained for 3 epochs with every artefact written."""
    folder = tmp_path_factory.mktemp("trained")
    paths = {k: folder / name for k, name in
             (("model", "m.npz"), ("history", "h.json"), ("png", "curves.png"))}
    status, out, err = main("train", "--data", SAMPLE, "--sizes", "784,16,10", "--epochs",
                            EPOCHS, "--monitor-training", "--output", paths["model"],
                            "--history", paths["history"], "--plot", paths["png"])
    assert status == 0, err
    return dict(paths, folder=folder, stdout=out, stderr=err,
                net=fastnn.load(paths["model"]),
                record=json.loads(paths["history"].read_text()))


def png_pixels(path):
    """The PNG's pixels as uint8 RGB, after checking it is a PNG at all."""
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = matplotlib_image.imread(path)
    return (image[..., :3] * 255).round().astype(np.uint8)


def has_colour(pixels, rgb, at_least=200):
    return int(np.all(np.abs(pixels.astype(int) - rgb) <= 2, axis=-1).sum()) >= at_least


# -- train: history, --monitor-training, --plot -------------------------------------------

def test_train_records_and_plots_the_learning_curves(trained):
    history = trained["record"]
    for key in ("training_cost", "training_accuracy", "evaluation_cost",
                "evaluation_accuracy", "seconds", "eta"):
        assert len(history[key]) == EPOCHS, key
    assert history["epoch"] == list(range(EPOCHS))
    assert history["evaluation_data"] == "validation" and history["sizes"] == [784, 16, 10]
    assert all(0 < a <= 1 for a in history["training_accuracy"])
    lines = trained["stdout"].strip().splitlines()
    assert f"epoch {EPOCHS}/{EPOCHS}: validation accuracy " in trained["stdout"]
    assert ", training accuracy " in lines[2 + EPOCHS - 1]
    assert lines[-3:-1] == [f"history written to {trained['history']}",
                            f"learning curves written to {trained['png']}"]
    assert lines[-1].startswith("test accuracy ")
    assert float(lines[-1].split()[2]) == pytest.approx(history["test_accuracy"], abs=5e-5)

    pixels = png_pixels(trained["png"])
    assert pixels.shape == (420, 1100, 3)                      # 11 x 4.2 inches at 100 dpi
    assert (pixels.min(axis=-1) < 250).mean() > 0.02           # not blank
    assert has_colour(pixels, BLUE) and has_colour(pixels, ORANGE)  # both data sets drawn


def test_plot_redraws_a_saved_history(trained, tmp_path):
    status, out, err = main("plot", trained["history"], "-o", tmp_path / "again.png")
    assert status == 0, err
    assert out == f"learning curves written to {tmp_path / 'again.png'}\n"
    assert png_pixels(tmp_path / "again.png").shape == (420, 1100, 3)
    # without -o: next to the history, .json -> .png
    history = tmp_path / "run.json"
    history.write_text(trained["history"].read_text())
    assert main("plot", history)[0] == 0
    assert (tmp_path / "run.png").read_bytes()[:8] == PNG_MAGIC


def test_plot_draws_only_the_curves_the_history_has(trained, tmp_path):
    record = {k: v for k, v in trained["record"].items() if not k.startswith("training_")}
    (tmp_path / "h.json").write_text(json.dumps(record))
    assert main("plot", tmp_path / "h.json", "-o", tmp_path / "v.png")[0] == 0
    pixels = png_pixels(tmp_path / "v.png")
    assert has_colour(pixels, ORANGE) and not has_colour(pixels, BLUE, at_least=1)
    record = {"training_accuracy": [0.5, 0.75, 0.8]}            # one panel: accuracy only
    (tmp_path / "t.json").write_text(json.dumps(record))
    assert main("plot", tmp_path / "t.json", "-o", tmp_path / "t.png")[0] == 0
    pixels = png_pixels(tmp_path / "t.png")
    assert pixels.shape == (420, 550, 3) and not has_colour(pixels, ORANGE, at_least=1)


def test_plot_history_reads_fit_histories_json_and_network2_lists(data, tmp_path):
    (X, y), validation = data.train, data.validation
    net = fastnn.Network([784, 8, 10], seed=1)
    fit = net.fit(X[:300], y[:300], epochs=2, evaluation_data=(validation[0][:100],
                                                                validation[1][:100]))
    curves = learning_curves(fit)
    assert curves["epochs"] == [1, 2] and curves["accuracy_unit"] == "fraction"
    assert curves["curves"] == {("evaluation", "cost"): fit["evaluation_cost"],
                                ("evaluation", "accuracy"): fit["evaluation_accuracy"]}
    assert curves["best_epoch"] == fit["best_epoch"] + 1
    assert plot_history(fit, tmp_path / "fit.png") == os.fspath(tmp_path / "fit.png")
    assert png_pixels(tmp_path / "fit.png").shape == (420, 1100, 3)

    # network2.Network.SGD's (evaluation_cost, evaluation_accuracy, training_cost,
    # training_accuracy), accuracies as counts, unmonitored lists empty
    training = [(x.reshape(784, 1), network2.vectorized_result(label))
                for x, label in zip(X[:300], y[:300])]
    evaluation = [(x.reshape(784, 1), int(label))
                  for x, label in zip(validation[0][:100], validation[1][:100])]
    book = network2.Network([784, 8, 10]).SGD(
        training, 2, 10, 0.5, evaluation_data=evaluation, monitor_evaluation_accuracy=True,
        monitor_training_cost=True)
    assert book[0] == [] and book[3] == [] and all(isinstance(a, int) for a in book[1])
    curves = learning_curves(book)
    assert curves["accuracy_unit"] == "count" and curves["epochs"] == [1, 2]
    assert curves["curves"] == {("evaluation", "accuracy"): [float(a) for a in book[1]],
                                ("training", "cost"): [float(c) for c in book[2]]}
    plot_history(book, tmp_path / "book.png", title="network2")
    pixels = png_pixels(tmp_path / "book.png")
    assert has_colour(pixels, BLUE) and has_colour(pixels, ORANGE)


@pytest.mark.parametrize("content, message", [
    ("{}", "history is empty"),
    ('{"epoch": [], "evaluation_accuracy": []}', "holds no epochs"),
    ('{"epoch": [0], "seconds": [1.0]}', "no per-epoch cost or accuracy"),
    ("[1, 2]", "holds a JSON list, expected an object"),
    ("not json", "not a JSON history"),
    ('{"evaluation_cost": [1.0, "a"]}', "expected a list of numbers"),
    ('{"evaluation_cost": [1.0, 2.0], "training_cost": [1.0]}', "differ in length"),
    ('{"evaluation_cost": [1.0, 2.0], "epoch": [0]}', "expected 2 epoch numbers"),
])
def test_plot_refuses_a_bad_history(tmp_path, content, message):
    (tmp_path / "h.json").write_text(content)
    status, out, err = main("plot", tmp_path / "h.json")
    assert status == 2 and out == ""
    assert err.startswith(f"fastnn: error: {tmp_path / 'h.json'}: ") and message in err, err
    assert not (tmp_path / "h.png").exists()


def test_plot_refuses_a_missing_file_and_a_non_png_name(trained, tmp_path):
    status, _, err = main("plot", tmp_path / "none.json")
    assert status == 2 and "none.json: cannot read the history: No such file" in err
    status, _, err = main("plot", trained["history"], "-o", tmp_path / "c.jpg")
    assert status == 2 and "expected a file name ending in .png" in err
    status, _, err = main("plot", trained["history"], "-o", tmp_path / "no" / "c.png")
    assert status == 2 and "does not exist" in err
    with pytest.raises(ValueError, match="not a learning history"):
        plot_history(42, tmp_path / "x.png")


def test_without_matplotlib_plotting_says_how_to_install(trained, tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    status, _, err = main("plot", trained["history"], "-o", tmp_path / "c.png")
    assert status == 2 and 'pip install "fastnn[plot]"' in err, err
    assert not (tmp_path / "c.png").exists()
    # train refuses before training, not after it
    status, out, err = main("train", "--data", SAMPLE, "--epochs", "1", "--plot",
                            tmp_path / "c.png", "--output", tmp_path / "m.npz")
    assert status == 2 and 'pip install "fastnn[plot]"' in err and out == ""
    assert not (tmp_path / "m.npz").exists()


# -- train: --quiet and the progress bar --------------------------------------------------

TINY = ("train", "--data", SAMPLE, "--sizes", "784,8,10", "--epochs", str(EPOCHS))


def test_quiet_prints_only_the_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())  # not even on a terminal
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main([*TINY, "--quiet", "--output", str(tmp_path / "m.npz"),
                           "--plot", str(tmp_path / "c.png")])
    assert status == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("test accuracy ")
    assert sys.stderr.getvalue() == ""
    assert (tmp_path / "c.png").exists()


def test_progress_bar_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cli.main([*TINY, "--output", str(tmp_path / "m.npz")])
    assert status == 0
    bar = sys.stderr.getvalue()
    n = 2000 * EPOCHS  # the sample's 2,000 training images, every epoch
    assert "training: 100%" in bar and f"{n / 1000:.2f}k/{n / 1000:.2f}k samples" in bar, bar
    assert f"epoch {EPOCHS}/{EPOCHS}, " in bar and " samples/s, validation accuracy 0." in bar
    # the per-epoch lines stay on stdout, whole, and the summary is last
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines[2:2 + EPOCHS]] == \
        [f"epoch {e}/{EPOCHS}" for e in range(1, EPOCHS + 1)]
    assert lines[-1].startswith("test accuracy ")


def test_no_progress_bar_when_stderr_is_not_a_terminal(tmp_path):
    status, out, err = main(*TINY, "--output", tmp_path / "m.npz")
    assert status == 0 and err == ""
    assert f"epoch {EPOCHS}/{EPOCHS}: validation accuracy " in out


def test_progress_bar_of_a_resumed_run_counts_the_epochs_done_before(tmp_path, monkeypatch):
    common = ["--output", str(tmp_path / "m.npz"), "--checkpoint", str(tmp_path / "ckpt")]
    assert main(*TINY[:-1], 2, *common)[0] == 0
    monkeypatch.setattr(sys, "stderr", Terminal())
    with contextlib.redirect_stdout(io.StringIO()):
        assert cli.main([*TINY[:-1], "4", *common, "--resume"]) == 0
    bar = sys.stderr.getvalue()
    assert "training: 100%" in bar and "8.00k/8.00k samples" in bar and "epoch 3/4, " in bar
    assert "epoch 1/4, " not in bar


# -- evaluate ------------------------------------------------------------------------------

@pytest.mark.parametrize("split", ["test", "validation", "train"])
def test_evaluate_equals_network_evaluate(trained, data, tmp_path, split):
    status, out, err = main("evaluate", trained["model"], "--data", SAMPLE, "--split", split,
                            "--json", tmp_path / "e.json")
    assert status == 0, err
    X, y = getattr(data, split)
    expected = trained["net"].evaluate(X, y)
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["accuracy"] == expected["accuracy"] and record["cost"] == expected["cost"]
    assert (record["correct"], record["n"], record["split"]) == \
        (expected["correct"], expected["n"], split)
    assert (f"{split}: cost {expected['cost']:.4f}, accuracy {expected['accuracy']:.4f} "
            f"({expected['correct']} / {expected['n']})") in out.splitlines()


def test_evaluate_defaults_to_the_test_split(trained, data):
    status, out, _ = main("evaluate", trained["model"], "--data", SAMPLE)
    assert status == 0
    accuracy = trained["net"].evaluate(*data.test)["accuracy"]
    assert "test: cost " in out and f"accuracy {accuracy:.4f} " in out


def test_evaluate_errors_name_the_problem(tmp_path):
    status, _, err = main("evaluate", tmp_path / "none.npz", "--data", SAMPLE)
    assert status == 2 and "none.npz" in err and "does not exist" in err
    fastnn.Network([100, 10]).save(tmp_path / "small.npz")
    status, _, err = main("evaluate", tmp_path / "small.npz", "--data", SAMPLE)
    assert status == 2 and "takes 100 inputs per sample" in err and "784" in err, err
    fastnn.Network([784, 5]).save(tmp_path / "five.npz")
    status, _, err = main("evaluate", tmp_path / "five.npz", "--data", SAMPLE)
    assert status == 2 and "has 5 outputs" in err, err
    status, _, err = main("evaluate", tmp_path / "five.npz", "--data", tmp_path / "no-data")
    assert status == 2 and "no-data" in err


# -- predict -------------------------------------------------------------------------------

def inputs_in_every_format(folder, data):
    """The sample's test images as each kind of DATA file predict reads."""
    pixels = read_idx(TEST_IMAGES)                                 # uint8 (500, 28, 28)
    raw = folder / "t10k-images-idx3-ubyte"
    with gzip.open(TEST_IMAGES) as f:
        raw.write_bytes(f.read())
    np.save(folder / "images.npy", pixels)
    np.save(folder / "rows.npy", data.test[0])                    # float32 (500, 784)
    np.save(folder / "rows64.npy", data.test[0].astype(np.float64))
    np.savez(folder / "rows.npz", X=data.test[0], y=data.test[1])
    return [TEST_IMAGES, raw, folder / "images.npy", folder / "rows.npy",
            folder / "rows64.npy", folder / "rows.npz"]


def test_predict_equals_network_predict_for_every_input_format(trained, data, tmp_path):
    expected = trained["net"].predict(data.test[0])
    for path in inputs_in_every_format(tmp_path, data):
        status, out, err = main("predict", trained["model"], path)
        assert status == 0, err
        assert np.array_equal(np.array(out.split(), dtype=np.int64), expected), path


def test_predict_writes_npy_csv_and_txt(trained, data, tmp_path):
    expected = trained["net"].predict(data.test[0])
    for name in ("p.npy", "p.csv", "p.TXT"):
        status, out, _ = main("predict", trained["model"], TEST_IMAGES, "--output",
                              tmp_path / name)
        assert status == 0 and out.startswith("predicted classes of 500 samples written to")
        got = np.load(tmp_path / name) if name.endswith(".npy") else \
            np.loadtxt(tmp_path / name, dtype=np.int64)
        assert np.array_equal(got, expected), name


def test_predict_proba_equals_feedforward(trained, data, tmp_path):
    expected = trained["net"].feedforward(data.test[0])              # float32 (500, 10)
    status, out, _ = main("predict", trained["model"], TEST_IMAGES, "--proba")
    assert status == 0
    assert np.array_equal(np.loadtxt(io.StringIO(out)).astype(np.float32), expected)
    main("predict", trained["model"], TEST_IMAGES, "--proba", "--output", tmp_path / "p.npy")
    got = np.load(tmp_path / "p.npy")
    assert got.dtype == np.float32 and np.array_equal(got, expected)
    main("predict", trained["model"], TEST_IMAGES, "--proba", "--output", tmp_path / "p.csv")
    assert np.array_equal(np.loadtxt(tmp_path / "p.csv", delimiter=",").astype(np.float32),
                          expected)


def test_predict_errors_name_the_argument_and_what_was_expected(trained, tmp_path,
                                                               monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a relative --output would be written
    model = trained["model"]
    np.save(tmp_path / "narrow.npy", np.zeros((3, 100), np.float32))
    np.save(tmp_path / "empty.npy", np.zeros((0, 784), np.float32))
    np.save(tmp_path / "complex.npy", np.zeros((2, 784), np.complex64))
    np.savez(tmp_path / "noX.npz", images=np.zeros((2, 784)))
    bad = np.ones((2, 784), np.float32)
    bad[1, 5] = np.nan
    np.savez(tmp_path / "nan.npz", X=bad)
    (tmp_path / "junk.bin").write_bytes(b"hello, not an array")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 and then nothing")
    cases = [
        (["narrow.npy"], "holds an array of shape (3, 100), but MODEL="),
        (["narrow.npy"], "expected shape (n, 784), or (n, rows, cols) images"),
        (["empty.npy"], "holds no samples"),
        (["complex.npy"], "dtype complex64; expected real numbers"),
        (["noX.npz"], "holds images; expected an array named X"),
        (["nan.npz"], "non-finite value nan at row 1, column 5"),
        (["junk.bin"], "not an IDX file; expected a .npy file, a .npz file"),
        (["broken.npz"], "not a readable .npz file"),
        (["missing.npy"], f"DATA='{tmp_path / 'missing.npy'}': cannot read it"),
        (["narrow.npy", "--output", "p.json"], ("--output='p.json' has an unknown extension "
                                                "'.json'; expected one of .npy, .csv, .txt")),
        (["narrow.npy", "--output", "p"], "unknown extension '(none)'"),
    ]
    for args, message in cases:
        args = [tmp_path / args[0], *args[1:]]
        status, out, err = main("predict", model, *args)
        assert status == 2 and out == "", args
        assert err.startswith("fastnn: error: ") and message in err, (args, err)
    assert not any((tmp_path / name).exists() for name in ("p.json", "p"))


# -- help, as a user runs it --------------------------------------------------------------

def test_every_subcommand_is_documented(tmp_path, capsys):
    out = run_cli("--help", cwd=tmp_path)
    assert out.returncode == 0
    for command in ("train", "evaluate", "predict", "plot", "bench", "profile"):
        assert f"    {command} " in out.stdout, command
    for command, options in (("plot", ["HISTORY", "--output", "--title"]),
                             ("predict", ["MODEL", "DATA", "--output", "--proba"]),
                             ("evaluate", ["MODEL", "--data", "--split", "--json"]),
                             ("train", ["--plot", "--monitor-training", "--quiet"])):
        with pytest.raises(SystemExit) as exit_:
            cli.main([command, "--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert all(option in text for option in options), (command, text)
