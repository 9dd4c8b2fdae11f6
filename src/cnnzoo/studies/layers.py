"""What the counting studies measure on real modules: MACs and weights (the cost tracer),
bytes moved, the roofline bound at this machine's peaks, and side-by-side times."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping

import torch
from torch import nn

from cnnzoo.bench.machine import machine_peaks, measure_bandwidth
from cnnzoo.bench.timing import time_callable
from cnnzoo.cost import profile
from cnnzoo.load import snapshot, worse
from cnnzoo.precision import dtype_of, native_bf16
from cnnzoo.studies.stats import ratio_summary, seconds_of, time_side_by_side


def count(module: nn.Module, input_shape: tuple[int, int, int]) -> dict:
    """MACs and weights of one forward pass of one image, traced on the meta device."""
    p = profile(module, input_shape)
    return {"macs": p.macs, "params": p.params,
            "output_shape": list(p.layers[-1].output_shape) if p.layers else []}


def traffic(module: nn.Module, input_shape: tuple[int, int, int], batch: int,
            precision: str) -> dict:
    """Per forward pass of `batch` images: multiply-adds and the bytes each layer must at
    least read and write (weights, input, output), summed over the leaf layers."""
    elem = torch.empty((), dtype=dtype_of(precision)).element_size()
    p = profile(module, input_shape, batch_size=batch)
    moved = 0
    for r in p.layers:
        n_in = batch * math.prod(r.input_shape)
        n_out = batch * math.prod(r.output_shape)
        moved += (r.params + n_in + n_out) * elem
    return {"macs": p.macs, "bytes": moved}


def timing_precisions(quick: bool) -> tuple[str, ...]:
    """fp32 always; bf16 where the CPU has it natively, or in full mode (slow but real)."""
    return ("fp32", "bf16") if native_bf16() or not quick else ("fp32",)


def time_precisions(modules: Mapping[str, nn.Module], input_shape: tuple[int, int, int],
                    batch: int, rounds: int, precisions: tuple[str, ...]) -> list[dict]:
    """time_modules for each precision; emulated bf16 (no bf16 units: tens of times slower)
    gets 3 rounds of single calls, so a full run stays minutes, not an hour."""
    if "bf16" not in precisions or native_bf16():
        return time_modules(modules, input_shape, batch, rounds, precisions=precisions)
    rest = tuple(p for p in precisions if p != "bf16")
    rows = time_modules(modules, input_shape, batch, rounds, precisions=rest) if rest else []
    return rows + time_modules(modules, input_shape, batch, min(rounds, 3), repeats=1,
                               precisions=("bf16",), warmup=1)


def time_modules(modules: Mapping[str, nn.Module], input_shape: tuple[int, int, int],
                 batch: int, rounds: int, repeats: int = 3,
                 precisions: tuple[str, ...] = ("fp32", "bf16"), warmup: int = 2) -> list[dict]:
    """Forward time of each module at each CPU precision, all taking turns in one loop:
    one row per module, precision and round. Channels-last, the layout in which the CPU's
    oneDNN kernels run bf16 convolutions (in NCHW a bf16 5x5 conv was ~10x slower still)."""
    variants = {}
    fmt = torch.channels_last
    for prec in precisions:
        dtype = dtype_of(prec)
        x = torch.randn(batch, *input_shape).to(dtype).contiguous(memory_format=fmt)
        for name, m in modules.items():
            copy = _clone(m).to(dtype).to(memory_format=fmt).eval()

            def call(copy: nn.Module = copy, x: torch.Tensor = x) -> object:
                with torch.no_grad():
                    return copy(x)

            variants[f"{name}|{prec}"] = call
    before = snapshot()
    rows = time_side_by_side(variants, rounds=rounds, repeats=repeats, warmup=warmup)
    seen = worse(before, snapshot())
    for row in rows:
        name, prec = row.pop("variant").split("|")
        row.update({"module": name, "precision": prec, "batch": batch})
    return [{"module": r["module"], "precision": r["precision"], "batch": r["batch"],
             "layout": "channels_last", "round": r["round"], "seconds": r["seconds"],
             **seen.as_dict()} for r in rows]


# A time ratio is explained only when the rounds agree (their sd within this fraction of the
# mean ratio) and fewer other processes ran than there are cores (measured: at load 4.35 on
# 2 cores the bottleneck's ratio came out 1.42, idle 0.19).
MAX_RATIO_SPREAD = 0.15


def unreliable(rows: list[dict], summary: dict) -> str | None:
    """Why this run's timings cannot be explained ('load 4.35 on 2 cores', 'rounds spread
    +-31%'), or None when they can."""
    cores = max((int(r["cores"]) for r in rows if r.get("cores") not in (None, "")),
                default=os.cpu_count() or 1)
    others = [int(r["others_running"]) for r in rows if r.get("others_running") not in (None, "")]
    loads = [float(r["load_1min"]) for r in rows if r.get("load_1min") not in (None, "")]
    if others and max(others) >= cores:
        load = f"load {max(loads):.2f}, " if loads else ""
        return f"{load}{max(others)} other processes running on {cores} cores"
    if not others and loads and max(loads) >= cores:  # rows from before others_running
        return f"load {max(loads):.2f} on {cores} cores"
    for prec, s in summary.items():
        ratio = s["ratio"]
        if ratio["mean"] and ratio["sd"] and ratio["sd"] / ratio["mean"] > MAX_RATIO_SPREAD:
            # Read inside parentheses ("timing unreliable here (...)"): none of its own.
            return (f"{prec} rounds spread +-{100 * ratio['sd'] / ratio['mean']:.0f}%, over "
                    f"{100 * MAX_RATIO_SPREAD:.0f}%")
    return None


def _clone(m: nn.Module) -> nn.Module:

    return copy.deepcopy(m)


def time_summary(rows: list[dict], num: str, den: str) -> dict:
    """Per precision: seconds of `num` and `den` (mean +- sd over rounds) and their ratio
    taken round by round."""
    out = {}
    for prec in sorted({r["precision"] for r in rows}):
        sub = [{"variant": r["module"], "round": r["round"], "seconds": float(r["seconds"])}
               for r in rows if r["precision"] == prec]
        out[prec] = {num: seconds_of(sub, num), den: seconds_of(sub, den),
                     "ratio": ratio_summary(sub, num, den)}
    return out


def quick_peaks(precisions: tuple[str, ...]) -> dict:
    """Peak FLOP/s and bandwidth from small probes (a few seconds, not machine_peaks's
    minute): quick mode's roofline is rough, and says so in its `peaks` column."""

    flops = {}
    with torch.no_grad():
        for prec in precisions:
            n = 1024 if prec == "fp32" or native_bf16() else 512  # emulated bf16: ~4 s at 1024
            a = torch.randn(n, n).to(dtype_of(prec))
            flops[prec] = 2 * n**3 / time_callable(lambda a=a: torch.mm(a, a), warmup=1,
                                                   repeats=3).best
        return {"flops": flops, "bandwidth": measure_bandwidth("cpu", mib=64),
                "source": "quick probe (1024^2 matmul, 512^2 for emulated bf16; 64 MiB copy)"}


def roofline(modules: Mapping[str, nn.Module], input_shape: tuple[int, int, int],
             batch: int, quick: bool = False,
             precisions: tuple[str, ...] = ("fp32", "bf16")) -> list[dict]:
    """Per module and precision: the least time the machine could take, from its measured
    peak FLOP/s and memory bandwidth (machine_peaks, cached per machine; a quick probe in
    quick mode), and which limit binds."""
    if quick or ("bf16" in precisions and not native_bf16()):
        # machine_peaks would spend many minutes timing emulated bf16 matmuls
        peaks = quick_peaks(precisions)
    else:
        mp = machine_peaks("cpu")
        peaks = {"flops": mp.flops, "bandwidth": mp.bandwidth,
                 "source": "machine_peaks (cached)"}
    rows = []
    for prec in precisions:
        for name, m in modules.items():
            t = traffic(m, input_shape, batch, prec)
            f_bound = 2 * t["macs"] / peaks["flops"][prec]
            b_bound = t["bytes"] / peaks["bandwidth"]
            rows.append({"module": name, "precision": prec, "batch": batch, "macs": t["macs"],
                         "bytes": t["bytes"], "peak_flops": peaks["flops"][prec],
                         "bandwidth": peaks["bandwidth"], "peaks": peaks["source"],
                         "flops_bound_s": f_bound, "bytes_bound_s": b_bound,
                         "limit": "compute" if f_bound >= b_bound else "memory"})
    return rows


def time_reason(times: list[dict], roof: list[dict], summary: dict, num: str, den: str,
                mac_ratio: float) -> str:
    """The time ratio explained by the rooflines, or 'timing unreliable here (...)' when the
    load or the rounds' spread says the ratio is not the layers' own."""
    why = unreliable(times, summary)
    if why is not None:
        return f"{UNRELIABLE} ({why}): the time ratio is not explained"
    return roofline_reason(roof, summary, num, den, mac_ratio)


UNRELIABLE = "timing unreliable here"


def ratio_text(summary: dict, reason: str) -> str:
    """The key figure's words on time: the ratio per precision, or why it is not judged."""
    if reason.startswith(UNRELIABLE):
        return f"time ratio not judged: {reason.split(': the time ratio')[0]}"
    return "time ratio " + ", ".join(f"{p} {s['ratio']['mean']:.2f}" for p, s in summary.items())


def roofline_reason(roof: list[dict], summary: dict, num: str, den: str,
                    mac_ratio: float) -> str:
    """Why the time ratio differs from the MAC ratio, per precision, in one sentence each:
    how close each variant runs to its roofline bound and which limit binds. A variant that
    beat the probed peak proves the probe low (a loaded machine): the peak is raised to
    what was achieved, so no layer is reported above 100% of its bound."""
    parts = []
    for prec, s in summary.items():
        tr = s["ratio"]["mean"]
        rows = {r["module"]: r for r in roof if r["precision"] == prec}
        if tr is None or not rows:
            continue
        probed = peak = float(next(iter(rows.values()))["peak_flops"])
        bandwidth = float(next(iter(rows.values()))["bandwidth"])
        for name, r in rows.items():
            t = s.get(name, {}).get("mean")
            if t:
                peak = max(peak, 2 * float(r["macs"]) / t)
        raised = (f"; a layer beat the probed {probed / 1e9:.1f} GFLOP/s peak, so the bound "
                  f"uses the best rate achieved, {peak / 1e9:.1f} GFLOP/s" if peak > probed
                  else f"; peak {peak / 1e9:.1f} GFLOP/s")
        eff = []
        for name in (num, den):
            t, r = s[name]["mean"], rows.get(name)
            if r and t:
                f_bound = 2 * float(r["macs"]) / peak
                b_bound = float(r["bytes"]) / bandwidth
                limit = "compute" if f_bound >= b_bound else "memory"
                eff.append(f"{name} runs at {100 * max(f_bound, b_bound) / t:.0f}% of its "
                           f"{limit} bound")
        close = "close to" if 0.5 <= tr / mac_ratio <= 2 else "far from"
        why = ": the fewer multiplications are done at a lower rate" if close == "far from" \
            else ""
        parts.append(f"{prec}: time ratio {tr:.3f} is {close} the MAC ratio {mac_ratio:.3f}"
                     f" ({'; '.join(eff)}{raised}){why}")
    return ". ".join(parts)


def bf16_note(measured: dict) -> str:
    """Why a timing study has no bf16 figure, when it has none."""
    if "bf16" in measured.get("time", {}):
        return ""
    return (" bf16 not timed: this CPU has no bf16 matrix units (AVX512-BF16/AMX), so "
            "PyTorch emulates it tens of times slower than fp32; --full times it anyway.")
