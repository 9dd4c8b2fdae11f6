"""The precision vocabulary: one set of words for every command and function.

Canonical names are `fp32`, `bf16` and `fp16` (and `fp64`, which only the cost analysis
takes); PyTorch's names (`float32`, `bfloat16`, `float16`, `float64`, with or without
`torch.`) and torch dtypes are accepted as aliases everywhere. Each user of a precision
says which of the names it supports (training: PRECISIONS; cost analysis: ANALYSIS).
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from cnnzoo.errors import UsageError

PRECISIONS = ("fp32", "bf16", "fp16")  # train, eval, bench, optimize
ANALYSIS = (*PRECISIONS, "fp64")  # summary, compare and cost.profile also count fp64 bytes
# Quantized precisions: no torch dtype to cast a model to; bench's ONNX Runtime and OpenVINO
# backends and `cnnzoo deploy` produce them (cnnzoo.export.quantize).
QUANTIZED = ("int8",)

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
           "fp64": torch.float64}
ALIASES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", "float64": "fp64"}


def lookup(value: str | torch.dtype) -> str | None:
    """The canonical name of a precision word or dtype; None if it is not one."""
    if isinstance(value, torch.dtype):
        return next((name for name, dt in _DTYPES.items() if dt == value), None)
    if not isinstance(value, str):
        return None
    key = value.strip().lower().removeprefix("torch.")
    return key if key in _DTYPES or key in QUANTIZED else ALIASES.get(key)


def words(allowed: Sequence[str] = PRECISIONS) -> str:
    """'fp32, bf16 or fp16 (or float32, bfloat16, float16)': for help and errors."""
    aliases = [a for a, name in ALIASES.items() if name in allowed]
    return f"{', '.join(allowed[:-1])} or {allowed[-1]} (or {', '.join(aliases)})"


def precision_name(value: str | torch.dtype, allowed: Sequence[str] = PRECISIONS,
                   what: str = "precision") -> str:
    """The canonical name of `value`, or a UsageError naming `what` and the choices."""
    name = lookup(value)
    if name is None:
        raise UsageError(f"unknown {what} {value!r}; choose {words(allowed)}")
    if name not in allowed:
        raise UsageError(f"{what} {name} is not offered here; choose {words(allowed)}")
    return name


def dtype_of(value: str | torch.dtype, allowed: Sequence[str] = PRECISIONS,
             what: str = "precision") -> torch.dtype:
    """The torch dtype of a precision word (or of a dtype, checked against `allowed`);
    float32 for a quantized precision, whose inputs and outputs are float32."""
    return _DTYPES.get(precision_name(value, allowed, what), torch.float32)


def precision_arg(allowed: Sequence[str] = PRECISIONS) -> Callable[[str], str]:
    """An argparse `type=` that turns any alias into its canonical name."""
    def parse(text: str) -> str:
        try:
            return precision_name(text, allowed)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = "precision"  # argparse names the type in its messages
    return parse


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU has bf16 matrix units (AVX512-BF16 or AMX). Without them PyTorch
    emulates bf16 on the CPU, tens of times slower than fp32 (measured on an AVX2 EPYC:
    a 1024^2 matmul 4 s in bf16, 0.07 s in fp32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def bf16_emulated(device: torch.device | str | None = None) -> bool:
    """bf16 on a CPU without bf16 units, where it is slower than fp32. `device` None: where
    cnnzoo would run (CUDA when available)."""
    # str, not torch.device: an unknown device name is for the caller's validation to word
    on_cpu = str(device).startswith("cpu") if device is not None else \
        not torch.cuda.is_available()
    return on_cpu and not native_bf16()
