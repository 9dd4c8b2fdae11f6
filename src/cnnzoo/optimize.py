"""Inference optimisation: fold batch norm into the convolution before it, channels_last
memory format, optional bf16. `optimize(model)` returns an optimised copy.

Folding is generic: a forward pass with hooks on every Conv2d and BatchNorm2d finds each
batch norm whose input is exactly a convolution's output (in ConvBNReLU, ConvNormAct,
a ResNet block, a VGG Sequential alike), and the folded model is checked against the
original on that same input before it is returned.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import torch
from torch import nn

from cnnzoo.errors import UsageError
from cnnzoo.models.base import ZooModel
from cnnzoo.precision import dtype_of
from cnnzoo.registry import default_input_size


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype:
    return torch.float32 if dtype is None else dtype_of(dtype)


def example_input(model: nn.Module, batch_size: int = 1) -> torch.Tensor:
    """A small random input the model accepts: its channels, its smallest size (>= 32);
    3x32x32 for a module that declares neither."""

    p = next(model.parameters(), None)
    size = default_input_size(model, smallest=True) if isinstance(model, ZooModel) else (3, 32, 32)
    return torch.randn(
        batch_size, *size,
        device=p.device if p is not None else "cpu",
        dtype=p.dtype if p is not None and p.is_floating_point() else torch.float32,
    )


def conv_bn_pairs(
    model: nn.Module, x: torch.Tensor
) -> tuple[list[tuple[str, str]], object]:
    """(conv name, bn name) for every BatchNorm2d whose input is a Conv2d's output, and
    the model's output on `x` (eval mode).

    Found by running the model once: a pair is foldable only if each module runs exactly
    once and the batch norm receives the very tensor the convolution returned.
    """
    outputs: dict[int, list[str]] = {}  # id(conv output) -> conv names
    keep: list[torch.Tensor] = []  # hold the outputs so their ids stay unique
    calls: dict[str, int] = {}
    fed_by: dict[str, list[str]] = {}
    hooks = []

    def on_conv(name: str):
        def hook(mod: nn.Module, args: tuple, out: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            keep.append(out)
            outputs.setdefault(id(out), []).append(name)
        return hook

    def on_bn(name: str):
        def hook(mod: nn.Module, args: tuple) -> None:
            calls[name] = calls.get(name, 0) + 1
            fed_by[name] = outputs.get(id(args[0]), []) if args else []
        return hook

    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(on_conv(name)))
        elif isinstance(m, nn.BatchNorm2d):
            hooks.append(m.register_forward_pre_hook(on_bn(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            reference = model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    pairs = []
    for bn, convs in fed_by.items():
        if len(convs) == 1 and calls.get(convs[0]) == 1 and calls.get(bn) == 1:
            pairs.append((convs[0], bn))
    return pairs, reference


@torch.no_grad()
def fold_into_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """conv <- bn(conv): w' = w * g / sqrt(v + eps), b' = (b - m) * g / sqrt(v + eps) + beta.

    The scale is per output channel, so grouped and depthwise convolutions fold alike.
    """
    if bn.running_mean is None or bn.running_var is None:
        raise UsageError(f"batch norm {bn} keeps no running statistics; it cannot be folded")
    w = conv.weight
    # The arithmetic runs in float64 so the folded weights round only once.
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(shift)
    conv.weight.copy_((w.double() * scale.view(-1, *([1] * (w.ndim - 1)))).to(w.dtype))
    new_bias = (bias * scale + shift).to(w.dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias, requires_grad=w.requires_grad)
    else:
        conv.bias.copy_(new_bias)


def fold_batchnorm(
    model: nn.Module, example: torch.Tensor | None = None, inplace: bool = False
) -> nn.Module:
    """Fold every conv -> batch norm pair of `model` (in eval mode); the batch norms become
    nn.Identity, so module names and state_dict keys of the convolutions stay as they were.

    The folded model is checked against the original on `example`. If the check fails (a
    convolution's output is also used before its batch norm), pairs are folded one at a
    time and any pair that changes the outputs is left unfolded.
    """
    target = model if inplace else copy.deepcopy(model)
    x = example if example is not None else example_input(target)
    pairs, reference = conv_bn_pairs(target, x)
    backup = copy.deepcopy(target) if pairs else None
    _fold_pairs(target, pairs)
    if pairs and _changed(target, x, reference):
        for pair in pairs:  # restore every pair, then fold them one by one
            for n in pair:
                target.set_submodule(n, backup.get_submodule(n))  # type: ignore[union-attr]
        for pair in pairs:
            saved = [copy.deepcopy(target.get_submodule(n)) for n in pair]
            _fold_pairs(target, [pair])
            if _changed(target, x, reference):
                for n, m in zip(pair, saved, strict=True):
                    target.set_submodule(n, m)
    return target.eval()


def _fold_pairs(model: nn.Module, pairs: list[tuple[str, str]]) -> None:
    for conv_name, bn_name in pairs:
        fold_into_conv(model.get_submodule(conv_name), model.get_submodule(bn_name))
        model.set_submodule(bn_name, nn.Identity())


def _changed(model: nn.Module, x: torch.Tensor, reference: object) -> bool:
    # Folding is exact up to rounding (~1e-6); more means the pair was not foldable.
    model.eval()
    with torch.no_grad():
        return relative_error(model(x), reference) > 1e-4


def _first_tensor(out: object) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else out[0]  # type: ignore[index]


def relative_error(out: object, reference: object) -> float:
    """max |out - reference| / max |reference| (both in float64)."""
    a = _first_tensor(out).double()
    b = _first_tensor(reference).double()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


def _convert_input(module: nn.Module, args: tuple) -> tuple:
    dtype, fmt = module._cnnzoo_input  # type: ignore[attr-defined]
    x = args[0]
    if isinstance(x, torch.Tensor) and x.ndim == 4:
        x = x.to(dtype=dtype).contiguous(memory_format=fmt)
    return (x, *args[1:])


def _restore_output(module: nn.Module, args: tuple, out: object) -> object:
    if isinstance(out, torch.Tensor) and out.is_floating_point():
        return out.float()
    return out


def optimize(
    model: nn.Module,
    fold_bn: bool = True,
    channels_last: bool = True,
    dtype: torch.dtype | str | None = None,
    example: torch.Tensor | None = None,
    inplace: bool = False,
) -> nn.Module:
    """An inference copy of `model`: eval mode, batch norm folded, channels_last weights,
    and (with dtype='bf16') bf16 weights.

    The returned model takes the same float32 NCHW input as before and returns float32:
    a forward pre-hook casts the input to the model's dtype and memory format, and a
    forward hook casts the output back, so it drops into existing code.
    """
    target_dtype = resolve_dtype(dtype)
    out = model if inplace else copy.deepcopy(model)
    out.eval()
    if fold_bn:
        x = example if example is not None else example_input(out)
        out = fold_batchnorm(out, x.to(next(out.parameters()).dtype), inplace=True)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    out = out.to(dtype=target_dtype, memory_format=fmt)
    if not hasattr(out, "_cnnzoo_input"):
        out.register_forward_pre_hook(_convert_input)
        out.register_forward_hook(_restore_output)
    out._cnnzoo_input = (target_dtype, fmt)
    return out


def iter_batchnorms(model: nn.Module) -> Iterator[str]:
    """Names of the BatchNorm2d layers still in `model` (none are left once all folded)."""
    return (n for n, m in model.named_modules() if isinstance(m, nn.BatchNorm2d))
