"""The benchmark regression gate: it passes on the real engine and fails on a slowed one."""
import json
import os
import re
import subprocess
import sys

import pytest

from fastnn import bench

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def result(ratios):
    return {"configs": {k: {"ratio": v} for k, v in ratios.items()}}


def test_gate_fails_only_below_the_tolerance():
    baseline = {"configs": {"A": {"ratio": 2.0}, "B": {"ratio": 1.0}}}
    assert bench.gate(result({"A": 1.51, "B": 0.76}), baseline) == []
    failures = bench.gate(result({"A": 1.49, "B": 0.9}), baseline)
    assert len(failures) == 1 and failures[0].startswith("config A: NumPy/engine ratio 1.49")
    assert bench.gate(result({"A": 1.49}), baseline, tolerance=0.3) == []
    assert bench.gate(result({"C": 0.1}), baseline) == []  # no baseline for C: not gated


def test_committed_baseline_is_valid():
    baseline = bench.load_baseline(os.path.join(REPO, "bench", "baseline.json"))
    assert set(baseline["configs"]) == {"A", "B"}
    assert all(v["ratio"] > 1 for v in baseline["configs"].values())


def test_bad_baseline_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        bench.load_baseline(str(tmp_path / "none.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"configs": {"A": {"speed": 3}}}')
    with pytest.raises(ValueError, match="lacks a 'configs' mapping"):
        bench.load_baseline(str(bad))
    with pytest.raises(ValueError, match="configs=\\['Z'\\] is invalid"):
        bench.measure(configs=["Z"])


def run_gate(baseline, slowdown=None):
    env = dict(os.environ)
    env.pop(bench.SLOWDOWN_VARIABLE, None)
    if slowdown:
        env[bench.SLOWDOWN_VARIABLE] = str(slowdown)
    return subprocess.run([sys.executable, "-m", "fastnn", "bench", "--configs", "A",
                           "--samples", "3000", "--repeats", "3", "--gate", str(baseline),
                           "--json", str(baseline) + ".result.json"],
                          capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.slow
def test_gate_passes_on_the_engine_and_fails_on_a_slowed_engine(tmp_path):
    """A lenient baseline (ratio 1.0, so the floor is 0.75): the real engine is well above
    it. Then the fast run's own result as the baseline (what ``--write-baseline`` records):
    the same engine slowed six times by the test-only switch falls below 75% of it. (Not
    the lenient one: on a core where the engine is 4-5x NumPy, six times slower is still
    near 0.75.)"""
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"configs": {"A": {"ratio": 1.0}}}))
    ok = run_gate(baseline)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "gate passed" in ok.stdout
    fast = json.loads((tmp_path / "baseline.json.result.json").read_text())
    recorded = tmp_path / "recorded.json"
    recorded.write_text(json.dumps(fast))
    slow = run_gate(recorded, slowdown=6)
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "FAIL config A: NumPy/engine ratio" in slow.stdout
    slowed = json.loads((tmp_path / "recorded.json.result.json").read_text())
    assert slowed["slowdown"] == "6"
    assert slowed["configs"]["A"]["ratio"] < fast["configs"]["A"]["ratio"] / 3


def test_measure_reports_peak_fraction_threads_and_path():
    result = bench.measure(configs=["A"], n_samples=300, repeats=1)
    a = result["configs"]["A"]
    assert result["gemm_peak_gflops"] > 0 and result["threads"] == 1
    assert a["engine_gflops"] / result["gemm_peak_gflops"] == pytest.approx(
        a["engine_peak_fraction"])
    assert result["fma_peak_gflops"] > 0
    assert a["engine_gflops"] / result["fma_peak_gflops"] == pytest.approx(a["engine_fma_fraction"])
    assert a["engine_path"] == "loops"
    # every BLAS is limited to the run's one thread, SciPy's too (Numba loads it while
    # compiling, after the limit was first set)
    assert set(re.findall(r"(\d+) thread\(s\)", result["blas"])) == {"1"}, result["blas"]
    assert "openblas" in result["blas"] or "mkl" in result["blas"] or "blis" in result["blas"]
    assert result["numba_threads"] == 1
    table = bench.format_table(result)
    assert "GEMM peak" in table and "of peak" in table and "FMA peak" in table
    with pytest.raises(ValueError, match="threads=0 is invalid"):
        bench.measure(configs=["A"], threads=0)
