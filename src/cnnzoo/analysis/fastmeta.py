"""Output tensors of the operators the zoo's models run, made directly.

torch's meta kernels for these are Python: batch norm's runs its whole decomposition (half
the time of tracing a ResNet), and the others' `torch._check`, type promotion and
`torch._dynamo.disable` wrappers import sympy, symbolic_shapes and torch._dynamo on their
first call (about 1.4 s of `cnnzoo summary`'s start-up, see docs/benchmarks.md). For
counting, only the output's shape, dtype and layout matter, and those are a few lines of
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


def _broadcast(*shapes: torch.Size) -> tuple[int, ...] | None:
    out: list[int] = []
    rank = max(len(s) for s in shapes)
    for i in range(1, rank + 1):
        sides = {s[-i] for s in shapes if len(s) >= i} - {1}
        if len(sides) > 1:
            return None  # torch's kernel says what does not broadcast
        out.append(sides.pop() if sides else 1)
    return tuple(reversed(out))


def _elementwise(func: torch._ops.OpOverload, inplace: bool) -> Callable:
    """Same-dtype floating tensors and plain scalars: the broadcast shape, in that dtype
    (an in-place op returns its first argument). Anything else is torch's."""

    def run(*args: object, **kwargs: object) -> object:
        ts = [a for a in args if isinstance(a, torch.Tensor)]
        plain = all(isinstance(a, (torch.Tensor, float, int)) and not isinstance(a, bool)
                    for a in args)
        x = args[0]
        if (kwargs or not plain or not isinstance(x, torch.Tensor) or not x.is_floating_point()
                or any(t.dtype != x.dtype or t.device != x.device for t in ts)):
            return func(*args, **kwargs)
        shape = _broadcast(*(t.shape for t in ts))
        if shape is None or (inplace and shape != tuple(x.shape)):
            return func(*args, **kwargs)
        if inplace:
            return x
        fmt = _layout(x) if tuple(x.shape) == shape else torch.contiguous_format
        return torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)

    return run


def _pooled(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """A pooling window's output side, as torch computes it (ceil mode drops a last window
    that starts in the right padding)."""
    out = -(-(n + 2 * p - d * (k - 1) - 1) // s) if ceil else (n + 2 * p - d * (k - 1) - 1) // s
    out += 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _window(x: torch.Tensor, kernel: list[int], stride: list[int], padding: list[int] | int,
            dilation: list[int] | int, ceil: bool, dims: int) -> tuple[int, ...] | None:
    """The output shape of a `dims`-D pooling, or None where torch should decide."""
    def sides(v: list[int] | int, default: list[int]) -> list[int]:
        v = [v] if isinstance(v, int) else list(v) or default
        return v * dims if len(v) == 1 else v
    k = sides(kernel, [])
    s, p, d = sides(stride, k), sides(padding, [0]), sides(dilation, [1])
    if x.ndim != dims + 2 or not x.is_floating_point() or not all(
            len(v) == dims for v in (k, s, p, d)) or any(
            v < 1 for v in (*k, *s, *d)) or any(
            q < 0 or q > ((kk - 1) * dd + 1) // 2 for q, kk, dd in zip(p, k, d, strict=True)):
        return None
    out = [_pooled(n, kk, ss, pp, dd, ceil)
           for n, kk, ss, pp, dd in zip(x.shape[2:], k, s, p, d, strict=True)]
    return (*x.shape[:2], *out) if min(out) >= 1 else None


def max_pool2d(x: torch.Tensor, kernel: list[int], stride: list[int] = (),  # type: ignore[assignment]
               padding: list[int] = (0,), dilation: list[int] = (1,),  # type: ignore[assignment]
               ceil_mode: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    shape = _window(x, kernel, stride, padding, dilation, ceil_mode, 2)
    if shape is None:
        return aten.max_pool2d_with_indices.default(x, kernel, stride, padding, dilation,
                                                    ceil_mode)
    fmt = _layout(x)
    return (torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt),
            torch.empty(shape, dtype=torch.int64, device=x.device, memory_format=fmt))


def _avg_pool(dims: int, func: torch._ops.OpOverload) -> Callable:
    def run(x: torch.Tensor, kernel: list[int], stride: list[int] = (),  # type: ignore[assignment]
            padding: list[int] = (0,), ceil_mode: bool = False,  # type: ignore[assignment]
            count_include_pad: bool = True, divisor_override: int | None = None) -> torch.Tensor:
        shape = _window(x, kernel, stride, padding, 1, ceil_mode, dims)
        if shape is None or divisor_override == 0:
            return func(x, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override)
        return torch.empty(shape, dtype=x.dtype, device=x.device,
                           memory_format=_layout(x) if dims == 2 else torch.contiguous_format)
    return run


def adaptive_avg_pool2d(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    size = list(size)
    if x.ndim != 4 or len(size) != 2 or min(size) < 1 or not x.is_floating_point():
        return aten._adaptive_avg_pool2d.default(x, size)
    return torch.empty((*x.shape[:2], *size), dtype=x.dtype, device=x.device,
                       memory_format=_layout(x))


def mean(x: torch.Tensor, dims: list[int] | None, keepdim: bool = False,
         dtype: torch.dtype | None = None) -> torch.Tensor:
    rank = x.ndim
    if not dims or dtype is not None or not x.is_floating_point() or any(
            not -rank <= d < rank for d in dims):
        return aten.mean.dim(x, dims, keepdim, dtype=dtype)
    axes = {d % rank for d in dims}
    shape = [1 if i in axes else n for i, n in enumerate(x.shape) if keepdim or i not in axes]
    return torch.empty(shape, dtype=x.dtype, device=x.device)


def addmm(bias: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *, beta: float = 1,
          alpha: float = 1) -> torch.Tensor:
    out = (a.shape[0], b.shape[-1]) if a.ndim == 2 and b.ndim == 2 else None
    if (out is None or a.shape[1] != b.shape[0] or _broadcast(bias.shape, out) != out
            or not a.is_floating_point() or len({bias.dtype, a.dtype, b.dtype}) > 1):
        return aten.addmm.default(bias, a, b, beta=beta, alpha=alpha)
    return torch.empty(out, dtype=a.dtype, device=a.device)


def cat(tensors: list[torch.Tensor], dim: int = 0) -> torch.Tensor:
    first = tensors[0] if tensors else None
    if first is None or not first.is_floating_point() or not -first.ndim <= dim < first.ndim:
        return aten.cat.default(tensors, dim)
    dim %= first.ndim
    rest = [(*t.shape[:dim], *t.shape[dim + 1:]) for t in tensors]
    if any(t.ndim != first.ndim or t.dtype != first.dtype for t in tensors) or len(set(rest)) > 1:
        return aten.cat.default(tensors, dim)
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    fmt = _layout(first) if all(_layout(t) == _layout(first) for t in tensors) else \
        torch.contiguous_format
    return torch.empty(shape, dtype=first.dtype, device=first.device, memory_format=fmt)


def index_put(x: torch.Tensor, indices: list[torch.Tensor | None], values: torch.Tensor,
              accumulate: bool = False) -> torch.Tensor:
    """A copy of `x` with some entries set (LeNet-5's C3 fills its connection table so)."""
    if values.dtype != x.dtype or values.ndim > x.ndim or not indices:
        return aten.index_put.default(x, indices, values, accumulate)
    return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=_layout(x))


_ELEMENTWISE = (aten.add.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.sub.Tensor,
                aten.pow.Tensor_Scalar, aten.tanh.default, aten.sigmoid.default,
                aten.relu.default, aten.hardtanh.default)
_INPLACE = (aten.add_.Tensor, aten.mul_.Tensor, aten.relu_.default, aten.hardtanh_.default,
            aten.sigmoid_.default, aten.tanh_.default)

FAST: dict[torch._ops.OpOverload, Callable] = {
    aten.convolution.default: convolution,
    aten.native_batch_norm.default: batch_norm,
    aten.max_pool2d_with_indices.default: max_pool2d,
    aten.avg_pool2d.default: _avg_pool(2, aten.avg_pool2d.default),
    aten.avg_pool3d.default: _avg_pool(3, aten.avg_pool3d.default),
    aten._adaptive_avg_pool2d.default: adaptive_avg_pool2d,
    aten.mean.dim: mean,
    aten.addmm.default: addmm,
    aten.cat.default: cat,
    aten.index_put.default: index_put,
    **{f: _elementwise(f, False) for f in _ELEMENTWISE},
    **{f: _elementwise(f, True) for f in _INPLACE},
}
