"""create_model: a registered model (cnnzoo.registry) built with its options and, where
asked, its weights: a file, or pretrained weights by name fetched through cnnzoo.hub. The
registry knows models and their classes; this layer adds what files and downloads bring."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from cnnzoo.data_config import file_cfg, table_cfg
from cnnzoo.errors import ModelOptionError
from cnnzoo.hub import download, pretrained_entry
from cnnzoo.models.base import ZooModel
from cnnzoo.models.feature_list import FeatureList
from cnnzoo.models.rows import is_tag
from cnnzoo.registry import check_features, check_options, construct, infer_num_classes
from cnnzoo.weights import load_state_dict, read_weights, saved_options


def create_model(
    name: str,
    num_classes: int | None = None,
    in_chans: int | None = None,
    weights: str | Path | None = None,
    device: str | torch.device | None = None,
    *,
    pretrained: bool = False,
    features_only: bool = False,
    out_indices: int | Sequence[int] | None = None,
    **options: Any,
) -> ZooModel | FeatureList:
    """Build a registered model, with its weights where asked.

    num_classes and in_chans default to the card's (1000 and 3 for ImageNet models).
    `weights` is a torchvision `.pth` file, a cnnzoo safetensors file, or pretrained weights
    by name: "imagenet" (`pretrained=True` is the same) or torchvision's names ("DEFAULT",
    "IMAGENET1K_V1") where they name a file of cnnzoo's table (cnnzoo.pretrained), fetched
    once into the cache unless already there or in torch's hub cache. A file's recorded
    options (num_classes, in_chans, model_options such as width) rebuild the model it was
    saved from; options given here win. Options are checked before anything is read or
    fetched. A model built with weights has `pretrained_cfg` (and its alias `default_cfg`):
    the input size, interpolation, crop, mean and std its weights expect, num_classes and
    source. `device='meta'` builds without allocating memory (for counting and shapes).

    `features_only=True` returns the feature extractor instead: its forward gives the
    feature maps of the stages in `out_indices` (default all of `model.feature_info`;
    an int n for the last n), with the weights loaded.
    """
    check_features(features_only, out_indices)
    check_options(name, options)
    if pretrained:
        if weights is not None and not is_tag(weights):
            raise ModelOptionError(f"pretrained=True and weights={str(weights)!r} both given; "
                                   "pass one of them")
        weights = weights or "imagenet"
    table = None
    if is_tag(weights):
        table = pretrained_entry(name, str(weights))
        options = {**table.model_options, **options}
        weights = download(table)
    state_dict, meta = None, {}
    if weights is not None:
        state_dict, meta = read_weights(weights)
        saved = saved_options(meta, weights)
        check_options(name, saved, source=str(weights))
        options = {**saved, **options}
        if num_classes is None:
            num_classes = meta.get("num_classes") or infer_num_classes(name, state_dict)
        if in_chans is None and "in_chans" in meta:
            in_chans = int(meta["in_chans"])
    model = construct(name, num_classes, in_chans, device, options)
    if state_dict is not None:
        load_state_dict(model, state_dict, source=str(weights))
        path = Path(weights)
        model.pretrained_cfg = (table_cfg(model, table, path) if table is not None
                                else file_cfg(model, meta, path))
    return FeatureList(model, out_indices) if features_only else model
