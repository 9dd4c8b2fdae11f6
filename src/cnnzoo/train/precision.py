"""Mixed precision: bf16 autocast on CPU (AMX makes its matmuls much faster), fp16/bf16
autocast on CUDA, with a gradient scaler for fp16 only."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cnnzoo.blocks import is_depthwise
from cnnzoo.errors import TrainingError
from cnnzoo.precision import dtype_of, precision_name


def autocast(device: torch.device, precision: str | torch.dtype
             ) -> contextlib.AbstractContextManager[Any]:
    """Autocast to `precision` (any word of cnnzoo.precision); fp32 runs as it is."""
    precision = precision_name(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type == "cpu":
        raise TrainingError("precision fp16 needs a CUDA GPU; on CPU use bf16")
    return torch.autocast(device_type=device.type, dtype=dtype_of(precision))


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    # fp16 gradients underflow without scaling; bf16 has fp32's range and needs none.
    return torch.amp.GradScaler(device.type, enabled=precision_name(precision) == "fp16")


def depthwise_in_fp32(model: nn.Module, device: torch.device, precision: str) -> int:
    """Run the depthwise convolutions of a CPU bf16 model in fp32; returns how many.

    On CPU, oneDNN has no fast bf16 depthwise backward: under bf16 autocast MobileNetV2
    trained 2x slower than in fp32 (docs/benchmarks.md). In fp32 those layers are
    memory-bound either way, so nothing is lost. The weights are untouched (same state_dict);
    only the forward is wrapped. CUDA and fp32 runs are left alone."""
    if precision_name(precision) != "bf16" or device.type != "cpu":
        return 0
    count = 0
    for module in model.modules():
        if is_depthwise(module) and "forward" not in vars(module):
            module.forward = _fp32_forward(module.forward)
            count += 1
    return count


def _fp32_forward(forward: Callable[[torch.Tensor], torch.Tensor]
                  ) -> Callable[[torch.Tensor], torch.Tensor]:
    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(x.device.type, enabled=False):
            return forward(x.float())
    return run
