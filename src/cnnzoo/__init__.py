"""cnnzoo: the classic CNN case studies, built faithfully, costed, trained and measured."""

from cnnzoo.errors import (
    CnnzooError,
    InputShapeError,
    ModelOptionError,
    UnknownModelError,
    WeightsError,
)
from cnnzoo.registry import (
    Figure,
    ModelCard,
    Paper,
    count_params,
    create_model,
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
    "UnknownModelError",
    "WeightsError",
    "count_params",
    "create_model",
    "list_models",
    "model_card",
    "model_options",
    "save_weights",
]
