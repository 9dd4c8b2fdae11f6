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
