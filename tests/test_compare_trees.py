"""bench/compare_trees.py: epochs of two checkouts, alternated in fresh processes."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import compare_trees  # noqa: E402


@pytest.mark.slow
def test_two_trees_alternate_and_report_their_epochs(capsys):
    """This checkout against itself (two copies, each compiled cold once): two rounds,
    one timed epoch per process, both trees timed in every round."""
    results = compare_trees.main(["--against", ROOT, "--config", "A", "--samples", "300",
                                  "--repeats", "1", "--rounds", "2"])
    text = capsys.readouterr().out
    assert "config A, float32, 1 thread(s), 300 samples per epoch" in text
    assert "engine path: loops" in text and "this tree / " in text
    assert set(results) == {"this tree", ROOT}
    assert all(len(runs) == 2 and all(s > 0 for s in runs) for runs in results.values())


def test_bad_counts_are_refused(capsys):
    with pytest.raises(SystemExit):
        compare_trees.main(["--against", ROOT, "--rounds", "0"])
    assert "--rounds=0 is invalid; expected a positive integer" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="no fastnn/__init__.py there"):
        compare_trees.main(["--against", "/nonexistent"])
