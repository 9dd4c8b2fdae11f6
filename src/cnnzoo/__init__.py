"""cnnzoo: the classic CNN case studies, built faithfully, costed, trained and measured."""

from cnnzoo import cost
from cnnzoo.cost import Profile, TrainingMemory, profile, training_memory
from cnnzoo.draw import draw
from cnnzoo.errors import (
    CnnzooError,
    InputShapeError,
    ModelOptionError,
    UnknownModelError,
    WeightsError,
)
from cnnzoo.models.base import model_name_of
from cnnzoo.optimize import optimize as optimize
from cnnzoo.registry import (
    Figure,
    ModelCard,
    Paper,
    count_params,
    create_model,
    default_input_size,
    list_models,
    model_card,
    model_options,
)
from cnnzoo.weights import save_weights

__version__ = "0.1.0"

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
    "save_weights",
    "training_memory",
]
