"""The zoo as test parameters: every model, with all but one per family in the slow tier,
so `make test-fast` sweeps each family once and `make test` sweeps every model."""

from __future__ import annotations

import pytest

from cnnzoo.registry import list_models

ONE_PER_FAMILY = {"lenet5", "alexnet", "vgg11", "resnet18", "resnet50", "resnet20", "plain20",
                  "googlenet", "inception_v3", "mobilenet_v1", "mobilenet_v2"}


def every_model() -> list:
    return [name if name in ONE_PER_FAMILY else pytest.param(name, marks=pytest.mark.slow)
            for name in list_models()]
