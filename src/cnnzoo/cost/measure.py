"""Measured memory of real training steps on the CPU, to check `training_memory` against."""

from __future__ import annotations

import torch
from torch import nn
from torch.profiler import ProfilerActivity
from torch.profiler import profile as torch_profile

from cnnzoo.cost.memory import make_optimizer
from cnnzoo.models.base import loss_of


def measure_training_peak(
    model: nn.Module, input_size: tuple[int, int, int], batch_size: int, optimizer: str,
    num_classes: int, steps: int = 2, foreach: bool | None = None,
) -> int:
    """Peak bytes PyTorch holds on the CPU over `steps` real training steps of `model`
    (whose weights change): the weights already allocated plus the most allocated on top
    at any moment, from torch.profiler's memory events in time order. Two steps, so the
    optimizer state made by the first is there during the second."""
    weights = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    model.train()
    with torch_profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        opt = make_optimizer(optimizer, model.parameters(), foreach)
        x = torch.randn(batch_size, *input_size)
        y = torch.randint(0, num_classes, (batch_size,))
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss_of(model, model(x), y).backward()
            opt.step()
    return weights + _peak(prof)


def measure_inference_peak(
    model: nn.Module, input_size: tuple[int, int, int], batch_size: int = 1
) -> int:
    """Peak bytes of activations (input included) during one real eval-mode forward pass
    on the CPU: what `profile(...).peak_activation_bytes` estimates."""
    model.eval()
    with torch.no_grad(), torch_profile(
        activities=[ProfilerActivity.CPU], profile_memory=True
    ) as prof:
        model(torch.randn(batch_size, *input_size))
    return _peak(prof)


def _peak(prof: torch_profile) -> int:
    """The most bytes allocated at once since profiling began, from the memory events."""
    events = prof.profiler.kineto_results.events()
    deltas = sorted((e.start_ns(), e.nbytes()) for e in events if e.name() == "[memory]")
    current = peak = 0
    for _, nbytes in deltas:
        current += nbytes
        peak = max(peak, current)
    return peak
