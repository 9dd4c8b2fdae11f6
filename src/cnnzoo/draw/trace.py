"""Record the real forward pass, on the meta device, as a graph of layers.

Every leaf module call becomes a node; so does every operator a block's own `forward`
calls on data (the residual `+`, an Inception block's `torch.cat`, a functional ReLU or
pooling). Edges follow the tensors: a node's inputs are the nodes that produced the
tensors it was given. Nothing is hand-written per model, so a user's own block with a
skip connection shows its skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from cnnzoo.cost.meta import meta_copy
from cnnzoo.cost.ops import op_cost
from cnnzoo.draw.names import Op, describe_op, is_passthrough, layer_kind
from cnnzoo.errors import CnnzooError, UsageError

aten = torch.ops.aten
_MERGE = {aten.add, aten.add_, aten.sub, aten.mul, aten.mul_, aten.cat, aten.stack}


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


@dataclass
class Node:
    index: int
    path: str
    module: nn.Module | None  # the leaf module; None for an operator or the input
    scope: tuple[int, ...]  # indices of the calls it runs inside, outermost first
    inputs: list[int] = field(default_factory=list)
    shape: tuple[int, ...] = ()  # output, without the batch dimension
    ops: list[Op] = field(default_factory=list)
    macs: int = 0
    params: int = 0
    merge: str = ""  # "add" or "concat" where branches meet

    @property
    def kind(self) -> str:
        """conv, pool, norm, act, linear, merge or other: the colour it is drawn in."""
        return "merge" if self.merge else layer_kind(self.ops, self.module)


@dataclass
class Graph:
    nodes: list[Node]
    calls: list[Call]
    output: list[int]  # nodes that produced the model's output

    def call_at(self, path: str) -> Call | None:
        return next((c for c in self.calls if c.path == path), None)


def _tensors(tree: object) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


class _Recorder(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[Node] = []
        self.calls: list[Call] = []
        self.stack: list[int] = []  # open calls
        self.leaf: Node | None = None  # the leaf module call in progress
        self.producer: dict[int, int] = {}  # id(tensor) -> node
        self.alive: list[torch.Tensor] = []  # keeps ids unique while we map them

    def _mark(self, t: torch.Tensor, node: int) -> None:
        self.producer[id(t)] = node
        self.alive.append(t)

    def _sources(self, tree: object) -> list[int]:
        found = []
        for t in _tensors(tree):
            n = self.producer.get(id(t))
            if n is not None and n not in found:
                found.append(n)
        return found

    def _new_node(self, path: str, module: nn.Module | None, inputs: list[int]) -> Node:
        node = Node(len(self.nodes), path, module, tuple(self.stack), inputs)
        self.nodes.append(node)
        for c in self.stack:
            self.calls[c].nodes.append(node.index)
        return node

    def start(self, x: torch.Tensor) -> None:
        node = self._new_node("input", None, [])
        node.shape = tuple(x.shape[1:])
        self._mark(x, node.index)

    # -- module hooks -------------------------------------------------------------------

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
            parent = self.stack[-1] if self.stack else None
            call = Call(len(self.calls), path, module, parent)
            call.leaf = next(module.children(), None) is None
            self.calls.append(call)
            if parent is not None:
                self.calls[parent].children.append(call.index)
            self.stack.append(call.index)
            if call.leaf and self.leaf is None:
                self.leaf = self._new_node(path, module, self._sources((args, kwargs)))
                self.leaf.params = sum(p.numel() for p in module.parameters())
        return pre

    def _post(self, module: nn.Module, args: tuple, output: object) -> None:
        call = self.calls[self.stack.pop()]
        node = self.leaf
        if node is not None and node.module is module and self.leaf_call_is(call):
            self.leaf = None
            outs = _tensors(output)
            if not node.params and all(is_passthrough(op) for op in node.ops):
                self._drop(node)  # Identity, Dropout in eval, Flatten: nothing is computed
                for t in outs:
                    if node.inputs:
                        self._mark(t, node.inputs[0])
            else:
                node.shape = tuple(outs[0].shape[1:]) if outs else ()
                for t in outs:
                    self._mark(t, node.index)
        call.outputs = self._sources(output)

    def leaf_call_is(self, call: Call) -> bool:
        return bool(call.leaf and self.leaf is not None and self.leaf.path == call.path)

    def _drop(self, node: Node) -> None:
        self.nodes.pop()
        for c in node.scope:
            self.calls[c].nodes.remove(node.index)

    # -- operators ----------------------------------------------------------------------

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outs = _tensors(out)
        op = describe_op(func, args, kwargs, outs[0] if outs else None)
        if self.leaf is not None:  # inside a layer: part of what the layer does
            self.leaf.ops.append(op)
            self.leaf.macs += op_cost(func, args, kwargs, outs[0] if outs else None)[0]
            return out
        sources = self._sources((args, kwargs))
        if not sources or not outs:
            return out  # a constant made inside forward, or a parameter reshaped
        if is_passthrough(op):
            for t in outs:
                self._mark(t, sources[0])
            return out
        parent = self.calls[self.stack[-1]].path if self.stack else ""
        node = self._new_node(f"{parent}.{op.name}" if parent else op.name, None, sources)
        node.ops.append(op)
        node.macs = op_cost(func, args, kwargs, outs[0])[0]
        node.shape = tuple(outs[0].shape[1:])
        if func.overloadpacket in _MERGE and len(sources) > 1:
            node.merge = "concat" if func.overloadpacket in (aten.cat, aten.stack) else "add"
            if func.overloadpacket in (aten.mul, aten.mul_):
                node.merge = "multiply"
        for t in outs:
            self._mark(t, node.index)
        return out


def trace(model: nn.Module, input_size: tuple[int, ...]) -> Graph:
    """Run a batch of one through a meta copy of `model` (eval mode, no memory, no
    arithmetic) and return the graph of what ran."""
    meta = model if _on_meta(model) else meta_copy(model)
    meta.eval()
    rec = _Recorder()
    x = torch.empty((1, *input_size), device="meta")
    rec.start(x)
    try:
        with torch.no_grad(), rec.hooks(meta), rec:
            out = meta(x)
    except CnnzooError:
        raise
    except Exception as e:  # a shape mismatch deep in torch, most often
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UsageError(
            f"cannot draw {type(model).__name__}: its forward pass failed on an input of "
            f"{tuple(input_size)} ({type(e).__name__}: {first}); pass an input_size "
            "(C, H, W) it accepts"
        ) from e
    return Graph(rec.nodes, rec.calls, rec._sources(out))


def _on_meta(model: nn.Module) -> bool:
    p = next(model.parameters(), None)
    return p is not None and p.is_meta
