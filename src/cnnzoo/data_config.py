"""What a model's input must look like, in timm's words: `model.pretrained_cfg` (set by
create_model on every model built with weights; `default_cfg` is its alias) and
`resolve_data_config(model)`, the settings of the evaluation transform.

The settings come from where the weights do: a pretrained table entry's preset (resize 256,
centre crop 224, bilinear, ImageNet mean/std), a cnnzoo weights file's metadata (the
statistics, input size and fit of the data it was trained on), or else the model card (its
input size, and the statistics of the dataset it is reported on).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from torch import nn

from cnnzoo.data.specs import IMAGENET_MEAN, IMAGENET_STD, SPECS, canonical_name
from cnnzoo.data.transforms import convert_stats
from cnnzoo.errors import DatasetError, UsageError, WeightsError
from cnnzoo.models.base import ZooModel
from cnnzoo.models.feature_list import FeatureList
from cnnzoo.pretrained import PretrainedWeights
from cnnzoo.registry import model_card

# Image sides a weights file may ask for: beyond this its metadata is damaged or hostile.
MAX_SIDE = 4096
# resolve_data_config's keys: timm's, and cnnzoo's `fit` (how another image size is met:
# "crop" from 1/crop_pct of the input, "resize", or "pad" onto a black field).
EVAL_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode", "fit")


def meta_size(meta: dict[str, Any], key: str, length: int) -> list[int] | None:
    """meta[key] as `length` positive ints no larger than MAX_SIDE, None if absent."""
    value = meta.get(key)
    if value is None:
        return None
    ok = isinstance(value, list) and len(value) == length and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_SIDE for v in value)
    if not ok:
        raise WeightsError(f"the weights' metadata has {key}={value!r}; expected {length} "
                           f"sizes between 1 and {MAX_SIDE} (a damaged or foreign file)")
    return value


def _stats(meta: dict[str, Any]) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    mean, std = meta.get("mean"), meta.get("std")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool)
                  for v in [*(mean or ()), *(std or ())])
    if isinstance(mean, list) and isinstance(std, list) and mean and \
            len(mean) == len(std) and numbers:
        return tuple(mean), tuple(std)
    if mean is None and std is None:
        return None
    raise WeightsError(f"the weights' metadata has mean={mean!r}, std={std!r}; expected two "
                       "lists of numbers, one per channel (a damaged or foreign file)")


def _config(input_size: tuple[int, int, int], mean: tuple[float, ...], std: tuple[float, ...],
            fit: str, crop_pct: float, interpolation: str = "bilinear") -> dict[str, Any]:
    # The statistics for the model's channels (grey weights on RGB input, or the reverse);
    # other channel counts keep the data's own.
    with contextlib.suppress(DatasetError):
        mean, std = convert_stats(mean, std, input_size[0])
    return {"input_size": tuple(input_size), "interpolation": interpolation,
            "mean": tuple(mean), "std": tuple(std), "crop_pct": crop_pct,
            "crop_mode": "center", "fit": fit}


def card_config(model: ZooModel) -> dict[str, Any]:
    """The model card's: its input size at the model's channels, and the statistics and fit
    of the dataset it is reported on (ImageNet's crop 0.875 for ImageNet models)."""
    card = model_card(model.model_name)
    spec = SPECS.get(canonical_name(card.dataset) or "")
    mean, std = (spec.mean, spec.std) if spec else (IMAGENET_MEAN, IMAGENET_STD)
    fit = spec.fit if spec else "resize"
    _, h, w = card.input_size
    return _config((model.in_chans, h, w), mean, std, fit, 0.875 if fit == "crop" else 1.0)


def table_cfg(model: ZooModel, entry: PretrainedWeights, path: Path) -> dict[str, Any]:
    """pretrained_cfg for a pretrained table entry: its published evaluation preset."""
    p = entry.preset
    return {**_config((model.in_chans, p.crop, p.crop), p.mean, p.std, "crop",
                      p.crop / p.resize, p.interpolation),
            "num_classes": model.num_classes, "source": entry.url, "file": str(path),
            "tag": entry.tag, "torchvision_name": entry.torchvision_name,
            "dataset": entry.dataset}


def file_cfg(model: ZooModel, meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """pretrained_cfg for a weights file: what its metadata records of the data it was
    trained on (cnnzoo's files), the model card's for the rest (torchvision's .pth)."""
    cfg = card_config(model)
    stored = meta_size(meta, "input_size", 3)
    meta_size(meta, "image_size", 2)
    stats = _stats(meta)
    fit = meta.get("fit", "resize") if stats else cfg["fit"]
    if fit not in ("crop", "resize", "pad"):
        raise WeightsError(f"the weights' metadata has fit={fit!r}; expected crop, resize or "
                           "pad (a damaged or foreign file)")
    size = (model.in_chans, *stored[1:]) if stored else cfg["input_size"]
    mean, std = stats or (cfg["mean"], cfg["std"])
    return {**_config(size, mean, std, fit, 0.875 if fit == "crop" else 1.0),
            "num_classes": model.num_classes, "source": str(path), "file": str(path),
            "dataset": str(meta.get("dataset", model_card(model.model_name).dataset))}


def resolve_data_config(model: nn.Module) -> dict[str, Any]:
    """The evaluation transform's settings for `model`: input_size (C, H, W), interpolation,
    mean, std, crop_pct, crop_mode (timm's keys) and fit. From the weights it was built
    with (`model.pretrained_cfg`), else from its model card. A features_only model gives
    its model's."""
    if isinstance(model, FeatureList):
        model = model.model
    cfg = getattr(model, "pretrained_cfg", None)
    if cfg is None:
        if not isinstance(model, ZooModel) or not model.model_name:
            raise UsageError("resolve_data_config needs a model from cnnzoo.create_model")
        cfg = card_config(model)
    return {k: cfg[k] for k in EVAL_KEYS}
