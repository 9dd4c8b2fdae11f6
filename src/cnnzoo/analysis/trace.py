"""The one walker: run a model on the meta device and record what ran.

Every module call becomes a `Call` (its path, parent, children, when it started and ended,
its output's shape). Every leaf module call, and every operator a block's own `forward`
calls on data (the residual `+`, an Inception block's `torch.cat`, a functional ReLU),
becomes a `Node`: the operators it ran, what they cost, the receptive field and bytes of its
output, and the nodes that produced the tensors it was given. Bytes alive at once are
tracked throughout (`memory`). The cost table (`cost.rows`), the architecture table, the
diagrams (`draw.trace`) and `features_only`'s pruning each read these records.
"""

from __future__ import annotations

import sys
import weakref
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

from cnnzoo.analysis.describe import Op, describe_op
from cnnzoo.analysis.fastmeta import FAST
from cnnzoo.analysis.meta import meta_copy
from cnnzoo.analysis.ops import Field, StructuralZeros, friendly_name, op_cost, op_field

aten = torch.ops.aten
# Operators where branches meet, when they take more than one traced tensor.
MERGE_OPS = {aten.add, aten.add_, aten.sub, aten.mul, aten.mul_, aten.cat, aten.stack}

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

# Operators that allocate but compute nothing worth counting (copies, padding, joins).
_FREE_OPS = {
    "cat", "constant_pad_nd", "clone", "_to_copy", "copy_", "empty", "empty_like",
    "zeros", "zeros_like", "ones", "ones_like", "new_empty", "new_zeros", "lift_fresh_copy",
    "contiguous", "stack", "full", "scalar_tensor", "unsqueeze_copy", "view_copy",
}


def module_kind(module: nn.Module) -> str | None:
    for types, kind in _MODULE_KINDS:
        if isinstance(module, types):
            return kind
    return None


def on_meta(model: nn.Module) -> nn.Module:
    """`model` itself when its parameters are on the meta device already, else a meta copy."""
    p = next(model.parameters(), None)
    return model if p is not None and p.is_meta else meta_copy(model)


@dataclass
class Call:
    """One call of one module (a module called twice, like LeNet's `act`, has two)."""

    index: int
    path: str
    module: nn.Module
    parent: int | None
    children: list[int] = field(default_factory=list)
    leaf: bool = False
    nodes: list[int] = field(default_factory=list)  # every node inside, at any depth
    outputs: list[int] = field(default_factory=list)  # nodes that produced its output
    start: int = 0  # the order of module starts and ends, both counted
    end: int = 0
    output_shape: tuple[int, ...] | None = None  # without the batch; None if not a tensor


@dataclass
class Node:
    """The input, a leaf module's call, or an operator a block's own forward called on data.

    `path` is the module's (for an operator: the module whose forward called it, "" for the
    model's own). Shapes leave out the batch dimension; `activation_*` is the first output
    at the traced batch size and dtype. `macs` leave out those on structural zeros
    (`zero_macs`); `other` holds the other FLOPs by kind. `active`: some operator computed
    or allocated. `from_data`: an operator whose inputs come from the model's input.
    """

    index: int
    path: str
    module: nn.Module | None
    scope: tuple[int, ...]  # indices of the calls it runs inside, outermost first
    inputs: list[int] = field(default_factory=list)
    func: torch._ops.OpOverload | None = None  # for an operator node
    ops: list[Op] = field(default_factory=list)
    input_shape: tuple[int, ...] = ()
    shape: tuple[int, ...] = ()
    has_output: bool = False
    params: int = 0  # every parameter of the leaf module
    macs: int = 0
    zero_macs: int = 0
    other: Counter = field(default_factory=Counter)
    active: bool = False
    from_data: bool = False
    field: Field | None = None
    activation_elements: int = 0
    activation_bytes: int = 0

    @property
    def merges(self) -> bool:
        return self.func is not None and self.func.overloadpacket in MERGE_OPS


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


def tensors(tree: object) -> list[torch.Tensor]:
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


def op_path(parent: str, op: str) -> str:
    """An operator a module calls itself is named after it: `layer1.0.add`; one the
    model's own forward calls is named alone: `flatten`."""
    return f"{parent}.{op}" if parent else op


class Tracer(TorchDispatchMode):
    """Use as `with tracer, tracer.hooks(model): model(x)`; read `calls`, `nodes`, `memory`.

    With `record=False` only calls and memory are tracked (used for training passes, where
    the backward operators run outside any module).
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
        self.producer: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> node
        self.calls: list[Call] = []
        self.nodes: list[Node] = []
        self.uncounted: set[str] = set()  # operators with no cost rule (listed in reports)
        self._stack: list[int] = []  # open calls
        self._leaf: Node | None = None  # the leaf module call in progress
        self._leaf_kind: str | None = None
        self._seq = 0
        self.failed_in: tuple[str, nn.Module, BaseException] | None = None

    def watch_input(self, x: torch.Tensor) -> None:
        """The input is alive throughout, its receptive field is one pixel, and it is a
        node of its own (`path` "input")."""
        self.fields[x] = Field()
        self.memory.current += x.untyped_storage().nbytes()
        self.memory.peak = max(self.memory.peak, self.memory.current)
        node = self._new_node("input", None, [])
        node.shape = tuple(x.shape[1:])
        self.producer[x] = node.index

    def sources(self, tree: object) -> list[int]:
        """The nodes that produced the tensors in `tree`, each once, in order."""
        found: list[int] = []
        for t in tensors(tree):
            n = self.producer.get(t)
            if n is not None and n not in found:
                found.append(n)
        return found

    def _new_node(self, path: str, module: nn.Module | None, inputs: list[int]) -> Node:
        node = Node(len(self.nodes), path, module, tuple(self._stack), inputs)
        self.nodes.append(node)
        for c in self._stack:
            self.calls[c].nodes.append(node.index)
        return node

    def _output(self, node: Node, outputs: list[torch.Tensor]) -> None:
        node.has_output = bool(outputs)
        if outputs:
            out = outputs[0]
            node.shape = tuple(out.shape[1:])
            node.activation_elements = out.numel()
            node.activation_bytes = out.numel() * out.element_size()
            node.field = self.fields.get(out)
        for t in outputs:
            self.producer[t] = node.index

    # -- module bookkeeping ---------------------------------------------------------

    @contextmanager
    def hooks(self, model: nn.Module) -> Iterator[None]:
        handles = []
        for path, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(self._pre(path), with_kwargs=True))
            handles.append(module.register_forward_hook(self._post, always_call=True))
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def _pre(self, path: str):  # noqa: ANN202 - a hook closure
        def pre(module: nn.Module, args: tuple, kwargs: dict) -> None:
            parent = self._stack[-1] if self._stack else None
            self._seq += 1
            call = Call(len(self.calls), path, module, parent, start=self._seq)
            call.leaf = next(module.children(), None) is None
            self.calls.append(call)
            if parent is not None:
                self.calls[parent].children.append(call.index)
            self._stack.append(call.index)
            if self.record and call.leaf and self._leaf is None:
                node = self._new_node(path, module, self.sources((args, kwargs)))
                inputs = tensors(args)
                node.input_shape = tuple(inputs[0].shape[1:]) if inputs else ()
                node.params = sum(p.numel() for p in module.parameters())
                self._leaf, self._leaf_kind = node, module_kind(module)
        return pre

    def _post(self, module: nn.Module, args: tuple, output: object) -> None:
        call = self.calls[self._stack.pop()]
        self._seq += 1
        call.end = self._seq
        if isinstance(output, torch.Tensor):
            call.output_shape = tuple(output.shape[1:])
        error = sys.exc_info()[1]  # forward hooks with always_call run while unwinding
        if error is not None and self.failed_in is None:
            self.failed_in = (call.path, module, error)  # the innermost module that failed
        node = self._leaf
        if node is not None and node.module is module and call.leaf and node.path == call.path:
            self._leaf = None
            self._output(node, tensors(output))
        call.outputs = self.sources(output)

    # -- operators --------------------------------------------------------------------

    def _parent(self) -> str:
        return self.calls[self._stack[-1]].path if self._stack else ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        out = FAST.get(func, func)(*args, **kwargs) if self.record else func(*args, **kwargs)
        outputs = tensors(out)
        returns = func._schema.returns
        leaf = self._leaf
        where = leaf.path if leaf else op_path(self._parent(), friendly_name(func))
        allocated = False
        for i, t in enumerate(outputs):
            if i >= len(returns) or returns[i].alias_info is None:  # owns new storage
                self.memory.allocate(t, where)
                allocated = True
            else:
                self.memory.alias(t)
        data = [t for t in tensors((args, kwargs)) if t in self.fields]
        if data:
            merged = self.fields[data[0]]
            for t in data[1:]:
                merged = merged.merge(self.fields[t])
            new = op_field(func, args, kwargs, merged, outputs[0] if outputs else None)
            for t in outputs:
                self.fields[t] = new
        if self.record:
            self._record(func, args, kwargs, outputs, allocated, bool(data))
        return out

    def _record(self, func, args: tuple, kwargs: dict, outputs: list[torch.Tensor],  # noqa: ANN001
                allocated: bool, from_data: bool) -> None:
        first = outputs[0] if outputs else None
        op = describe_op(func, args, kwargs, first)
        leaf = self._leaf
        if leaf is not None:  # inside a layer: part of what the layer does
            leaf.ops.append(op)
            if allocated or from_data:
                self._count(leaf, func, args, kwargs, first, allocated, from_data)
            return
        sources = self.sources((args, kwargs))
        if not outputs or not (sources or from_data):
            return  # a constant made inside forward, or a parameter reshaped
        node = self._new_node(self._parent(), None, sources)
        node.func, node.ops, node.from_data = func, [op], from_data
        data = [t for t in tensors(args) if t in self.fields]
        node.input_shape = tuple(data[0].shape[1:]) if data else ()
        if allocated or from_data:
            self._count(node, func, args, kwargs, first, allocated, from_data)
        self._output(node, outputs)

    def _count(self, node: Node, func, args: tuple, kwargs: dict,  # noqa: ANN001
               first: torch.Tensor | None, allocated: bool, from_data: bool) -> None:
        macs, other = op_cost(func, args, kwargs, first)
        has_cost = bool(macs or other)
        name = func.overloadpacket.__name__
        if not has_cost and allocated and from_data and name not in _FREE_OPS:
            self.uncounted.add(name)
        if node.module is not None:
            if macs and isinstance(node.module, StructuralZeros):
                # Each zero of the dense kernel is multiplied once per output position.
                zero = node.module.structural_zeros() * (first.numel() // first.shape[1])
                node.zero_macs += zero
                macs -= zero
            if self._leaf_kind:  # e.g. the adds inside LocalResponseNorm are normalisation
                other = {self._leaf_kind if k != "bias" else k: v for k, v in other.items()}
        node.macs += macs
        node.other.update(other)
        node.active = node.active or has_cost or allocated
