"""bench/compile_profile.py: a cold compile in a fresh process, measured and broken down.

One cold run (about ten seconds: every kernel of a first ``fit`` is compiled) also checks
what the first ``fit`` with evaluation compiles: the epoch's kernels and the one cost sum
of the network's cost, with nothing compiled for evaluation alone (it calls the forward
product and the activation that training compiled).
"""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "bench"))

import compile_profile  # noqa: E402


def test_one_cold_run_reports_its_parts_and_compiles_one_cost(tmp_path, capsys):
    out = tmp_path / "compile.json"
    compile_profile.main(["--runs", "1", "--sizes", "12,5,3", "--json", str(out)])
    text = capsys.readouterr().out
    assert "cold compile of import + first fit, [12, 5, 3] float32, mini-batch 10 (loops path)" \
        in text
    assert "own compile seconds per function" in text
    run = json.loads(out.read_text())["runs"]["this tree"][0]
    assert 0 < run["import_s"] < run["total_s"] and 0 < run["fit_s"] < run["total_s"]
    if run["llvm"] is not None:  # Numba's code-generation steps were found and timed
        assert set(run["llvm"]) == {"optimize each function", "optimize final modules",
                                    "machine code", "wrappers"}
        assert 0 < sum(run["llvm"].values()) < run["fit_s"]
    compiled = set(run["own"])
    assert {"train_epoch", "forward_product", "activate", "cross_entropy_sum"} <= compiled
    # the cost sums of the other costs, the all-costs dispatcher and a forward loop of
    # evaluation's own are not compiled
    assert not compiled & {"quadratic_sum", "log_likelihood_sum"}


@pytest.mark.parametrize("argv, message", [
    (["--runs", "0"], "--runs=0 is invalid"),
    (["--mini-batch-size", "0"], "--mini-batch-size=0 is invalid"),
    (["--sizes", "784,x"], "--sizes='784,x' is invalid"),
    (["--sizes", "784"], "--sizes='784' is invalid"),
    (["--against", "/nonexistent-fastnn-tree"], "no fastnn/__init__.py there"),
])
def test_bad_arguments_are_named(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        compile_profile.main(argv)
    assert message in str(exc.value) + capsys.readouterr().err
