"""v2-memory: MobileNetV2 passes small tensors between its blocks and expands only inside
them. Bytes at every block boundary and inside every block, v1 beside v2 at 224x224."""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator

from cnnzoo.blocks import DepthwiseSeparableConv, InvertedResidual
from cnnzoo.cost import profile
from cnnzoo.cost.measure import measure_inference_peak
from cnnzoo.factory import create_model
from cnnzoo.studies.base import (
    CONFIRMED,
    REFUTED,
    Figure,
    RawData,
    Study,
    StudyContext,
    Verdict,
)
from cnnzoo.studies.svg import grouped_bars

MODELS = ("mobilenet_v1", "mobilenet_v2")
SIZE = (3, 224, 224)
EXPANDS = 3.0  # inside a v2 block the widest tensor is at least this many times its output

STUDY = Study(
    id="v2-memory",
    claim="MobileNetV2's blocks take and pass on small (bottleneck) tensors and expand them "
          "only inside the block, so the memory held between blocks is small.",
    source="Sandler et al. 2018, MobileNetV2, sec. 5.1 (memory efficient inference) and "
           "Table 3 (max channels/memory at bottleneck)",
    experiment="Trace both models at 224x224 (fp32, batch 1) on the meta device: the bytes "
               "of every block's output (the boundary) and of the widest tensor inside each "
               "block; then the traced peak of live activations, and the peak measured by "
               "torch.profiler during one real forward pass.",
    tolerance=f"Confirmed if v2's largest and mean block-boundary tensors are both smaller "
              f"than v1's, and inside most v2 blocks the widest tensor is >= {EXPANDS:g}x "
              "the block's output; refuted otherwise. Peak memory is reported, not judged "
              "(the claim is about what passes between blocks).",
    quick_cost="~5 s", full_cost="~5 s",
    deviations="PyTorch eager keeps a block's input alive for the residual add and frees "
               "tensors when their last user is done; the paper's 'memory efficient "
               "inference' streams the expanded tensor in slices, which eager PyTorch does "
               "not, so the whole-model peak can still be reached inside a v2 block.",
)


def _block_names(model: object) -> list[str]:
    return [n for n, m in model.named_modules()  # type: ignore[attr-defined]
            if isinstance(m, (DepthwiseSeparableConv, InvertedResidual))]


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """torch.profiler's native layer prints 'profiler_start/stop' lines straight to file
    descriptor 2; they are noise in a study's progress output."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run(ctx: StudyContext) -> None:
    rows, peaks = [], []
    for name in MODELS:
        meta = create_model(name, device="meta")
        p = profile(meta, SIZE)
        elem = 4
        for i, block in enumerate(_block_names(meta)):  # the rows measured inside each block
            layers = [r for r in p.layers if r.name.startswith(block + ".")]
            out_shape = layers[-1].output_shape
            rows.append({
                "model": name, "index": i + 1, "block": block,
                "boundary_shape": "x".join(map(str, out_shape)),
                "boundary_bytes": math.prod(out_shape) * elem,
                "inside_bytes": max(math.prod(r.output_shape) * elem for r in layers),
                "input_bytes": math.prod(layers[0].input_shape) * elem,
            })
        real = create_model(name)
        peaks.append({"model": name, "traced_peak_bytes": p.peak_activation_bytes,
                      "traced_peak_at": p.peak_at,
                      "measured_peak_bytes": _measured_peak(real)})
    ctx.write_csv("blocks", rows)
    ctx.write_csv("peaks", peaks)


def _measured_peak(model: object) -> int:
    with _quiet_native_stderr():
        return measure_inference_peak(model, SIZE)  # type: ignore[arg-type]


def measure(raw: RawData) -> dict:
    rows = raw.csv("blocks")
    out = {}
    for name in MODELS:
        mine = [r for r in rows if r["model"] == name]
        boundary = [int(r["boundary_bytes"]) for r in mine]
        inside = [int(r["inside_bytes"]) / int(r["boundary_bytes"]) for r in mine]
        out[name] = {"blocks": len(mine), "max_boundary": max(boundary),
                     "mean_boundary": sum(boundary) / len(boundary),
                     "expanding_blocks": sum(x >= EXPANDS for x in inside),
                     "max_inside": max(int(r["inside_bytes"]) for r in mine)}
    for r in raw.csv("peaks"):
        out[r["model"]].update({"traced_peak": int(r["traced_peak_bytes"]),
                                "traced_peak_at": r["traced_peak_at"],
                                "measured_peak": int(r["measured_peak_bytes"])})
    return out


def _mib(n: float) -> str:
    return f"{n / 2**20:.2f} MiB"


def verdict(m: dict) -> Verdict:
    v1, v2 = m["mobilenet_v1"], m["mobilenet_v2"]
    key = (f"largest boundary v1 {_mib(v1['max_boundary'])} vs v2 {_mib(v2['max_boundary'])}; "
           f"peak traced v1 {_mib(v1['traced_peak'])} vs v2 {_mib(v2['traced_peak'])}")
    peaks = (f"Peak live activations (traced / measured): v1 {_mib(v1['traced_peak'])} / "
             f"{_mib(v1['measured_peak'])}, v2 {_mib(v2['traced_peak'])} / "
             f"{_mib(v2['measured_peak'])}, v2's reached inside {v2['traced_peak_at']}")
    problems = []
    if v2["max_boundary"] >= v1["max_boundary"]:
        problems.append("v2's largest boundary tensor is not smaller than v1's")
    if v2["mean_boundary"] >= v1["mean_boundary"]:
        problems.append("v2's mean boundary tensor is not smaller than v1's")
    if v2["expanding_blocks"] * 2 <= v2["blocks"]:
        problems.append(f"only {v2['expanding_blocks']} of {v2['blocks']} v2 blocks expand "
                        f">= {EXPANDS:g}x inside")
    if problems:
        return Verdict(REFUTED, key, "; ".join(problems) + ". " + peaks)
    lower = "lower" if v2["traced_peak"] < v1["traced_peak"] else "not lower"
    return Verdict(CONFIRMED, key, f"between blocks v2 holds {v2['mean_boundary'] / 2**20:.2f}"
                   f" MiB on average vs v1's {v1['mean_boundary'] / 2**20:.2f} MiB, and "
                   f"{v2['expanding_blocks']} of {v2['blocks']} v2 blocks expand >= "
                   f"{EXPANDS:g}x inside. But the whole-model peak is {lower} for v2 in eager "
                   f"PyTorch: the expansion inside a block is where it peaks. {peaks}")


def figures(raw: RawData, m: dict) -> list[Figure]:
    rows = raw.csv("blocks")
    figs = []
    for name in MODELS:
        mine = [r for r in rows if r["model"] == name]
        figs.append(Figure(f"{name}: bytes per block", grouped_bars(
            [str(r["index"]) for r in mine],
            {"block output (boundary)": [int(r["boundary_bytes"]) / 2**20 for r in mine],
             "widest inside the block": [int(r["inside_bytes"]) / 2**20 for r in mine]},
            title=f"{name} at 224x224, fp32, batch 1", xlabel="block",
            ylabel="MiB", width=760)))
    return figs
