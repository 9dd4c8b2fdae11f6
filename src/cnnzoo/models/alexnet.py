"""AlexNet (Krizhevsky, Sutskever, Hinton 2012): torchvision's layout and the paper's."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from cnnzoo.models.base import ZooModel, sequential_head
from cnnzoo.models.features import FeatureInfo
from cnnzoo.models.init import init_conv_bn_linear
from cnnzoo.models.rows import SHA_PINNED, torchvision_weights
from cnnzoo.registry import Figure, ModelCard, Paper, register_model

KRIZHEVSKY_2012 = Paper(
    "A. Krizhevsky, I. Sutskever, G. E. Hinton", 2012,
    "ImageNet Classification with Deep Convolutional Neural Networks",
)


def paper_lrn() -> nn.LocalResponseNorm:
    # Paper: k=2, n=5, alpha=1e-4, beta=0.75 with alpha multiplying the plain sum;
    # PyTorch divides alpha by n, so pass n * alpha to compute the paper's formula.
    return nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)


class AlexNet(ZooModel):
    """Five convs, three max-pools, three fully connected layers.

    `paper=False`: torchvision's single-tower layout (64-192-384-256-256, no LRN).
    `paper=True`: the 2012 paper: 96-256-384-384-256, conv2/4/5 split into two groups
    (the two GPUs), LRN after conv1 and conv2, overlapping 3x3/2 pools, 227x227 input.
    """

    classifier_name = "classifier.6"
    first_conv_name = "features.0"
    min_input_size = 63  # the paper's layout (no padding in conv1) needs 67

    @classmethod
    def min_input_for(cls, *, paper: bool = False, **options: Any) -> int:
        return 67 if paper else cls.min_input_size

    def __init__(
        self, num_classes: int = 1000, in_chans: int = 3, *, paper: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_chans)
        self.min_input_size = self.min_input_for(paper=paper)
        if paper:
            self.features = nn.Sequential(
                nn.Conv2d(in_chans, 96, 11, stride=4),  # 3x227x227 -> 96x55x55
                nn.ReLU(inplace=True),
                paper_lrn(),
                nn.MaxPool2d(3, stride=2),  # -> 96x27x27
                nn.Conv2d(96, 256, 5, padding=2, groups=2),  # -> 256x27x27
                nn.ReLU(inplace=True),
                paper_lrn(),
                nn.MaxPool2d(3, stride=2),  # -> 256x13x13
                nn.Conv2d(256, 384, 3, padding=1),  # -> 384x13x13 (both towers)
                nn.ReLU(inplace=True),
                nn.Conv2d(384, 384, 3, padding=1, groups=2),  # -> 384x13x13
                nn.ReLU(inplace=True),
                nn.Conv2d(384, 256, 3, padding=1, groups=2),  # -> 256x13x13
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2),  # -> 256x6x6
            )
            stage_ends = ((3, 96, "conv1, pool"), (7, 256, "conv2, pool"),
                          (14, 256, "conv3-5, pool"))
        else:
            self.features = nn.Sequential(
                nn.Conv2d(in_chans, 64, 11, stride=4, padding=2),  # 3x224x224 -> 64x55x55
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2),  # -> 64x27x27
                nn.Conv2d(64, 192, 5, padding=2),  # -> 192x27x27
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2),  # -> 192x13x13
                nn.Conv2d(192, 384, 3, padding=1),  # -> 384x13x13
                nn.ReLU(inplace=True),
                nn.Conv2d(384, 256, 3, padding=1),  # -> 256x13x13
                nn.ReLU(inplace=True),
                nn.Conv2d(256, 256, 3, padding=1),  # -> 256x13x13
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2),  # -> 256x6x6
            )
            stage_ends = ((2, 64, "conv1, pool"), (5, 192, "conv2, pool"),
                          (12, 256, "conv3-5, pool"))
        # Each stage ends with a max-pool: total strides 8, 16, 32.
        for i, (end, channels, title) in enumerate(stage_ends):
            self.feature_info.append(FeatureInfo(f"features.{end}", channels, 8 << i, title))
        self.avgpool = nn.AdaptiveAvgPool2d(6)  # other input sizes -> 256x6x6
        self.num_features = 4096
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(256 * 6 * 6, 4096),  # FC6: 9216 -> 4096
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),  # FC7
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),  # FC8, softmax
        )
        init_conv_bn_linear(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        return sequential_head(self.classifier, torch.flatten(self.avgpool(x), 1), pre_logits)


_CASE_STUDY = (
    Figure("top5_err", 17.0, "case studies", "about 17%"),
    Figure("params", 60e6, "case studies", "about 60M"),
)
_PAPER = (
    Figure("top1_err", 40.7, "paper", "1 CNN, validation"),
    Figure("top5_err", 18.2, "paper", "1 CNN, validation"),
    Figure("top1_err", 36.7, "paper", "7 CNNs, validation"),
    Figure("top5_err", 15.4, "paper", "7 CNNs, validation (15.3 on test)"),
)


_TORCHVISION = torchvision_weights(
    "alexnet", "alexnet-owt-7be5be79.pth",
    "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", SHA_PINNED,
    56.522, 79.066, size=244_408_911)

alexnet = register_model(
    ModelCard(
        name="alexnet",
        family="alexnet",
        description="AlexNet, torchvision layout (64-192-384-256-256, adaptive pool)",
        paper=KRIZHEVSKY_2012,
        figures=_PAPER + _CASE_STUDY,
        torchvision_layout=True,
        notes="torchvision follows the one-GPU variant of Krizhevsky 2014, not the 2012 paper.",
        params=61_100_840,
    ),
    AlexNet, paper=False, weights=(_TORCHVISION,),
)
alexnet_paper = register_model(
    ModelCard(
        name="alexnet_paper",
        family="alexnet",
        description="AlexNet as published: 96-256-384-384-256, two groups, LRN, 227x227",
        paper=KRIZHEVSKY_2012,
        input_size=(3, 227, 227),
        figures=_PAPER + _CASE_STUDY,
        notes="The paper says 224x224, but its arithmetic (55x55 after conv1) needs 227x227.",
        params=60_965_224,
    ),
    AlexNet, paper=True,
)
