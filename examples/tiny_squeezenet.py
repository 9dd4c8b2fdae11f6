"""A new family in one file: a small SqueezeNet-like net (Iandola et al. 2016's Fire modules).

To add it to the zoo, put this file in src/cnnzoo/models/ and its module name in
`cnnzoo.models.FAMILIES` (or, outside the package, its dotted module path). Everything else
reads the registry: `cnnzoo list`, `show`, `summary`, `draw`, `features_only=True`, `train`,
the tests that sweep every model (tests/test_new_family.py registers this file that way).
What the file declares:

- the class: its `__init__`'s keyword parameters are the options, with their defaults;
  `min_input_size` is its input rule; `feature_info` its stages; `classifier_name` its head;
- the card: paper, input size (ImageNet's 3x224x224 and 1000 classes unless given), the
  exact parameter count (`params`), reported figures;
- pretrained rows, if any: `register_model(..., weights=(torchvision_weights(...),))`.
A training recipe is optional (cnnzoo.train.recipes); without one, TrainConfig's defaults.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.models.base import ZooModel
from cnnzoo.models.features import FeatureInfo
from cnnzoo.models.init import init_conv_bn_linear
from cnnzoo.registry import ModelCard, Paper, register_model

IANDOLA_2016 = Paper(
    "F. N. Iandola, S. Han, M. W. Moskewicz, K. Ashraf, W. J. Dally, K. Keutzer", 2016,
    "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
)


class Fire(nn.Module):
    """Squeeze to `squeeze` channels with a 1x1 conv, then expand with 1x1 and 3x3 convs side
    by side, concatenated: 2 x `expand` channels out."""

    def __init__(self, in_channels: int, squeeze: int, expand: int) -> None:
        super().__init__()
        self.squeeze = nn.Sequential(nn.Conv2d(in_channels, squeeze, 1), nn.ReLU(inplace=True))
        self.expand1x1 = nn.Sequential(nn.Conv2d(squeeze, expand, 1), nn.ReLU(inplace=True))
        self.expand3x3 = nn.Sequential(nn.Conv2d(squeeze, expand, 3, padding=1),
                                       nn.ReLU(inplace=True))
        self.out_channels = 2 * expand

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return torch.cat([self.expand1x1(x), self.expand3x3(x)], 1)


class TinySqueezeNet(ZooModel):
    """A 3x3/2 stem, two Fire modules, a max-pool, two more, global pool, one linear layer."""

    classifier_name = "fc"
    first_conv_name = "stem.0"
    min_input_size = 8  # two stride-2 layers

    def __init__(self, num_classes: int = 10, in_chans: int = 1, *, width: int = 8,
                 dropout: float = 0.0) -> None:
        super().__init__(num_classes, in_chans)
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        w = width
        self.stem = nn.Sequential(nn.Conv2d(in_chans, 2 * w, 3, stride=2, padding=1),
                                  nn.ReLU(inplace=True))  # 1x28x28 -> 16x14x14
        self.feature_info.append(FeatureInfo("stem", 2 * w, 2, "stem"))
        self.fire1 = Fire(2 * w, w // 2 or 1, w)  # -> 16x14x14
        self.fire2 = Fire(2 * w, w, 2 * w)  # -> 32x14x14
        self.feature_info.append(FeatureInfo("fire2", 4 * w, 2, "fire1-2"))
        self.pool = nn.MaxPool2d(2)  # -> 32x7x7
        self.fire3 = Fire(4 * w, w, 2 * w)  # -> 32x7x7
        self.fire4 = Fire(4 * w, 2 * w, 4 * w)  # -> 64x7x7
        self.feature_info.append(FeatureInfo("fire4", 8 * w, 4, "pool, fire3-4"))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.num_features = 8 * w
        self.fc = nn.Linear(self.num_features, num_classes)
        init_conv_bn_linear(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fire2(self.fire1(self.stem(x)))
        return self.fire4(self.fire3(self.pool(x)))

    def forward_head(self, x: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = self.dropout(torch.flatten(self.avgpool(x), 1))
        return x if pre_logits else self.fc(x)


tiny_squeezenet = register_model(
    ModelCard(
        name="tiny_squeezenet",
        family="squeezenet",
        description="a small SqueezeNet: four Fire modules, 28x28 grey input",
        paper=IANDOLA_2016,
        input_size=(1, 28, 28),
        num_classes=10,
        dataset="MNIST",
        params=9_950,
    ),
    TinySqueezeNet,
)
