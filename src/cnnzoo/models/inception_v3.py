"""Inception-v3 (Szegedy et al. 2015) in torchvision's layout.

Table 1 of the paper: a stem of plain convs, 3 Inception modules on the 35x35 grid,
a grid reduction, 5 modules on the 17x17 grid (n x 1 factorised 7x7 convs), a grid
reduction, 2 modules on the 8x8 grid (expanded filter banks), pool, classifier.
Module and branch names are torchvision's, so its weights load. The modules live here,
not in blocks.py: each is one grid's module of this one network, named by that grid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.blocks import ConvBNReLU as Conv
from cnnzoo.errors import ModelOptionError
from cnnzoo.models.base import AuxHead, AuxHeadsModel, imagenet_to_half_normalisation
from cnnzoo.models.features import FeatureInfo
from cnnzoo.models.init import init_conv_bn_linear


class Inception35x35(nn.Module):
    """1x1 | 1x1 -> 5x5 | 1x1 -> 3x3 -> 3x3 | avg-pool -> 1x1 (torchvision's InceptionA)."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = Conv(in_channels, 64, 1)
        self.branch5x5_1 = Conv(in_channels, 48, 1)
        self.branch5x5_2 = Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], 1)


class ReductionTo17x17(nn.Module):
    """35x35 -> 17x17: strided 3x3 | 1x1 -> 3x3 -> strided 3x3 | max-pool (InceptionB)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = Conv(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = Conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, 3, stride=2)], 1)


class Inception17x17(nn.Module):
    """7x7 convs factorised into 1x7 and 7x1 (Figure 6; torchvision's InceptionC)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = Conv(in_channels, 192, 1)
        self.branch7x7_1 = Conv(in_channels, c7, 1)
        self.branch7x7_2 = Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = Conv(in_channels, c7, 1)
        self.branch7x7dbl_2 = Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = Conv(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for conv in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4):
            bd = conv(bd)
        bd = self.branch7x7dbl_5(bd)
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([b1, b7, bd, bp], 1)


class ReductionTo8x8(nn.Module):
    """17x17 -> 8x8: 1x1 -> strided 3x3 | 1x1 -> 1x7 -> 7x1 -> strided 3x3 | max-pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = Conv(in_channels, 192, 1)
        self.branch3x3_2 = Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(in_channels, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for conv in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = conv(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, 3, stride=2)], 1)


class Inception8x8(nn.Module):
    """Expanded filter banks: 3x3 split into parallel 1x3 and 3x1 (Figure 7; InceptionE)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = Conv(in_channels, 320, 1)
        self.branch3x3_1 = Conv(in_channels, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = Conv(in_channels, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = Conv(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        bp = self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1))
        return torch.cat([b1, b3, bd, bp], 1)


class InceptionV3Aux(nn.Module):
    """The auxiliary classifier on the 17x17 grid (a regulariser, per the paper)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = Conv(in_channels, 128, 1)
        self.conv1 = Conv(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.conv0(F.avg_pool2d(x, 5, stride=3)))  # 17x17 -> 5x5 -> 1x1
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InceptionV3(AuxHeadsModel):
    classifier_name = "fc"
    first_conv_name = "Conv2d_1a_3x3.conv"
    # The aux head pools 5x5/3 then convolves 5x5: it needs the 17x17 grid of a 299 input.
    aux_heads = (AuxHead("AuxLogits", "AuxLogits.fc", 768, min_input_size=299),)
    min_input_size = 75  # the valid 3x3 convs and pools of the stem and the reductions

    def __init__(
        self,
        num_classes: int = 1000,
        in_chans: int = 3,
        *,
        aux_logits: bool = False,
        transform_input: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__(num_classes, in_chans)
        if transform_input and in_chans != 3:
            raise ModelOptionError("transform_input=True needs in_chans=3 (RGB input)")
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        # stem                                          3x299x299
        self.Conv2d_1a_3x3 = Conv(in_chans, 32, 3, stride=2)  # -> 32x149x149
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)  # -> 32x147x147
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)  # -> 64x147x147
        self.feature_info.append(FeatureInfo("Conv2d_2b_3x3", 64, 2, "Conv2d_1a-2b"))
        self.maxpool1 = nn.MaxPool2d(3, stride=2)  # -> 64x73x73
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)  # -> 80x73x73
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)  # -> 192x71x71
        self.feature_info.append(FeatureInfo("Conv2d_4a_3x3", 192, 4, "Conv2d_3b-4a"))
        self.maxpool2 = nn.MaxPool2d(3, stride=2)  # -> 192x35x35
        # 3 x Inception on the 35x35 grid
        self.Mixed_5b = Inception35x35(192, pool_features=32)  # -> 256x35x35
        self.Mixed_5c = Inception35x35(256, pool_features=64)  # -> 288x35x35
        self.Mixed_5d = Inception35x35(288, pool_features=64)  # -> 288x35x35
        self.feature_info.append(FeatureInfo("Mixed_5d", 288, 8, "Mixed_5b-5d (35x35)"))
        self.Mixed_6a = ReductionTo17x17(288)  # -> 768x17x17
        # 5 x Inception on the 17x17 grid (4 distinct in torchvision's count)
        self.Mixed_6b = Inception17x17(768, channels_7x7=128)  # -> 768x17x17
        self.Mixed_6c = Inception17x17(768, channels_7x7=160)
        self.Mixed_6d = Inception17x17(768, channels_7x7=160)
        self.Mixed_6e = Inception17x17(768, channels_7x7=192)  # -> 768x17x17
        self.feature_info.append(FeatureInfo("Mixed_6e", 768, 16, "Mixed_6a-6e (17x17)"))
        self.AuxLogits = InceptionV3Aux(768, num_classes) if aux_logits else None
        self.Mixed_7a = ReductionTo8x8(768)  # -> 1280x8x8
        # 2 x Inception on the 8x8 grid
        self.Mixed_7b = Inception8x8(1280)  # -> 2048x8x8
        self.Mixed_7c = Inception8x8(2048)  # -> 2048x8x8
        self.feature_info.append(FeatureInfo("Mixed_7c", 2048, 32, "Mixed_7a-7c (8x8)"))
        # head: global average pool, dropout, FC
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.num_features = 2048
        self.fc = nn.Linear(2048, num_classes)
        init_conv_bn_linear(self)

    def _features(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, list]:
        if self.transform_input:
            x = imagenet_to_half_normalisation(x)
        x = self.maxpool1(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        x = self.Mixed_6a(self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x))))
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        aux = [self.AuxLogits(x)] if with_aux else []
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        return x, aux

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)
