"""Per-layer roofline: each layer's measured time beside the least time this machine
could take for it, max(FLOPs / peak FLOP/s, bytes / memory bandwidth).

Times come from hooks around every leaf module of an eager model (a CUDA event pair or
the wall clock); MACs and shapes from the cost analysis (`cnnzoo.cost.profile`).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

import torch
from torch import nn

from cnnzoo.bench.machine import MachinePeaks, machine_peaks
from cnnzoo.bench.timing import is_cuda, time_callable
from cnnzoo.bench.variants import _FORMATS, Variant, check_variant
from cnnzoo.blocks import is_depthwise
from cnnzoo.cost import profile
from cnnzoo.errors import UsageError
from cnnzoo.models.base import model_name_of
from cnnzoo.optimize import example_input, fold_batchnorm
from cnnzoo.precision import dtype_of


@dataclass
class LayerRoofline:
    name: str
    type: str
    kind: str  # depthwise conv, 1x1 conv, conv, linear, other
    time_s: float  # median over the timed passes, whole batch
    macs: int  # whole batch
    bytes: int  # weights + input + output at the precision, whole batch
    bound_s: float

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def intensity(self) -> float:
        """FLOPs per byte moved."""
        return self.flops / self.bytes if self.bytes else 0.0

    @property
    def achieved_flops(self) -> float:
        return self.flops / self.time_s if self.time_s > 0 else 0.0

    @property
    def ratio(self) -> float:
        """measured / lower bound: 1 is at the roof; 10 means ten times slower than it."""
        return self.time_s / self.bound_s if self.bound_s > 0 else float("inf")

    @property
    def limit(self) -> str:
        return "compute" if self.bound_s and self.flops_bound_s >= self.bytes_bound_s else "memory"

    flops_bound_s: float = 0.0
    bytes_bound_s: float = 0.0


@dataclass
class RooflineReport:
    model: str
    variant: Variant
    batch_size: int
    input_size: tuple[int, int, int]
    peaks: MachinePeaks
    layers: list[LayerRoofline]
    total_s: float  # median whole forward pass without hooks
    hooked_total_s: float  # median whole forward pass with the timing hooks
    untimed_ops: list[str] = field(default_factory=list)  # functional ops: adds, concats

    @property
    def layer_sum_s(self) -> float:
        return sum(r.time_s for r in self.layers)

    def by_kind(self) -> dict[str, dict[str, float]]:
        """Per layer kind: time, share of layer time, MACs, median measured/bound."""
        groups: dict[str, list[LayerRoofline]] = defaultdict(list)
        for r in self.layers:
            groups[r.kind].append(r)
        total = self.layer_sum_s or 1.0
        out = {}
        for kind, rows in groups.items():
            t = sum(r.time_s for r in rows)
            macs = sum(r.macs for r in rows)
            out[kind] = {
                "layers": len(rows), "time_s": t, "share": t / total, "macs": macs,
                "gflops": 2 * macs / t / 1e9 if t else 0.0,
                "median_ratio": statistics.median(r.ratio for r in rows),
            }
        return out


def layer_kind(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        if is_depthwise(module):
            return "depthwise conv"
        if module.kernel_size == (1, 1):
            return "1x1 conv"
        return "conv"
    if isinstance(module, nn.Linear):
        return "linear"
    return "other"


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if n and not list(m.children())]


class _LayerClock:
    """Forward hooks that time each call of each leaf module, keyed `name`, `name#2`..."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        self.device = device
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.order: list[str] = []
        self._calls: dict[str, int] = defaultdict(int)
        self._pending: list[tuple[str, object, object]] = []
        self._starts: dict[int, object] = {}
        self.hooks = []
        for name, m in _leaves(model):
            self.hooks.append(m.register_forward_pre_hook(self._pre(name)))
            self.hooks.append(m.register_forward_hook(self._post(name)))

    def _now(self) -> object:
        if is_cuda(self.device):
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    def _pre(self, name: str):
        def hook(mod: nn.Module, args: tuple) -> None:
            self._starts[id(mod)] = self._now()
        return hook

    def _post(self, name: str):
        def hook(mod: nn.Module, args: tuple, out: object) -> None:
            end = self._now()
            self._calls[name] += 1
            n = self._calls[name]
            key = name if n == 1 else f"{name}#{n}"
            self._pending.append((key, self._starts.pop(id(mod)), end))
        return hook

    def new_pass(self) -> None:
        """Close a forward pass: turn its start/end pairs into seconds."""
        if is_cuda(self.device):
            torch.cuda.synchronize(self.device)
        first = not self.order
        for key, start, end in self._pending:
            cuda = is_cuda(self.device)
            dt = start.elapsed_time(end) / 1e3 if cuda else end - start  # type: ignore
            self.samples[key].append(dt)
            if first:
                self.order.append(key)
        self._pending.clear()
        self._calls.clear()

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()


def per_layer(
    model: nn.Module,
    input_size: tuple[int, int, int],
    variant: Variant | None = None,
    batch_size: int = 8,
    device: torch.device | str = "cpu",
    repeats: int = 5,
    warmup: int = 2,
    peaks: MachinePeaks | None = None,
) -> RooflineReport:
    """Time every leaf layer of `model` run as `variant` (eager or folded backends only)
    and put each beside its roofline bound at this machine's measured peaks."""

    dev = torch.device(device)
    variant = variant or Variant()
    check_variant(variant, dev)
    if variant.backend not in ("eager", "folded"):
        raise UsageError(
            f"per-layer timing times the layers of an eager model; backend "
            f"{variant.backend} fuses them away. Use backend eager or folded"
        )
    if batch_size < 1 or repeats < 1:
        raise UsageError("per-layer batch size and repeats must be >= 1")
    peaks = peaks or machine_peaks(dev)
    dtype, fmt = dtype_of(variant.precision), _FORMATS[variant.memory_format]
    m = copy.deepcopy(model).eval()
    if variant.backend == "folded":
        m = fold_batchnorm(m, example_input(m), inplace=True)
    m = m.to(device=dev, dtype=dtype, memory_format=fmt)
    x = torch.randn(batch_size, *input_size).to(device=dev, dtype=dtype, memory_format=fmt)
    cost = profile(m, input_size, dtype=dtype, batch_size=batch_size)
    with torch.no_grad():
        plain = time_callable(lambda: m(x), dev, warmup, repeats)
        clock = _LayerClock(m, dev)
        try:
            for _ in range(warmup):
                m(x)
                clock.new_pass()
            clock.samples.clear()
            clock.order.clear()
            hooked = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                m(x)
                clock.new_pass()
                hooked.append(time.perf_counter() - t0)
        finally:
            clock.remove()
    modules = dict(m.named_modules())
    elem = torch.empty((), dtype=dtype).element_size()
    rows, untimed = [], []
    for r in cost.layers:
        if r.name not in clock.samples:
            untimed.append(r.name)
            continue
        base = r.name.split("#")[0]
        mod = modules.get(base)
        moved = (r.params + batch_size * (_numel(r.input_shape) + _numel(r.output_shape))) * elem
        f_bound = 2 * r.macs / peaks.peak(variant.precision)
        b_bound = moved / peaks.bandwidth
        rows.append(LayerRoofline(
            name=r.name, type=r.type, kind=layer_kind(mod) if mod is not None else "other",
            time_s=statistics.median(clock.samples[r.name]), macs=r.macs, bytes=moved,
            bound_s=max(f_bound, b_bound), flops_bound_s=f_bound, bytes_bound_s=b_bound,
        ))
    return RooflineReport(
        model=model_name_of(model), variant=variant,
        batch_size=batch_size, input_size=tuple(input_size), peaks=peaks, layers=rows,
        total_s=plain.median, hooked_total_s=statistics.median(hooked), untimed_ops=untimed,
    )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
