"""The package's layers, checked from its import graph (parsed, not imported).

fastnn is layered, bottom to top (docs/architecture.md draws it):

=========  =============================================================================
kernels    fastnn.kernels: the Numba kernels; import nothing of fastnn
base       fastnn._checks, fastnn._io: argument checks, atomic files; shared by all
terms      activations, costs, optim, schedules, augment: the names and value objects
           the API speaks in (and the kernel codes behind them)
data       fastnn.data: readers, dataset discovery, streaming from disk
engine     fastnn._engine: runs the kernels; its front door is its ``__init__``
network    fastnn.network (with _fit, checkpoint) and fastnn.reference, the oracle
fronts     network2, mnist_loader, sklearn, plot, tune, perf: what users drive
cli        fastnn.cli: the command line over all of them
=========  =============================================================================

Checked here:

* a module imports only from its own layer or the layers below it (so no cycles);
* across layers, only public names: no ``from X import _name``, no private module of
  another layer (``fastnn.kernels._jit``), and from a private package (``fastnn._engine``)
  only what its ``__all__`` offers;
* the front ends and the command line reach into no object's private attributes
  (``net._engine``, ``e._workspace()``): they use ``Network.engine``, ``Network.rng``,
  ``Network.runner`` and the engine's public methods.
"""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: layer -> the roots of its modules (a root is a module or a package), bottom first
LAYERS = {
    "kernels": ["fastnn.kernels"],
    "base": ["fastnn._checks", "fastnn._io"],
    "terms": ["fastnn.activations", "fastnn.costs", "fastnn.optim", "fastnn.schedules",
              "fastnn.augment"],
    "data": ["fastnn.data"],
    "engine": ["fastnn._engine"],
    "network": ["fastnn.network", "fastnn._fit", "fastnn.checkpoint", "fastnn.reference"],
    "fronts": ["fastnn.network2", "fastnn.mnist_loader", "fastnn.sklearn", "fastnn._sklearn_fit",
               "fastnn.plot", "fastnn.tune", "fastnn.perf"],
    "cli": ["fastnn.cli", "fastnn.__main__"],
}
RANK = {layer: i for i, layer in enumerate(LAYERS)}
#: layers on one level: neither is above the other, so neither may import the other
LEVEL = {"kernels": 0, "base": 0, "terms": 1, "data": 1, "engine": 2, "network": 3,
         "fronts": 4, "cli": 5}
#: private attributes of other libraries' objects that fastnn uses, and why
FOREIGN_PRIVATE = {
    "_validate_data",  # scikit-learn before 1.6 offers validation only as this method
}


def _modules():
    """{dotted name: path} of every module of the installed layout (kernels/ is
    fastnn.kernels)."""
    found = {}
    for folder, package in (("fastnn", "fastnn"), ("kernels", "fastnn.kernels")):
        base = os.path.join(ROOT, folder)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "__pycache__"))
                           and os.path.isfile(os.path.join(dirpath, d, "__init__.py"))]
            rel = os.path.relpath(dirpath, base)
            prefix = package if rel == "." else package + "." + rel.replace(os.sep, ".")
            for f in filenames:
                if f.endswith(".py"):
                    name = prefix if f == "__init__.py" else prefix + "." + f[:-3]
                    found[name] = os.path.join(dirpath, f)
    return found


MODULES = _modules()


def _layer(module):
    for layer, roots in LAYERS.items():
        if any(module == r or module.startswith(r + ".") for r in roots):
            return layer
    return None


def _root(module):
    for roots in LAYERS.values():
        for r in roots:
            if module == r or module.startswith(r + "."):
                return r
    return None


def _package_all(module):
    """The ``__all__`` of a package's ``__init__`` (parsed), or None."""
    path = MODULES.get(module)
    if path is None or not path.endswith("__init__.py"):
        return None
    for node in ast.parse(open(path, encoding="utf-8").read()).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return None


def _imports(name, path):
    """(line, imported module, imported names) of every import in a module."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            names = [a.name for a in node.names]
            # "from package import submodule" imports the submodule
            subs = [n for n in names if f"{target}.{n}" in MODULES]
            if subs:
                for n in subs:
                    yield node.lineno, f"{target}.{n}", []
                names = [n for n in names if n not in subs]
            if names:
                yield node.lineno, target, names


def _edges():
    for name, path in sorted(MODULES.items()):
        for line, target, names in _imports(name, path):
            if target == "fastnn" or target.startswith("fastnn."):
                yield name, line, target, names


def test_every_module_has_a_layer():
    assert not [m for m in MODULES if m != "fastnn" and _layer(m) is None]


def test_layers_import_downwards_only():
    bad = []
    for name, line, target, names in _edges():
        if name == "fastnn" or target == "fastnn" and names == ["__version__"]:
            continue  # the package's root re-exports; every layer may read the version
        mine, theirs = _layer(name), _layer(target)
        if mine != theirs and LEVEL[theirs] >= LEVEL[mine]:
            bad.append(f"{name}:{line} ({mine}) imports {target} ({theirs})")
    assert not bad, "imports that go up or sideways:\n" + "\n".join(bad)


def test_only_public_names_cross_layers():
    bad = []
    for name, line, target, names in _edges():
        if name == "fastnn" or target == "fastnn":
            continue
        mine, theirs = _layer(name), _layer(target)
        if mine == theirs:
            continue
        root = _root(target)
        inner = target[len(root) + 1:].split(".") if target != root else []
        offered = _package_all(root) if root.rsplit(".", 1)[1].startswith("_") else None
        if any(part.startswith("_") for part in inner):
            bad.append(f"{name}:{line} imports the private module {target}")
        elif inner and offered is not None and inner[0] not in offered:
            bad.append(f"{name}:{line} imports {target}, which {root}.__all__ does not offer")
        for n in names:
            if n.startswith("_") and not n.startswith("__"):
                bad.append(f"{name}:{line} imports the private name {n} from {target}")
            if offered is not None and target == root and n not in offered:
                bad.append(f"{name}:{line} imports {n}, which {root}.__all__ does not offer")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("layer", ["fronts", "cli"])
def test_front_ends_reach_into_no_private_attribute(layer):
    bad = []
    for name, path in sorted(MODULES.items()):
        if _layer(name) != layer:
            continue
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if not isinstance(node, ast.Attribute):
                continue
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__") or attr in FOREIGN_PRIVATE:
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and \
                    owner.func.id in ("super", "type"):
                continue
            if isinstance(owner, ast.Name) and _same_layer_module(name, path, owner.id):
                continue  # a module of its own layer, imported under a name
            bad.append(f"{name}:{node.lineno} .{attr} on {ast.unparse(owner)}")
    assert not bad, "private attributes reached from outside:\n" + "\n".join(bad)


def _same_layer_module(name, path, local):
    """Whether ``local`` is, in module ``name``, a module of the same layer (``from . import
    _common`` in the command line)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[:len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for a in node.names:
                if (a.asname or a.name) == local:
                    full = f"{target}.{a.name}"
                    return full in MODULES and _layer(full) == _layer(name)
    return False


def test_the_checks_can_fail():
    """The graph is read: a known edge is found, and a made-up private import is caught."""
    edges = {(n, t) for n, _, t, _ in _edges()}
    assert ("fastnn.network", "fastnn._engine") in edges
    assert ("fastnn.cli.train", "fastnn.network") in edges
    assert _layer("fastnn._engine.matrix") == "engine"
    assert "matrix" not in _package_all("fastnn._engine")


def test_every_import_of_fastnn_resolves():
    """Every ``fastnn...`` module an import names exists (a relative import moved with its
    file without its dots changed would name a module that is not there)."""
    missing = [f"{name}:{line} imports {target}" for name, line, target, _ in _edges()
               if target not in MODULES]
    assert not missing, "\n".join(missing)
