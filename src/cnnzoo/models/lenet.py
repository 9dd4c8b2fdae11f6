"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998) as published, and its common modern variant."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.models.base import ZooModel
from cnnzoo.models.features import FeatureInfo
from cnnzoo.registry import Figure, ModelCard, Paper, register_model

LECUN_1998 = Paper(
    "Y. LeCun, L. Bottou, Y. Bengio, P. Haffner", 1998,
    "Gradient-Based Learning Applied to Document Recognition",
)

# Table I of the paper: which of S2's 6 maps feed each of C3's 16 maps. Six take 3
# neighbouring maps, six take 4 neighbours, three take 4 non-neighbours, one takes all:
# breaking symmetry so the maps learn different features, with fewer connections.
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class ScaledTanh(nn.Module):
    """f(a) = A tanh(S a) with A = 1.7159, S = 2/3 (Appendix A): f(1) = 1, f(-1) = -1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsampling(nn.Module):
    """S2/S4: each map sums a 2x2 window, times a trainable coefficient, plus a trainable
    bias (2 parameters a map)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        window_sum = 4 * F.avg_pool2d(x, 2)
        return window_sum * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class PartialConv2d(nn.Module):
    """C3: a convolution where output map j sees only the input maps in table[j].

    Only the connected filters are parameters (1,500 weights + 16 biases = 1,516); they
    are scattered into a dense, mostly-zero kernel for the convolution.
    """

    def __init__(self, in_channels: int, table: tuple[tuple[int, ...], ...], kernel: int) -> None:
        super().__init__()
        pairs = [(out, inp) for out, inputs in enumerate(table) for inp in inputs]
        self.in_channels, self.out_channels, self.kernel = in_channels, len(table), kernel
        self.weight = nn.Parameter(torch.empty(len(pairs), kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(len(table)))
        self.register_buffer("out_index", torch.tensor([p[0] for p in pairs]), persistent=False)
        self.register_buffer("in_index", torch.tensor([p[1] for p in pairs]), persistent=False)

    def dense_weight(self) -> torch.Tensor:
        shape = (self.out_channels, self.in_channels, self.kernel, self.kernel)
        dense = self.weight.new_zeros(shape)
        return dense.index_put((self.out_index, self.in_index), self.weight)

    def structural_zeros(self) -> int:
        """Weights of the dense kernel the table leaves at zero (900 of 2,400): the cost
        analysis counts their multiply-adds apart (cnnzoo.analysis.ops.StructuralZeros)."""
        return self.out_channels * self.in_channels * self.kernel**2 - self.weight.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)


class LeNet5(ZooModel):
    """C1 -> S2 -> C3 -> S4 -> C5 -> F6 -> output.

    `modern=False`: the paper: scaled tanh, trainable sub-sampling, C3's partial
    connections, LeCun's uniform(+-2.4/F_in) init. The output is a linear layer, where the
    paper used Euclidean RBF units. `modern=True`: ReLU, max-pool, full C3.
    """

    classifier_name = "output"
    first_conv_name = "c1"
    min_input_size = 32  # C5's 5x5 needs S4's 5x5 maps

    def __init__(
        self, num_classes: int = 10, in_chans: int = 1, *, modern: bool = False
    ) -> None:
        super().__init__(num_classes, in_chans)

        def act() -> nn.Module:  # every layer squashes its own outputs
            return nn.ReLU(inplace=True) if modern else ScaledTanh()

        self.c1 = nn.Conv2d(in_chans, 6, 5)  # 1x32x32 -> 6x28x28
        self.act1 = act()
        self.s2 = nn.MaxPool2d(2) if modern else Subsampling(6)  # -> 6x14x14
        self.act2 = act()
        self.feature_info.append(FeatureInfo("act2", 6, 2, "C1-S2"))
        self.c3 = nn.Conv2d(6, 16, 5) if modern else PartialConv2d(6, C3_TABLE, 5)  # -> 16x10x10
        self.act3 = act()
        self.s4 = nn.MaxPool2d(2) if modern else Subsampling(16)  # -> 16x5x5
        self.act4 = act()
        self.feature_info.append(FeatureInfo("act4", 16, 4, "C3-S4"))
        self.c5 = nn.Conv2d(16, 120, 5)  # -> 120x1x1 (a conv: larger inputs give larger maps)
        self.act5 = act()
        self.feature_info.append(FeatureInfo("act5", 120, 4, "C5"))
        self.pool = nn.AdaptiveAvgPool2d(1)  # identity at 32x32
        self.f6 = nn.Linear(120, 84)  # -> 84
        self.act6 = act()
        self.num_features = 84
        self.output = nn.Linear(84, num_classes)  # -> 10
        if not modern and not self.c1.weight.is_meta:
            self._lecun_init()

    def _lecun_init(self) -> None:
        """Uniform in +-2.4 / F_i, F_i the fan-in of the unit (Appendix C of the paper)."""
        for m in (self.c1, self.c5, self.f6, self.output):
            bound = 2.4 / m.weight[0].numel()
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
        for s in (self.s2, self.s4):
            nn.init.uniform_(s.weight, -2.4 / 4, 2.4 / 4)  # a 2x2 window
            nn.init.zeros_(s.bias)
        # A C3 map's fan-in is its number of input maps times 25.
        fan_in = [len(C3_TABLE[out]) * 25 for out, inputs in enumerate(C3_TABLE) for _ in inputs]
        with torch.no_grad():
            bound = 2.4 / torch.tensor(fan_in, dtype=self.c3.weight.dtype).view(-1, 1, 1)
            self.c3.weight.copy_((torch.rand_like(self.c3.weight) * 2 - 1) * bound)
            self.c3.bias.zero_()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.s2(self.act1(self.c1(x))))
        x = self.act4(self.s4(self.act3(self.c3(x))))
        return self.act5(self.c5(x))

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = self.act6(self.f6(torch.flatten(self.pool(x), 1)))
        return x if pre_logits else self.output(x)


_MNIST = (
    Figure("top1_err", 0.95, "paper", "MNIST test, no distortions"),
    Figure("params", 60e3, "case studies", "about 60k"),
)


_LENET_INPUT = dict(input_size=(1, 32, 32), num_classes=10, dataset="MNIST")

lenet5 = register_model(
    ModelCard(
        name="lenet5",
        family="lenet",
        description="LeNet-5 as published: scaled tanh, trainable sub-sampling, partial C3",
        paper=LECUN_1998,
        **_LENET_INPUT,
        figures=_MNIST,
        notes="MNIST's 28x28 digits are padded to 32x32, as in the paper.",
        params=60_850,
    ),
    LeNet5, modern=False,
)
lenet5_modern = register_model(
    ModelCard(
        name="lenet5_modern",
        family="lenet",
        description="LeNet-5 as commonly taught today: ReLU, max-pool, full C3",
        paper=LECUN_1998,
        **_LENET_INPUT,
        figures=(Figure("params", 60e3, "case studies", "about 60k"),),
        params=61_706,
    ),
    LeNet5, modern=True,
)
