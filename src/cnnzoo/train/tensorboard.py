"""`--tensorboard`: the scalars of metrics.jsonl, also as a TensorBoard event file in
RUN/tensorboard (optional: the tensorboard extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnzoo.errors import MissingDependencyError
from cnnzoo.extras import install_command, installed

FOLDER = "tensorboard"
EVENTS = "events.out.tfevents.*"


def require_tensorboard() -> None:
    """MissingDependencyError (one line, exit 2) unless TensorBoard's writer can load."""
    if not installed("tensorboard"):
        raise MissingDependencyError(
            f"--tensorboard needs the optional package 'tensorboard'; install it with: "
            f"{install_command('tensorboard')}, or leave out --tensorboard")


class TensorBoardLog:
    """One scalar per number of each epoch's record, at step = its epoch, under the same
    names as in metrics.jsonl (train_loss, test_top1, lr, ...)."""

    def __init__(self, folder: Path, history: list[dict[str, Any]]) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter  # the optional package's writer

        # As metrics.jsonl is on resume, the events are rewritten from the checkpoint's
        # history: one value per epoch, whether the run stopped before or after writing one.
        for old in folder.glob(EVENTS):
            old.unlink()
        self.writer = SummaryWriter(str(folder))
        for record in history:
            self.add(record, flush=False)
        self.writer.flush()

    def add(self, record: dict[str, Any], flush: bool = True) -> None:
        step = int(record["epoch"])
        for key, value in record.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        if flush:
            self.writer.flush()

    def close(self) -> None:
        self.writer.close()
