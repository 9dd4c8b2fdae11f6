"""This machine's limits, measured: peak matrix-product FLOP/s per precision and memory
bandwidth. Measured once per machine description and cached as JSON."""

from __future__ import annotations

import contextlib
import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from cnnzoo.atomic import write_text_atomic
from cnnzoo.bench.timing import time_callable
from cnnzoo.home import cnnzoo_home
from cnnzoo.precision import bf16_emulated, dtype_of, precision_name


@dataclass
class MachinePeaks:
    """What the roofline compares against: FLOP/s per precision, bytes/s of memory."""

    description: str
    device: str
    threads: int
    flops: dict[str, float]  # precision -> FLOP/s of a large matrix product
    bandwidth: float  # bytes/s of a large copy (read + write)

    def peak(self, precision: str) -> float:
        return self.flops[precision_name(precision)]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: torch.device | str = "cpu") -> str:
    """A one-line description that keys the cache: hardware, threads, torch version."""
    dev = torch.device(device)
    if dev.type == "cuda":
        hw = torch.cuda.get_device_name(dev)
    else:
        hw = f"{cpu_name()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads"
    return f"{hw}; torch {torch.__version__}"


def cache_path() -> Path:
    """$CNNZOO_HOME/machine_peaks.json (the one cache root, home.py); $CNNZOO_CACHE, the
    older variable, still moves it."""
    env = os.environ.get("CNNZOO_CACHE")
    return (Path(env) if env else cnnzoo_home()) / "machine_peaks.json"


def precisions_for(device: torch.device | str) -> tuple[str, ...]:
    # fp16 matrix products on CPU are emulated and slow; the bench offers fp16 on CUDA only.
    return ("fp32", "bf16", "fp16") if torch.device(device).type == "cuda" else ("fp32", "bf16")


def measure_matmul_flops(dtype: torch.dtype, device: torch.device | str, n: int = 0) -> float:
    """FLOP/s of an n x n matrix product (2 n^3 FLOPs), best of a few repeats."""
    dev = torch.device(device)
    emulated = dtype == torch.bfloat16 and bf16_emulated(dev)
    # Emulated bf16 runs ~50x slower than fp32: 2048^2 would take ~30 s a call, and the
    # probe minutes. A smaller product, timed fewer times, finds the same (low) rate.
    n = n or (8192 if dev.type == "cuda" else 512 if emulated else 2048)
    a = torch.randn(n, n, device=dev).to(dtype)
    b = torch.randn(n, n, device=dev).to(dtype)
    warmup, repeats = (1, 3) if emulated else (2, 15)
    timing = time_callable(lambda: torch.mm(a, b), dev, warmup=warmup, repeats=repeats)
    return 2 * n**3 / timing.best


def measure_bandwidth(device: torch.device | str, mib: int = 0) -> float:
    """Bytes/s of copying a buffer far larger than the caches (read once, written once)."""
    dev = torch.device(device)
    mib = mib or (1024 if dev.type == "cuda" else 256)
    src = torch.ones(mib * 2**20 // 4, device=dev)
    dst = torch.empty_like(src)
    timing = time_callable(lambda: dst.copy_(src), dev, warmup=2, repeats=15)
    return 2 * src.numel() * 4 / timing.best


def measure_peaks(device: torch.device | str = "cpu") -> MachinePeaks:
    dev = torch.device(device)
    with torch.no_grad():
        flops = {p: measure_matmul_flops(dtype_of(p), dev) for p in precisions_for(dev)}
        bandwidth = measure_bandwidth(dev)
    return MachinePeaks(describe(dev), dev.type, torch.get_num_threads(), flops, bandwidth)


def machine_peaks(device: torch.device | str = "cpu", refresh: bool = False) -> MachinePeaks:
    """The cached peaks of this machine, measuring them (a few seconds) on first use or
    when `refresh` is set (keeping the best of old and new). The cache is keyed by
    `describe(device)`; measure on a quiet machine, since load lowers what is seen."""
    key = describe(device)
    path = cache_path()
    cache: dict = {}
    if path.exists():
        try:
            cache = json.loads(path.read_text())
        except (OSError, ValueError):
            cache = {}  # a damaged cache is re-measured, not an error
    if not refresh and key in cache:
        return MachinePeaks(**cache[key])
    peaks = measure_peaks(device)
    if key in cache:
        # Other work on the machine can only slow a measurement down: a peak is the best
        # ever seen, so a re-measurement under load never lowers it.
        old = MachinePeaks(**cache[key])
        for p, v in old.flops.items():
            peaks.flops[p] = max(v, peaks.flops.get(p, 0.0))
        peaks.bandwidth = max(old.bandwidth, peaks.bandwidth)
    cache[key] = asdict(peaks)
    with contextlib.suppress(OSError):  # a read-only home gets its figures, not cached
        write_text_atomic(path, json.dumps(cache, indent=2))
    return peaks
