"""Runs a model on the meta device and records, operator by operator, what each layer
costs, the receptive field of every tensor, and how many bytes are alive at once.

Leaf modules (Conv2d, BatchNorm2d, ReLU, ...) become one row each per call. Operators a
block's forward calls itself (the residual addition, an Inception block's concatenation,
ConvBNReLU's F.relu) become rows of their own, named after the block: `layer1.0.add`.
"""

from __future__ import annotations

import sys
import weakref
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

from cnnzoo.cost.fastmeta import FAST
from cnnzoo.cost.ops import Field, StructuralZeros, friendly_name, op_cost, op_field

# Ops inside these modules are labelled by the module's role, not by the aten operator
# (LocalResponseNorm is built from mul, pad, avg_pool3d, add, pow and div).
_MODULE_KINDS: tuple[tuple[tuple[type[nn.Module], ...], str], ...] = (
    ((nn.modules.batchnorm._NormBase, nn.LocalResponseNorm, nn.GroupNorm, nn.LayerNorm),
     "norm"),
    ((nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.Sigmoid, nn.Tanh, nn.GELU, nn.SiLU, nn.LeakyReLU,
      nn.ELU, nn.Hardswish, nn.Hardsigmoid), "activation"),
    ((nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
      nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd), "pooling"),
)


def module_kind(module: nn.Module) -> str | None:
    for types, kind in _MODULE_KINDS:
        if isinstance(module, types):
            return kind
    return None


@dataclass
class LayerCost:
    """One row of the analysis: a leaf module's call, or an operator a block calls itself.

    Shapes leave out the batch dimension. `activation_*` is the output tensor at the
    profiled batch size and dtype. `receptive_field` and `jump` are (rows, cols) in
    input pixels.
    """

    name: str
    type: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int = 0
    macs: int = 0
    other_flops: dict[str, int] = field(default_factory=dict)
    activation_elements: int = 0
    activation_bytes: int = 0
    receptive_field: tuple[int, int] | None = None
    jump: tuple[Fraction, Fraction] | None = None  # below 1 after an upsampling
    stage: str = ""
    shares: str = ""  # the row that counted these parameters (a module called again)
    zero_macs: int = 0  # multiply-adds on structural zeros, left out of `macs`

    @property
    def total_other_flops(self) -> int:
        return sum(self.other_flops.values())


@dataclass
class _Call:
    """A leaf module call in progress: what its operators have cost so far."""

    name: str
    module: nn.Module
    kind: str | None
    input_shape: tuple[int, ...] = ()
    macs: int = 0
    zero_macs: int = 0
    other: Counter = field(default_factory=Counter)
    active: bool = False  # ran an operator that computes or allocates


class MemoryMeter:
    """Bytes of tensors alive at once, as eager PyTorch holds them. Each operator output
    that owns new storage counts until the last tensor on that storage dies: views of it
    (a weight gradient is the transpose of an mm output) keep it alive, so every tensor
    that shares the storage is watched (weakref finalizers), not only the first."""

    def __init__(self, start: int = 0) -> None:
        self.current = start
        self.peak = start
        self.peak_at = ""
        self._live: dict[int, list[int]] = {}  # storage -> [bytes, tensors alive on it]

    def allocate(self, t: torch.Tensor, where: str) -> None:
        storage = t.untyped_storage()
        record = [storage.nbytes(), 0]
        self._live[storage._cdata] = record
        self.current += record[0]
        if self.current > self.peak:
            self.peak, self.peak_at = self.current, where
        self._hold(t, storage._cdata, record)

    def alias(self, t: torch.Tensor) -> None:
        """`t` is a view (or the in-place result) of a tensor: it keeps that storage."""
        key = t.untyped_storage()._cdata
        record = self._live.get(key)
        if record is not None:  # storage made outside the trace (weights) is not counted
            self._hold(t, key, record)

    def _hold(self, t: torch.Tensor, key: int, record: list[int]) -> None:
        # The finalizer holds the record itself: a freed storage's address can be reused by
        # a new one before every tensor of the old one is collected.
        record[1] += 1
        weakref.finalize(t, self._release, key, record)

    def _release(self, key: int, record: list[int]) -> None:
        record[1] -= 1
        if record[1] == 0:
            self.current -= record[0]
            if self._live.get(key) is record:
                del self._live[key]


def _tensors(tree: object) -> list[torch.Tensor]:
    """The tensors in an operator's arguments or results, in order. Walked by hand: these
    are tuples, lists and dicts a level or two deep, and pytree's general flatten was a
    fifth of tracing a ResNet-152."""
    found: list[torch.Tensor] = []
    todo = [tree]
    while todo:
        x = todo.pop()
        if isinstance(x, torch.Tensor):
            found.append(x)
        elif isinstance(x, (tuple, list)):
            todo.extend(reversed(x))
        elif isinstance(x, dict):
            todo.extend(reversed(list(x.values())))
        elif x is not None and not isinstance(x, (int, float, bool, str, torch.dtype,
                                                   torch.device, torch.memory_format,
                                                   torch.layout)):
            found.extend(t for t in tree_flatten(x)[0] if isinstance(t, torch.Tensor))
    return found


class Tracer(TorchDispatchMode):
    """Use as `with tracer, tracer.hooks(model): model(x)`; read `layers` and `memory`.

    With `record=False` only memory is tracked (used for training passes, where the
    backward operators run outside any module).
    """

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # Otherwise torch wraps __torch_dispatch__ in torch._dynamo.disable, and the first
        # operator imports torch._dynamo: seconds of a `summary`'s start-up. Nothing here
        # is ever compiled, so there is nothing for Dynamo to skip.
        return False

    def __init__(self, record: bool = True) -> None:
        super().__init__()
        self.record = record
        self.memory = MemoryMeter()
        self.fields: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.layers: list[LayerCost] = []
        self.uncounted: set[str] = set()  # operators with no cost rule (listed in reports)
        self._stack: list[tuple[str, nn.Module]] = []
        self._call: _Call | None = None
        self._names: Counter = Counter()
        self._param_rows: dict[int, str] = {}  # id(parameter) -> the row that counted it
        self.failed_in: tuple[str, nn.Module, BaseException] | None = None

    def watch_input(self, x: torch.Tensor) -> None:
        """The input is alive throughout and its receptive field is one pixel."""
        self.fields[x] = Field()
        self.memory.current += x.untyped_storage().nbytes()
        self.memory.peak = max(self.memory.peak, self.memory.current)

    # -- module bookkeeping ---------------------------------------------------------

    @contextmanager
    def hooks(self, model: nn.Module) -> Iterator[None]:
        handles = []
        for name, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(self._make_pre(name)))
            handles.append(module.register_forward_hook(self._post, always_call=True))
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def _make_pre(self, name: str):  # noqa: ANN202 - a hook closure
        def pre(module: nn.Module, args: tuple) -> None:
            self._stack.append((name, module))
            if self.record and next(module.children(), None) is None and self._call is None:
                inputs = _tensors(args)
                self._call = _Call(
                    name, module, module_kind(module),
                    tuple(inputs[0].shape[1:]) if inputs else (),
                )
        return pre

    def _post(self, module: nn.Module, args: tuple, output: object) -> None:
        name, _ = self._stack.pop()
        error = sys.exc_info()[1]  # forward hooks with always_call run while unwinding
        if error is not None and self.failed_in is None:
            self.failed_in = (name, module, error)  # the innermost module that failed
        call = self._call
        if call is None or call.module is not module or call.name != name:
            return
        self._call = None
        outputs = _tensors(output)
        weights = list(module.parameters())
        if not (call.active or weights) or not outputs:
            return  # Identity, Dropout in eval, Flatten: nothing computed or stored
        # Parameters count once, in the first row that uses them; MACs count per call.
        new = [p for p in weights if id(p) not in self._param_rows]
        shares = next((self._param_rows[id(p)] for p in weights if id(p) in self._param_rows),
                      "")
        row = self._add_row(name, type(module).__name__, call.input_shape, outputs[0],
                            sum(p.numel() for p in new), call.macs, dict(call.other))
        row.shares, row.zero_macs = shares, call.zero_macs
        for p in new:
            self._param_rows[id(p)] = row.name

    def _add_row(
        self, name: str, kind: str, input_shape: tuple[int, ...], out: torch.Tensor,
        params: int, macs: int, other: dict[str, int],
    ) -> LayerCost:
        self._names[name] += 1
        if self._names[name] > 1:
            name = f"{name}#{self._names[name]}"  # a module or operator used again
        f = self.fields.get(out)
        row = LayerCost(
            name=name, type=kind, input_shape=input_shape, output_shape=tuple(out.shape[1:]),
            params=params, macs=macs, other_flops={k: v for k, v in other.items() if v},
            activation_elements=out.numel(), activation_bytes=out.numel() * out.element_size(),
            receptive_field=f.size if f else None, jump=f.jump if f else None,
        )
        self.layers.append(row)
        return row

    # -- operators --------------------------------------------------------------------

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        out = FAST.get(func, func)(*args, **kwargs) if self.record else func(*args, **kwargs)
        outputs = _tensors(out)
        returns = func._schema.returns
        where = self._call.name if self._call else _op_row_name(self._stack, func)
        allocated = False
        for i, t in enumerate(outputs):
            if i >= len(returns) or returns[i].alias_info is None:  # owns new storage
                self.memory.allocate(t, where)
                allocated = True
            else:
                self.memory.alias(t)
        in_fields = [self.fields[t] for t in _tensors((args, kwargs)) if t in self.fields]
        if in_fields:
            merged = in_fields[0]
            for f in in_fields[1:]:
                merged = merged.merge(f)
            first = outputs[0] if outputs else None
            new = op_field(func, args, kwargs, merged, first)
            for t in outputs:
                self.fields[t] = new
        if self.record and (allocated or in_fields):
            self._count(func, args, kwargs, outputs, allocated, bool(in_fields))
        return out

    def _count(self, func, args: tuple, kwargs: dict, outputs: list[torch.Tensor],  # noqa: ANN001
               allocated: bool, from_data: bool) -> None:
        first = outputs[0] if outputs else None
        macs, other = op_cost(func, args, kwargs, first)
        has_cost = bool(macs or other)
        name = func.overloadpacket.__name__
        if not has_cost and allocated and from_data and name not in _FREE_OPS:
            self.uncounted.add(name)
        call = self._call
        if call is not None and macs and isinstance(call.module, StructuralZeros):
            # Each zero of the dense kernel is multiplied once per output position.
            zero = call.module.structural_zeros() * (first.numel() // first.shape[1])
            call.zero_macs += zero
            macs -= zero
        if call is not None:
            if call.kind:  # e.g. the adds inside LocalResponseNorm are normalisation
                other = {call.kind if k != "bias" else k: v for k, v in other.items()}
            call.macs += macs
            call.other.update(other)
            call.active = call.active or has_cost or allocated
            return
        if first is None or not from_data or not (has_cost or allocated):
            return  # a view, or a constant made inside forward
        data = [t for t in _tensors(args) if t in self.fields]
        self._add_row(_op_row_name(self._stack, func), friendly_name(func),
                      tuple(data[0].shape[1:]) if data else (), first, 0, macs, other)


def _op_row_name(stack: list[tuple[str, nn.Module]], func: torch._ops.OpOverload) -> str:
    """An operator a module calls itself is named after it: `layer1.0.add`; one the
    model's own forward calls is named alone: `flatten`."""
    parent = stack[-1][0] if stack else ""
    op = friendly_name(func)
    return f"{parent}.{op}" if parent else op


# Operators that allocate but compute nothing worth counting (copies, padding, joins).
_FREE_OPS = {
    "cat", "constant_pad_nd", "clone", "_to_copy", "copy_", "empty", "empty_like",
    "zeros", "zeros_like", "ones", "ones_like", "new_empty", "new_zeros", "lift_fresh_copy",
    "contiguous", "stack", "full", "scalar_tensor", "unsqueeze_copy", "view_copy",
}
