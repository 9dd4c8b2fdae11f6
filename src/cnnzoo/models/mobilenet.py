"""MobileNet v1 (Howard et al. 2017) and v2 (Sandler et al. 2018).

v1 has no torchvision model; its keys are ours (stem, blocks.N.depthwise/pointwise, fc).
v2 follows torchvision's layout (features.N, classifier.1).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.blocks import ConvNormAct, DepthwiseSeparableConv, InvertedResidual
from cnnzoo.errors import ModelOptionError
from cnnzoo.models.base import ZooModel
from cnnzoo.models.features import FeatureInfo
from cnnzoo.models.init import init_conv_bn_linear
from cnnzoo.models.rows import SHA_D3M, V2_DEFAULT, torchvision_weights
from cnnzoo.registry import Figure, ModelCard, Paper, register_model

HOWARD_2017 = Paper(
    "A. G. Howard, M. Zhu, B. Chen, D. Kalenichenko, W. Wang, T. Weyand, M. Andreetto, "
    "H. Adam", 2017,
    "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
)
SANDLER_2018 = Paper(
    "M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen", 2018,
    "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
)


def _check_width(width: float) -> None:
    if not width > 0:
        raise ModelOptionError(f"width (the multiplier alpha) must be > 0, got {width}")


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a scaled channel count to a multiple of `divisor`, never more than 10% down
    (the rule of the MobileNetV2 reference code, which torchvision's weights assume)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class MobileNetV1(ZooModel):
    """A 3x3 stem, then 13 depthwise separable convolutions (Table 1 of the paper).

    `width` is the width multiplier alpha: every layer has int(alpha * channels) channels,
    which cuts parameters and multiply-adds by about alpha^2.
    """

    classifier_name = "fc"
    first_conv_name = "stem.0"
    min_input_size = 32  # five stride-2 layers

    def __init__(
        self, num_classes: int = 1000, in_chans: int = 3, width: float = 1.0, dropout: float = 0.0
    ) -> None:
        super().__init__(num_classes, in_chans)
        _check_width(width)

        def c(channels: int) -> int:
            return max(1, int(channels * width))

        self.width = width
        self.stem = ConvNormAct(in_chans, c(32), 3, stride=2, activation=nn.ReLU)  # -> 32x112x112
        self.blocks = nn.Sequential(
            DepthwiseSeparableConv(c(32), c(64)),  # 0: -> 64x112x112
            DepthwiseSeparableConv(c(64), c(128), stride=2),  # 1: -> 128x56x56
            DepthwiseSeparableConv(c(128), c(128)),  # 2: -> 128x56x56
            DepthwiseSeparableConv(c(128), c(256), stride=2),  # 3: -> 256x28x28
            DepthwiseSeparableConv(c(256), c(256)),  # 4: -> 256x28x28
            DepthwiseSeparableConv(c(256), c(512), stride=2),  # 5: -> 512x14x14
            *(DepthwiseSeparableConv(c(512), c(512)) for _ in range(5)),  # 6-10: 512x14x14
            DepthwiseSeparableConv(c(512), c(1024), stride=2),  # 11: -> 1024x7x7
            # Table 1 prints stride 2 here, but its output stays 7x7: stride 1 is meant.
            DepthwiseSeparableConv(c(1024), c(1024)),  # 12: -> 1024x7x7
        )
        # A stage ends with the last block before each stride 2, and with the last block.
        for last, first, reduction in ((0, 0, 2), (2, 1, 4), (4, 3, 8), (10, 5, 16), (12, 11, 32)):
            title = "stem, blocks.0" if last == 0 else f"blocks.{first}-{last}"
            channels = self.blocks[last].out_channels
            self.feature_info.append(FeatureInfo(f"blocks.{last}", channels, reduction, title))
        self.avgpool = nn.AdaptiveAvgPool2d(1)  # -> 1024
        self.dropout = nn.Dropout(dropout)
        self.num_features = c(1024)
        self.fc = nn.Linear(self.num_features, num_classes)
        init_conv_bn_linear(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)


class MobileNetV2(ZooModel):
    """A 3x3 stem, 17 inverted residual blocks, a 1x1 conv to 1280, pool, classifier.

    Each `_stage(t, c, n, s)` is a row of the paper's Table 2: n blocks with expansion
    factor t and c output channels, the first with stride s.
    """

    classifier_name = "classifier.1"
    first_conv_name = "features.0.0"
    min_input_size = 32  # five stride-2 layers

    def __init__(
        self, num_classes: int = 1000, in_chans: int = 3, width: float = 1.0, dropout: float = 0.2
    ) -> None:
        super().__init__(num_classes, in_chans)
        _check_width(width)
        self.width = width
        self.channels = make_divisible(32 * width)
        last_channels = make_divisible(1280 * max(1.0, width))
        self.features = nn.Sequential(
            ConvNormAct(in_chans, self.channels, 3, stride=2),  # 0: 3x224x224 -> 32x112x112
            *self._stage(t=1, c=16, n=1, s=1),  # 1: -> 16x112x112
            *self._stage(t=6, c=24, n=2, s=2),  # 2-3: -> 24x56x56
            *self._stage(t=6, c=32, n=3, s=2),  # 4-6: -> 32x28x28
            *self._stage(t=6, c=64, n=4, s=2),  # 7-10: -> 64x14x14
            *self._stage(t=6, c=96, n=3, s=1),  # 11-13: -> 96x14x14
            *self._stage(t=6, c=160, n=3, s=2),  # 14-16: -> 160x7x7
            *self._stage(t=6, c=320, n=1, s=1),  # 17: -> 320x7x7
            ConvNormAct(self.channels, last_channels, 1),  # 18: -> 1280x7x7
        )
        # A stage ends with the last block before each stride 2, and with the last row.
        for first, last, reduction in ((0, 1, 2), (2, 3, 4), (4, 6, 8), (7, 13, 16), (14, 17, 32)):
            channels = self.features[last].out_channels
            self.feature_info.append(
                FeatureInfo(f"features.{last}", channels, reduction, f"features.{first}-{last}")
            )
        self.num_features = last_channels
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last_channels, num_classes))
        init_conv_bn_linear(self)

    def _stage(self, t: int, c: int, n: int, s: int) -> list[InvertedResidual]:
        out_channels = make_divisible(c * self.width)
        blocks = []
        for i in range(n):
            blocks.append(InvertedResidual(self.channels, out_channels, s if i == 0 else 1, t))
            self.channels = out_channels
        return blocks

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return x if pre_logits else self.classifier(x)


mobilenet_v1 = register_model(
    ModelCard(
        name="mobilenet_v1",
        family="mobilenet",
        description="MobileNet v1: 13 depthwise separable blocks, width multiplier `width`",
        paper=HOWARD_2017,
        figures=(
            Figure("acc1", 70.6, "paper", "Table 8, 1.0 MobileNet-224"),
            Figure("top5_err", 10.5, "case studies", "about 10.5%"),
            Figure("params", 4.2e6, "paper", "Table 8: 4.2 million"),
            Figure("macs", 569e6, "paper", "Table 8: 569 million mult-adds"),
            Figure("acc1", 68.4, "paper", "Table 6, width 0.75"),
            Figure("acc1", 63.7, "paper", "Table 6, width 0.5"),
            Figure("acc1", 50.6, "paper", "Table 6, width 0.25"),
        ),
        notes="Options: width (alpha) 1.0, 0.75, 0.5, 0.25 as in the paper; any input >= 32.",
        params=4_231_976,
    ),
    MobileNetV1,
)

_V2_WEIGHTS = torchvision_weights(
    "mobilenet_v2", "mobilenet_v2-b0353104.pth",
    "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    "a Yocto recipe (SRC_URI sha256sum) and " + SHA_D3M, 71.878, 90.286, **V2_DEFAULT)

mobilenet_v2 = register_model(
    ModelCard(
        name="mobilenet_v2",
        family="mobilenet",
        description="MobileNet v2: 17 inverted residual blocks, torchvision layout",
        paper=SANDLER_2018,
        figures=(
            Figure("acc1", 72.0, "paper", "Table 4"),
            Figure("top5_err", 9.0, "case studies", "about 9%"),
            Figure("params", 3.4e6, "paper", "Table 4: 3.4M"),
            Figure("macs", 300e6, "paper", "Table 4: 300M multiply-adds"),
        ),
        torchvision_layout=True,
        params=3_504_872,
    ),
    MobileNetV2, weights=(_V2_WEIGHTS,),
)
