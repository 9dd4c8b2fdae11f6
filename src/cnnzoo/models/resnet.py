"""ResNets and the plain nets they beat (He, Zhang, Ren, Sun 2015).

ImageNet nets in torchvision's layout (keys conv1, bn1, layer1..layer4, fc), and the
CIFAR-10 nets of section 4.2 (3x3 stem, 16-32-64 channels, zero-padding shortcuts).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.blocks import Bottleneck, ResidualBlock, ZeroPadShortcut, projection_shortcut
from cnnzoo.models.base import ZooModel
from cnnzoo.models.features import FeatureInfo
from cnnzoo.models.init import init_conv_bn_linear
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


def build_resnet(
    num_classes: int,
    in_chans: int,
    depth: int,
    *,
    residual: bool = True,
    stride_in_1x1: bool = False,
    zero_init_residual: bool = False,
) -> ResNet:
    return ResNet(depth, num_classes, in_chans, residual=residual, stride_in_1x1=stride_in_1x1,
                  zero_init_residual=zero_init_residual)


def build_plain(num_classes: int, in_chans: int, depth: int) -> ResNet:
    return ResNet(depth, num_classes, in_chans, residual=False)


def build_cifar_resnet(num_classes: int, in_chans: int, depth: int, width: int = 16
                       ) -> CifarResNet:
    return CifarResNet(depth, num_classes, in_chans, residual=True, width=width)


def build_cifar_plain(num_classes: int, in_chans: int, depth: int, width: int = 16
                      ) -> CifarResNet:
    return CifarResNet(depth, num_classes, in_chans, residual=False, width=width)


_IMAGENET_FIGURES: dict[int, tuple[Figure, ...]] = {
    18: (
        Figure("top1_err", 27.88, "paper", "Table 2, 10-crop"),
        Figure("acc1", 69.758, "torchvision"),
        Figure("acc5", 89.078, "torchvision"),
    ),
    34: (
        Figure("top1_err", 21.84, "paper", "Table 4, single model"),
        Figure("top5_err", 5.71, "paper", "Table 4, single model"),
        Figure("acc1", 73.314, "torchvision"),
        Figure("acc5", 91.420, "torchvision"),
    ),
    50: (
        Figure("top1_err", 20.74, "paper", "Table 4, single model"),
        Figure("top5_err", 5.25, "paper", "Table 4, single model"),
        Figure("top5_err", 7.8, "case studies", "about 7.8%"),
        Figure("macs", 3.8e9, "paper", "Table 1: 3.8 x 10^9 FLOPs (multiply-adds), v1 strides"),
        Figure("acc1", 76.130, "torchvision"),
        Figure("acc5", 92.862, "torchvision"),
    ),
    101: (
        Figure("top1_err", 19.87, "paper", "Table 4, single model"),
        Figure("top5_err", 4.60, "paper", "Table 4, single model"),
        Figure("acc1", 77.374, "torchvision"),
        Figure("acc5", 93.546, "torchvision"),
    ),
    152: (
        Figure("top1_err", 19.38, "paper", "Table 4, single model"),
        Figure("top5_err", 4.49, "paper", "Table 4, single model"),
        Figure("top5_err", 5.0, "case studies", "below 5%"),
        Figure("acc1", 78.312, "torchvision"),
        Figure("acc5", 94.046, "torchvision"),
    ),
}

def _imagenet_card(name: str, depth: int, figures: tuple[Figure, ...]) -> ModelCard:
    residual = name.startswith("resnet")
    return ModelCard(
        name=name,
        family="resnet" if residual else "plain",
        description=f"ResNet-{depth}, torchvision layout (stride on the 3x3, 'v1.5')"
        if residual else f"plain-{depth}: ResNet-{depth} without shortcuts",
        paper=HE_2015,
        input_size=(3, 224, 224),
        min_input_size=32,
        num_classes=1000,
        dataset="ImageNet",
        figures=figures,
        torchvision_layout=residual,
        notes="stride_in_1x1=True gives the paper's v1 (stride on the first 1x1)." if residual
        else "Deeper is worse here: plain-34 trains to a higher error than plain-18.",
    )


register_model(_imagenet_card("resnet18", 18, _IMAGENET_FIGURES[18]), depth=18)(build_resnet)
register_model(_imagenet_card("resnet34", 34, _IMAGENET_FIGURES[34]), depth=34)(build_resnet)
register_model(_imagenet_card("resnet50", 50, _IMAGENET_FIGURES[50]), depth=50)(build_resnet)
register_model(_imagenet_card("resnet101", 101, _IMAGENET_FIGURES[101]), depth=101)(build_resnet)
register_model(_imagenet_card("resnet152", 152, _IMAGENET_FIGURES[152]), depth=152)(build_resnet)
_PLAIN_18 = (Figure("top1_err", 27.94, "paper", "Table 2, 10-crop"),)
_PLAIN_34 = (Figure("top1_err", 28.54, "paper", "Table 2, 10-crop"),)
register_model(_imagenet_card("plain18", 18, _PLAIN_18), depth=18)(build_plain)
register_model(_imagenet_card("plain34", 34, _PLAIN_34), depth=34)(build_plain)


def _cifar_card(name: str, depth: int, residual: bool, top1_err: float | None) -> ModelCard:
    blocks = (depth - 2) // 6
    return ModelCard(
        name=name,
        family="resnet-cifar" if residual else "plain-cifar",
        description=(
            f"CIFAR {'ResNet' if residual else 'plain net'}-{depth}: 3x3 stem, 3 stages of "
            f"{blocks} blocks, 16-32-64 channels" + (", zero-padding shortcuts" if residual else "")
        ),
        paper=HE_2015,
        input_size=(3, 32, 32),
        min_input_size=8,
        num_classes=10,
        dataset="CIFAR-10",
        figures=(Figure("top1_err", top1_err, "paper", "Table 6, CIFAR-10 test"),)
        if top1_err is not None else (),
    )


# CIFAR-10 test error of the ResNets (Table 6); the plain nets are shown only as curves.
register_model(_cifar_card("resnet20", 20, True, 8.75), depth=20)(build_cifar_resnet)
register_model(_cifar_card("resnet32", 32, True, 7.51), depth=32)(build_cifar_resnet)
register_model(_cifar_card("resnet44", 44, True, 7.17), depth=44)(build_cifar_resnet)
register_model(_cifar_card("resnet56", 56, True, 6.97), depth=56)(build_cifar_resnet)
register_model(_cifar_card("resnet110", 110, True, 6.43), depth=110)(build_cifar_resnet)
register_model(_cifar_card("plain20", 20, False, None), depth=20)(build_cifar_plain)
register_model(_cifar_card("plain32", 32, False, None), depth=32)(build_cifar_plain)
register_model(_cifar_card("plain44", 44, False, None), depth=44)(build_cifar_plain)
register_model(_cifar_card("plain56", 56, False, None), depth=56)(build_cifar_plain)
register_model(_cifar_card("plain110", 110, False, None), depth=110)(build_cifar_plain)
