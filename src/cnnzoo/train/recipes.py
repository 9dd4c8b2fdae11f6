"""Training recipes, declared per model (or family) and dataset, with where each comes from.

A recipe is a partial TrainConfig: it only sets values of TrainConfig's fields, and is
checked against the dataclass when declared. `configure(model, data, **fields)` starts
from the model's recipe for the data (or the nearest declared one), and each field given
overrides one value. The checkpoint records the recipe's name (`TrainConfig.recipe`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from cnnzoo.data.load import dataset_key, nearest_datasets
from cnnzoo.errors import ConfigError
from cnnzoo.precision import bf16_emulated
from cnnzoo.registry import model_card
from cnnzoo.train.config import TrainConfig, as_recorded, fields_where

# What a recipe may not set: which run, where, and on what hardware are not the recipe
# (TrainConfig declares them: recipe=False).
_NOT_RECIPE = fields_where("recipe", False)



@dataclass(frozen=True)
class Recipe:
    """How to train `models` (names or card families) on `data`, and where that is from."""

    name: str
    models: tuple[str, ...]
    data: str
    source: str  # "paper: ..." or "measured here: ..." (with the figure and the file)
    settings: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", MappingProxyType(dict(self.settings)))
        known = {f.name for f in fields(TrainConfig)}
        for key in self.settings:
            if key not in known or key in _NOT_RECIPE:
                raise ConfigError(key, f"cannot be set by a recipe ({self.name}); a recipe "
                                  "sets training fields of TrainConfig only")
        TrainConfig(model="recipe-check", data=self.data, **self.settings)  # values valid

    def text(self, flag: Callable[[str], str] | None = None,
             skip: tuple[str, ...] = ()) -> str:
        """Its settings as flags (`--epochs 20 --lr 0.1`) or, without `flag`, fields."""
        parts = []
        for key, value in self.settings.items():
            if key in skip:
                continue
            if flag is None:
                parts.append(f"{key}={value!r}")
            elif isinstance(value, bool):
                parts.append(flag(key) if value else "--no-" + flag(key)[2:])
            else:
                shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
                parts.append(f"{flag(key)} {shown}")
        return " ".join(parts)


_FASHION = "benchmarks/results/train_fashion.md"
_RECIPES_DOC = "docs/benchmarks.md#training-recipes"

RECIPES: tuple[Recipe, ...] = (
    Recipe("lenet/mnist", ("lenet",), "mnist",
           "measured here: 98.25-98.75% test top-1 on the embedded sample, the CPU's arithmetic "
           "and the seed deciding (AMD EPYC seeds 0-2: 98.75, 98.40, 98.35%; Intel Xeon "
           f"seed 0: 98.25%), 83 s wall on 2 cores ({_RECIPES_DOC})",
           dict(epochs=30, batch_size=64, lr=0.1)),
    Recipe("lenet/fashion-mnist", ("lenet",), "fashion-mnist",
           f"measured here: lenet5 89.9% test top-1 in ~92 s, mean of 3 seeds ({_FASHION})",
           dict(epochs=15, batch_size=64, optimizer="adamw", lr=0.005, weight_decay=0.01,
                augment=False)),
    Recipe("resnet-cifar/fashion-mnist", ("resnet-cifar",), "fashion-mnist",
           "measured elsewhere (2-core CPU with AMX, bf16): resnet20 93.4% test top-1, 93% after "
           f"242 s on 2 threads, mean of 3 seeds ({_FASHION})",
           dict(image_size=(28, 28), epochs=7, batch_size=256, lr=0.2, schedule="onecycle",
                label_smoothing=0.1, augment=False, channels_last=True, precision="bf16")),
    # He et al. 2016, sec. 4.2: batch 128, lr 0.1 divided by 10 at 32k and 48k iterations,
    # stop at 64k; weight decay 1e-4, momentum 0.9; 4-pixel padding, random crop and flip.
    # At 391 iterations an epoch (50k images): 164 epochs, milestones at 82 and 123.
    Recipe("resnet-cifar/cifar10", ("resnet-cifar", "plain-cifar"), "cifar10",
           "paper: He et al. 2016, sec. 4.2 (64k iterations = 164 epochs); not run here, "
           "CIFAR-10 is not on this machine",
           dict(epochs=164, batch_size=128, lr=0.1, momentum=0.9, weight_decay=1e-4,
                schedule="step", milestones=(82, 123), gamma=0.1, augment=("crop", "flip"),
                precision="fp32")),
    Recipe("mobilenet/fashion-mnist", ("mobilenet",), "fashion-mnist",
           "measured elsewhere (2-core CPU with AMX, bf16): mobilenet_v2 width 0.5, 91.0% test "
           f"top-1 in ~250 s, mean of 3 seeds ({_FASHION}); width 1.0 in {_RECIPES_DOC}",
           dict(image_size=(32, 32), epochs=8, batch_size=256, lr=0.05, schedule="onecycle",
                label_smoothing=0.1, augment=False, channels_last=True, precision="bf16")),
    Recipe("googlenet/fashion-mnist", ("googlenet", "googlenet_paper"), "fashion-mnist",
           f"measured here: googlenet at 32x32 ({_RECIPES_DOC})",
           dict(image_size=(32, 32), epochs=5, batch_size=256, lr=0.1, schedule="onecycle",
                label_smoothing=0.1, augment=False, channels_last=True, precision="bf16")),
)


def _for_model(recipe: Recipe, model: str) -> bool:
    return model in recipe.models or model_card(model).family in recipe.models


def recipes_for(model: str) -> tuple[Recipe, ...]:
    """Every recipe declared for `model` (by its name or its card's family)."""
    return tuple(r for r in RECIPES if _for_model(r, model))


def recipe_named(name: str) -> Recipe:
    for r in RECIPES:
        if r.name == name:
            return r
    raise ConfigError("recipe", f"{name!r} is not a recipe; choose none or one of "
                      f"{', '.join(r.name for r in RECIPES)}")


def find_recipe(model: str, data: str) -> Recipe | None:
    """The model's recipe for `data`, else the one for the nearest dataset, else None."""
    own = recipes_for(model)
    key = dataset_key(data)
    for candidate in (key, *nearest_datasets(data)):
        for r in own:
            if r.data == candidate:
                return r
    return None


def configure(model: str, data: str, recipe: str | None = None, **given: Any
              ) -> tuple[TrainConfig, Recipe | None]:
    """The config of a run: the recipe (named, or found for model and data; 'none': no
    recipe), then every field in `given` over it. Returns it with the recipe used."""
    if recipe == "none":
        chosen = None
    elif recipe is not None:
        chosen = recipe_named(recipe)
    else:
        chosen = find_recipe(model, data)
    settings = dict(chosen.settings) if chosen else {}
    if settings.get("precision") == "bf16" and "precision" not in given \
            and bf16_emulated(given.get("device")):
        settings["precision"] = "fp32"
    cfg = TrainConfig(**{**settings, **given, "model": model, "data": data,
                         "recipe": chosen.name if chosen else None})
    return cfg, chosen



def describe(cfg: TrainConfig, chosen: Recipe | None, given: Mapping[str, Any] = (),
             flag: Callable[[str], str] | None = None) -> str:
    """One line: the recipe used, its source, and what it set that was not overridden."""
    if chosen is None:
        return (f"recipe: none for {cfg.model} on {cfg.data}; TrainConfig's defaults "
                "(`cnnzoo show NAME` lists a model's recipes)")
    where = "" if chosen.data == dataset_key(cfg.data) else f", nearest to {cfg.data}"
    # A value equal to the recipe's (a run's own config.json fed back) changes nothing.
    overridden = [k for k in chosen.settings
                  if k in given and as_recorded(given[k]) != as_recorded(chosen.settings[k])]
    shown = chosen.text(flag, skip=tuple(overridden)) or "nothing left"
    note = f"; overridden: {', '.join(flag(k) if flag else k for k in overridden)}" \
        if overridden else ""
    if chosen.settings.get("precision", cfg.precision) != cfg.precision \
            and "precision" not in given:
        note += (f"; precision {cfg.precision}, not the recipe's "
                 f"{chosen.settings['precision']}: this CPU has no bf16 units (emulated "
                 "bf16 is slower than fp32)")
    return f"recipe {chosen.name}{where} ({chosen.source}): {shown}{note}"
