"""A cold first epoch compiled on two cores (fastnn/_engine/coldstart.py).

Fresh processes with empty Numba caches train one epoch with the helper process and
without: the helper must have compiled the backward pass (this process loads it from the
cache), the epoch's signatures must be the ones the helper compiles for, and the trained
parameters must be the same bits (the same machine code either way).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn._engine import coldstart as _coldstart

_RUN = r"""
import hashlib, json, sys
import numpy as np
import fastnn
from fastnn._engine import coldstart as _coldstart
from fastnn.kernels import epoch
done = []
prepare = _coldstart.prepare
_coldstart.prepare = lambda e: done.append(prepare(e)) or done[-1]
dtype = sys.argv[1]
rng = np.random.default_rng(0)
X = rng.random((60, 784)).astype(dtype)
y = rng.integers(0, 10, 60)
net = fastnn.Network([784, 30, 10], dtype=dtype, seed=0)
net.fit(X[:40], y[:40], epochs=1, mini_batch_size=10, eta=0.5, evaluation_data=(X[40:], y[40:]))
sigs = _coldstart._signatures(dtype)
def has(d, sig):
    return any(tuple(s) == tuple(sig) for s in d.signatures)
print(json.dumps({
    "prepared": [d for d in done if d is not None],
    "epoch": has(epoch.train_epoch, sigs[0]), "forward": has(epoch.forward_pass, sigs[1]),
    "backward": has(epoch.backward_pass, sigs[2]),
    "backward_hits": sum(epoch.backward_pass.stats.cache_hits.values()),
    "backward_misses": sum(epoch.backward_pass.stats.cache_misses.values()),
    "digest": hashlib.sha256(net.params.tobytes()).hexdigest()}))
"""


def _run(tmp_path, mode, dtype="float32"):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / mode), FASTNN_COLD_START=mode)
    out = subprocess.run([sys.executable, "-c", _RUN, dtype], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_helper_compiles_the_backward_pass_and_the_bits_are_the_same(tmp_path):
    serial = _run(tmp_path, "serial")
    # the signatures the helper compiles for are the ones the epoch calls with
    assert serial["epoch"] and serial["forward"] and serial["backward"]
    assert serial["prepared"] == [["serial", None]]
    assert serial["backward_misses"] >= 1 and serial["backward_hits"] == 0
    parallel = _run(tmp_path, "parallel")
    if _coldstart._free_cpus() < 2:
        assert parallel["prepared"] == [["serial", None]]
    else:
        assert parallel["prepared"] == [["parallel", None]]
        # loaded from the cache the helper wrote, not compiled here
        assert parallel["backward_hits"] >= 1 and parallel["backward_misses"] == 0
    assert parallel["digest"] == serial["digest"]
    # warm (the cache the parallel run filled): nothing to prepare, no helper
    assert _run(tmp_path, "parallel")["prepared"] == []


def test_signatures_cover_both_dtypes():
    for dtype in ("float32", "float64"):
        epoch, forward, backward = _coldstart._signatures(dtype)
        assert len(epoch) == 22 and len(forward) == 13 and len(backward) == 20
        assert str(backward[0].dtype) == dtype and str(backward[-4]) == dtype


def test_nothing_is_prepared_when_the_epoch_is_compiled(monkeypatch):
    net = fastnn.Network([6, 5, 3], seed=0)
    X = np.random.default_rng(0).random((20, 6)).astype(np.float32)
    net.fit(X, np.arange(20) % 3, epochs=1)  # compiled (or loaded) in this process now
    monkeypatch.setattr(_coldstart, "_done", set())
    monkeypatch.setattr(_coldstart, "_start_helper",
                        lambda e: pytest.fail("a helper started for a compiled epoch"))
    assert _coldstart.prepare(net._engine) is None
    assert _coldstart.prepare(net._engine) is None  # and once per dtype


def test_a_failed_helper_is_reported_not_raised():
    failing = subprocess.Popen([sys.executable, "-c", "import sys; print('boom', "
                                "file=sys.stderr); sys.exit(3)"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert _coldstart._join(failing) == "the helper failed (exit 3): boom"
    assert _coldstart._join(OSError("no such file")).startswith("the helper could not start")
    ok = subprocess.Popen([sys.executable, "-c", "pass"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    assert _coldstart._join(ok) is None


def test_setting_is_checked(monkeypatch):
    monkeypatch.setenv("FASTNN_COLD_START", "threads")
    with pytest.raises(ValueError, match=r"FASTNN_COLD_START='threads' is invalid; expected "
                                         r"one of parallel, serial"):
        _coldstart.setting()
