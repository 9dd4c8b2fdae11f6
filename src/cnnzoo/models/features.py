"""Stages as a model declares them, and what is built from that one declaration.

Every model lists its stages in `feature_info` at the lines where it builds them (as timm's
models do): the module whose output is the stage's feature map, its channels, its
reduction (the total stride from the input) and the stage's name in tables. From that list
come `forward_intermediates`, the `features_only` wrapper, the cost analysis' stage
subtotals and the rows of `cnnzoo show`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from cnnzoo.analysis.meta import meta_copy
from cnnzoo.analysis.trace import Tracer
from cnnzoo.errors import ModelOptionError


@dataclass(frozen=True)
class FeatureInfo:
    """One stage: `module` (dotted path) outputs `channels` maps at 1/`reduction` of the
    input's side; `title` names the stage in tables ("layer1 (conv2_x)")."""

    module: str
    channels: int
    reduction: int
    title: str = ""

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", self.module)


class FeatureInfoList(list):
    """A model's stages: a list of FeatureInfo, with timm's accessors beside it.

    `channels()`, `reduction()` and `module_name()` give each stage's value as a list; with an
    index (negative counts from the end) the one stage's, with a sequence of indices those
    stages' values.
    """

    def _get(self, field: str, idx: int | Sequence[int] | None) -> object:
        if idx is None:
            return [getattr(f, field) for f in self]
        if isinstance(idx, int):
            return getattr(self[idx], field)
        return [getattr(self[i], field) for i in idx]

    def channels(self, idx: int | Sequence[int] | None = None) -> int | list[int]:
        return self._get("channels", idx)  # type: ignore[return-value]

    def reduction(self, idx: int | Sequence[int] | None = None) -> int | list[int]:
        return self._get("reduction", idx)  # type: ignore[return-value]

    def module_name(self, idx: int | Sequence[int] | None = None) -> str | list[str]:
        return self._get("module", idx)  # type: ignore[return-value]


HEAD = "head"  # the stage name of everything after the last declared stage


def resolve_indices(
    info: Sequence[FeatureInfo], indices: int | Sequence[int] | None, owner: str
) -> list[int]:
    """Stage indices to return: None for all; an int n for the last n; a sequence of
    indices (negative ones count from the end). A bad index is one clear line."""
    n = len(info)
    listing = ", ".join(f"{i}={f.module}" for i, f in enumerate(info))
    if indices is None:
        return list(range(n))
    if isinstance(indices, int):
        if not 1 <= indices <= n:
            raise ModelOptionError(f"{owner} has {n} stages ({listing}); asked for the last "
                                   f"{indices}: give 1 to {n}")
        return list(range(n - indices, n))
    chosen = []
    for i in indices:
        if isinstance(i, bool) or not isinstance(i, int) or not -n <= i < n:
            raise ModelOptionError(f"{owner} has no stage {i!r}; its stages are {listing} "
                                   f"(negative indices count from the end)")
        chosen.append(i % n)
    if not chosen or len(set(chosen)) != len(chosen):
        raise ModelOptionError(f"out_indices must name distinct stages, got {tuple(indices)}; "
                               f"the stages of {owner} are {listing}")
    return chosen


@contextmanager
def capture(model: nn.Module, modules: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record the first output of each named module during the forward passes run inside."""
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for name in dict.fromkeys(modules):

        def keep(mod: nn.Module, args: tuple, out: torch.Tensor, name: str = name) -> None:
            outputs.setdefault(name, out)

        handles.append(model.get_submodule(name).register_forward_hook(keep))
    try:
        yield outputs
    finally:
        for h in handles:
            h.remove()


def assign_to_stages(info: Sequence[FeatureInfo], paths: Sequence[str]) -> list[str]:
    """The stage title of each module path, given in the order the forward pass ran them.

    A path inside a stage's module belongs to that stage; one between two stages (a pool
    before a stage's first block) to the stage that follows, as the papers' tables count
    it (ResNet's max-pool is in conv2_x); one after the last stage to "head". With no
    declaration each top-level module is its own stage.
    """
    if not info:
        return [p.split(".")[0] for p in paths]
    modules = [f.module for f in info]
    stage, entered, out = 0, False, []
    for path in paths:
        inside = [j for j, m in enumerate(modules) if path == m or path.startswith(m + ".")]
        if inside:
            stage, entered = max(inside), True
        elif entered:
            stage, entered = stage + 1, False  # the stage ended with its module
        out.append(info[stage].title if stage < len(info) else HEAD)
    return out


class FeatureList(nn.Module):
    """`create_model(name, features_only=True)`: forward returns the feature maps of the
    chosen stages, a list in the order of `out_indices`.

    The model keeps its weights (and state_dict keys, under `model.`); modules that the
    chosen stages do not need (the classifier, the stages after the last one chosen) are
    replaced by nn.Identity, so they hold no parameters and cost nothing to run.
    """

    def __init__(self, model: nn.Module, out_indices: int | Sequence[int] | None = None) -> None:
        super().__init__()
        from cnnzoo.models.base import ZooModel, model_name_of

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
