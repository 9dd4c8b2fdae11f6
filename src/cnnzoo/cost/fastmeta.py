"""Output tensors of the two operators that dominate a trace, made directly.

torch's meta kernels for convolution and batch norm are Python: batch norm's runs its
whole decomposition (half the time of tracing a ResNet), and convolution's `torch._check`
imports sympy on its first call (a second of `cnnzoo summary`'s start-up). For counting,
only the output's shape, dtype and layout matter, and those are a few lines of
arithmetic. Anything unusual (an input that does not fit, a layout or rank not covered
here) goes to torch's own kernel, so errors read as torch writes them; a test checks
these outputs against torch's kernels.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

aten = torch.ops.aten


def _layout(x: torch.Tensor) -> torch.memory_format:
    # Elementwise outputs keep a channels_last input's layout.
    if x.ndim == 4 and not x.is_contiguous() and x.is_contiguous(
            memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def convolution(
    x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, stride: list[int],
    padding: list[int], dilation: list[int], transposed: bool, output_padding: list[int],
    groups: int,
) -> torch.Tensor:
    args = (x, w, bias, stride, padding, dilation, transposed, output_padding, groups)
    if x.ndim != 4 or w.ndim != 4 or len(stride) != 2 or len(padding) != 2:
        return aten.convolution.default(*args)
    kernel = w.shape[2:]
    if transposed:
        channels_ok = x.shape[1] == w.shape[0]
        c_out = w.shape[1] * groups
        sides = [(n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in zip(
            x.shape[2:], stride, padding, dilation, kernel, output_padding, strict=True)]
    else:
        channels_ok = x.shape[1] == w.shape[1] * groups
        c_out = w.shape[0]
        sides = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, s, p, d, k in zip(
            x.shape[2:], stride, padding, dilation, kernel, strict=True)]
    if not channels_ok or min(sides) < 1 or (bias is not None and bias.numel() != c_out):
        return aten.convolution.default(*args)  # torch's own error message
    # Contiguous, as torch's meta kernel makes it off CUDA (the bytes are the same).
    return torch.empty((x.shape[0], c_out, *sides), dtype=x.dtype, device=x.device)


def batch_norm(
    x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None,
    running_mean: torch.Tensor | None, running_var: torch.Tensor | None, training: bool,
    momentum: float, eps: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """In eval mode: an input-shaped output and two empty statistics, as the CPU kernel
    returns them. Training updates the running statistics: torch's kernel does that."""
    if training or running_mean is None or x.ndim < 2 or running_mean.numel() != x.shape[1]:
        return aten.native_batch_norm.default(x, weight, bias, running_mean, running_var,
                                              training, momentum, eps)
    out = torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=_layout(x))
    return out, x.new_empty((0,)), x.new_empty((0,))


FAST: dict[torch._ops.OpOverload, Callable] = {
    aten.convolution.default: convolution,
    aten.native_batch_norm.default: batch_norm,
}
