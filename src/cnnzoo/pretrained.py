"""Pretrained ImageNet weights: what a row of the table of every file cnnzoo knows how to
fetch is, and the table itself, gathered from the rows each family registers beside its
models (cnnzoo/models/*.py, `register_model(..., weights=...)`).

Each entry is one torchvision ImageNet-1k file (its exact URL), the SHA-256 it must have,
the accuracy torchvision publishes for it, the evaluation preset it was measured with, and
where each fact comes from. torchvision's file names carry the first 8 hex digits of the
SHA-256; the full digests below were found in public projects that pin these files (named in
`sha256_source`). Where no public full digest was found, `sha256` is None and only the
prefix in the file name is checked: such an entry says so (`cnnzoo weights list`).

The cache and the downloader are in cnnzoo.hub; this module holds only facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from cnnzoo.data.specs import IMAGENET_MEAN, IMAGENET_STD
from cnnzoo.errors import WeightsError
from cnnzoo.registry import Figure, registered_weights

TORCHVISION_BASE = "https://download.pytorch.org/models/"
TORCHVISION_LICENCE = "BSD-3-Clause (torchvision; weights trained on ImageNet-1k, whose terms " \
                      "allow non-commercial research use)"
TORCHVISION_DOCS = "https://pytorch.org/vision/stable/models.html"
DEFAULT_TAG = "imagenet"
TAGS = (DEFAULT_TAG,)  # the tags a row may have


@dataclass(frozen=True)
class Preset:
    """The evaluation transform published with the weights: resize the shorter side to
    `resize` (bilinear), centre-crop `crop` x `crop`, scale to [0, 1], normalise."""

    resize: int
    crop: int
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __str__(self) -> str:
        return f"resize {self.resize}, centre crop {self.crop}, {self.interpolation}, " \
               "ImageNet mean/std"


def preset_for(crop: int | None) -> Preset:
    """The usual preset for a crop: resize to crop / 0.875 first (256 for 224, 342 for 299)."""
    crop = crop or 224
    return Preset(round(crop / 0.875), crop)


IMAGENET_224 = preset_for(224)
IMAGENET_299 = preset_for(299)  # Inception-v3: 342 then 299, as torchvision evaluates it


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


class _Table(MutableMapping[str, PretrainedWeights]):
    """Every registered pretrained row by key ('resnet50.imagenet'), read from the registry
    on each use (a family registered later is there too); a row set here (a test's) wins."""

    def __init__(self) -> None:
        self._rows: dict[str, PretrainedWeights] = {}
        self._gone: set[str] = set()

    def _all(self) -> dict[str, PretrainedWeights]:
        for w in registered_weights():
            if w.key not in self._gone:
                self._rows.setdefault(w.key, w)
        return self._rows

    def __getitem__(self, key: str) -> PretrainedWeights:
        return self._all()[key]

    def __setitem__(self, key: str, value: PretrainedWeights) -> None:
        self._gone.discard(key)
        self._all()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._all()[key]
        self._gone.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


PRETRAINED: MutableMapping[str, PretrainedWeights] = _Table()


def pretrained_names() -> list[str]:
    """Models with at least one pretrained entry, in table order."""
    return list(dict.fromkeys(w.model for w in PRETRAINED.values()))


# torchvision's weight names as strings: "DEFAULT", "IMAGENET1K_V1", and the enum's full
# name "ResNet50_Weights.IMAGENET1K_V1", which torchvision's builders accept too.
_TORCHVISION_NAME = re.compile(r"(?:\w+_Weights\.)?(DEFAULT|IMAGENET1K_[A-Z0-9_]+)")


def is_tag(weights: object) -> bool:
    """True for a pretrained tag such as 'imagenet' or a torchvision weight name such as
    'DEFAULT' or 'IMAGENET1K_V1' (as opposed to a file path)."""
    return isinstance(weights, str) and (weights in TAGS or
                                         _TORCHVISION_NAME.fullmatch(weights) is not None)


def table_tag(name: str, weights: str) -> str:
    """The table's tag for `weights`: a tag as it is; a torchvision weight name mapped to the
    tag of the file it names for `name`, or WeightsError where that file is not in the
    table (torchvision's DEFAULT for resnet50 is its IMAGENET1K_V2 file, which it is not)."""
    match = _TORCHVISION_NAME.fullmatch(weights)
    if match is None:
        return weights
    wanted = match.group(1)
    files = [w for w in PRETRAINED.values() if w.model == name]
    for w in files:
        target = w.torchvision_default if wanted == "DEFAULT" else wanted
        if target == w.torchvision_name:
            return w.tag
    have = ", ".join(f"{w.torchvision_name} ({w.tag!r})" for w in files)
    if not files:
        return DEFAULT_TAG  # the caller says which models have pretrained weights
    meaning = (f"torchvision's DEFAULT for {name} is its {files[0].torchvision_default} file, "
               "which" if wanted == "DEFAULT" else f"{wanted} of {name}")
    raise WeightsError(f"{meaning} is not in cnnzoo's table; {name} has {have}: pass "
                       f"weights={files[0].torchvision_name!r} for that file")
