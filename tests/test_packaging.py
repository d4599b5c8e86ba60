"""The kernels are importable only as ``fastnn.kernels``, never as a top-level ``kernels``.

The repository keeps them in a top-level ``kernels/`` folder (the design card's layout),
mapped into the ``fastnn`` namespace by setuptools' package-dir. A top-level ``kernels``
package would clash with an unrelated PyPI package of that name.
"""
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import fastnn.kernels

REPO = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent("""
    import importlib.util, json, sys
    {prelude}
    import fastnn, fastnn.kernels, fastnn.kernels.dense
    print(json.dumps({{
        "kernels_spec": repr(importlib.util.find_spec("kernels")),
        "fastnn": fastnn.__file__,
        "kernels_file": fastnn.kernels.__file__,
        "dense_file": fastnn.kernels.dense.__file__,
        "sys_path": sys.path,
    }}))
""")


def _probe(python, cwd, prelude="", extra=""):
    import json
    code = PROBE.format(prelude=prelude) + textwrap.dedent(extra)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"probe failed:\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    first = proc.stdout.splitlines()[0]
    return json.loads(first), proc.stdout


def test_editable_install_maps_kernels_folder():
    here = Path(fastnn.kernels.__file__).resolve()
    assert here == REPO / "kernels" / "__init__.py", here
    assert fastnn.kernels.__name__ == "fastnn.kernels"
    assert Path(fastnn.kernels.dense.__file__).resolve() == REPO / "kernels" / "dense.py"
    # from the test process itself (cwd may be the repo), no top-level 'kernels' is loaded
    assert "kernels" not in sys.modules


def test_no_top_level_kernels_outside_the_repo(tmp_path):
    info, _ = _probe(sys.executable, tmp_path)
    assert info["kernels_spec"] == "None", f"a top-level 'kernels' is importable: {info}"
    assert Path(info["kernels_file"]).resolve() == REPO / "kernels" / "__init__.py"
    assert Path(info["fastnn"]).resolve() == REPO / "fastnn" / "__init__.py"


def _copy_source(dest):
    """The repository's sources, without build products or caches (so that building the
    wheel neither reads stale build/ folders nor writes into the working tree)."""
    ignore = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__",
                                    ".pytest_cache", ".benchmarks", "*.nbi", "*.nbc", "out")
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = _copy_source(tmp / "src")
    out = tmp / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}"
    wheels = sorted(out.glob("fastnn-*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0]


@pytest.mark.slow
def test_wheel_contents(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    for required in ("fastnn/__init__.py", "fastnn/kernels/__init__.py",
                     "fastnn/kernels/dense.py", "fastnn/kernels/epoch.py",
                     "fastnn/sample_data/train-images-idx3-ubyte.gz"):
        assert required in names, f"{required} missing from {wheel.name}: {names}"
    top = sorted({n.split("/", 1)[0] for n in names})
    assert not any(n.startswith("kernels/") for n in names), f"top-level kernels/ in wheel: {top}"
    assert all(t == "fastnn" or t.startswith("fastnn-") for t in top), top
    assert not any("__pycache__" in n or n.endswith((".nbi", ".nbc")) for n in names)


def _dependency_folders():
    """The folders this interpreter imports fastnn's dependencies from: a system Python's
    site-packages, a virtualenv's or a conda environment's, whichever runs the tests."""
    import llvmlite
    import numba
    import numpy
    import threadpoolctl
    import tqdm
    folders = set()
    for module in (numpy, numba, llvmlite, threadpoolctl, tqdm):
        path = Path(module.__file__).resolve()
        folders.add(str(path.parents[1] if path.name == "__init__.py" else path.parent))
    return sorted(folders)


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_venv(wheel, tmp_path):
    """A fresh virtualenv gets the wheel, and the dependencies from wherever this
    interpreter has them, through a .pth file: ``--system-site-packages`` would give the
    *base* interpreter's site-packages, which has no numba when the suite itself runs in a
    virtualenv. A folder named in a .pth file is put on sys.path without its own .pth
    files being run, so the editable install of the repository stays out."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)],
                   check=True, capture_output=True, timeout=300)
    py = venv / "bin" / "python"
    proc = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index",
                           "--no-cache-dir", str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"pip install failed:\n{proc.stdout}\n{proc.stderr}"
    site = subprocess.run([str(py), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    site = Path(site).resolve()
    deps = _dependency_folders()
    (site / "fastnn-test-dependencies.pth").write_text("".join(f"{d}\n" for d in deps))
    assert (site / "fastnn" / "kernels" / "dense.py").is_file()
    assert not (site / "kernels").exists(), "the wheel installed a top-level kernels package"

    extra = """
        import numpy as np
        net = fastnn.Network([4, 3, 2], seed=0)
        X = np.random.default_rng(0).normal(size=(12, 4))
        before = net.params.copy()
        h = net.fit(X, np.arange(12) % 2, epochs=2, mini_batch_size=5)
        change = float(np.abs(net.params - before).max())
        print("FIT", len(h["epoch"]), change, bool(np.isfinite(net.params).all()))
    """
    info, out = _probe(py, tmp_path, extra=extra)
    assert info["kernels_spec"] == "None", info
    # The dependencies' folders may hold the editable install of the repository too: the
    # venv's own site-packages comes first on sys.path, so the wheel's copy is imported.
    path = [str(Path(p).resolve()) if p else p for p in info["sys_path"]]
    assert str(site) in path, (site, path)
    for folder in deps:
        assert path.index(str(site)) < path.index(folder), path
    for key in ("fastnn", "kernels_file", "dense_file"):
        assert Path(info[key]).resolve().is_relative_to(site), (key, info[key], site)
    assert Path(info["kernels_file"]).resolve() == site / "fastnn" / "kernels" / "__init__.py"
    fit = [line for line in out.splitlines() if line.startswith("FIT ")]
    assert fit and fit[0].split()[1] == "2" and fit[0].split()[3] == "True", out
    assert float(fit[0].split()[2]) > 0


def test_a_kernel_cached_under_other_kernel_sources_is_not_loaded(monkeypatch):
    """Numba's cache tracks a kernel's own file only; fastnn's key adds the digest of
    every kernel source (kernels/_jit.py), so code cached before any kernel changed is
    never loaded, and importing the kernels touches no cache file."""
    from numba import types

    from fastnn.kernels import _jit, activations
    kernel = activations.row_max
    sig = (types.Array(types.float64, 1, "C"),)
    kernel.compile(sig)  # compiled and cached, or loaded: in the cache either way
    ctx = kernel.targetctx
    assert kernel._cache.load_overload(sig, ctx) is not None
    monkeypatch.setattr(_jit, "sources_digest", lambda: "digest of other kernel sources")
    assert kernel._cache.load_overload(sig, ctx) is None
    monkeypatch.undo()
    assert kernel._cache.load_overload(sig, ctx) is not None


def test_importing_the_kernels_writes_no_cache_file(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", "import fastnn, fastnn.kernels"], env=env,
                   check=True, timeout=120)
    written = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs]
    assert written == []
