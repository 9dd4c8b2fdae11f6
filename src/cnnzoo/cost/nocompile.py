"""What torch's meta kernels ask of its compiler stack, answered without importing it.

Many meta kernels (add, addmm, mean, max pool, ...) are Python. Torch wraps them in
`torch._dynamo.disable`, whose first call imports torch._dynamo; their `torch._check`
calls and type promotion import torch.fx.experimental.symbolic_shapes and sympy. That is
seconds of a `cnnzoo summary`'s start-up, for machinery that only matters while
torch.compile traces symbolic shapes. A cost trace compiles nothing and every size is a
plain int, so during one, stand-ins answer: `disable` is the identity, the shape guards
evaluate plain values, and sympy has no expressions (anything symbolic, or any other
name, goes to the real module). Afterwards the stand-ins and the marks they left are
removed, so later code imports the real modules.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import torch

_SYMBOLIC = "torch.fx.experimental.symbolic_shapes"
_SYM_TYPES = (torch.SymInt, torch.SymBool, torch.SymFloat)


class _Dynamo(ModuleType):
    def __init__(self) -> None:
        super().__init__("torch._dynamo")
        self.marked: list[object] = []

    def disable(self, fn: object, recursive: bool = True, wrapping: bool = True) -> object:
        self.marked.append(fn)
        return fn


def _plain(*values: object) -> bool:
    flat = [v for x in values for v in (x if isinstance(x, (list, tuple)) else (x,))]
    return not any(isinstance(v, _SYM_TYPES) for v in flat)


def _real(name: str, module: str = _SYMBOLIC) -> object:
    sys.modules.pop(module, None)
    return getattr(importlib.import_module(module), name)


class _Sympy(ModuleType):
    """Type promotion asks whether a scalar is a sympy expression; none is here."""

    class Basic:
        pass

    def __init__(self) -> None:
        super().__init__("sympy")

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        return _real(name, "sympy")


class _SymbolicShapes(ModuleType):
    """The shape guards of torch.fx.experimental.symbolic_shapes, for plain values."""

    def __init__(self) -> None:
        super().__init__(_SYMBOLIC)
        plain = {
            "expect_true": lambda a, skip=0: bool(a),
            "guard_or_false": bool, "guard_or_true": bool, "statically_known_true": bool,
            "guard_size_oblivious": bool, "definitely_true": bool,
            "definitely_false": lambda a: not a,
            "sym_and": lambda *a: all(a), "sym_or": lambda *a: any(a),
            "sym_eq": lambda a, b: (
                len(a) == len(b) and all(x == y for x, y in zip(a, b, strict=True))
                if isinstance(a, (list, tuple)) else a == b),
            "is_nested_int": lambda s: False, "guard_int": int,
            "has_guarding_hint": lambda a: True, "guarding_hint_or_throw": lambda a: a,
        }
        for name, fn in plain.items():
            setattr(self, name, self._guard(name, fn))

    @staticmethod
    def _guard(name: str, fn: object):  # noqa: ANN205 - returns the guard
        def guard(*args: object, **kwargs: object) -> object:
            if _plain(*args):
                return fn(*args, **kwargs)  # type: ignore[operator]
            return _real(name)(*args, **kwargs)  # type: ignore[operator]
        return guard

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):  # the import system asking whether this is a package
            raise AttributeError(name)
        return _real(name)


@contextmanager
def without_compiler_imports() -> Iterator[None]:
    """Run a cost trace with the stand-ins in place of the modules not yet imported."""
    stand_ins: list[ModuleType] = []
    for name, make in (("torch._dynamo", _Dynamo), (_SYMBOLIC, _SymbolicShapes),
                       ("sympy", _Sympy)):
        if name not in sys.modules:  # already imported: nothing to save
            sys.modules[name] = make()
            stand_ins.append(sys.modules[name])
    try:
        yield
    finally:
        for module in stand_ins:
            if sys.modules.get(module.__name__) is module:
                del sys.modules[module.__name__]
            if isinstance(module, _Dynamo):
                if torch.__dict__.get("_dynamo") is module:
                    del torch._dynamo
                for fn in module.marked:
                    if getattr(fn, "__dynamo_disable", None) is fn:
                        delattr(fn, "__dynamo_disable")
