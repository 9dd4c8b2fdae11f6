"""Timing a callable the way the hardware needs it: wall clock on CPU, CUDA events after
synchronising on GPU, warm-up first, the median (and p90) of repeats."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Timing:
    """Seconds per call over the timed repeats."""

    times: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p90(self) -> float:
        return quantile(self.times, 0.9)

    @property
    def best(self) -> float:
        return min(self.times)


def quantile(values: tuple[float, ...] | list[float], q: float) -> float:
    """Linear-interpolated quantile (q in [0, 1]) of a non-empty sequence."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def is_cuda(device: torch.device | str) -> bool:
    return torch.device(device).type == "cuda"


def time_once(fn: Callable[[], object], device: torch.device | str = "cpu", *,
              clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds one call of `fn` takes on `device` (on CPU by `clock`, a stand-in in tests).

    On CUDA the kernels run asynchronously, so the wall clock would time only the launch:
    we synchronise first (so earlier work is not billed to this call), record events
    around the call, and wait for the end event.
    """
    if is_cuda(device):
        torch.cuda.synchronize(device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = clock()
    fn()
    return clock() - t0


def time_callable(
    fn: Callable[[], object],
    device: torch.device | str = "cpu",
    warmup: int = 2,
    repeats: int = 10,
    min_seconds: float = 0.0,
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> Timing:
    """Run `fn` `warmup` times untimed (caches, lazy init, compilation), then time
    `repeats` calls; keep going past `repeats` until `min_seconds` have been timed (CPU
    calls by `clock`)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    for _ in range(warmup):
        fn()
    if is_cuda(device):
        torch.cuda.synchronize(device)
    times: list[float] = []
    total = 0.0
    while len(times) < repeats or total < min_seconds:
        t = time_once(fn, device, clock=clock)
        times.append(t)
        total += t
    return Timing(tuple(times))
