"""Per-layer rooflines for the docs: each model's layers timed against this machine's
measured peaks, a PNG per run under docs/, and a summary by layer kind.

    .venv/bin/python benchmarks/bench_roofline.py [--runs mobilenet_v2:fp32,resnet50:bf16]

Writes docs/roofline_<model>_<precision>.png and benchmarks/results/roofline.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

import cnnzoo
from cnnzoo.bench import Variant, machine_peaks, per_layer
from cnnzoo.bench.plot import roofline_plot

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = ("mobilenet_v2:fp32,mobilenet_v2:bf16,resnet50:fp32,resnet50:bf16,resnet18:fp32,"
                "vgg16:fp32")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=DEFAULT_RUNS, help="model:precision,...")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", default="folded")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for PyTorch and ONNX Runtime alike (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    peaks = machine_peaks("cpu")
    out = [f"machine: {peaks.description}; peaks fp32 {peaks.flops['fp32'] / 1e9:.0f}, bf16 "
           f"{peaks.flops['bf16'] / 1e9:.0f} GFLOP/s, memory {peaks.bandwidth / 1e9:.1f} GB/s; "
           f"batch {args.batch}, {args.backend}, channels_last, median of {args.repeats}, "
           f"{torch.get_num_threads()} thread(s)", ""]
    for run in args.runs.split(","):
        name, precision = run.split(":")
        print(f"{name} {precision} ...", file=sys.stderr, flush=True)
        load0 = os.getloadavg()[0]
        model = cnnzoo.create_model(name)
        report = per_layer(model, cnnzoo.model_card(name).input_size,
                           Variant(args.backend, precision, "channels_last"), args.batch,
                           repeats=args.repeats, peaks=peaks)
        png = roofline_plot(report, ROOT / "docs" / f"roofline_{name}_{precision}.png")
        out += [f"### {name}, {precision} (load {load0:.1f} -> {os.getloadavg()[0]:.1f})", "",
                f"forward {1e3 * report.total_s:.0f} ms per batch without hooks; layers "
                f"sum to {1e3 * report.layer_sum_s:.0f} ms; plot: docs/{png.name}", "",
                "| kind | layers | ms | share | GFLOP/s | % of peak | median measured/bound |",
                "|---|--:|--:|--:|--:|--:|--:|"]
        peak = peaks.peak(precision) / 1e9
        for kind, v in sorted(report.by_kind().items(), key=lambda kv: -kv[1]["time_s"]):
            out.append(f"| {kind} | {v['layers']} | {1e3 * v['time_s']:.1f} | "
                       f"{100 * v['share']:.0f}% | {v['gflops']:.0f} | "
                       f"{100 * v['gflops'] / peak:.0f} | {v['median_ratio']:.1f} |")
        slow = sorted((r for r in report.layers if r.macs), key=lambda r: -r.time_s)[:5]
        out += ["", "slowest layers: " + "; ".join(
            f"{r.name} ({r.kind}, {1e3 * r.time_s:.1f} ms, {r.intensity:.0f} FLOP/B, "
            f"{r.achieved_flops / 1e9:.0f} GFLOP/s, {r.ratio:.1f}x bound, {r.limit}-bound)"
            for r in slow), ""]
    text = "\n".join(out)
    (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
    (ROOT / "benchmarks" / "results" / "roofline.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
