"""GoogLeNet (Szegedy et al. 2014) and Inception-v3 (Szegedy et al. 2015).

`googlenet` and `inception_v3` follow torchvision's layouts; `googlenet_paper` is the
2014 network as published (no batch norm, true 5x5 branches, LRN, biased convs).
In training mode with `aux_logits=True`, forward returns `AuxOutputs(logits, aux)`,
the auxiliary classifiers' logits in `aux`; in eval mode it returns the logits alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.blocks import ConvBNReLU, InceptionBlock
from cnnzoo.data.specs import IMAGENET_299
from cnnzoo.errors import ModelOptionError
from cnnzoo.models.base import AuxHead, AuxHeadsModel, imagenet_to_half_normalisation
from cnnzoo.models.features import FeatureInfo
from cnnzoo.models.inception_v3 import InceptionV3
from cnnzoo.models.init import init_conv_bn_linear
from cnnzoo.models.rows import (
    INCEPTION_OPTIONS,
    SHA_D3M,
    SHA_OMZ,
    torchvision_weights,
)
from cnnzoo.registry import Figure, ModelCard, Paper, register_model

SZEGEDY_2014 = Paper(
    "C. Szegedy, W. Liu, Y. Jia, P. Sermanet, S. Reed, D. Anguelov, D. Erhan, V. Vanhoucke, "
    "A. Rabinovich", 2014, "Going Deeper with Convolutions",
)
SZEGEDY_2015 = Paper(
    "C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna", 2015,
    "Rethinking the Inception Architecture for Computer Vision",
)


class GoogLeNetAux(nn.Module):
    """A side branch: pool to 4x4, 1x1 conv to 128, FC-1024, dropout 0.7, FC-classes (128
    and 1024 times `width`, as the rest of a narrowed GoogLeNet).

    Lives here, not in blocks.py: it is GoogLeNet's head, not a case-study block."""

    def __init__(self, in_channels: int, num_classes: int, *, paper: bool,
                 width: float = 1.0) -> None:
        super().__init__()
        conv, hidden = _scaled(128, width), _scaled(1024, width)
        # The paper pools 5x5/3 (14x14 -> 4x4), then the adaptive pool is the identity; it
        # only acts on other input sizes. torchvision pools adaptively to 4x4.
        self.pool = (
            nn.Sequential(nn.AvgPool2d(5, stride=3), nn.AdaptiveAvgPool2d(4))
            if paper
            else nn.AdaptiveAvgPool2d(4)
        )
        self.conv = ConvBNReLU(in_channels, conv, 1, norm=not paper)
        self.fc1 = nn.Linear(conv * 4 * 4, hidden)
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x), inplace=True)))


def _scaled(channels: int, width: float) -> int:
    """A channel count times the width multiplier (at least 1; exact at width 1)."""
    return max(1, round(channels * width))


class GoogLeNet(AuxHeadsModel):
    """Stem, nine InceptionBlocks in three groups (3a-b, 4a-e, 5a-b), pool, classifier.

    `width` multiplies every channel count (the side branches' too), as MobileNet's width
    multiplier does; 1.0 is the published network."""

    classifier_name = "fc"
    first_conv_name = "conv1.conv"
    min_input_size = 32  # five stride-2 layers

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        *,
        aux_logits: bool = False,
        paper: bool = False,
        transform_input: bool = False,
        dropout: float | None = None,  # None: the paper's 0.4, torchvision's 0.2
        width: float = 1.0,
    ) -> None:
        super().__init__(num_classes, in_chans)
        if not (isinstance(width, (int, float)) and 0 < width <= 4):
            raise ModelOptionError(f"width must be in (0, 4], got {width!r}")
        if transform_input and in_chans != 3:
            raise ModelOptionError("transform_input=True needs in_chans=3 (RGB input)")
        norm = not paper
        k = 5 if paper else 3  # torchvision's GoogLeNet has 3x3 where the paper has 5x5
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        # The paper's side branches pool 5x5/3 on inception4a/4d's grid: 79x79 input or more.
        aux_min = 79 if paper else 0
        self.width = width

        def c(channels: int) -> int:
            return _scaled(channels, width)

        self.aux_heads = (AuxHead("aux1", "aux1.fc2", c(1024), aux_min),
                          AuxHead("aux2", "aux2.fc2", c(1024), aux_min))
        lrn = (lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)) if paper else None

        # stem                                           3x224x224
        self.conv1 = ConvBNReLU(in_chans, c(64), 7, stride=2, padding=3, norm=norm)  # 64x112x112
        self.feature_info.append(FeatureInfo("conv1", c(64), 2, "conv1"))
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # -> 64x56x56
        self.lrn1 = lrn() if paper else nn.Identity()
        self.conv2 = ConvBNReLU(c(64), c(64), 1, norm=norm)  # -> 64x56x56
        self.conv3 = ConvBNReLU(c(64), c(192), 3, padding=1, norm=norm)  # -> 192x56x56
        self.feature_info.append(FeatureInfo("conv3", c(192), 4, "conv2-3"))
        self.lrn2 = lrn() if paper else nn.Identity()
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # -> 192x28x28

        grid = [c(192)]  # the channels entering the next block

        def block(in_channels: int, *branches: int) -> InceptionBlock:
            # Table 1's input width; narrowed, each branch is rounded on its own, so the
            # block takes the previous block's output (the same number at width 1).
            assert width != 1 or grid[-1] == in_channels
            made = InceptionBlock(grid[-1], *(c(b) for b in branches), branch3_kernel=k,
                                  norm=norm)
            grid.append(made.out_channels)
            return made

        # in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj (Table 1 of the paper)
        self.inception3a = block(192, 64, 96, 128, 16, 32, 32)  # -> 256x28x28
        self.inception3b = block(256, 128, 128, 192, 32, 96, 64)  # -> 480x28x28
        self.feature_info.append(FeatureInfo("inception3b", grid[-1], 8, "inception (3a-3b)"))
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)  # -> 480x14x14
        self.inception4a = block(480, 192, 96, 208, 16, 48, 64)  # -> 512x14x14 (aux1)
        self.inception4b = block(512, 160, 112, 224, 24, 64, 64)  # -> 512x14x14
        self.inception4c = block(512, 128, 128, 256, 24, 64, 64)  # -> 512x14x14
        self.inception4d = block(512, 112, 144, 288, 32, 64, 64)  # -> 528x14x14 (aux2)
        self.inception4e = block(528, 256, 160, 320, 32, 128, 128)  # -> 832x14x14
        self.feature_info.append(FeatureInfo("inception4e", grid[-1], 16, "inception (4a-4e)"))
        self.maxpool4 = nn.MaxPool2d(2 if not paper else 3, stride=2, ceil_mode=True)  # 832x7x7
        self.inception5a = block(832, 256, 160, 320, 32, 128, 128)  # -> 832x7x7
        self.inception5b = block(832, 384, 192, 384, 48, 128, 128)  # -> 1024x7x7
        out = grid[-1]  # 1024 at width 1
        self.feature_info.append(FeatureInfo("inception5b", out, 32, "inception (5a-5b)"))

        self.aux1 = (GoogLeNetAux(self.inception4a.out_channels, num_classes, paper=paper,
                                  width=width) if aux_logits else None)
        self.aux2 = (GoogLeNetAux(self.inception4d.out_channels, num_classes, paper=paper,
                                  width=width) if aux_logits else None)
        # head: global average pool, dropout (0.4 in the paper, 0.2 in torchvision), FC
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout((0.4 if paper else 0.2) if dropout is None else dropout)
        self.num_features = out
        self.fc = nn.Linear(out, num_classes)
        init_conv_bn_linear(self)

    def _features(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list]:
        if self.transform_input:
            x = imagenet_to_half_normalisation(x)
        aux: list[torch.Tensor] = []
        x = self.lrn1(self.maxpool1(self.conv1(x)))
        x = self.maxpool2(self.lrn2(self.conv3(self.conv2(x))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        if with_aux:
            aux.append(self.aux1(x))
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        if with_aux:
            aux.append(self.aux2(x))
        x = self.maxpool4(self.inception4e(x))
        return self.inception5b(self.inception5a(x)), aux

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)


# Both GoogLeNets carry the paper's figures; the network measured was the paper's.
_GOOGLENET_PAPER_FIGURES = (
    Figure("top5_err", 10.07, "paper", "single model, single crop (Table 5)"),
    Figure("top5_err", 6.67, "paper", "7 models, 144 crops, test (Table 2)"),
)


_GOOGLENET_WEIGHTS = torchvision_weights(
    "googlenet", "googlenet-1378be20.pth",
    "1378be20a8e875cf1568b8a71654e704449655e34711a959a38b04fb34905cef",
    SHA_D3M + "; one other project agrees", 69.778, 89.530, model_options=INCEPTION_OPTIONS)

googlenet = register_model(
    ModelCard(
        name="googlenet",
        family="inception",
        description="GoogLeNet, torchvision layout: batch norm, 3x3 in the '5x5' branch",
        paper=SZEGEDY_2014,
        figures=_GOOGLENET_PAPER_FIGURES,
        torchvision_layout=True,
        notes="With torchvision's ImageNet weights, pass transform_input=True.",
        params=6_624_904,
    ),
    GoogLeNet, paper=False, weights=(_GOOGLENET_WEIGHTS,),
)
googlenet_paper = register_model(
    ModelCard(
        name="googlenet_paper",
        family="inception",
        description="GoogLeNet as published: no batch norm, 5x5 branches, LRN, side branches",
        paper=SZEGEDY_2014,
        figures=(
            *_GOOGLENET_PAPER_FIGURES,
            Figure("macs", 1.5e9, "paper", "about 1.5 billion multiply-adds"),
        ),
        notes="The side branches (aux_logits=True) pool 5x5/3 and need inputs of 79x79 or more.",
        params=6_998_552,
    ),
    GoogLeNet, paper=True,
)

_INCEPTION_V3_WEIGHTS = torchvision_weights(
    "inception_v3", "inception_v3_google-0cc3c7bd.pth",
    "0cc3c7bd75056d25e46cba549dc184522069b81e9787eff6df84f397bd52a5ef",
    "one public project pinning it (a single source). torchvision's earlier upload, "
    "inception_v3_google-1a9a5a14.pth, has SHA-256 1a9a5a14f40645a370184bd54f4e8e631351e7"
    "1399112b43ad0294a79da290c8 in " + SHA_OMZ.format("googlenet-v3-pytorch") + " and a "
    "Yocto recipe",
    77.294, 93.450, preset=IMAGENET_299, model_options=INCEPTION_OPTIONS)

inception_v3 = register_model(
    ModelCard(
        name="inception_v3",
        family="inception",
        description="Inception-v3, torchvision layout: factorised 7x7 and 3x3, 299x299 input",
        paper=SZEGEDY_2015,
        input_size=(3, 299, 299),
        figures=(
            Figure("top1_err", 21.2, "paper", "single model, single crop (Table 3)"),
            Figure("top5_err", 5.6, "paper", "single model, single crop (Table 3)"),
            Figure("top1_err", 17.3, "paper", "4 models, 144 crops (Table 5)"),
            Figure("top5_err", 3.5, "paper", "4 models, 144 crops (3.46 in Table 5's caption)"),
            Figure("top5_err", 3.46, "case studies", "about 3.46%"),
        ),
        torchvision_layout=True,
        notes="With torchvision's ImageNet weights, pass transform_input=True. The auxiliary "
        "head (aux_logits=True) needs 299x299 inputs or more in training.",
        params=23_834_568,
    ),
    InceptionV3, weights=(_INCEPTION_V3_WEIGHTS,),
)
