"""cnnzoo: the classic CNN case studies, built faithfully, costed, trained and measured."""

import os as _os

# libgomp's OpenMP threads spin for a while when they wait for work. When other processes
# hold the cores, that spinning takes their turns: LeNet-5's 3 epochs on 2 cores beside two
# busy processes took 42 s with the default spin and 18 s with 10,000, idle unchanged (6.6-6.8
# s; docs/benchmarks.md, "Threads that share"). It must be set before torch loads OpenMP; a
# value the user set wins. The arithmetic, and so every result, is unchanged.
_os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from cnnzoo import cost
from cnnzoo.cost import Profile, TrainingMemory, profile, training_memory
from cnnzoo.data_config import resolve_data_config
from cnnzoo.draw import draw
from cnnzoo.errors import (
    CnnzooError,
    InputShapeError,
    ModelOptionError,
    UnknownModelError,
    WeightsError,
)
from cnnzoo.factory import create_model
from cnnzoo.models.base import model_name_of
from cnnzoo.optimize import optimize as optimize
from cnnzoo.registry import (
    Figure,
    ModelCard,
    Paper,
    count_params,
    default_input_size,
    list_models,
    model_card,
    model_options,
)
from cnnzoo.version import __version__ as __version__
from cnnzoo.weights import save_weights

__all__ = [
    "CnnzooError",
    "Figure",
    "InputShapeError",
    "ModelCard",
    "ModelOptionError",
    "Paper",
    "Profile",
    "TrainingMemory",
    "UnknownModelError",
    "WeightsError",
    "cost",
    "count_params",
    "create_model",
    "default_input_size",
    "draw",
    "list_models",
    "model_card",
    "model_name_of",
    "model_options",
    "profile",
    "resolve_data_config",
    "save_weights",
    "training_memory",
]
