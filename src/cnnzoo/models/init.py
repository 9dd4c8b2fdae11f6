"""Weight initialisation shared by the models (He et al. 2015 for ReLU nets)."""

from __future__ import annotations

from torch import nn

from cnnzoo.blocks import Residual


def init_conv_bn_linear(model: nn.Module, *, zero_init_residual: bool = False) -> None:
    """He-normal convs (fan-out), unit/zero batch norm, small-normal linear layers.

    `zero_init_residual` asks every residual block for its `zero_init_last()`: each
    block knows which batch norm ends its residual branch.
    """
    first = next(model.parameters(), None)
    if first is not None and first.is_meta:
        return  # nothing to fill, and nn.init on meta tensors imports torch._dynamo (~1 s)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            if isinstance(m, Residual):
                m.zero_init_last()
