"""Training, evaluation and prediction on real data (see docs/training.md)."""

from cnnzoo.train.config import TrainConfig
from cnnzoo.train.evaluate import EvalResult, evaluate
from cnnzoo.train.loop import Trainer, TrainResult
from cnnzoo.train.run import prepare, resume_config, train

__all__ = [
    "EvalResult",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "evaluate",
    "prepare",
    "resume_config",
    "train",
]
