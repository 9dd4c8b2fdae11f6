"""What each aten operator costs and how it changes the receptive field.

Multiply-adds (MACs) are counted for convolutions and matrix products only, exactly as
torch.utils.flop_counter counts them (its FLOPs are 2 x MACs). Everything else an
operator does is an "other FLOP", labelled by kind, one per output element unless the
operator does more (pooling windows, batch norm's scale and shift).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol, runtime_checkable

import torch

aten = torch.ops.aten

# Kinds of other FLOPs, in the order reports list them.
KINDS = ("norm", "activation", "pooling", "addition", "bias", "elementwise")

_NORM = {
    aten.native_batch_norm, aten._native_batch_norm_legit,
    aten._native_batch_norm_legit_no_training, aten._native_batch_norm_legit_functional,
}
_ACTIVATION = {
    aten.relu, aten.relu_, aten.hardtanh, aten.hardtanh_, aten.clamp, aten.clamp_,
    aten.clamp_min, aten.clamp_min_, aten.leaky_relu, aten.leaky_relu_, aten.sigmoid,
    aten.sigmoid_, aten.tanh, aten.tanh_, aten.gelu, aten.silu, aten.silu_, aten.hardswish,
    aten.hardswish_, aten.hardsigmoid, aten.hardsigmoid_, aten.threshold, aten.elu, aten.elu_,
}
_ADDITION = {aten.add, aten.add_, aten.sub, aten.sub_, aten.rsub}
_ELEMENTWISE = {aten.mul, aten.mul_, aten.div, aten.div_, aten.pow, aten.sqrt, aten.rsqrt,
                aten.exp, aten.neg, aten.reciprocal}
_MAX_POOL = {aten.max_pool2d_with_indices, aten.max_pool2d}
_AVG_POOL = {aten.avg_pool2d, aten.avg_pool3d}
_ADAPTIVE_POOL = {aten._adaptive_avg_pool2d, aten.adaptive_avg_pool2d, aten.adaptive_max_pool2d}
_MATMUL = {aten.mm, aten.addmm, aten.bmm, aten.baddbmm}
# Reshapes that may flatten a feature map into a vector (the input of a Linear head).
_RESHAPE = {aten.view, aten._unsafe_view, aten.reshape, aten.flatten}


@runtime_checkable
class StructuralZeros(Protocol):
    """A module whose forward convolves with a dense kernel in which some weights are
    zero by construction (LeNet-5's C3 connection table) declares how many: their
    multiply-adds are counted apart from the real ones."""

    def structural_zeros(self) -> int: ...


@dataclass(frozen=True)
class Field:
    """Receptive field (rows, cols) of one output position in input pixels, and the jump:
    how many input pixels apart neighbouring output positions are (the total stride)."""

    size: tuple[int, int] = (1, 1)
    jump: tuple[Fraction, Fraction] = (Fraction(1), Fraction(1))

    def window(self, kernel: Sequence[int], stride: Sequence[int],
               dilation: Sequence[int] = (1, 1)) -> Field:
        """After a kernel x kernel window moved `stride` at a time."""
        size = tuple(
            r + d * (k - 1) * j
            for r, k, d, j in zip(self.size, kernel, dilation, self.jump, strict=True)
        )
        jump = tuple(j * s for j, s in zip(self.jump, stride, strict=True))
        return Field(size, jump)  # type: ignore[arg-type]

    def transposed(self, kernel: Sequence[int], stride: Sequence[int],
                   dilation: Sequence[int] = (1, 1)) -> Field:
        """After a transposed convolution: an output position sees the input positions
        whose kernel taps land on it, at most ceil(k/s) of them in a row, and neighbouring
        outputs are 1/stride input positions apart."""
        size = []
        for r, k, s, d, j in zip(self.size, kernel, stride, dilation, self.jump, strict=True):
            # Taps kk and kk' reach the same output from inputs (kk' - kk) * d / s apart.
            span = max(
                (max(taps) - min(taps)) * d // s
                for o in range(s)
                if (taps := [kk for kk in range(k) if (o - kk * d) % s == 0])
            )
            size.append(r + span * j)
        jump = tuple(j / s for j, s in zip(self.jump, stride, strict=True))
        return Field((size[0], size[1]), jump)  # type: ignore[arg-type]

    def merge(self, other: Field) -> Field:
        """Where branches meet (addition, concatenation) the wider field counts."""
        return Field(
            (max(self.size[0], other.size[0]), max(self.size[1], other.size[1])),
            (max(self.jump[0], other.jump[0]), max(self.jump[1], other.jump[1])),
        )


def _pair(value: object, default: Sequence[int] | None = None) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) == 0 and default is not None:
            return (int(default[0]), int(default[1]))
        return (int(value[0]), int(value[-1]))
    return (int(value), int(value))  # type: ignore[call-overload]


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: object) -> object:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _adaptive_windows(n_in: int, n_out: int) -> list[int]:
    """Window lengths of adaptive pooling along one axis (PyTorch's start/end rule)."""
    return [
        math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out)
    ]


def op_cost(
    func: torch._ops.OpOverload, args: tuple, kwargs: dict, out: torch.Tensor | None
) -> tuple[int, dict[str, int]]:
    """(MACs, {kind: other FLOPs}) of one call. Unknown operators cost nothing."""
    packet = func.overloadpacket
    n_out = out.numel() if out is not None else 0
    if packet is aten.convolution:
        x, w, bias = args[0], args[1], args[2]
        transposed = bool(_arg(args, kwargs, 6, "transposed", False))
        # Each output element (input element, when transposed) takes one multiply-add per
        # weight of its group: f*f*(c_in/groups).
        per = w.shape[1] * math.prod(w.shape[2:])
        macs = (x.numel() if transposed else n_out) * per
        return macs, ({"bias": n_out} if bias is not None else {})
    if packet in _MATMUL:
        a, b = (args[1], args[2]) if packet in (aten.addmm, aten.baddbmm) else args[:2]
        macs = math.prod(a.shape[:-1]) * a.shape[-1] * b.shape[-1]
        return macs, ({"bias": n_out} if packet in (aten.addmm, aten.baddbmm) else {})
    if packet in _NORM:
        return 0, {"norm": 2 * n_out}  # folded into one scale and one shift per element
    if packet in _ACTIVATION:
        return 0, {"activation": n_out}
    if packet in _ADDITION:
        return 0, {"addition": n_out}
    if packet in _ELEMENTWISE:
        return 0, {"elementwise": n_out}
    if packet in _MAX_POOL:
        k = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        return 0, {"pooling": n_out * (k[0] * k[1] - 1)}  # comparisons
    if packet in _AVG_POOL:
        k = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
        return 0, {"pooling": n_out * math.prod(int(v) for v in k)}  # adds and a divide
    if packet in _ADAPTIVE_POOL:
        x = args[0]
        oh, ow = out.shape[-2:]  # type: ignore[union-attr]
        per_plane = sum(_adaptive_windows(x.shape[-2], oh)) * sum(
            _adaptive_windows(x.shape[-1], ow)
        )
        return 0, {"pooling": per_plane * (n_out // (oh * ow))}
    if packet in (aten.mean, aten.sum):
        return 0, {"pooling": args[0].numel()}  # adds (and one divide per output)
    return 0, {}


def op_field(
    func: torch._ops.OpOverload, args: tuple, kwargs: dict, field: Field,
    out: torch.Tensor | None,
) -> Field:
    """The receptive field of the output, given the merged field of the tensor inputs."""
    packet = func.overloadpacket
    x = args[0] if args and isinstance(args[0], torch.Tensor) else None
    if x is None or x.ndim < 3:
        return field
    spatial = (x.shape[-2], x.shape[-1])
    if packet is aten.convolution:
        w = args[1]
        kernel = (w.shape[-2], w.shape[-1]) if w.ndim == 4 else (1, w.shape[-1])
        if _arg(args, kwargs, 6, "transposed", False):
            return field.transposed(kernel, _pair(args[3]), _pair(args[5]))
        return field.window(kernel, _pair(args[3]), _pair(args[5]))
    if packet in _MAX_POOL or (packet is aten.avg_pool2d):
        kernel = _pair(_arg(args, kwargs, 1, "kernel_size", 1))
        stride = _pair(_arg(args, kwargs, 2, "stride", []), default=kernel)
        dilation = _pair(_arg(args, kwargs, 4, "dilation", 1)) if packet in _MAX_POOL else (1, 1)
        return field.window(kernel, stride, dilation)
    if packet in _ADAPTIVE_POOL and out is not None:
        out_hw = out.shape[-2:]
        kernel = tuple(max(_adaptive_windows(n, m)) for n, m in zip(spatial, out_hw, strict=True))
        stride = tuple(max(1, n // m) for n, m in zip(spatial, out_hw, strict=True))
        return field.window(kernel, stride)
    if packet in (aten.mean, aten.sum) and x.ndim == 4:
        dims = args[1] if len(args) > 1 else kwargs.get("dim")
        dims = {d % 4 for d in (dims or ())}
        if {2, 3} <= dims:
            return field.window(spatial, spatial)
    if packet is aten.slice and x.ndim == 4:
        dim = int(_arg(args, kwargs, 1, "dim", 0)) % 4
        step = int(_arg(args, kwargs, 4, "step", 1))
        if dim in (2, 3) and step > 1:
            stride = (step, 1) if dim == 2 else (1, step)
            return field.window((1, 1), stride)
    if packet in _RESHAPE and x.ndim == 4 and out is not None and out.ndim < 3:
        # A feature map flattened for a Linear layer: every output sees every position.
        return field.window(spatial, spatial)
    return field


def friendly_name(func: torch._ops.OpOverload) -> str:
    """'aten.relu_.default' -> 'relu'; '_adaptive_avg_pool2d' -> 'adaptive_avg_pool2d'."""
    name = func.overloadpacket.__name__.strip("_")
    return {
        "native_batch_norm_legit_no_training": "batch_norm", "native_batch_norm": "batch_norm",
        "max_pool2d_with_indices": "max_pool2d", "constant_pad_nd": "pad",
    }.get(name, name)
