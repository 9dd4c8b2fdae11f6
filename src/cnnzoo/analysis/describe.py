"""What one aten operator does, as a diagram and a table name it: its kind (conv, pool,
norm, act, linear, merge, other, or "view" for a reshape that computes nothing) and the
geometry a label needs (kernel, stride, groups, channels). The tracer describes every
operator it sees with `describe_op`."""

from __future__ import annotations

from dataclasses import dataclass

import torch

aten = torch.ops.aten

_PASSTHROUGH = {
    "view", "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "slice",
    "select", "unsqueeze", "squeeze", "clone", "contiguous", "detach", "alias", "_to_copy",
    "flatten", "unflatten", "as_strided", "lift_fresh", "lift_fresh_copy", "dropout",
    "native_dropout", "split", "split_with_sizes", "unbind", "chunk", "copy_",
}
_ACT = {"relu", "relu_", "hardtanh", "hardtanh_", "clamp", "clamp_", "clamp_min", "sigmoid",
        "sigmoid_", "tanh", "tanh_", "gelu", "silu", "silu_", "hardswish", "hardswish_",
        "hardsigmoid", "leaky_relu", "leaky_relu_", "elu", "elu_", "threshold", "softmax",
        "_softmax", "log_softmax", "_log_softmax"}
_NORM = {"native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
         "_native_batch_norm_legit_functional", "native_layer_norm", "native_group_norm"}
_POOL = {"max_pool2d_with_indices": "max-pool", "max_pool2d": "max-pool",
         "avg_pool2d": "avg-pool", "avg_pool3d": "avg-pool", "_adaptive_avg_pool2d": "avg-pool",
         "adaptive_avg_pool2d": "avg-pool", "adaptive_max_pool2d": "max-pool", "mean": "avg-pool"}


@dataclass(frozen=True)
class Op:
    """One aten operator call, with what a diagram needs to name it."""

    name: str  # aten name without overload or trailing underscore
    kind: str  # one of KINDS, or "view" for a reshape that computes nothing
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    groups: int = 1
    in_channels: int = 0
    out_channels: int = 0
    adaptive: bool = False
    out_hw: tuple[int, ...] = ()


def _pair(v: object) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        if not v:
            return ()
        return tuple(int(x) for x in v) if len(v) > 1 else (int(v[0]),) * 2
    return (int(v), int(v))  # type: ignore[call-overload]


def describe_op(func: torch._ops.OpOverload, args: tuple, kwargs: dict,
                out: torch.Tensor | None) -> Op:
    raw = func.overloadpacket.__name__
    name = raw.rstrip("_") if raw.rstrip("_") else raw
    if raw in _PASSTHROUGH or name in _PASSTHROUGH:
        return Op(name, "view")
    if name == "convolution":
        x, w = args[0], args[1]
        return Op(name, "conv", tuple(w.shape[2:]), _pair(args[3]), int(args[8]),
                  int(x.shape[1]), int(out.shape[1]) if out is not None else int(w.shape[0]))
    if name in ("addmm", "mm", "matmul", "linear", "bmm"):
        return Op(name, "linear", out_channels=int(out.shape[-1]) if out is not None else 0)
    if raw in _NORM or name in _NORM:
        return Op("batch_norm" if "batch" in name else name, "norm")
    if raw in _ACT or name in _ACT:
        return Op(name, "act")
    if raw in _POOL:
        adaptive = "adaptive" in raw or raw == "mean"
        if adaptive:
            hw = tuple(out.shape[2:]) if out is not None and out.ndim == 4 else ()
            return Op(_POOL[raw], "pool", adaptive=True, out_hw=hw)
        kernel = _pair(args[1])
        stride = _pair(args[2]) if len(args) > 2 and args[2] else kernel
        return Op(_POOL[raw], "pool", kernel, stride)
    if name in ("add", "sub", "cat", "stack", "mul"):
        return Op(name, "merge")
    if name in ("div", "pow", "sqrt", "rsqrt", "exp", "neg", "reciprocal"):
        return Op(name, "other")
    return Op({"constant_pad_nd": "pad"}.get(name, name), "other")


def is_passthrough(op: Op) -> bool:
    return op.kind == "view"
