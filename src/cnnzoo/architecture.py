"""The architecture stage by stage, with output shapes, traced on the meta device."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnzoo.analysis.trace import Tracer, on_meta
from cnnzoo.models.base import ZooModel
from cnnzoo.models.features import assign_to_stages

# Parameter-free elementwise layers: shown in the per-layer cost analysis, not here.
_QUIET = (nn.ReLU, nn.ReLU6, nn.Dropout, nn.Identity, nn.Tanh)


@dataclass(frozen=True)
class Stage:
    """One row: a block (or a layer between blocks), its output, and the declared stage
    (`feature_info`) it belongs to."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    stage: str = ""


def _rows(model: ZooModel) -> list[tuple[str, nn.Module]]:
    """The top-level modules, with the declared stages opened into their blocks: a stage's
    module that holds blocks (ResNet's layerN) and any module holding a stage's module
    (VGG's and MobileNet's `features`) show their children, one row each."""
    stages = [f.module for f in model.feature_info]

    def opened(name: str, module: nn.Module) -> list[tuple[str, nn.Module]]:
        holds_stage = any(s.startswith(name + ".") for s in stages)
        is_stage_of_blocks = name in stages and isinstance(module, nn.Sequential)
        if not (holds_stage or is_stage_of_blocks):
            return [(name, module)]
        return [row for n, c in module.named_children() for row in opened(f"{name}.{n}", c)]

    rows = [row for n, c in model.named_children() for row in opened(n, c)]
    return [(n, m) for n, m in rows if not isinstance(m, _QUIET) or n in stages]


def architecture(model: ZooModel, input_size: tuple[int, int, int]) -> list[Stage]:
    """Run a batch of one through `model` on the meta device (no memory, no arithmetic)
    and return each row in the order data flows through it."""
    meta = on_meta(model)
    meta.eval()
    rows = dict(_rows(meta))
    tracer = Tracer()
    with torch.no_grad(), tracer.hooks(meta), tracer:
        meta(torch.empty((1, *input_size), device="meta"))
    seen = [(c.path, type(c.module).__name__, c.output_shape,
             sum(p.numel() for p in c.module.parameters()))
            for c in sorted(tracer.calls, key=lambda c: c.end)
            if c.path in rows and rows[c.path] is c.module and c.output_shape is not None]
    stages = assign_to_stages(model.feature_info, [row[0] for row in seen])
    return [Stage(*row, stage=stage) for row, stage in zip(seen, stages, strict=True)]
