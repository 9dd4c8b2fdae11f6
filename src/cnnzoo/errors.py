"""Errors cnnzoo raises on bad input: each names the problem and how to fix it."""

from __future__ import annotations


class CnnzooError(Exception):
    """Base class: a user-facing error whose message is the whole explanation."""


class UnknownModelError(CnnzooError, ValueError):
    """A model name that is not registered."""


class ModelOptionError(CnnzooError, TypeError):
    """An option the model does not take, or a value it cannot use."""


class InputShapeError(CnnzooError, ValueError):
    """An input tensor the model cannot take (channels, size, rank, dtype)."""


class WeightsError(CnnzooError, ValueError):
    """A weights file that cannot be read or does not fit the model."""


class UsageError(CnnzooError, ValueError):
    """A malformed command-line value (an input size, an option)."""


class TrainingError(CnnzooError, RuntimeError):
    """A training run that cannot start or continue (bad options, a diverged loss)."""


class CheckpointError(CnnzooError, ValueError):
    """A checkpoint or run directory that cannot be read or resumed."""


class DatasetError(CnnzooError, ValueError):
    """A dataset that cannot be found, read or used: names the file and the fix."""


class MissingDependencyError(CnnzooError, ImportError):
    """An optional package a feature needs is not installed (names the pip command)."""


class ExportError(CnnzooError, RuntimeError):
    """A model that could not be exported, or whose export disagrees with eager PyTorch."""


class ConfigError(TrainingError):
    """A training setting of the wrong type or out of range. `field` names the TrainConfig
    field at fault, so the CLI can name the flag instead (`--epochs must be >= 1`)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem
