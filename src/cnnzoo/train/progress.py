"""A one-line progress bar per epoch: loss, accuracy, images/s and ETA.

On a terminal it redraws in place a few times a second; otherwise (a log file, CI) it
prints only the finished line of each epoch, so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressBar:
    def __init__(
        self,
        total: int,
        label: str,
        stream: TextIO | None = None,
        enabled: bool = True,
        width: int = 24,
        interval: float = 0.2,
    ) -> None:
        self.total = max(1, total)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.width = width
        self.interval = interval
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.done = 0
        self.images = 0

    def update(self, steps: int, images: int, loss: float, acc: float) -> None:
        self.done = steps
        self.images = images
        now = time.perf_counter()
        if self.tty and (now - self.last_draw >= self.interval or steps >= self.total):
            self.last_draw = now
            self.stream.write("\r" + self._line(loss, acc, now) + "\x1b[K")  # clear the rest
            self.stream.flush()

    def close(self, loss: float, acc: float, extra: str = "") -> None:
        if not self.enabled:
            return
        line = self._line(loss, acc, time.perf_counter(), final=True) + extra
        self.stream.write(("\r" + line + "\x1b[K" if self.tty else line) + "\n")
        self.stream.flush()

    def _line(self, loss: float, acc: float, now: float, final: bool = False) -> str:
        elapsed = now - self.start
        rate = self.images / elapsed if elapsed > 0 else 0.0
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        if final:
            timing = f"{_clock(elapsed)}"
        else:
            eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
            timing = f"ETA {_clock(eta)}"
        return (
            f"{self.label} [{bar}] {self.done}/{self.total} loss {loss:.4f} "
            f"acc {100 * acc:5.2f}% {rate:,.0f} img/s {timing}"
        )
