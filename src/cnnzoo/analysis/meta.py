"""A copy of a model on the meta device, made without touching the model's memory."""

from __future__ import annotations

import copy

import torch
from torch import nn


def meta_copy(model: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
    """Deep-copy `model` with every parameter and buffer replaced by a meta tensor of the
    same shape (cast to `dtype` if floating point). The original is not changed, and
    its weights are never copied, so a 500 MB VGG costs nothing to analyse."""

    def meta(t: torch.Tensor) -> torch.Tensor:
        target = dtype if dtype is not None and t.is_floating_point() else t.dtype
        return torch.empty(t.shape, dtype=target, device="meta")

    memo: dict[int, object] = {}
    for p in model.parameters():
        memo[id(p)] = nn.Parameter(meta(p), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = meta(b)
    return copy.deepcopy(model, memo)
