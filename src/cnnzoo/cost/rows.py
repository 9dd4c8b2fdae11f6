"""The rows of the cost table, read from a trace (`cnnzoo.analysis.trace`).

Leaf modules (Conv2d, BatchNorm2d, ReLU, ...) become one row each per call. Operators a
block's forward calls itself (the residual addition, an Inception block's concatenation,
ConvBNReLU's F.relu) become rows of their own, named after the block: `layer1.0.add`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

from cnnzoo.analysis.ops import friendly_name
from cnnzoo.analysis.trace import Node, Tracer, op_path


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


def layer_rows(tracer: Tracer) -> list[LayerCost]:
    """One row per leaf module call that computed, stored or holds weights, and per
    operator a block ran itself on data that computed or allocated, in the order they ran."""
    rows: list[LayerCost] = []
    names: Counter = Counter()
    param_rows: dict[int, str] = {}  # id(parameter) -> the row that counted it
    for node in tracer.nodes:
        if node.module is not None:
            weights = list(node.module.parameters())
            if not (node.active or weights) or not node.has_output:
                continue  # Identity, Dropout in eval, Flatten: nothing computed or stored
            # Parameters count once, in the first row that uses them; MACs count per call.
            new = [p for p in weights if id(p) not in param_rows]
            row = _row(node, node.path, type(node.module).__name__, names)
            row.params = sum(p.numel() for p in new)
            row.shares = next((param_rows[id(p)] for p in weights if id(p) in param_rows), "")
            for p in new:
                param_rows[id(p)] = row.name
        elif node.func is not None and node.from_data and node.active and node.has_output:
            kind = friendly_name(node.func)
            row = _row(node, op_path(node.path, kind), kind, names)
        else:
            continue  # the input, a view, or a constant made inside forward
        rows.append(row)
    return rows


def _row(node: Node, name: str, kind: str, names: Counter) -> LayerCost:
    names[name] += 1
    if names[name] > 1:
        name = f"{name}#{names[name]}"  # a module or operator used again
    f = node.field
    return LayerCost(
        name=name, type=kind, input_shape=node.input_shape, output_shape=node.shape,
        macs=node.macs, other_flops={k: v for k, v in node.other.items() if v},
        activation_elements=node.activation_elements,
        activation_bytes=node.activation_bytes,
        receptive_field=f.size if f else None, jump=f.jump if f else None,
        zero_macs=node.zero_macs,
    )
