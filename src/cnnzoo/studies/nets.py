"""Networks the training studies need that the zoo does not have, built from cnnzoo.blocks.

Registered under `study_` names (hidden from `cnnzoo list`, but `cnnzoo train study_...`
builds them, so every study run has an equivalent `cnnzoo train` command):

    study_alexnet_small   AlexNet's layer pattern at 28x28, with or without LRN (lrn study)
    study_small_convnet   a 5-block net of full 3x3 or depthwise separable convs
    study_resnet_inserted a CIFAR ResNet with extra blocks at the end of each stage, residual
                          or plain (identity study: trained weights are copied in)
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.blocks import ConvNormAct, DepthwiseSeparableConv, ResidualBlock
from cnnzoo.models.alexnet import KRIZHEVSKY_2012
from cnnzoo.models.base import ZooModel
from cnnzoo.models.init import init_conv_bn_linear
from cnnzoo.models.mobilenet import HOWARD_2017
from cnnzoo.models.resnet import HE_2015, CifarResNet
from cnnzoo.registry import ModelCard, register_model

FAMILY = "study"


class AlexNetSmall(ZooModel):
    """AlexNet's pattern (conv-ReLU-[LRN]-pool twice, three 3x3 convs, pool, FC-FC-FC with
    dropout, no batch norm) scaled to a 28x28 image: conv1 5x5 stride 1 instead of 11x11/4
    (a 28x28 image has no room for stride 4), channels 1/4 of the paper's (96-256-384-384-256
    -> 24-64-96-96-64), FC 4096 -> 256. LRN as in the paper (k=2, n=5, alpha=1e-4, beta=0.75)."""

    classifier_name = "classifier.6"
    first_conv_name = "features.0"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, lrn: bool = True,
                 dropout: float = 0.5) -> None:
        super().__init__(num_classes, in_chans)
        from cnnzoo.models.alexnet import paper_lrn

        def norm() -> nn.Module:
            return paper_lrn() if lrn else nn.Identity()

        self.lrn = lrn
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 24, 5, padding=2), nn.ReLU(inplace=True), norm(),  # 24x28x28
            nn.MaxPool2d(3, stride=2),  # -> 24x13x13 (overlapping pool, as in the paper)
            nn.Conv2d(24, 64, 5, padding=2), nn.ReLU(inplace=True), norm(),  # -> 64x13x13
            nn.MaxPool2d(3, stride=2),  # -> 64x6x6
            nn.Conv2d(64, 96, 3, padding=1), nn.ReLU(inplace=True),  # -> 96x6x6
            nn.Conv2d(96, 96, 3, padding=1), nn.ReLU(inplace=True),  # -> 96x6x6
            nn.Conv2d(96, 64, 3, padding=1), nn.ReLU(inplace=True),  # -> 64x6x6
            nn.MaxPool2d(3, stride=2),  # -> 64x2x2
        )
        self.avgpool = nn.AdaptiveAvgPool2d(2)
        self.num_features = 256
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(64 * 2 * 2, 256), nn.ReLU(inplace=True),  # FC6
            nn.Dropout(dropout), nn.Linear(256, 256), nn.ReLU(inplace=True),  # FC7
            nn.Linear(256, num_classes),  # FC8
        )
        # Without batch norm, fan-out He init shrinks the signal at every widening layer
        # and N(0, 0.01) FC layers starve it further: fan-in He init keeps its scale.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.classifier[-1].weight, 0, 0.01)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = self.classifier[:-1](torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.classifier[-1](x)


class SmallConvNet(ZooModel):
    """A full 3x3 conv stem, then five 3x3 layers (MobileNet's first rows, scaled down):
    full convolutions (conv-BN-ReLU) or depthwise separable ones, the same shapes either way.

        stem   3x3 conv       c      28x28
        1      c   -> 2c            28x28
        2      2c  -> 4c, stride 2  14x14
        3      4c  -> 4c            14x14
        4      4c  -> 8c, stride 2   7x7
        5      8c  -> 8c             7x7      then global pool, FC
    """

    classifier_name = "fc"
    first_conv_name = "stem.0"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, separable: bool = False,
                 width: int = 16) -> None:
        super().__init__(num_classes, in_chans)
        c = width
        self.separable = separable

        def layer(c_in: int, c_out: int, stride: int = 1) -> nn.Module:
            if separable:
                return DepthwiseSeparableConv(c_in, c_out, stride)
            return ConvNormAct(c_in, c_out, 3, stride=stride, activation=nn.ReLU)

        self.stem = ConvNormAct(in_chans, c, 3, activation=nn.ReLU)
        self.blocks = nn.Sequential(
            layer(c, 2 * c), layer(2 * c, 4 * c, 2), layer(4 * c, 4 * c),
            layer(4 * c, 8 * c, 2), layer(8 * c, 8 * c),
        )
        self.num_features = 8 * c
        self.fc = nn.Linear(8 * c, num_classes)
        init_conv_bn_linear(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return x if pre_logits else self.fc(x)


def inserted_block(channels: int, residual: bool, zero_init: bool) -> ResidualBlock:
    """A stride-1 block to insert: with zero_init its last BN scale (and shift) is 0, so its
    residual branch adds nothing; a residual block is then the identity (on the post-ReLU,
    non-negative input), a plain one outputs zeros."""
    block = ResidualBlock(channels, channels, 1, None, residual=residual)
    init_conv_bn_linear(block, zero_init_residual=zero_init)
    return block


class ResNetInserted(CifarResNet):
    """A CIFAR ResNet-`depth` (or its plain net) with `extra` blocks appended to each stage:
    the trained net's keys are unchanged (layerK.0..n-1), the inserted ones are layerK.n.."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, depth: int = 20,
                 extra: int = 1, residual_insert: bool = True, zero_init: bool = True) -> None:
        super().__init__(depth, num_classes, in_chans, residual=True)
        for stage, channels in ((self.layer1, 16), (self.layer2, 32), (self.layer3, 64)):
            for _ in range(extra):
                stage.append(inserted_block(channels, residual_insert, zero_init))


def _card(name: str, description: str, paper, size: int, min_size: int) -> ModelCard:
    return ModelCard(name=name, family=FAMILY, description=description, paper=paper,
                     input_size=(1, size, size), min_input_size=min_size, num_classes=10,
                     dataset="Fashion-MNIST")


@register_model(_card("study_alexnet_small", "AlexNet's layer pattern at 28x28 (lrn study), "
                      "with or without LRN", KRIZHEVSKY_2012, 28, 28))
def study_alexnet_small(num_classes: int, in_chans: int, lrn: bool = True,
                        dropout: float = 0.5) -> AlexNetSmall:
    return AlexNetSmall(num_classes, in_chans, lrn, dropout)


@register_model(_card("study_small_convnet", "five 3x3 layers, full or depthwise separable "
                      "(depthwise-accuracy study)", HOWARD_2017, 28, 8))
def study_small_convnet(num_classes: int, in_chans: int, separable: bool = False,
                        width: int = 16) -> SmallConvNet:
    return SmallConvNet(num_classes, in_chans, separable, width)


@register_model(_card("study_resnet_inserted", "CIFAR ResNet with inserted blocks per stage "
                      "(identity study)", HE_2015, 28, 8))
def study_resnet_inserted(num_classes: int, in_chans: int, depth: int = 20, extra: int = 1,
                          residual_insert: bool = True, zero_init: bool = True
                          ) -> ResNetInserted:
    return ResNetInserted(num_classes, in_chans, depth, extra, residual_insert, zero_init)
