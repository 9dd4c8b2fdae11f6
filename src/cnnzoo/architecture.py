"""The architecture stage by stage, with output shapes, traced on the meta device."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnzoo.cost.meta import meta_copy
from cnnzoo.models.base import ZooModel

# Parameter-free elementwise layers: shown in the per-layer cost analysis, not here.
_QUIET = (nn.ReLU, nn.ReLU6, nn.Dropout, nn.Identity, nn.Tanh)


@dataclass(frozen=True)
class Stage:
    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int


def _stage_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level children, with indexed sequences (VGG's features, ResNet's layerN,
    MobileNet's blocks) opened one level so each block is its own row."""
    out = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential) and name not in ("classifier",):
            out += [(f"{name}.{n}", c) for n, c in child.named_children()]
        else:
            out.append((name, child))
    return [(n, m) for n, m in out if not isinstance(m, _QUIET)]


def architecture(model: ZooModel, input_size: tuple[int, int, int]) -> list[Stage]:
    """Run a batch of one through `model` on the meta device (no memory, no arithmetic)
    and return each stage in the order data flows through it."""
    meta = model if _on_meta(model) else meta_copy(model)
    meta.eval()
    seen: list[Stage] = []
    hooks = []
    for name, module in _stage_modules(meta):

        def record(mod: nn.Module, args: tuple, out: object, name: str = name) -> None:
            if isinstance(out, torch.Tensor):
                params = sum(p.numel() for p in mod.parameters())
                seen.append(Stage(name, type(mod).__name__, tuple(out.shape[1:]), params))

        hooks.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            meta(torch.empty((1, *input_size), device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return seen


def _on_meta(model: nn.Module) -> bool:
    p = next(model.parameters(), None)
    return p is not None and p.is_meta

