"""The zoo as test parameters: every model, with all but one per family and model class in
the slow tier, so `make test-fast` sweeps each family once and `make test` sweeps every model.
Read from the registry: a new family is swept without naming it here."""

from __future__ import annotations

import pytest

from cnnzoo.registry import list_models, model_card, model_class_of

# Beyond the first of each (family, class): ResNet's Bottleneck depths, and not plain18,
# whose blocks are resnet18's without the shortcuts.
EXTRA = {"resnet50"}
SKIPPED = {"plain18"}


def fast_models() -> set[str]:
    """The first model of each (family, class) pair, in zoo order, and EXTRA."""
    first: dict[tuple[str, type], str] = {}
    for name in list_models():
        first.setdefault((model_card(name).family, model_class_of(name)), name)
    return (set(first.values()) | EXTRA) - SKIPPED


def every_model() -> list:
    fast = fast_models()
    return [name if name in fast else pytest.param(name, marks=pytest.mark.slow)
            for name in list_models()]
