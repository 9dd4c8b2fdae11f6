"""Pretrained ImageNet weights: the one table of every file cnnzoo knows how to fetch.

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
from dataclasses import dataclass, field
from typing import Any

from cnnzoo.data.specs import IMAGENET_MEAN, IMAGENET_STD
from cnnzoo.errors import WeightsError

TORCHVISION_BASE = "https://download.pytorch.org/models/"
TORCHVISION_LICENCE = "BSD-3-Clause (torchvision; weights trained on ImageNet-1k, whose terms " \
                      "allow non-commercial research use)"
TORCHVISION_DOCS = "https://pytorch.org/vision/stable/models.html"


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


_OMZ = "openvinotoolkit/open_model_zoo models/public/{}/model.yml (sha256 field)"
_PINNED = "public projects pinning this file by SHA-256 (several agree)"
_BUNSEN = "the bunsen Rust crate's torchvision ResNet table, and other projects pinning it"
_D3M = "UBC's D3M CNN primitive (file_digest of its installation list)"
_PREFIX = "none found: only the prefix in the file name is checked"


def _tv(model: str, filename: str, sha256: str | None, sha256_source: str, acc1: float,
        acc5: float, **extra: Any) -> PretrainedWeights:
    return PretrainedWeights(model, "imagenet", filename, sha256, sha256_source, acc1, acc5,
                             **extra)


_INCEPTION = {"transform_input": True}
# torchvision's DEFAULT is its IMAGENET1K_V2 file for these (a newer training recipe).
_V2 = {"torchvision_default": "IMAGENET1K_V2"}

_TABLE = (
    _tv("alexnet", "alexnet-owt-7be5be79.pth",
        "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", _PINNED,
        56.522, 79.066, size=244_408_911),
    _tv("vgg11", "vgg11-8a719046.pth", None, _PREFIX, 69.020, 88.628),
    _tv("vgg11_bn", "vgg11_bn-6002323d.pth", None, _PREFIX, 70.370, 89.810),
    _tv("vgg13", "vgg13-19584684.pth", None, _PREFIX, 69.928, 89.246),
    _tv("vgg13_bn", "vgg13_bn-abd245e5.pth", None, _PREFIX, 71.586, 90.374),
    _tv("vgg16", "vgg16-397923af.pth",
        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        _D3M + "; " + _PINNED, 71.592, 90.382, size=553_433_881),
    _tv("vgg16_bn", "vgg16_bn-6c64b313.pth",
        "6c64b3138f2f4fcb3bcc4cafde11619c4f440eb1631787e93a682fd88305888a", _D3M,
        73.360, 91.516),
    _tv("vgg19", "vgg19-dcbb9e9d.pth",
        "dcbb9e9dad569fff7a846263a77324fc34978fea2bfb039c012d710e1776ae44", _PINNED,
        72.376, 90.876, size=574_673_361),
    _tv("vgg19_bn", "vgg19_bn-c79401a0.pth", None, _PREFIX, 74.218, 91.842),
    _tv("resnet18", "resnet18-f37072fd.pth",
        "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec", _BUNSEN,
        69.758, 89.078),
    _tv("resnet34", "resnet34-b627a593.pth",
        "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f", _BUNSEN,
        73.314, 91.420, size=87_319_819),
    _tv("resnet50", "resnet50-0676ba61.pth",
        "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a", _BUNSEN,
        76.130, 92.862, size=102_530_333, **_V2),
    _tv("resnet101", "resnet101-63fe2227.pth",
        "63fe2227b86e8f1f2063f43a75c84d195911b6a0eace650907dd3dc62dd49a0a", _BUNSEN,
        77.374, 93.546, **_V2),
    _tv("resnet152", "resnet152-394f9c45.pth",
        "394f9c45966e3651a89bbb78a48410a6755854ce4a5ab64927cf1c7247f85e58", _BUNSEN,
        78.312, 94.046, **_V2),
    _tv("googlenet", "googlenet-1378be20.pth",
        "1378be20a8e875cf1568b8a71654e704449655e34711a959a38b04fb34905cef",
        _D3M + "; one other project agrees", 69.778, 89.530, model_options=_INCEPTION),
    _tv("inception_v3", "inception_v3_google-0cc3c7bd.pth",
        "0cc3c7bd75056d25e46cba549dc184522069b81e9787eff6df84f397bd52a5ef",
        "one public project pinning it (a single source). torchvision's earlier upload, "
        "inception_v3_google-1a9a5a14.pth, has SHA-256 1a9a5a14f40645a370184bd54f4e8e631351e7"
        "1399112b43ad0294a79da290c8 in " + _OMZ.format("googlenet-v3-pytorch") + " and a "
        "Yocto recipe",
        77.294, 93.450, preset=IMAGENET_299, model_options=_INCEPTION),
    _tv("mobilenet_v2", "mobilenet_v2-b0353104.pth",
        "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
        "a Yocto recipe (SRC_URI sha256sum) and " + _D3M, 71.878, 90.286, **_V2),
)

PRETRAINED: dict[str, PretrainedWeights] = {w.key: w for w in _TABLE}
TAGS = tuple(dict.fromkeys(w.tag for w in _TABLE))
DEFAULT_TAG = "imagenet"


def pretrained_names() -> list[str]:
    """Models with at least one pretrained entry, in table order."""
    return list(dict.fromkeys(w.model for w in _TABLE))


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
