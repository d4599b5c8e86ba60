"""The public API's type hints: present on every parameter and return, and resolvable
(``typing.get_type_hints`` evaluates them, so a hint naming a type that does not exist or
is not imported fails here). The package ships ``py.typed`` so that a user's type checker
reads them.

No type checker runs in CI: the engine is Numba kernels, which checkers see as untyped
calls, and every public path is exercised by the tests; the hints are for the user's
tools, and this test keeps them complete and valid.
"""
import inspect
import os
import typing

import pytest

import fastnn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _public_callables():
    out = [("fastnn.load", fastnn.load)]
    for name, member in inspect.getmembers(fastnn.Network):
        if name.startswith("_") and name != "__init__":
            continue
        if isinstance(member, property):
            out += [(f"Network.{name} (get)", member.fget)]
            if member.fset is not None:
                out += [(f"Network.{name} (set)", member.fset)]
        elif inspect.isfunction(member) or inspect.ismethod(member):
            out.append((f"Network.{name}", member))
    return out


@pytest.mark.parametrize("name, func", _public_callables(), ids=lambda v: str(v))
def test_every_parameter_and_return_is_annotated(name, func):
    hints = typing.get_type_hints(func)
    params = [p for p in inspect.signature(func).parameters if p not in ("self", "cls")]
    missing = [p for p in params if p not in hints]
    assert not missing, f"{name}: no hint for {missing}"
    assert "return" in hints, f"{name}: no return hint"


def test_the_hints_are_those_of_the_documented_types():
    hints = typing.get_type_hints(fastnn.Network.train_epoch)
    assert hints["return"] is fastnn.optim.OptimizerState
    assert typing.get_type_hints(fastnn.Network.runner)["return"].__name__ == "EpochRunner"


def test_the_package_says_it_is_typed():
    assert os.path.isfile(os.path.join(ROOT, "fastnn", "py.typed"))
