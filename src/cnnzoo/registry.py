"""create_model, list_models and model cards: the paper figures beside each network."""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import importlib
import inspect
import re
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from cnnzoo import models
from cnnzoo.errors import ModelOptionError, UnknownModelError, UsageError
from cnnzoo.models.base import ZooModel
from cnnzoo.models.feature_list import FeatureList
from cnnzoo.sizes import check_input_size


@dataclass(frozen=True)
class Paper:
    authors: str
    year: int
    title: str

    def __str__(self) -> str:
        return f"{self.authors} ({self.year}), {self.title}"


@dataclass(frozen=True)
class Figure:
    """One reported number and where it comes from.

    metric: 'top1_err' / 'top5_err' (percent error), 'acc1' / 'acc5' (percent accuracy),
    'params', 'macs'. source: 'paper', 'case studies' or 'torchvision'.
    """

    metric: str
    value: float
    source: str
    note: str = ""


# The input most cards are built and reported at: ImageNet's, the one shared default.
IMAGENET_INPUT = (3, 224, 224)


@dataclass(frozen=True)
class ModelCard:
    """What a registered name is: its paper, the input it is reported at and its figures.

    The ImageNet facts (3x224x224 input, 1000 classes) are the defaults; other cards name
    their own. `min_input_size` comes from the model class's input rule
    (`ZooModel.min_input_for`), filled in by register_model. Torchvision's figures come from
    the pretrained rows registered with the model (cnnzoo.pretrained).
    """

    name: str
    family: str
    description: str
    paper: Paper
    input_size: tuple[int, int, int] = IMAGENET_INPUT  # (C, H, W) built and reported at
    min_input_size: int | None = None  # smallest H and W it accepts: the class's rule
    num_classes: int = 1000
    dataset: str = "ImageNet"  # what the reported figures were measured on
    figures: tuple[Figure, ...] = ()
    torchvision_layout: bool = False  # state_dict keys match torchvision's model of this name
    notes: str = ""
    params: int | None = None  # the exact parameter count at the default options, declared

    def figure(self, metric: str, source: str | None = None) -> Figure | None:
        """The first figure with this metric (and source, if given)."""
        for f in self.figures:
            if f.metric == metric and (source is None or f.source == source):
                return f
        return None


@dataclass
class _Entry:
    card: ModelCard
    model_class: type[ZooModel]
    fixed: dict[str, Any] = field(default_factory=dict)  # the class's options this name fixes
    weights: tuple[Any, ...] = ()  # its pretrained rows (cnnzoo.pretrained.PretrainedWeights)


_REGISTRY: dict[str, _Entry] = {}
STUDY_PREFIX = "study_"  # nets built for the case studies, registered by cnnzoo.models.study_nets
_NOT_OPTIONS = ("self", "num_classes", "in_chans")


def register_model(card: ModelCard, model_class: type[ZooModel], *, weights: Sequence = (),
                   **fixed: Any) -> Callable[..., ZooModel | FeatureList]:
    """Register `card.name` as `model_class(num_classes, in_chans, **fixed, **options)`.

    The class is the model's one declaration: its `__init__`'s keyword parameters beyond
    `fixed` (e.g. depth=50 for resnet50) are the name's options, with the class's defaults;
    its `min_input_for(**fixed)` is the card's smallest input. `weights`: the pretrained
    rows of this name (cnnzoo.pretrained), whose published figures join the card's.
    Returns the builder `name(**kwargs)`, which is `build(name, **kwargs)`: without weights
    (cnnzoo.create_model loads them).
    """
    if card.name in _REGISTRY:
        raise RuntimeError(f"model {card.name!r} registered twice")
    params = inspect.signature(model_class).parameters
    unknown = sorted(set(fixed) - set(params))
    if unknown:
        raise RuntimeError(f"{card.name}: {model_class.__name__} has no parameter "
                           f"{', '.join(unknown)}")
    for p in params.values():
        if p.name not in (*_NOT_OPTIONS, *fixed) and p.default is inspect.Parameter.empty \
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise RuntimeError(f"{card.name}: {model_class.__name__}'s parameter {p.name} has "
                               "no default; fix it in register_model or give it a default")
    smallest = model_class.min_input_for(**fixed)
    if card.min_input_size is not None and card.min_input_size != smallest:
        raise RuntimeError(f"{card.name}: the card says min_input_size={card.min_input_size}, "
                           f"{model_class.__name__} accepts {smallest}; declare it on the class")
    figures = tuple(f for w in weights for f in w.figures)
    card = replace(card, min_input_size=smallest, figures=card.figures + figures)
    _REGISTRY[card.name] = _Entry(card, model_class, dict(fixed), tuple(weights))

    def builder(**kwargs: Any) -> ZooModel | FeatureList:
        return build(card.name, **kwargs)

    builder.__name__ = builder.__qualname__ = card.name
    builder.__doc__ = (f"{card.description}: build({card.name!r}, **kwargs), without weights "
                       f"(cnnzoo.create_model({card.name!r}, weights=...) loads them).")
    return builder


def load_families() -> None:
    """Import every model file, which registers its models (cnnzoo.models.FAMILIES)."""

    for family in models.FAMILIES:
        importlib.import_module(family if "." in family else f"cnnzoo.models.{family}")


def registered_weights() -> list[Any]:
    """Every registered model's pretrained rows, in registration order."""
    load_families()
    return [w for entry in _REGISTRY.values() for w in entry.weights]


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered model names matching a shell-style pattern, e.g. 'resnet*'; with
    `pretrained=True` only those with pretrained weights (cnnzoo.pretrained's table)."""
    load_families()
    with_weights = {n for n, e in _REGISTRY.items() if e.weights} if pretrained else None
    # Case-study order: by family in the order of FAMILIES' files (whichever file an earlier
    # import loaded first; families from elsewhere after them, as registered), then by
    # depth, so
    # resnet18 < resnet34 < resnet50 < resnet101 (not alphabetical).

    def file_rank(e: _Entry) -> int:
        for name in (e.model_class.__module__.rpartition(".")[2], e.card.family):
            if name in models.FAMILIES:
                return models.FAMILIES.index(name)
        return len(models.FAMILIES)

    rank: dict[str, int] = {}
    for e in _REGISTRY.values():  # a model file registers its own families in a fixed order
        rank[e.card.family] = min(rank.get(e.card.family, len(models.FAMILIES)), file_rank(e))
    families = sorted(rank, key=rank.__getitem__)
    # The studies' own nets (cnnzoo.models.study_nets) are not the zoo: listed only when asked.
    shown = [n for n in _REGISTRY if pattern.startswith(STUDY_PREFIX) or
             not n.startswith(STUDY_PREFIX)]

    def zoo_order(name: str) -> tuple:
        natural = [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
        return (families.index(_REGISTRY[name].card.family), natural)

    return sorted((n for n in shown if fnmatch.fnmatch(n, pattern) and
                   (with_weights is None or n in with_weights)), key=zoo_order)


def _entry(name: str) -> _Entry:
    load_families()
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(name, _REGISTRY, n=6, cutoff=0.6)
    close += [n for n in sorted(_REGISTRY) if n.startswith(name) and n not in close]
    hint = f"; did you mean {', '.join(close[:6])}?" if close else ""
    raise UnknownModelError(
        f"unknown model {name!r}{hint} (`cnnzoo list` shows all {len(list_models())} models)"
    )


def model_card(name: str) -> ModelCard:
    """The card of a registered model: paper, input sizes and reported figures."""
    return _entry(name).card


def model_class_of(name: str) -> type[ZooModel]:
    """The class a registered name builds (with the options it fixes)."""
    return _entry(name).model_class


def model_options(name: str) -> dict[str, Any]:
    """The options `create_model(name, ...)` takes beyond num_classes/in_chans, with defaults:
    the keyword parameters of the model class's `__init__` that the name does not fix."""
    entry = _entry(name)
    return {p.name: p.default for p in _option_parameters(entry)}


def _option_parameters(entry: _Entry) -> list[inspect.Parameter]:
    params = inspect.signature(entry.model_class).parameters.values()
    return [p for p in params if p.name not in (*_NOT_OPTIONS, *entry.fixed)
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _option_kinds(entry: _Entry) -> dict[str, type | None]:
    """Each option's kind (bool, int, float, str) from the class's annotations (`float |
    None` is float), else its default's; None where neither says one."""
    hints = typing.get_type_hints(entry.model_class.__init__)
    kinds: dict[str, type | None] = {}
    for p in _option_parameters(entry):
        args = [a for a in typing.get_args(hints.get(p.name)) if a is not type(None)]
        hint = args[0] if len(args) == 1 else hints.get(p.name)
        kinds[p.name] = hint if hint in _KINDS else (
            type(p.default) if type(p.default) in _KINDS else None)
    return kinds


def build(name: str, num_classes: int | None = None, in_chans: int | None = None,
          device: str | torch.device | None = None, *, features_only: bool = False,
          out_indices: int | Sequence[int] | None = None, **options: Any
          ) -> ZooModel | FeatureList:
    """Build a registered model from its class with these options, without weights
    (cnnzoo.create_model is this plus weights). num_classes and in_chans default to the
    card's; `device='meta'` builds without allocating memory; `features_only=True` returns
    the feature extractor of the stages in `out_indices` (default all)."""
    for word in ("weights", "pretrained"):
        if word in options:
            raise ModelOptionError(f"{name}(...) builds without weights; load them with "
                                   f"cnnzoo.create_model({name!r}, {word}=...)")
    check_features(features_only, out_indices)
    check_options(name, options)
    model = construct(name, num_classes, in_chans, device, options)
    return FeatureList(model, out_indices) if features_only else model


def check_features(features_only: bool, out_indices: object) -> None:
    if out_indices is not None and not features_only:
        raise ModelOptionError("out_indices selects stages for features_only=True; pass both")


def check_options(name: str, options: dict[str, Any], source: str | None = None) -> None:
    """Every option is one `name` takes, of the right kind: the caller's, or those a weights
    file (`source`) records."""
    entry = _entry(name)
    _check_options(name, options, model_options(name), _option_kinds(entry), source)


def construct(name: str, num_classes: int | None, in_chans: int | None,
              device: str | torch.device | None, options: dict[str, Any]) -> ZooModel:
    """The model's class called with the card's defaults and these (checked) options."""
    entry = _entry(name)
    card = entry.card
    with torch.device(device) if device is not None else contextlib.nullcontext():
        try:
            model = entry.model_class(
                num_classes=card.num_classes if num_classes is None else int(num_classes),
                in_chans=card.input_size[0] if in_chans is None else int(in_chans),
                **entry.fixed, **options,
            )
        except ValueError as e:  # a class's own check of an option's range
            raise ModelOptionError(f"{name}: {e}") from None
    model.model_name = name
    model.model_options = dict(options)
    return model


def _check_options(name: str, options: dict[str, Any], allowed: dict[str, Any],
                   kinds: dict[str, type | None], source: str | None = None) -> None:
    """Every option is one `name` takes, of the right kind: the caller's, or those a weights
    file (`source`) records."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        listed = ", ".join(f"{k}={v!r}" for k, v in allowed.items()) or "none"
        what = (f"{source} records the option {', '.join(unknown)}, but {name} has none such "
                "(weights saved from another model?)" if source else
                f"{name} has no option {', '.join(unknown)}")
        raise ModelOptionError(f"{what}; its options are: {listed}")
    for key, value in options.items():
        _check_option(name, key, value, allowed[key], kinds[key])


_KINDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _check_option(name: str, key: str, value: Any, default: Any, kind: type | None) -> None:
    """An option of the wrong kind is one line naming it (`--width wide` reached the class
    as a string and failed there as a TypeError)."""
    if kind is None or value is None:
        return
    ok = (isinstance(value, bool) if kind is bool else
          isinstance(value, int | float) and not isinstance(value, bool) if kind is float else
          isinstance(value, int) and not isinstance(value, bool) if kind is int else
          isinstance(value, str))
    if not ok:
        raise ModelOptionError(f"{name}'s option {key} must be {_KINDS[kind]} (default "
                               f"{default!r}), got {value!r}")


def infer_num_classes(name: str, state_dict: dict[str, torch.Tensor]) -> int | None:
    entry = _entry(name)
    with torch.device("meta"):
        probe = entry.model_class(num_classes=1, in_chans=3, **entry.fixed)
    weight = state_dict.get(probe.classifier_name + ".weight")
    return int(weight.shape[0]) if weight is not None and weight.ndim == 2 else None


def default_input_size(
    model: nn.Module, input_size: int | Sequence[int] | None = None, *, smallest: bool = False
) -> tuple[int, int, int]:
    """The (C, H, W) to run `model` at, resolved and checked in one place.

    `input_size` when given (checked by check_input_size; one side or (H, W) take the
    model's channels); else the model's channels at its card's H x W, or with `smallest`
    at its smallest accepted side (at least 32: a quick example input).
    """
    if input_size is not None:
        channels = model.in_chans if isinstance(model, ZooModel) else None
        return check_input_size(input_size, channels)
    if not isinstance(model, ZooModel) or not (model.model_name or smallest):
        raise UsageError("give input_size=(C, H, W) for a model that is not from create_model")
    if smallest:
        side = max(32, model.min_input_size)
        return (model.in_chans, side, side)
    _, h, w = model_card(model.model_name).input_size
    return (model.in_chans, h, w)


def count_params(model: torch.nn.Module) -> int:
    """Trainable and frozen parameters (batch-norm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters())


def headline_errors(card: ModelCard) -> dict[str, Any]:
    """The figures `cnnzoo list` shows: the paper's first top-1/top-5 error (accuracy
    converted to error), falling back to the case studies' quote, and torchvision's."""

    def err(metric: str) -> Figure | None:
        for source in ("paper", "case studies"):
            f = card.figure(f"{metric}_err", source)
            if f is not None:
                return f
            acc = card.figure("acc1" if metric == "top1" else "acc5", source)
            if acc is not None:
                return Figure(f"{metric}_err", round(100 - acc.value, 3), source, acc.note)
        return None

    top1, top5 = err("top1"), err("top5")
    tv1, tv5 = card.figure("acc1", "torchvision"), card.figure("acc5", "torchvision")
    return {
        "top1_err": top1.value if top1 else None,
        "top1_source": f"{top1.source}: {top1.note}".rstrip(": ") if top1 else "",
        "top5_err": top5.value if top5 else None,
        "top5_source": f"{top5.source}: {top5.note}".rstrip(": ") if top5 else "",
        "torchvision_acc1": tv1.value if tv1 else None,
        "torchvision_acc5": tv5.value if tv5 else None,
    }


def model_table(pattern: str = "*") -> list[dict[str, Any]]:
    """One record per model matching `pattern`: name, family, params (counted on the meta
    device), input size, dataset and the headline reported figures."""
    records = []
    for name in list_models(pattern):
        card = model_card(name)
        model = build(name, device="meta")
        records.append(
            {
                "name": name,
                "family": card.family,
                "params": count_params(model),
                "input_size": list(card.input_size),
                "min_input_size": card.min_input_size,
                "dataset": card.dataset,
                **headline_errors(card),
            }
        )
    return records
