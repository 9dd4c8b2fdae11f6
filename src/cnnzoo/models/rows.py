"""A pretrained row: one torchvision ImageNet-1k file of a model (its URL, SHA-256, the
accuracy torchvision publishes, the evaluation preset), declared beside its family
(`register_model(..., weights=...)`). cnnzoo.pretrained gathers the rows into the table;
cnnzoo.hub fetches the files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cnnzoo.data.specs import IMAGENET_224, Preset
from cnnzoo.registry import Figure

TORCHVISION_BASE = "https://download.pytorch.org/models/"
TORCHVISION_LICENCE = "BSD-3-Clause (torchvision; weights trained on ImageNet-1k, whose terms " \
                      "allow non-commercial research use)"
TORCHVISION_DOCS = "https://pytorch.org/vision/stable/models.html"
DEFAULT_TAG = "imagenet"
TAGS = (DEFAULT_TAG,)  # the tags a row may have


@dataclass(frozen=True)
class PretrainedWeights:
    model: str
    tag: str
    filename: str
    sha256: str | None  # full digest where a public source gives one
    sha256_source: str
    acc1: float  # published top-1 / top-5 accuracy, percent, ImageNet-1k val
    acc5: float
    preset: Preset = IMAGENET_224
    size: int | None = None  # bytes, where a public source gives it
    # Options the model must be built with for these weights (torchvision's Inception
    # weights expect inputs rescaled from ImageNet statistics to [-1, 1]).
    model_options: dict[str, Any] = field(default_factory=dict)
    num_classes: int = 1000
    dataset: str = "imagenet"
    licence: str = TORCHVISION_LICENCE
    source: str = TORCHVISION_DOCS
    base_url: str = TORCHVISION_BASE
    # torchvision's name for this file (its `weights="IMAGENET1K_V1"` string), and the name
    # its "DEFAULT" stands for with this model: a newer file cnnzoo does not have, for some.
    torchvision_name: str = "IMAGENET1K_V1"
    torchvision_default: str = "IMAGENET1K_V1"

    @property
    def url(self) -> str:
        return self.base_url + self.filename

    @property
    def sha256_prefix(self) -> str:
        """The hex digits the file name carries (resnet50-0676ba61.pth -> 0676ba61)."""
        return self.filename.rsplit(".", 1)[0].rsplit("-", 1)[1]

    @property
    def key(self) -> str:
        return f"{self.model}.{self.tag}"

    @property
    def figures(self) -> tuple[Figure, Figure]:
        """The accuracy published for the file, as the card shows it (its only copy)."""
        return (Figure("acc1", self.acc1, "torchvision"),
                Figure("acc5", self.acc5, "torchvision"))

    def __post_init__(self) -> None:
        if self.tag not in TAGS:
            raise ValueError(f"{self.key}: tag {self.tag!r} is not one of {', '.join(TAGS)}")


# Where the full SHA-256 digests come from (the rows sit beside each family, in
# cnnzoo/models/*.py, registered with register_model(..., weights=...)).
SHA_OMZ = "openvinotoolkit/open_model_zoo models/public/{}/model.yml (sha256 field)"
SHA_PINNED = "public projects pinning this file by SHA-256 (several agree)"
SHA_BUNSEN = "the bunsen Rust crate's torchvision ResNet table, and other projects pinning it"
SHA_D3M = "UBC's D3M CNN primitive (file_digest of its installation list)"
SHA_PREFIX = "none found: only the prefix in the file name is checked"
# Options torchvision's Inception weights need: inputs rescaled from ImageNet statistics.
INCEPTION_OPTIONS = {"transform_input": True}
# torchvision's DEFAULT is its IMAGENET1K_V2 file for some models (a newer training recipe).
V2_DEFAULT = {"torchvision_default": "IMAGENET1K_V2"}


def torchvision_weights(model: str, filename: str, sha256: str | None, sha256_source: str,
                        acc1: float, acc5: float, **extra: Any) -> PretrainedWeights:
    """One torchvision ImageNet-1k file of `model` (tag 'imagenet')."""
    return PretrainedWeights(model, DEFAULT_TAG, filename, sha256, sha256_source, acc1, acc5,
                             **extra)


# torchvision's weight names as strings: "DEFAULT", "IMAGENET1K_V1", and the enum's full
# name "ResNet50_Weights.IMAGENET1K_V1", which torchvision's builders accept too.
_TORCHVISION_NAME = re.compile(r"(?:\w+_Weights\.)?(DEFAULT|IMAGENET1K_[A-Z0-9_]+)")


def is_tag(weights: object) -> bool:
    """True for a pretrained tag such as 'imagenet' or a torchvision weight name such as
    'DEFAULT' or 'IMAGENET1K_V1' (as opposed to a file path)."""
    return isinstance(weights, str) and (weights in TAGS or
                                         _TORCHVISION_NAME.fullmatch(weights) is not None)
