"""What a layer is called in the case studies, read from the operators it ran.

A layer's name comes from its aten operators, not its class, so a user's own
convolution (LeNet's PartialConv2d, a functional F.conv2d) is named like nn.Conv2d:
`conv 5x5, 16`, `dw conv 3x3/2`, `max-pool 3x3/2`, `FC, 1000`.
"""

from __future__ import annotations

import torch

from cnnzoo.analysis.describe import Op
from cnnzoo.analysis.trace import module_kind

aten = torch.ops.aten

# Colour groups of the legend, in the order it lists them.
KINDS = ("conv", "pool", "norm", "act", "linear", "merge", "block", "other")
KIND_NAMES = {
    "conv": "convolution", "pool": "pooling", "norm": "normalisation", "act": "activation",
    "linear": "linear", "merge": "merge (add, concat)", "block": "block", "other": "other",
}

_ACT_NAMES = {"relu": "ReLU", "hardtanh": "ReLU6", "clamp": "ReLU6", "tanh": "tanh",
              "sigmoid": "sigmoid", "gelu": "GELU", "silu": "SiLU", "hardswish": "h-swish",
              "leaky_relu": "leaky ReLU", "elu": "ELU", "softmax": "softmax"}


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
