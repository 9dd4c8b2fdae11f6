"""What the counting studies measure on real modules: MACs and weights (the cost tracer),
bytes moved, the roofline bound at this machine's peaks, and side-by-side times."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from cnnzoo.bench.machine import PRECISIONS, machine_peaks
from cnnzoo.cost import profile
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
    elem = torch.empty((), dtype=PRECISIONS[precision]).element_size()
    p = profile(module, input_shape, batch_size=batch)
    moved = 0
    for r in p.layers:
        n_in = batch * math.prod(r.input_shape)
        n_out = batch * math.prod(r.output_shape)
        moved += (r.params + n_in + n_out) * elem
    return {"macs": p.macs, "bytes": moved}


def time_modules(modules: Mapping[str, nn.Module], input_shape: tuple[int, int, int],
                 batch: int, rounds: int, repeats: int = 3) -> list[dict]:
    """Forward time of each module at each CPU precision, all taking turns in one loop:
    one row per module, precision and round."""
    variants = {}
    for prec in ("fp32", "bf16"):
        dtype = PRECISIONS[prec]
        x = torch.randn(batch, *input_shape).to(dtype)
        for name, m in modules.items():
            mod = m.to(dtype).eval()
            copy = _clone(mod)

            def call(copy: nn.Module = copy, x: torch.Tensor = x) -> object:
                with torch.no_grad():
                    return copy(x)

            variants[f"{name}|{prec}"] = call
    rows = time_side_by_side(variants, rounds=rounds, repeats=repeats)
    for row in rows:
        name, prec = row.pop("variant").split("|")
        row.update({"module": name, "precision": prec, "batch": batch})
    return [{"module": r["module"], "precision": r["precision"], "batch": r["batch"],
             "round": r["round"], "seconds": r["seconds"]} for r in rows]


def _clone(m: nn.Module) -> nn.Module:
    import copy

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


def roofline(modules: Mapping[str, nn.Module], input_shape: tuple[int, int, int],
             batch: int) -> list[dict]:
    """Per module and precision: the least time the machine could take, from its measured
    peak FLOP/s and memory bandwidth (cached per machine), and which limit binds."""
    peaks = machine_peaks("cpu")
    rows = []
    for prec in ("fp32", "bf16"):
        for name, m in modules.items():
            t = traffic(m, input_shape, batch, prec)
            f_bound = 2 * t["macs"] / peaks.peak(prec)
            b_bound = t["bytes"] / peaks.bandwidth
            rows.append({"module": name, "precision": prec, "batch": batch, "macs": t["macs"],
                         "bytes": t["bytes"], "peak_flops": peaks.peak(prec),
                         "bandwidth": peaks.bandwidth, "flops_bound_s": f_bound,
                         "bytes_bound_s": b_bound,
                         "limit": "compute" if f_bound >= b_bound else "memory"})
    return rows


def roofline_reason(roof: list[dict], summary: dict, num: str, den: str,
                    mac_ratio: float) -> str:
    """Why the time ratio differs from the MAC ratio, per precision, in one sentence each:
    how close each variant runs to its roofline bound and which limit binds."""
    parts = []
    for prec, s in summary.items():
        tr = s["ratio"]["mean"]
        if tr is None:
            continue
        bound = {r["module"]: r for r in roof if r["precision"] == prec}
        eff = []
        for name in (num, den):
            t = s[name]["mean"]
            b = bound.get(name)
            if b and t:
                best = max(b["flops_bound_s"], b["bytes_bound_s"])
                eff.append(f"{name} runs at {100 * best / t:.0f}% of its {b['limit']} bound")
        verdict = ("close to" if 0.5 <= tr / mac_ratio <= 2 else "far from")
        parts.append(f"{prec}: time ratio {tr:.3f} is {verdict} the MAC ratio {mac_ratio:.3f}"
                     f" ({'; '.join(eff)})")
    return ". ".join(parts)
