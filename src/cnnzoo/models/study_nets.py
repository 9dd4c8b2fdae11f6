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
from cnnzoo.errors import ModelOptionError
from cnnzoo.models.alexnet import KRIZHEVSKY_2012
from cnnzoo.models.base import ZooModel, sequential_head
from cnnzoo.models.init import init_conv_bn_linear
from cnnzoo.models.mobilenet import HOWARD_2017
from cnnzoo.models.resnet import HE_2015, CifarResNet
from cnnzoo.registry import ModelCard, Paper, register_model

FAMILY = "study"
# The paper's LRN (Krizhevsky et al. 2012, section 3.3): b = a / (k + alpha sum a^2)^beta,
# the sum over n adjacent channels.
LRN_SIZE, LRN_K, PAPER_LRN_ALPHA = 5, 2.0, 1e-4


def window_term(lrn: nn.LocalResponseNorm, x: torch.Tensor) -> torch.Tensor:
    """What LRN adds to k at every channel and position of x (N, C, H, W): alpha / n times
    the sum of squares over the window of n channels, centred as PyTorch centres it (zero
    beyond the edges). The lrn study's measure of how much LRN acts."""
    n, c, h, w = x.shape
    i = torch.arange(c, device=x.device)
    offset = i[None, :] - i[:, None]  # input channel - output channel
    band = ((offset >= -(lrn.size // 2)) & (offset <= (lrn.size - 1) // 2)).to(x.dtype)
    if c > 1 and x.is_contiguous(memory_format=torch.channels_last):
        # channels last in memory: sum along the last axis of the NHWC view, no copy
        sums = torch.matmul((x * x).permute(0, 2, 3, 1), band.t()).permute(0, 3, 1, 2)
    else:
        sums = torch.matmul(band, (x * x).reshape(n, c, h * w)).reshape(n, c, h, w)
    return sums.mul_(lrn.alpha / lrn.size)


class ChannelLRN(nn.LocalResponseNorm):
    """nn.LocalResponseNorm's function, x / (k + window_term)^beta (the same numbers to float
    rounding), with the window sums taken as one product with a band matrix: on CPU PyTorch's
    avg_pool3d route costs about 4x the time, forward and backward, which would make LRN's
    share of a step (and the study's budget) a property of that kernel, not of LRN."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            return super().forward(x)
        return x * window_term(self, x).add_(self.k).pow_(-self.beta)


class AlexNetSmall(ZooModel):
    """AlexNet's pattern (conv-ReLU-[LRN]-pool twice, three 3x3 convs, pool, FC-FC-FC with
    dropout, no batch norm) scaled to a 28x28 image: conv1 5x5 stride 1 instead of 11x11/4
    (a 28x28 image has no room for stride 4), channels `width`/4 of the paper's (96-256-384-
    384-256 -> 24-64-96-96-64 at width 1), FC 4096 -> 256. LRN as in the paper (k=2, n=5,
    beta=0.75) with alpha `lrn_alpha` (the paper's 1e-4 by default).

    The paper's alpha was set for its activations, computed from pixels 0-255 less the mean;
    here the input is divided by the sd as well, which makes every activation (conv and ReLU
    scale with the input) 255 x sd times smaller and the sum LRN adds to k about 1e-4 of it:
    LRN then multiplies by a near-constant k^-beta. `lrn_alpha` = 1e-4 x (255 x sd)^2 gives
    the paper's LRN in the paper's units (LRN(s a) / s with alpha 1e-4 is LRN(a) with alpha
    1e-4 s^2), with the conditioning of a normalised input."""

    classifier_name = "classifier.6"
    first_conv_name = "features.0"
    min_input_size = 28  # the size its layers were scaled to

    def __init__(self, num_classes: int = 10, in_chans: int = 1, lrn: bool = True,
                 dropout: float = 0.5, lrn_alpha: float = PAPER_LRN_ALPHA,
                 width: float = 1.0) -> None:
        super().__init__(num_classes, in_chans)

        if not (isinstance(lrn_alpha, (int, float)) and 0 < lrn_alpha <= 1e3):
            raise ModelOptionError(f"lrn_alpha must be in (0, 1000], got {lrn_alpha!r}")
        if not (isinstance(width, (int, float)) and 0 < width <= 4):
            raise ModelOptionError(f"width must be in (0, 4], got {width!r}")
        c1, c2, c3, c4, c5 = (max(1, round(c * width)) for c in (24, 64, 96, 96, 64))

        def norm() -> nn.Module:
            # PyTorch divides alpha by n; the paper's alpha multiplies the plain sum.
            return (ChannelLRN(size=LRN_SIZE, alpha=LRN_SIZE * lrn_alpha, beta=0.75, k=LRN_K)
                    if lrn else nn.Identity())

        self.lrn = lrn
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, c1, 5, padding=2), nn.ReLU(inplace=True), norm(),  # 24x28x28
            nn.MaxPool2d(3, stride=2),  # -> 24x13x13 (overlapping pool, as in the paper)
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(inplace=True), norm(),  # -> 64x13x13
            nn.MaxPool2d(3, stride=2),  # -> 64x6x6
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),  # -> 96x6x6
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),  # -> 96x6x6
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True),  # -> 64x6x6
            nn.MaxPool2d(3, stride=2),  # -> 64x2x2
        )
        self.avgpool = nn.AdaptiveAvgPool2d(2)
        self.num_features = 256
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(c5 * 2 * 2, 256), nn.ReLU(inplace=True),  # FC6
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
        return sequential_head(self.classifier, torch.flatten(self.avgpool(x), 1), pre_logits)


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
    min_input_size = 8  # two stride-2 layers

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
    """A stride-1 block to insert, with the network's own initialisation (He-normal convs,
    BN gamma = 1, beta = 0), or with zero_init its last BN's gamma (and beta) = 0: its branch
    then adds nothing, so a residual block is the identity (on the post-ReLU, non-negative
    input) and a plain one outputs zeros. The residual and plain blocks have the same
    parameters, created in the same order: from one RNG state they get the same weights."""
    block = ResidualBlock(channels, channels, 1, None, residual=residual)
    init_conv_bn_linear(block, zero_init_residual=zero_init)
    return block


class ResNetInserted(CifarResNet):
    """A CIFAR ResNet-`depth` of `width` (or its plain net) with `extra` blocks appended to
    each stage: the trained net's keys are unchanged (layerK.0..n-1), the inserted ones are
    layerK.n.. (residual or plain, zero-init or randomly initialised)."""

    def __init__(self, num_classes: int = 10, in_chans: int = 1, depth: int = 20,
                 extra: int = 1, residual_insert: bool = True, zero_init: bool = True,
                 width: int = 16) -> None:
        super().__init__(depth, num_classes, in_chans, residual=True, width=width)
        for stage, channels in ((self.layer1, width), (self.layer2, 2 * width),
                                (self.layer3, 4 * width)):
            for _ in range(extra):
                stage.append(inserted_block(channels, residual_insert, zero_init))


def _card(name: str, description: str, paper: Paper, size: int) -> ModelCard:
    return ModelCard(name=name, family=FAMILY, description=description, paper=paper,
                     input_size=(1, size, size), num_classes=10, dataset="Fashion-MNIST")


study_alexnet_small = register_model(
    _card("study_alexnet_small", "AlexNet's layer pattern at 28x28 (lrn study), with or "
          "without LRN", KRIZHEVSKY_2012, 28), AlexNetSmall)
study_small_convnet = register_model(
    _card("study_small_convnet", "five 3x3 layers, full or depthwise separable "
          "(depthwise-accuracy study)", HOWARD_2017, 28), SmallConvNet)
study_resnet_inserted = register_model(
    _card("study_resnet_inserted", "CIFAR ResNet with inserted blocks per stage "
          "(identity study)", HE_2015, 28), ResNetInserted)
