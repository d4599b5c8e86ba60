"""docs/guide.md runs as written (and docs/sklearn.md's examples): its ``python`` blocks in
order in one namespace, and every ``$`` line of its ``console`` blocks as a command, all in
one working folder.

A ``$ fastnn ...`` line runs ``fastnn.cli.main`` in this process; any other command runs
as a process (``dask ...`` as ``python -m dask ...``, so the installed Python's Dask is
the one used); a line ending in ``&`` is started in the background and stopped when its
section ends. Each command must exit with status 0.
"""
import os
import re
import shlex
import signal
import subprocess
import sys

import pytest

from fastnn.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = os.path.join(ROOT, "docs", "guide.md")

pytestmark = pytest.mark.skipif(not os.path.exists(GUIDE),
                                reason="docs/ is not part of this installation")


def sections():
    """[(title, [(kind, text), ...])] for every ``##`` section with runnable blocks."""
    if not os.path.exists(GUIDE):
        return []
    text = open(GUIDE, encoding="utf-8").read()
    out = []
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        title = part.splitlines()[0].strip()
        blocks = re.findall(r"^```(python|console)\n(.*?)^```", part, flags=re.M | re.S)
        if blocks:
            out.append((title, blocks))
    return out


SECTIONS = sections()
NEEDS = {"scikit-learn": "sklearn", "Tuning on Dask": "distributed"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("guide")


@pytest.fixture(scope="module")
def namespace():
    return {"__name__": "guide"}


SKLEARN_DOC = os.path.join(ROOT, "docs", "sklearn.md")


@pytest.mark.skipif(not os.path.exists(SKLEARN_DOC), reason="docs/ is not installed")
def test_sklearn_page_examples(tmp_path, monkeypatch):
    """docs/sklearn.md's python blocks, in order, in one namespace."""
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    text = open(SKLEARN_DOC, encoding="utf-8").read()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)
    assert len(blocks) >= 4
    namespace = {"__name__": "sklearn_page"}
    for block in blocks:
        exec(compile(block, SKLEARN_DOC, "exec"), namespace)
    assert namespace["clf"].classes_.tolist() == list(range(10))
    assert namespace["reg"].score(namespace["X_valid"], namespace["y_valid"]) > 0.2


def test_the_guide_has_examples():
    titles = [t for t, _ in SECTIONS]
    for wanted in ("Migrating from network2", "The array API", "The command line",
                   "Tuning", "Tuning on Dask"):
        assert wanted in titles


@pytest.mark.parametrize("title, blocks", SECTIONS, ids=[t for t, _ in SECTIONS])
def test_section(title, blocks, workdir, namespace, monkeypatch, capsys):
    if title in NEEDS:
        pytest.importorskip(NEEDS[title])
    monkeypatch.chdir(workdir)
    background = []
    try:
        for kind, text in blocks:
            if kind == "python":
                exec(compile(text, f"{GUIDE}:{title}", "exec"), namespace)
                continue
            for line in text.splitlines():
                if not line.startswith("$ "):
                    continue
                command = line[2:].strip()
                in_background = command.endswith("&")
                argv = shlex.split(command.rstrip("&"))
                if argv[0] == "fastnn" and not in_background:
                    assert main(argv[1:]) == 0, f"{command}\n{capsys.readouterr()}"
                    continue
                if argv[0] == "dask":
                    argv = [sys.executable, "-m"] + argv
                if in_background:
                    log = open(workdir / f"background-{len(background)}.log", "wb")
                    background.append((subprocess.Popen(argv, stdout=log,
                                                        stderr=subprocess.STDOUT,
                                                        start_new_session=True), log))
                else:
                    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
                    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    finally:
        for process, log in background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            log.close()
