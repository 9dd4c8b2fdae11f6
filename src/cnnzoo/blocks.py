"""The case studies' building blocks, each a small nn.Module named as the lectures name it.

Attribute names follow torchvision's where torchvision has the block, so that the
state_dict keys of a model built from these blocks match the weights users download.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------- convolution units


class ConvBNReLU(nn.Module):
    """conv -> batch norm -> ReLU, with named parts (keys `conv.*`, `bn.*`).

    The unit of GoogLeNet and Inception-v3 (torchvision calls it BasicConv2d). With
    `norm=False` it is the 2014 paper's unit: a biased conv and ReLU, no batch norm.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        *,
        norm: bool = True,
        eps: float = 1e-3,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=not norm
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=eps) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def is_depthwise(module: nn.Module) -> bool:
    """A convolution with one group per input channel (one filter per channel)."""
    return (isinstance(module, nn.Conv2d) and module.groups > 1
            and module.groups == module.in_channels)


class ConvNormAct(nn.Sequential):
    """conv -> batch norm -> activation as an indexed sequence (keys `0.*`, `1.*`).

    The unit of the MobileNets; torchvision lays it out as a Sequential, so we do too.
    `groups=in_channels` makes it a depthwise convolution.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        activation: type[nn.Module] | None = nn.ReLU6,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=(kernel_size - 1) // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
        ]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)


# ---------------------------------------------------------------- ResNet


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


def projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Option B of He et al.: a strided 1x1 conv + BN where the shape changes."""
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


class ZeroPadShortcut(nn.Module):
    """Option A of He et al. (CIFAR nets): subsample by `stride`, pad new channels with
    zeros. It has no parameters, which is why the CIFAR ResNets and plain nets count alike."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.extra_channels = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        half = self.extra_channels // 2
        return F.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))


class Residual(nn.Module):
    """A block with a shortcut. It declares the batch norm that `zero_init_last` zeroes,
    so the block starts as the identity (Goyal et al. 2017): a[l+2] = a[l] made real.
    The same block built without its shortcut (a plain net's) then outputs zeros: what
    the identity case study contrasts."""

    residual: bool = True

    def last_norm(self) -> nn.BatchNorm2d:
        raise NotImplementedError  # pragma: no cover

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.last_norm().weight)


class ResidualBlock(Residual):
    """Two 3x3 convs plus a shortcut: a[l+2] = g(z[l+2] + a[l]).

    `shortcut=None` with `residual=True` is the identity shortcut; `residual=False`
    drops the addition and gives the block of a plain net (He et al. 2015, Table 2).
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        shortcut: nn.Module | None = None,
        *,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut  # torchvision's name, kept for its weights
        self.residual = residual

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        z = self.relu(self.bn1(self.conv1(a)))
        z = self.bn2(self.conv2(z))
        if self.residual:
            z = z + (a if self.downsample is None else self.downsample(a))
        return self.relu(z)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn2


class Bottleneck(Residual):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4), plus a shortcut.

    The stride sits on the 3x3 conv (torchvision's "v1.5"); `stride_in_1x1=True` puts
    it on the first 1x1 as in the 2015 paper, which costs fewer multiply-adds.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        shortcut: nn.Module | None = None,
        *,
        residual: bool = True,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = conv1x1(in_channels, channels, stride if stride_in_1x1 else 1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels, 1 if stride_in_1x1 else stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = conv1x1(channels, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut
        self.residual = residual

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        z = self.relu(self.bn1(self.conv1(a)))
        z = self.relu(self.bn2(self.conv2(z)))
        z = self.bn3(self.conv3(z))
        if self.residual:
            z = z + (a if self.downsample is None else self.downsample(a))
        return self.relu(z)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn3


# ---------------------------------------------------------------- Inception


class InceptionBlock(nn.Module):
    """Four branches side by side, concatenated along channels; height and width kept.

        branch1: 1x1
        branch2: 1x1 reduce -> 3x3
        branch3: 1x1 reduce -> 5x5       (torchvision's GoogLeNet uses 3x3 here)
        branch4: 3x3 max-pool 'same' -> 1x1 projection
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3_reduce: int,
        ch3x3: int,
        ch5x5_reduce: int,
        ch5x5: int,
        pool_proj: int,
        *,
        branch3_kernel: int = 5,
        norm: bool = True,
    ) -> None:
        super().__init__()
        k = branch3_kernel
        self.branch1 = ConvBNReLU(in_channels, ch1x1, 1, norm=norm)
        self.branch2 = nn.Sequential(
            ConvBNReLU(in_channels, ch3x3_reduce, 1, norm=norm),
            ConvBNReLU(ch3x3_reduce, ch3x3, 3, padding=1, norm=norm),
        )
        self.branch3 = nn.Sequential(
            ConvBNReLU(in_channels, ch5x5_reduce, 1, norm=norm),
            ConvBNReLU(ch5x5_reduce, ch5x5, k, padding=k // 2, norm=norm),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            ConvBNReLU(in_channels, pool_proj, 1, norm=norm),
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = (self.branch1, self.branch2, self.branch3, self.branch4)
        return torch.cat([branch(x) for branch in branches], dim=1)


# ---------------------------------------------------------------- MobileNets


class DepthwiseSeparableConv(nn.Module):
    """A 3x3 depthwise conv (one filter per channel) then a 1x1 pointwise conv.

    Costs 1/c_out + 1/f^2 of a normal f x f convolution with the same output shape.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = ConvNormAct(
            in_channels, in_channels, 3, stride=stride, groups=in_channels, activation=nn.ReLU
        )
        self.pointwise = ConvNormAct(in_channels, out_channels, 1, activation=nn.ReLU)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class InvertedResidual(Residual):
    """MobileNetV2's block: 1x1 expansion (x t) -> 3x3 depthwise -> linear 1x1 projection,
    with a residual connection when stride is 1 and the channel count is unchanged.

    The block's input and output are the narrow tensors, which is why MobileNetV2 keeps
    little memory between blocks. Keys follow torchvision (`conv.0`, `conv.1`, ...).
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, expand_ratio: int
    ) -> None:
        super().__init__()
        hidden = int(round(in_channels * expand_ratio))
        self.use_residual = stride == 1 and in_channels == out_channels
        self.out_channels = out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvNormAct(in_channels, hidden, 1))  # expansion
        layers += [
            ConvNormAct(hidden, hidden, 3, stride=stride, groups=hidden),  # depthwise
            nn.Conv2d(hidden, out_channels, 1, bias=False),  # linear projection
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out

    @property
    def residual(self) -> bool:  # type: ignore[override]
        return self.use_residual

    def last_norm(self) -> nn.BatchNorm2d:
        return self.conv[-1]
