"""The chapter-3 example scripts in examples/: each main() at reduced size, its claim checked.

The scripts are loaded by file path; their folder goes on sys.path for their shared
helper module ``_common``. Training examples run on the 2,000-image sample shipped in
the package, so this file needs no downloaded data.
"""
import importlib.util
import os
import sys

import numpy as np
import pytest

import fastnn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
SAMPLE = os.path.join(os.path.dirname(fastnn.__file__), "sample_data")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.skipif(not os.path.isdir(EXAMPLES),
                                reason="examples/ is not part of this installation")


def load_example(name):
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)
    spec = importlib.util.spec_from_file_location(f"example_{name}",
                                                  os.path.join(EXAMPLES, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def has_matplotlib():
    return importlib.util.find_spec("matplotlib") is not None


# -- learning slowdown (the full run: it takes a second) ----------------------------------
@pytest.fixture(scope="module")
def slowdown():
    return load_example("learning_slowdown").main([])


def test_learning_slowdown_quadratic_matches_the_book(slowdown):
    near = slowdown["quadratic_0.6_0.9"]
    far = slowdown["quadratic_2_2"]
    assert near["initial_output"] == pytest.approx(0.8176, abs=1e-4)
    assert far["initial_output"] == pytest.approx(0.9820, abs=1e-4)
    # The book: 0.09 and 0.20 after 300 epochs.
    assert abs(near["final_output"] - 0.09) <= 0.01
    assert abs(far["final_output"] - 0.20) <= 0.02
    # Float64, one sample, no randomness: the exact values.
    assert near["final_output"] == pytest.approx(0.0939557, abs=1e-6)
    assert far["final_output"] == pytest.approx(0.2028484, abs=1e-6)
    # From (2, 2) it barely moves in the first 150 epochs; from (0.6, 0.9) it does.
    assert far["initial_output"] - far["half_output"] < 0.06
    assert near["half_output"] < 0.2


def test_learning_slowdown_cross_entropy_is_fast_from_both_starts(slowdown):
    for start in ("0.6_0.9", "2_2"):
        ce = slowdown[f"cross_entropy_{start}"]
        assert ce["half_output"] < 0.03
        assert ce["final_output"] < 0.015
        assert ce["final_output"] < slowdown[f"quadratic_{start}"]["final_output"] / 5
    assert len(ce["outputs"]) == len(ce["costs"]) == 301
    assert np.all(np.diff(ce["costs"]) < 0)


# -- softmax facts (exact checks) ---------------------------------------------------------
def test_softmax_facts():
    r = load_example("softmax_facts").main([])
    assert r["random_min_output"] > 0
    assert r["random_max_sum_error"] < 1e-12
    ext = r["extreme"]
    assert ext["finite"] and ext["in_unit_interval"] and ext["log_softmax_finite"]
    assert ext["max_sum_error"] < 1e-12
    assert ext["naive_nan_rows"] == ext["rows"]
    assert r["sweep_a_j_rises"] and r["sweep_others_fall"] and r["jacobian_signs"]
    assert r["jacobian_error"] < 1e-6
    assert r["delta_fd_error"] < 1e-6
    assert r["delta_network_error"] < 1e-12


# -- overfitting --------------------------------------------------------------------------
def test_overfitting_and_l2_narrows_the_gap():
    # A larger λ than the book's 0.1 so that the narrowing is clear at this small size.
    r = load_example("overfitting").main(
        ["--data", SAMPLE, "--n-train", "500", "--epochs", "60", "--lmbda", "5"])
    plain, l2 = r["plain"], r["l2"]
    assert len(plain["training_cost"]) == len(plain["test_accuracy"]) == 60
    # Unregularized: the training cost keeps falling, every training image is learnt,
    # the test accuracy stays far below.
    assert plain["final_cost"] < plain["first_cost"] / 20
    assert plain["final_train"] >= 0.99
    assert plain["final_train"] > plain["final_test"] + 0.1
    # L2: a smaller train/test gap.
    assert l2["gap"] < plain["gap"] - 0.05
    assert l2["lmbda"] == 5.0


# -- weight initialization ----------------------------------------------------------------
def test_weight_initialization_default_beats_large_after_epoch_1():
    r = load_example("weight_initialization").main(["--data", SAMPLE, "--epochs", "2"])
    assert len(r["default"]) == len(r["large"]) == 2
    assert r["epoch1_default"] > r["epoch1_large"] + 0.03
    assert r["epochs_to_target"]["default"] == 1
    assert r["epochs_to_target"]["large"] is None or r["epochs_to_target"]["large"] > 1


# -- dropout and expanded data ------------------------------------------------------------
def test_dropout_and_expansion_runs_and_dropout_narrows_the_gap():
    r = load_example("dropout_and_expansion").main(
        ["--data", SAMPLE, "--n-train", "1000", "--n-eval", "500", "--epochs", "15",
         "--eta", "0.5"])
    assert set(r) == {"plain", "dropout", "expanded", "on_the_fly"}
    for res in r.values():
        assert {"final_test", "last5_test", "best_test", "best_epoch", "final_train",
                "last5_train", "gap", "test_accuracy", "train_accuracy"} <= set(res)
        assert len(res["test_accuracy"]) == 15
        assert 0.5 < res["best_test"] <= 1.0
    assert r["expanded"]["n_fit"] == 3000 and r["plain"]["n_fit"] == 1000
    # Robust at this size: dropout and on-the-fly augmentation narrow the gap.
    assert r["dropout"]["gap"] < r["plain"]["gap"] - 0.02
    assert r["on_the_fly"]["gap"] < r["plain"]["gap"] - 0.03


def test_dropout_and_expansion_rejects_unknown_runs():
    with pytest.raises(SystemExit):
        load_example("dropout_and_expansion").main(["--runs", "plain,bogus"])


# -- figures ------------------------------------------------------------------------------
TINY = {
    "learning_slowdown": ["--epochs", "20"],
    "softmax_facts": ["--rows", "10"],
    "overfitting": ["--data", SAMPLE, "--n-train", "100", "--n-eval", "100", "--epochs", "2"],
    "weight_initialization": ["--data", SAMPLE, "--n-train", "200", "--n-eval", "100",
                              "--epochs", "2"],
    "dropout_and_expansion": ["--data", SAMPLE, "--n-train", "100", "--n-eval", "100",
                              "--epochs", "5"],
}


@pytest.mark.skipif(not has_matplotlib(), reason="matplotlib is not installed "
                                                  "(pip install fastnn[plot])")
@pytest.mark.parametrize("name", sorted(TINY))
def test_plot_writes_a_png(name, tmp_path):
    path = tmp_path / f"{name}.png"
    load_example(name).main(TINY[name] + ["--plot", str(path)])
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    # A None entry in sys.modules makes ``import matplotlib...`` raise ImportError.
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    path = tmp_path / "x.png"
    with pytest.raises(SystemExit, match=r"pip install fastnn\[plot\]"):
        load_example("learning_slowdown").main(["--epochs", "2", "--plot", str(path)])
    assert not path.exists()
