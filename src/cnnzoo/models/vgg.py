"""VGG-11/13/16/19, with and without batch norm (Simonyan & Zisserman 2014).

torchvision's layout: `features` (an indexed sequence of 3x3 convs and 2x2 pools),
a 7x7 adaptive average pool, and a three-layer `classifier`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from cnnzoo.models.base import ZooModel, sequential_head
from cnnzoo.models.features import FeatureInfo
from cnnzoo.models.init import init_conv_bn_linear
from cnnzoo.models.rows import SHA_D3M, SHA_PINNED, SHA_PREFIX, torchvision_weights
from cnnzoo.registry import Figure, ModelCard, Paper, register_model

SIMONYAN_2014 = Paper(
    "K. Simonyan, A. Zisserman", 2014,
    "Very Deep Convolutional Networks for Large-Scale Image Recognition",
)

# 3x3 'same' convs in each of the five stages (configurations A, B, D, E of Table 1).
# Every stage ends with a 2x2/2 max-pool, halving height and width.
CONVS_PER_STAGE = {
    11: (1, 1, 2, 2, 2),  # A
    13: (2, 2, 2, 2, 2),  # B
    16: (2, 2, 3, 3, 3),  # D
    19: (2, 2, 4, 4, 4),  # E
}
STAGE_CHANNELS = (64, 128, 256, 512, 512)


def vgg_stage(in_channels: int, channels: int, convs: int, batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers.append(nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(channels))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.MaxPool2d(2, stride=2))
    return layers


class VGG(ZooModel):
    classifier_name = "classifier.6"
    first_conv_name = "features.0"
    min_input_size = 32  # five 2x2 max-pools

    def __init__(
        self,
        depth: int,
        num_classes: int = 1000,
        in_chans: int = 3,
        *,
        batch_norm: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_chans)
        convs = CONVS_PER_STAGE[depth]
        c = STAGE_CHANNELS
        stages = [
            vgg_stage(in_chans, c[0], convs[0], batch_norm),  # 3x224x224 -> 64x112x112
            vgg_stage(c[0], c[1], convs[1], batch_norm),  # -> 128x56x56
            vgg_stage(c[1], c[2], convs[2], batch_norm),  # -> 256x28x28
            vgg_stage(c[2], c[3], convs[3], batch_norm),  # -> 512x14x14
            vgg_stage(c[3], c[4], convs[4], batch_norm),  # -> 512x7x7
        ]
        self.features = nn.Sequential(*(layer for stage in stages for layer in stage))
        end = -1
        for i, stage in enumerate(stages):  # each stage ends with its max-pool
            end += len(stage)
            title = f"block{i + 1} ({convs[i]} x conv3-{c[i]})"
            self.feature_info.append(FeatureInfo(f"features.{end}", c[i], 2 ** (i + 1), title))
        self.avgpool = nn.AdaptiveAvgPool2d(7)  # any input >= 32 -> 512x7x7
        self.num_features = 4096
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),  # FC-4096
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),  # FC-4096
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),  # FC-1000, softmax
        )
        init_conv_bn_linear(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        return sequential_head(self.classifier, torch.flatten(self.avgpool(x), 1), pre_logits)


_CONFIG = {11: "A", 13: "B", 16: "D", 19: "E"}
_FIGURES: dict[str, tuple[Figure, ...]] = {
    "vgg11": (Figure("top1_err", 29.6, "paper", "Table 3, config A, single scale"),
              Figure("top5_err", 10.4, "paper", "Table 3, config A, single scale")),
    "vgg13": (Figure("top1_err", 28.7, "paper", "Table 3, config B, single scale"),
              Figure("top5_err", 9.9, "paper", "Table 3, config B, single scale")),
    "vgg16": (Figure("top1_err", 24.4, "paper", "Table 5, config D, multi-crop & dense"),
              Figure("top5_err", 7.2, "paper", "Table 5, config D, multi-crop & dense"),
              Figure("top5_err", 7.0, "case studies", "about 7%"),
              Figure("params", 138e6, "case studies", "about 138M")),
    "vgg19": (Figure("top1_err", 24.4, "paper", "Table 5, config E, multi-crop & dense"),
              Figure("top5_err", 7.1, "paper", "Table 5, config E, multi-crop & dense"),
              Figure("top5_err", 7.0, "case studies", "similar to VGG-16")),
}

_WEIGHTS = {w.model: w for w in (
    torchvision_weights("vgg11", "vgg11-8a719046.pth", None, SHA_PREFIX, 69.020, 88.628),
    torchvision_weights("vgg11_bn", "vgg11_bn-6002323d.pth", None, SHA_PREFIX, 70.370, 89.810),
    torchvision_weights("vgg13", "vgg13-19584684.pth", None, SHA_PREFIX, 69.928, 89.246),
    torchvision_weights("vgg13_bn", "vgg13_bn-abd245e5.pth", None, SHA_PREFIX, 71.586, 90.374),
    torchvision_weights("vgg16", "vgg16-397923af.pth",
                        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
                        SHA_D3M + "; " + SHA_PINNED, 71.592, 90.382, size=553_433_881),
    torchvision_weights("vgg16_bn", "vgg16_bn-6c64b313.pth",
                        "6c64b3138f2f4fcb3bcc4cafde11619c4f440eb1631787e93a682fd88305888a",
                        SHA_D3M, 73.360, 91.516),
    torchvision_weights("vgg19", "vgg19-dcbb9e9d.pth",
                        "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44",
                        SHA_PINNED, 72.376, 90.876, size=574_673_361),
    torchvision_weights("vgg19_bn", "vgg19_bn-c79401a0.pth", None, SHA_PREFIX, 74.218, 91.842),
)}
_PARAMS = {"vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848,
           "vgg13_bn": 133_053_736, "vgg16": 138_357_544, "vgg16_bn": 138_365_992,
           "vgg19": 143_667_240, "vgg19_bn": 143_678_248}


def _register(depth: int, batch_norm: bool) -> Callable[..., Any]:
    name = f"vgg{depth}" + ("_bn" if batch_norm else "")
    card = ModelCard(
        name=name,
        family="vgg",
        description=f"VGG-{depth} (configuration {_CONFIG[depth]})"
        + (" with batch norm" if batch_norm else ""),
        paper=SIMONYAN_2014,
        figures=_FIGURES.get(name, ()),
        torchvision_layout=True,
        notes="Batch norm is not in the paper (it came in 2015); torchvision adds it."
        if batch_norm else "",
        params=_PARAMS[name],
    )
    return register_model(card, VGG, depth=depth, batch_norm=batch_norm,
                          weights=(_WEIGHTS[name],))


vgg11, vgg11_bn = _register(11, False), _register(11, True)
vgg13, vgg13_bn = _register(13, False), _register(13, True)
vgg16, vgg16_bn = _register(16, False), _register(16, True)
vgg19, vgg19_bn = _register(19, False), _register(19, True)
