"""Mixed precision: bf16 autocast on CPU (AMX makes its matmuls much faster), fp16/bf16
autocast on CUDA, with a gradient scaler for fp16 only."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from cnnzoo.errors import TrainingError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type == "cpu":
        raise TrainingError("--precision fp16 needs a CUDA GPU; on CPU use --precision bf16")
    return torch.autocast(device_type=device.type, dtype=_DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    # fp16 gradients underflow without scaling; bf16 has fp32's range and needs none.
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
