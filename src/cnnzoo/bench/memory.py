"""Peak memory while a benchmark runs.

CUDA: the caching allocator's peak of allocated bytes. CPU has no allocator statistics,
so we use the process's resident-set high-water mark (Linux VmHWM), reset just before
the timed calls: it counts the whole process (runtime, weights, activations), which is
what a deployment pays.
"""

from __future__ import annotations

import contextlib
import ctypes
import resource
import sys
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _trim_heap() -> None:
    # Give freed heap pages back to the OS so an earlier run's memory is not counted.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """Use as `with PeakMemory(device) as pm: ...`; then `pm.peak_bytes` (or None)."""

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.peak_bytes: int | None = None
        self.kind = "allocated" if self.device.type == "cuda" else "rss"
        self._resettable = False

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        _trim_heap()
        try:
            _CLEAR_REFS.write_text("5")  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
            self._resettable = True
        except OSError:
            self._resettable = False
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = int(torch.cuda.max_memory_allocated(self.device))
            return
        hwm = _status_kib("VmHWM") if self._resettable else None
        if hwm is not None:
            self.peak_bytes = hwm * 1024
        else:
            # No reset possible: the process's lifetime peak (ru_maxrss is KiB on Linux).
            self.kind = "rss-lifetime"
            scale = 1 if sys.platform == "darwin" else 1024
            self.peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
