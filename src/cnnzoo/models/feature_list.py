"""A model's feature extractor (`create_model(..., features_only=True)`): the feature maps
of chosen stages, the layers after the last one removed."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from cnnzoo.analysis.meta import meta_copy
from cnnzoo.analysis.trace import Tracer
from cnnzoo.errors import ModelOptionError
from cnnzoo.models.base import ZooModel, model_name_of
from cnnzoo.models.features import FeatureInfoList, capture, resolve_indices


class FeatureList(nn.Module):
    """`create_model(name, features_only=True)`: forward returns the feature maps of the
    chosen stages, a list in the order of `out_indices`.

    The model keeps its weights (and state_dict keys, under `model.`); modules that the
    chosen stages do not need (the classifier, the stages after the last one chosen) are
    replaced by nn.Identity, so they hold no parameters and cost nothing to run.
    """

    def __init__(self, model: nn.Module, out_indices: int | Sequence[int] | None = None) -> None:
        super().__init__()

        if not isinstance(model, ZooModel):
            raise ModelOptionError(
                f"features_only needs a cnnzoo model, got {type(model).__name__}")
        self.out_indices = tuple(resolve_indices(model.feature_info, out_indices,
                                                 model_name_of(model)))
        self.feature_info = FeatureInfoList(model.feature_info[i] for i in self.out_indices)
        _prune_after(model, max(self.out_indices))
        self.model = model

    @property
    def pretrained_cfg(self) -> dict | None:
        """The model's (see ZooModel.pretrained_cfg)."""
        return self.model.pretrained_cfg

    @property
    def default_cfg(self) -> dict | None:
        return self.model.pretrained_cfg

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        self.model.check_input(x)
        modules = [f.module for f in self.feature_info]
        with capture(self.model, modules) as out:
            self.model.forward_features(x)
        return [out[m] for m in modules]


def _prune_after(model: nn.Module, last: int) -> None:
    """Replace by nn.Identity the modules `forward_features` does not start before the
    end of stage `last` (or never calls); found by one pass on a meta copy."""
    meta = meta_copy(model).eval()
    tracer = Tracer()
    side = max(model.min_input_size, 32)
    with torch.no_grad(), tracer.hooks(meta), tracer:
        meta.forward_features(torch.empty(1, model.in_chans, side, side, device="meta"))
    started: dict[str, int] = {}
    ended: dict[str, int] = {}
    for call in tracer.calls:  # a module called twice: its first call
        started.setdefault(call.path, call.start)
        ended.setdefault(call.path, call.end)
    end = ended[model.feature_info[last].module]
    unneeded = [name for name, _ in model.named_modules()
                if name and started.get(name, end + 1) > end]
    for name in unneeded:  # parents first: a child of a replaced module is gone already
        parent, _, _ = name.rpartition(".")
        if parent in unneeded:
            continue
        model.set_submodule(name, nn.Identity())
