"""`benchmark(model, ...)`: images/s, latency and achieved FLOP/s of every variant at
every batch size, side by side."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from cnnzoo.bench.machine import MachinePeaks, machine_peaks
from cnnzoo.bench.memory import PeakMemory
from cnnzoo.bench.timing import Timing, time_callable
from cnnzoo.bench.variants import Prepared, Variant, check_device, check_variant, prepare
from cnnzoo.cost import profile
from cnnzoo.errors import UsageError
from cnnzoo.load import snapshot
from cnnzoo.models.base import model_name_of
from cnnzoo.registry import default_input_size

Progress = Callable[[int, int, str], None]


@dataclass
class BenchResult:
    """One variant at one batch size. Times are seconds per batch."""

    model: str
    backend: str
    precision: str
    memory_format: str
    device: str
    batch_size: int
    input_size: tuple[int, int, int]
    median_s: float
    p90_s: float
    calls: int
    images_per_s: float
    ms_per_image: float
    macs_per_image: int | None
    gflops: float | None  # achieved: 2 x MACs x images/s
    peak_gflops: float | None  # this machine's measured matrix-product peak (None: int8)
    peak_fraction: float | None
    peak_memory_bytes: int | None
    memory_kind: str  # "rss" (CPU process) or "allocated" (CUDA)
    machine: str
    threads: int
    when: str
    fastest: bool = False  # fastest of its precision at its batch size
    # cnnzoo.load.Load before the first timing and after the last (the same for a run)
    load_before: dict = field(default_factory=dict)
    load_after: dict = field(default_factory=dict)

    @property
    def variant(self) -> Variant:
        return Variant(self.backend, self.precision, self.memory_format)

    def record(self) -> dict:
        return asdict(self)


def default_batch_sizes(device: torch.device | str) -> tuple[int, ...]:
    return (1, 8, 32, 128, 256) if torch.device(device).type == "cuda" else (1, 8, 32)


def macs_per_image(model: nn.Module, input_size: tuple[int, int, int]) -> int | None:
    """Multiply-adds of one image, from the cost analysis (None where it cannot run)."""
    try:
        return int(profile(model, input_size).macs)
    except Exception:  # noqa: BLE001 - speed is still worth reporting without the count
        return None


def benchmark(
    model: nn.Module,
    input_size: tuple[int, int, int] | None = None,
    variants: Sequence[Variant] = (Variant(),),
    batch_sizes: Sequence[int] | None = None,
    device: torch.device | str = "cpu",
    warmup: int = 2,
    repeats: int = 10,
    rounds: int = 1,
    min_seconds: float = 0.0,
    peaks: MachinePeaks | None = None,
    progress: Progress | None = None,
) -> list[BenchResult]:
    """Time `model` under each variant at each batch size.

    For each batch size every variant is prepared, warmed up, then timed `repeats` calls a
    round for `rounds` rounds, the variants taking turns; the median over all calls is
    kept. Turns matter on a shared machine: a burst of load hits every variant alike.
    Inputs are random, already in the variant's dtype and memory format.
    """
    dev = check_device(device)
    size = default_input_size(model, input_size)
    sizes = tuple(batch_sizes or default_batch_sizes(dev))
    if not sizes or min(sizes) < 1:
        raise UsageError(f"batch sizes must be positive integers, got {sizes}")
    if repeats < 1 or rounds < 1 or warmup < 0:
        raise UsageError("repeats and rounds must be >= 1 and warmup >= 0")
    for v in variants:
        check_variant(v, dev)
    peaks = peaks or machine_peaks(dev)
    macs = macs_per_image(model, size)
    name = model_name_of(model)
    total = len(variants) * len(sizes) * rounds
    step = 0
    results: list[BenchResult] = []
    prepared: dict[Variant, Prepared] = {}
    before = snapshot().as_dict()
    try:
        for v in variants:
            _report(progress, step, total, f"{name}: preparing {v.label}")
            prepared[v] = prepare(model, v, dev, size)
        for b in sizes:
            base = torch.randn(b, *size)
            inputs = {v: prepared[v].convert(base) for v in variants}
            times: dict[Variant, list[float]] = {v: [] for v in variants}
            memory: dict[Variant, PeakMemory] = {}
            for r in range(rounds):
                for v in variants:
                    _report(progress, step, total, f"{name}: {v.label}, batch {b}")
                    run, x = prepared[v].run, inputs[v]
                    with PeakMemory(dev) as pm:
                        t = time_callable(lambda run=run, x=x: run(x), dev,
                                          warmup if r == 0 else 1, repeats, min_seconds)
                    times[v] += t.times
                    if v not in memory or (pm.peak_bytes or 0) > (memory[v].peak_bytes or 0):
                        memory[v] = pm
                    step += 1
            for v in variants:
                results.append(_result(name, v, dev, b, size, Timing(tuple(times[v])),
                                       macs, peaks, memory[v]))
        _report(progress, total, total, f"{name}: done")
    finally:
        for p in prepared.values():
            p.cleanup()
    after = snapshot().as_dict()
    for r in results:
        r.load_before, r.load_after = before, after
    if any((r.peak_fraction or 0) > 1 for r in results):
        reprobe(peaks, dev, results)
    mark_fastest(results)
    return results


def reprobe(peaks: MachinePeaks, dev: torch.device, results: list[BenchResult]) -> None:
    """A result above the cached peak means the peak was measured while the machine was
    busy: measure it again (the cache keeps the best ever seen) and rebase the results.
    `peaks` is updated in place, so the caller prints the new figures."""
    fresh = machine_peaks(dev, refresh=True)
    peaks.flops.update(fresh.flops)
    peaks.bandwidth = fresh.bandwidth
    for r in results:
        if r.precision in peaks.flops and r.gflops is not None:
            r.peak_gflops = peaks.peak(r.precision) / 1e9
            r.peak_fraction = r.gflops / r.peak_gflops


def _report(progress: Progress | None, done: int, total: int, label: str) -> None:
    if progress is not None:
        progress(done, total, label)


def _result(name: str, v: Variant, dev: torch.device, b: int, size: tuple[int, int, int],
            t: Timing, macs: int | None, peaks: MachinePeaks, pm: PeakMemory) -> BenchResult:
    ips = b / t.median
    gflops = 2 * macs * ips / 1e9 if macs else None
    # No int8 peak is measured (torch has no CPU int8 matrix product to time).
    peak = peaks.peak(v.precision) / 1e9 if v.precision in peaks.flops else None
    return BenchResult(
        model=name, backend=v.backend, precision=v.precision, memory_format=v.memory_format,
        device=str(dev), batch_size=b, input_size=size, median_s=t.median, p90_s=t.p90,
        calls=len(t.times), images_per_s=ips, ms_per_image=1e3 * t.median / b,
        macs_per_image=macs, gflops=gflops, peak_gflops=peak,
        peak_fraction=gflops / peak if gflops is not None and peak else None,
        peak_memory_bytes=pm.peak_bytes, memory_kind=pm.kind, machine=peaks.description,
        threads=torch.get_num_threads(),
        when=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def mark_fastest(results: list[BenchResult]) -> None:
    """Flag the fastest result of each (model, device, batch size, precision)."""
    best: dict[tuple, BenchResult] = {}
    for r in results:
        key = (r.model, r.device, r.batch_size, r.precision)
        r.fastest = False
        if key not in best or r.images_per_s > best[key].images_per_s:
            best[key] = r
    for r in best.values():
        r.fastest = True
