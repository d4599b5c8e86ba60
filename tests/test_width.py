"""The loops' vector width (fastnn/_engine/width.py): chosen by measuring, applied at import.

The choice itself is tested with injected measurements; the real probe processes run once
(their protocol, not their timings, is checked); applying a record is tested in fresh
processes on a host that claims AVX-512 (no kernel runs there); and what each width
compiles to is read from the machine code under Intel's and AMD's tuning.
"""
import json
import os
import subprocess
import sys

import pytest

from fastnn._engine import calibrate as _calibrate
from fastnn._engine import width as _width

HOST = _width.host_features()
FAKE_512 = HOST + ",+avx512f"
AVX512 = ",+avx512f,+avx512dq,+avx512bw,+avx512vl,+avx512cd"


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A clean width state and calibration file, on a host that claims AVX-512F (nothing
    is compiled in this process with that claim: the code generator is built already)."""
    monkeypatch.setenv("FASTNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("FASTNN_LOOP_WIDTH", "auto")
    monkeypatch.delenv("FASTNN_CALIBRATE", raising=False)
    monkeypatch.delenv("NUMBA_CPU_NAME", raising=False)
    monkeypatch.delenv("NUMBA_CPU_FEATURES", raising=False)
    monkeypatch.setattr(_width, "_state", {"applied": None, "ensured": False, "failed": None})
    monkeypatch.setattr(_width, "host_features", lambda: FAKE_512)
    monkeypatch.setattr(_width, "llvm_width", lambda: "256")
    _calibrate.reset()
    yield monkeypatch
    _calibrate.reset()


def test_features_for_each_width():
    assert _width.features_for("256", "+avx2") == "+avx2,+prefer-256-bit"
    assert _width.features_for("512", "+avx2") == "+avx2,-prefer-256-bit"
    with pytest.raises(ValueError, match=r"choice='1024' is invalid: expected one of"):
        _width.features_for("1024", "+avx2")


@pytest.mark.parametrize("seconds, default, expected", [
    ({"256": 1.00, "512": 0.95}, "256", "256"),  # 5% is within the noise: LLVM's stays
    ({"256": 1.00, "512": 0.90}, "256", "512"),  # 10%: the other
    ({"256": 0.95, "512": 1.00}, "512", "512"),
    ({"256": 0.70, "512": 1.00}, "512", "256"),
    ({"256": 1.00, "512": 1.00}, "512", "512"),
    ({"512": 1.00}, "256", "512"),  # the default was not measured
])
def test_choose_leaves_llvm_only_when_clearly_faster(seconds, default, expected):
    assert _width.choose(seconds, default) == expected


def test_setting_is_checked(monkeypatch):
    monkeypatch.setenv("FASTNN_LOOP_WIDTH", "wide")
    with pytest.raises(ValueError, match=r"environment variable FASTNN_LOOP_WIDTH='wide' is "
                                         r"invalid; expected one of auto, llvm, 256, 512"):
        _width.setting()
    monkeypatch.setenv("FASTNN_LOOP_WIDTH", " 512 ")
    assert _width.setting() == "512"


def test_ensure_measures_once_and_keeps_the_record(fresh, capsys):
    calls = []

    def measure(candidates):
        calls.append(candidates)
        return {"256": 2e-3, "512": 1e-3}, {"256": "2 2 ms", "512": "1 1 ms"}

    fresh.setattr(_width, "measure", measure)
    _width.ensure()
    _width.ensure()
    assert calls == [["256", "512"]]
    record = _calibrate.records()[_width.KEY]
    assert record["choice"] == "512" and record["info"]["512"] == "1 1 ms"
    err = capsys.readouterr().err
    assert "measuring the vector width of the loop kernels" in err
    assert "compiled for 512-bit vectors from the next process on" in err
    assert "512 bits from the next" in _width.describe()
    # a later process reads the record instead of measuring
    _calibrate.reset()
    assert _calibrate.lookup(_width.KEY, _width.CANDIDATES)["choice"] == "512"


@pytest.mark.parametrize("env", [("FASTNN_LOOP_WIDTH", "llvm"), ("FASTNN_LOOP_WIDTH", "512"),
                                 ("FASTNN_CALIBRATE", "off"), ("NUMBA_CPU_NAME", "znver4")])
def test_ensure_measures_nothing_when_told_not_to(fresh, env):
    fresh.setenv(*env)
    fresh.setattr(_width, "measure", lambda c: pytest.fail("measured"))
    _width.ensure()
    assert _width.KEY not in _calibrate.records()


def test_ensure_measures_nothing_without_avx512(fresh):
    fresh.setattr(_width, "host_features", lambda: "+avx2,+fma,-avx512f")
    fresh.setattr(_width, "measure", lambda c: pytest.fail("measured"))
    _width.ensure()
    assert "no AVX-512" in _width.describe()


def test_a_failed_probe_is_reported_and_training_goes_on(fresh, capsys):
    def broken(candidates):
        raise RuntimeError("the 512-bit probe process ended without a result")

    fresh.setattr(_width, "measure", broken)
    _width.ensure()
    assert _width.KEY not in _calibrate.records()
    assert "could not measure the vector width" in capsys.readouterr().err
    assert "the measurement failed" in _width.describe()


def test_probe_processes_answer(monkeypatch):
    """The real probe: two processes per width compile and time the loops (on a host
    without AVX-512 both widths compile to the same code; the protocol is what counts)."""
    monkeypatch.delenv("NUMBA_CPU_FEATURES", raising=False)
    seconds, info = _width.measure(["256", "512"], rounds=2, batches=2, processes=2)
    assert set(seconds) == {"256", "512"} and all(0 < s < 10 for s in seconds.values())
    assert all(len(info[c].split()) == 3 for c in seconds)  # two processes' ms, "ms"


def test_a_probe_that_dies_is_named():
    with pytest.raises(RuntimeError, match=r"(?s)the 256-bit probe process ended without "
                                           r"a result .*ValueError"):
        _width.measure(["256"], rounds=1, batches="x", processes=1)


# -- applying a record at import, in fresh processes --------------------------------------
_APPLY = r"""
import json, sys
import numba.core.codegen as codegen
codegen.get_host_cpu_features = lambda: sys.argv[1]   # a host that claims AVX-512F
import numba
import fastnn
from fastnn._engine import calibrate as _calibrate
from fastnn._engine import width as _width
if sys.argv[2] == "record":
    _calibrate.decide(_width.KEY, _width.CANDIDATES, lambda c: {"256": 2.0, "512": 1.0},
                      "test", lambda s: _width.choose(s, "256"))
print(json.dumps({"applied": _width.applied(), "features": numba.config.CPU_FEATURES,
                  "key": _calibrate.machine_key(),
                  "records": sorted(_calibrate.records())}))
"""


def _apply(tmp_path, step, **env):
    full = dict(os.environ, FASTNN_CACHE_DIR=str(tmp_path / "fastnn"),
                NUMBA_CACHE_DIR=str(tmp_path / "numba"), FASTNN_LOOP_WIDTH="auto")
    for name in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "FASTNN_CALIBRATE"):
        full.pop(name, None)
    full.update(env)
    out = subprocess.run([sys.executable, "-c", _APPLY, FAKE_512, step], env=full,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_record_applies_from_the_next_process(tmp_path):
    first = _apply(tmp_path, "record")
    assert first["applied"] is None and first["features"] is None
    second = _apply(tmp_path, "check")
    assert second["applied"] == "512"
    assert second["features"] == FAKE_512 + ",-prefer-256-bit"
    # the machine is the same machine after the width is applied: its records still count
    assert second["key"] == first["key"] and second["records"] == [_width.KEY]
    assert _apply(tmp_path, "check", FASTNN_CALIBRATE="off")["applied"] is None
    assert _apply(tmp_path, "check", FASTNN_LOOP_WIDTH="llvm")["applied"] is None
    assert _apply(tmp_path, "check", FASTNN_LOOP_WIDTH="256")["features"] == \
        FAKE_512 + ",+prefer-256-bit"
    fixed = _apply(tmp_path, "check", NUMBA_CPU_NAME="znver4")
    assert fixed["applied"] is None and fixed["features"] is None
    assert _apply(tmp_path, "check", FASTNN_LOOP_WIDTH="wide")["applied"] is None  # import works


# -- what each width compiles to ----------------------------------------------------------
_ASM = r"""
import json
from numba import types as t
from fastnn._engine import width as _width
from fastnn.kernels import dense
A, I = t.Array(t.float32, 2, "C"), t.Array(t.int64, 1, "C")
sig = (A, A, I, t.float32, t.float32, A)
dense.weight_product.compile(sig)
asm = dense.weight_product.inspect_asm(sig)
print(json.dumps({"llvm": _width.llvm_width(), "zmm": "zmm" in asm, "ymm": "ymm" in asm}))
"""


@pytest.mark.parametrize("cpu, width, llvm, zmm", [
    ("sapphirerapids", None, "256", False),  # Intel's tuning: 256-bit loops
    ("sapphirerapids", "512", "512", True),  # what the calibration can choose there
    ("znver4", None, "512", True),           # AMD's: 512
    ("znver4", "256", "256", False),
])
def test_each_width_compiles_to_its_vectors(tmp_path, cpu, width, llvm, zmm):
    """Compiled, never run (the host may lack AVX-512): the weight-gradient kernel under
    the target's tuning, and with the width the calibration would apply."""
    features = HOST + AVX512 + ("" if width is None else _width.SUFFIX[width])
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=features,
               NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _ASM], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["llvm"] == llvm and result["zmm"] is zmm
    assert result["ymm"] or result["zmm"]  # vectorized either way
