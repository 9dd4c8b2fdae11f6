"""The real forward pass, on the meta device, as a graph of layers.

Every leaf module call becomes a node; so does every operator a block's own `forward`
calls on data (the residual `+`, an Inception block's `torch.cat`, a functional ReLU or
pooling). Edges follow the tensors: a node's inputs are the nodes that produced the
tensors it was given. Nothing is hand-written per model, so a user's own block with a
skip connection shows its skip. Read from the one trace (`cnnzoo.analysis.trace`): layers
that compute nothing (Identity, Dropout in eval, a reshape) are left out here and their
edges joined through.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import nn

from cnnzoo.analysis.describe import Op, is_passthrough
from cnnzoo.analysis.trace import Call, Tracer, on_meta
from cnnzoo.draw.names import layer_kind
from cnnzoo.errors import CnnzooError, UsageError


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


def _graph(tracer: Tracer, output: list[int]) -> Graph:
    """Drop what draws nothing; a dropped node's outputs count as made by its first input."""
    same: dict[int, int | None] = {}  # trace node -> graph node (None: no graph node)
    nodes: list[Node] = []
    drawn: list[int] = []  # the trace node of each graph node

    def resolve(inputs: list[int]) -> list[int]:
        found = []
        for i in inputs:
            j = same.get(i)
            if j is not None and j not in found:
                found.append(j)
        return found

    for rec in tracer.nodes:
        inputs = resolve(rec.inputs)
        leaf = rec.module is not None
        if rec.func is not None and not inputs:
            same[rec.index] = None  # an operator on nothing traced: a constant
            continue
        if (leaf and not rec.params or rec.func is not None) and all(
                is_passthrough(op) for op in rec.ops):
            same[rec.index] = inputs[0] if inputs else None
            continue
        nd = Node(len(nodes), rec.path, rec.module, rec.scope, inputs, rec.shape, rec.ops,
                  rec.macs, rec.params)  # real MACs, as `cnnzoo summary` counts them
        if rec.func is not None:
            nd.path = f"{rec.path}.{rec.ops[0].name}" if rec.path else rec.ops[0].name
            if rec.merges and len(inputs) > 1:
                nd.merge = {"cat": "concat", "stack": "concat", "mul": "multiply"}.get(
                    rec.ops[0].name, "add")
        nodes.append(nd)
        drawn.append(rec.index)
        same[rec.index] = nd.index
    kept = {rec: nd.index for rec, nd in zip(drawn, nodes, strict=True)}
    calls = [replace(c, nodes=[kept[i] for i in c.nodes if i in kept],
                     outputs=resolve(c.outputs)) for c in tracer.calls]
    return Graph(nodes, calls, resolve(output))


def trace(model: nn.Module, input_size: tuple[int, ...]) -> Graph:
    """Run a batch of one through a meta copy of `model` (eval mode, no memory, no
    arithmetic) and return the graph of what ran."""
    meta = on_meta(model)
    meta.eval()
    tracer = Tracer()
    x = torch.empty((1, *input_size), device="meta")
    tracer.watch_input(x)
    try:
        with torch.no_grad(), tracer.hooks(meta), tracer:
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
    return _graph(tracer, tracer.sources(out))
