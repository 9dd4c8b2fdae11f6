"""ResNets and the plain nets they beat (He, Zhang, Ren, Sun 2015).

ImageNet nets in torchvision's layout (keys conv1, bn1, layer1..layer4, fc), and the
CIFAR-10 nets of section 4.2 (3x3 stem, 16-32-64 channels, zero-padding shortcuts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cnnzoo.blocks import Bottleneck, ResidualBlock, ZeroPadShortcut, projection_shortcut
from cnnzoo.models.base import ZooModel
from cnnzoo.models.features import FeatureInfo
from cnnzoo.models.init import init_conv_bn_linear
from cnnzoo.models.rows import SHA_BUNSEN, V2_DEFAULT, torchvision_weights
from cnnzoo.registry import Figure, ModelCard, Paper, register_model

HE_2015 = Paper(
    "K. He, X. Zhang, S. Ren, J. Sun", 2015, "Deep Residual Learning for Image Recognition",
)

# Blocks per stage (conv2_x, conv3_x, conv4_x, conv5_x), Table 1 of the paper.
IMAGENET_DEPTHS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (ResidualBlock, (2, 2, 2, 2)),
    34: (ResidualBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(ZooModel):
    """ResNet-18..152 for ImageNet; with `residual=False`, the plain net of the same depth."""

    min_input_size = 32  # five stride-2 layers

    def __init__(
        self,
        depth: int,
        num_classes: int = 1000,
        in_chans: int = 3,
        *,
        residual: bool = True,
        stride_in_1x1: bool = False,
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__(num_classes, in_chans)
        block, blocks_per_stage = IMAGENET_DEPTHS[depth]
        self.block = block
        self.residual = residual
        self.stride_in_1x1 = stride_in_1x1
        self.channels = 64
        # stem: 7x7/2 conv, 3x3/2 max-pool            3x224x224 -> 64x112x112 -> 64x56x56
        self.conv1 = nn.Conv2d(in_chans, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.feature_info.append(FeatureInfo("relu", 64, 2, "stem"))
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        # conv2_x (the max-pool and the blocks)       -> 64x56x56   (256 for Bottleneck)
        self.layer1 = self._stage(64, blocks_per_stage[0], stride=1)
        self.feature_info.append(FeatureInfo("layer1", self.channels, 4, "layer1 (conv2_x)"))
        # conv3_x                                     -> 128x28x28  (512)
        self.layer2 = self._stage(128, blocks_per_stage[1], stride=2)
        self.feature_info.append(FeatureInfo("layer2", self.channels, 8, "layer2 (conv3_x)"))
        # conv4_x                                     -> 256x14x14  (1024)
        self.layer3 = self._stage(256, blocks_per_stage[2], stride=2)
        self.feature_info.append(FeatureInfo("layer3", self.channels, 16, "layer3 (conv4_x)"))
        # conv5_x                                     -> 512x7x7    (2048)
        self.layer4 = self._stage(512, blocks_per_stage[3], stride=2)
        self.feature_info.append(FeatureInfo("layer4", self.channels, 32, "layer4 (conv5_x)"))
        # head: global average pool, fully connected  -> num_classes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = 512 * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes)
        init_conv_bn_linear(self, zero_init_residual=zero_init_residual)

    def _stage(self, channels: int, blocks: int, stride: int) -> nn.Sequential:
        out_channels = channels * self.block.expansion
        shortcut = None
        if self.residual and (stride != 1 or self.channels != out_channels):
            shortcut = projection_shortcut(self.channels, out_channels, stride)
        extra = {"stride_in_1x1": self.stride_in_1x1} if self.block is Bottleneck else {}
        layers = [self.block(self.channels, channels, stride, shortcut, residual=self.residual,
                             **extra)]
        self.channels = out_channels
        layers += [
            self.block(out_channels, channels, 1, None, residual=self.residual, **extra)
            for _ in range(blocks - 1)
        ]
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)


class CifarResNet(ZooModel):
    """ResNet-20..110 for CIFAR-10 (section 4.2): depth 6n+2, option-A shortcuts.

    With `residual=False`, the plain net of the same depth (same parameter count).
    """

    min_input_size = 8  # two stride-2 stages

    def __init__(
        self, depth: int, num_classes: int = 10, in_chans: int = 3, *, residual: bool = True,
        width: int = 16,
    ) -> None:
        super().__init__(num_classes, in_chans)
        if (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.residual = residual
        c1, c2, c3 = width, 2 * width, 4 * width
        self.channels = c1
        # stem: 3x3 conv                              3x32x32 -> 16x32x32
        self.conv1 = nn.Conv2d(in_chans, c1, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.relu = nn.ReLU(inplace=True)
        self.feature_info.append(FeatureInfo("relu", c1, 1, "stem"))
        # 2n layers on 32x32 maps                     -> 16x32x32
        self.layer1 = self._stage(c1, n, stride=1)
        self.feature_info.append(FeatureInfo("layer1", c1, 1))
        # 2n layers on 16x16 maps                     -> 32x16x16
        self.layer2 = self._stage(c2, n, stride=2)
        self.feature_info.append(FeatureInfo("layer2", c2, 2))
        # 2n layers on 8x8 maps                       -> 64x8x8
        self.layer3 = self._stage(c3, n, stride=2)
        self.feature_info.append(FeatureInfo("layer3", c3, 4))
        # head: global average pool, 10-way fully connected
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.num_features = c3
        self.fc = nn.Linear(c3, num_classes)
        init_conv_bn_linear(self)

    def _stage(self, channels: int, blocks: int, stride: int) -> nn.Sequential:
        shortcut = None
        if self.residual and (stride != 1 or self.channels != channels):
            shortcut = ZeroPadShortcut(self.channels, channels, stride)
        layers = [ResidualBlock(self.channels, channels, stride, shortcut, residual=self.residual)]
        layers += [
            ResidualBlock(channels, channels, 1, None, residual=self.residual)
            for _ in range(blocks - 1)
        ]
        self.channels = channels
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer3(self.layer2(self.layer1(x)))

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.avgpool(x), 1)
        return x if pre_logits else self.fc(x)


# ---------------------------------------------------------------- registered names


_IMAGENET_FIGURES: dict[int, tuple[Figure, ...]] = {
    18: (
        Figure("top1_err", 27.88, "paper", "Table 2, 10-crop"),
    ),
    34: (
        Figure("top1_err", 21.84, "paper", "Table 4, single model"),
        Figure("top5_err", 5.71, "paper", "Table 4, single model"),
    ),
    50: (
        Figure("top1_err", 20.74, "paper", "Table 4, single model"),
        Figure("top5_err", 5.25, "paper", "Table 4, single model"),
        Figure("top5_err", 7.8, "case studies", "about 7.8%"),
        Figure("macs", 3.8e9, "paper", "Table 1: 3.8 x 10^9 FLOPs (multiply-adds), v1 strides"),
    ),
    101: (
        Figure("top1_err", 19.87, "paper", "Table 4, single model"),
        Figure("top5_err", 4.60, "paper", "Table 4, single model"),
    ),
    152: (
        Figure("top1_err", 19.38, "paper", "Table 4, single model"),
        Figure("top5_err", 4.49, "paper", "Table 4, single model"),
        Figure("top5_err", 5.0, "case studies", "below 5%"),
    ),
}

_WEIGHTS = {
    18: torchvision_weights(
        "resnet18", "resnet18-f37072fd.pth",
        "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec", SHA_BUNSEN,
        69.758, 89.078),
    34: torchvision_weights(
        "resnet34", "resnet34-b627a593.pth",
        "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f", SHA_BUNSEN,
        73.314, 91.420, size=87_319_819),
    50: torchvision_weights(
        "resnet50", "resnet50-0676ba61.pth",
        "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a", SHA_BUNSEN,
        76.130, 92.862, size=102_530_333, **V2_DEFAULT),
    101: torchvision_weights(
        "resnet101", "resnet101-63fe2227.pth",
        "63fe2227b86e8f1f2063f43a75c84d195911b6a0eace650907dd3dc62dd49a0a", SHA_BUNSEN,
        77.374, 93.546, **V2_DEFAULT),
    152: torchvision_weights(
        "resnet152", "resnet152-394f9c45.pth",
        "394f9c45966e3651a89bbb78a48410a6755854ce4a5ab64927cf1c7247f85e58", SHA_BUNSEN,
        78.312, 94.046, **V2_DEFAULT),
}
_IMAGENET_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
                    "resnet101": 44_549_160, "resnet152": 60_192_808, "plain18": 11_515_688,
                    "plain34": 21_623_848}


def _register_imagenet(name: str, depth: int, figures: tuple[Figure, ...]) -> Callable[..., Any]:
    residual = name.startswith("resnet")
    card = ModelCard(
        name=name,
        family="resnet" if residual else "plain",
        description=f"ResNet-{depth}, torchvision layout (stride on the 3x3, 'v1.5')"
        if residual else f"plain-{depth}: ResNet-{depth} without shortcuts",
        paper=HE_2015,
        figures=figures,
        torchvision_layout=residual,
        notes="stride_in_1x1=True gives the paper's v1 (stride on the first 1x1)." if residual
        else "Deeper is worse here: plain-34 trains to a higher error than plain-18.",
        params=_IMAGENET_PARAMS[name],
    )
    if residual:
        return register_model(card, ResNet, depth=depth, weights=(_WEIGHTS[depth],))
    return register_model(card, ResNet, depth=depth, residual=False)


resnet18 = _register_imagenet("resnet18", 18, _IMAGENET_FIGURES[18])
resnet34 = _register_imagenet("resnet34", 34, _IMAGENET_FIGURES[34])
resnet50 = _register_imagenet("resnet50", 50, _IMAGENET_FIGURES[50])
resnet101 = _register_imagenet("resnet101", 101, _IMAGENET_FIGURES[101])
resnet152 = _register_imagenet("resnet152", 152, _IMAGENET_FIGURES[152])
_PLAIN_18 = (Figure("top1_err", 27.94, "paper", "Table 2, 10-crop"),)
_PLAIN_34 = (Figure("top1_err", 28.54, "paper", "Table 2, 10-crop"),)
plain18 = _register_imagenet("plain18", 18, _PLAIN_18)
plain34 = _register_imagenet("plain34", 34, _PLAIN_34)

# The same count for the plain net: option-A shortcuts have no weights.
_CIFAR_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962}


def _register_cifar(depth: int, residual: bool, top1_err: float | None) -> Callable[..., Any]:
    blocks = (depth - 2) // 6
    card = ModelCard(
        name=f"{'resnet' if residual else 'plain'}{depth}",
        family="resnet-cifar" if residual else "plain-cifar",
        description=(
            f"CIFAR {'ResNet' if residual else 'plain net'}-{depth}: 3x3 stem, 3 stages of "
            f"{blocks} blocks, 16-32-64 channels" + (", zero-padding shortcuts" if residual else "")
        ),
        paper=HE_2015,
        input_size=(3, 32, 32),
        num_classes=10,
        dataset="CIFAR-10",
        figures=(Figure("top1_err", top1_err, "paper", "Table 6, CIFAR-10 test"),)
        if top1_err is not None else (),
        params=_CIFAR_PARAMS[depth],
    )
    return register_model(card, CifarResNet, depth=depth, residual=residual)


# CIFAR-10 test error of the ResNets (Table 6); the plain nets are shown only as curves.
resnet20 = _register_cifar(20, True, 8.75)
resnet32 = _register_cifar(32, True, 7.51)
resnet44 = _register_cifar(44, True, 7.17)
resnet56 = _register_cifar(56, True, 6.97)
resnet110 = _register_cifar(110, True, 6.43)
plain20 = _register_cifar(20, False, None)
plain32 = _register_cifar(32, False, None)
plain44 = _register_cifar(44, False, None)
plain56 = _register_cifar(56, False, None)
plain110 = _register_cifar(110, False, None)
