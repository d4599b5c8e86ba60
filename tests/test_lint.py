"""The code passes the linter (ruff, with pyproject.toml's rule set), as CI runs it.

ruff comes with the ``test`` extra, pinned so that new rules arrive by choice, not with a
release; where it is not installed the test says so and skips.
"""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ruff_finds_nothing():
    if importlib.util.find_spec("ruff") is not None:
        cmd = [sys.executable, "-m", "ruff"]
    elif shutil.which("ruff"):
        cmd = ["ruff"]
    else:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    proc = subprocess.run(cmd + ["check", "--no-cache", ROOT], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
