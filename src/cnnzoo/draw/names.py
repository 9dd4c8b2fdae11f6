"""What a layer is called in the case studies, read from the operators it ran.

A layer's name comes from its aten operators, not its class, so a user's own
convolution (LeNet's PartialConv2d, a functional F.conv2d) is named like nn.Conv2d:
`conv 5x5, 16`, `dw conv 3x3/2`, `max-pool 3x3/2`, `FC, 1000`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cnnzoo.cost.tracer import module_kind

aten = torch.ops.aten

# Colour groups of the legend, in the order it lists them.
KINDS = ("conv", "pool", "norm", "act", "linear", "merge", "block", "other")
KIND_NAMES = {
    "conv": "convolution", "pool": "pooling", "norm": "normalisation", "act": "activation",
    "linear": "linear", "merge": "merge (add, concat)", "block": "block", "other": "other",
}

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
_ACT_NAMES = {"relu": "ReLU", "hardtanh": "ReLU6", "clamp": "ReLU6", "tanh": "tanh",
              "sigmoid": "sigmoid", "gelu": "GELU", "silu": "SiLU", "hardswish": "h-swish",
              "leaky_relu": "leaky ReLU", "elu": "ELU", "softmax": "softmax"}


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


def _geometry(kernel: tuple[int, ...], stride: tuple[int, ...]) -> str:
    k = "x".join(str(v) for v in kernel) if len(set(kernel)) > 1 else f"{kernel[0]}x{kernel[0]}"
    if stride and max(stride) > 1:
        k += "/" + (str(stride[0]) if len(set(stride)) == 1 else "x".join(map(str, stride)))
    return k


def conv_is_depthwise(op: Op) -> bool:
    return op.groups > 1 and op.groups == op.in_channels


def op_label(op: Op, short: bool = False) -> str:
    """`conv 3x3/2, 64`; with short=True, the form used inside a block's summary: `3x3/2, 64`
    (a depthwise conv reads `dw 3x3/2`: its channels are its input's)."""
    if op.kind == "conv":
        geo = _geometry(op.kernel, op.stride)
        if conv_is_depthwise(op):
            return f"dw {geo}" if short else f"dw conv {geo}"
        groups = f" ({op.groups} groups)" if op.groups > 1 else ""
        return f"{geo}, {op.out_channels}{groups}" if short else \
            f"conv {geo}, {op.out_channels}{groups}"
    if op.kind == "linear":
        return f"FC {op.out_channels}" if short else f"FC, {op.out_channels}"
    if op.kind == "pool":
        if op.adaptive:
            if not op.out_hw or set(op.out_hw) == {1}:
                return f"global {op.name}"
            return f"adaptive {op.name} {_geometry(op.out_hw, ())}"
        return f"{op.name} {_geometry(op.kernel, op.stride)}"
    if op.kind == "norm":
        return {"batch_norm": "BN", "native_layer_norm": "LN"}.get(op.name, op.name)
    if op.kind == "act":
        return _ACT_NAMES.get(op.name, op.name)
    if op.kind == "merge":
        return {"add": "add", "sub": "subtract", "mul": "multiply", "cat": "concat",
                "stack": "stack"}.get(op.name, op.name)
    return op.name


def main_op(ops: list[Op]) -> Op | None:
    """The operator that names a layer: its convolution or matrix product if it has one,
    else its pooling, normalisation, activation, ... (the first of the most telling kind)."""
    for kind in ("conv", "linear", "pool", "norm", "act", "merge", "other"):
        for op in ops:
            if op.kind == kind:
                return op
    return None


def _activation_name(module: torch.nn.Module | None, op: Op) -> str:
    # nn.ReLU6 runs hardtanh; a module of the user's own keeps its class name (ScaledTanh).
    if module is not None and type(module).__module__.startswith("torch.nn"):
        return type(module).__name__ if type(module).__name__ != "Hardtanh" else "ReLU6"
    if module is not None:
        return type(module).__name__
    return op_label(op)


def _is_norm_module(module: torch.nn.Module | None) -> bool:
    # LocalResponseNorm runs avg_pool3d, pow and div: its class, not its ops, says norm.
    return module is not None and module_kind(module) == "norm"


def layer_label(module: torch.nn.Module | None, ops: list[Op], short: bool = False) -> str:
    """A leaf layer's name: `conv 5x5, 6`, `max-pool 2x2/2`, `BN`, `ReLU6`, and for a
    layer class of the user's own (or LeNet's), its class name before what it does:
    `Subsampling: avg-pool 2x2/2`."""
    if _is_norm_module(module):
        lrn = isinstance(module, torch.nn.LocalResponseNorm)
        return f"LRN (n={module.size})" if lrn else \
            {"BatchNorm2d": "BN", "LayerNorm": "LN"}.get(type(module).__name__, "norm")
    op = main_op(ops)
    if op is None:
        return type(module).__name__ if module is not None else "?"
    if op.kind == "act":
        return _activation_name(module, op)
    text = op_label(op, short)
    custom = module is not None and not type(module).__module__.startswith("torch.nn")
    if custom and op.kind in ("conv", "pool", "linear"):
        return f"{type(module).__name__}: {text}"
    if custom:
        return type(module).__name__
    return text


def layer_kind(ops: list[Op], module: torch.nn.Module | None = None) -> str:
    if _is_norm_module(module):
        return "norm"
    op = main_op(ops)
    return op.kind if op is not None else "other"


def shape_text(shape: tuple[int, ...]) -> str:
    return " × ".join(str(s) for s in shape) if shape else "scalar"
