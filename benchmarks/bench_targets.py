"""The speed targets of issue 5, measured side by side in one run: cnnzoo's fastest fp32
and bf16 paths against ONNX Runtime's CPU provider on the same model, batch 16.

    .venv/bin/python benchmarks/bench_targets.py [--models resnet50,resnet18,vgg16,mobilenet_v2]

All variants of a model are prepared first, then take turns (`--rounds`), so a burst of
load from other processes slows all of them alike. Writes benchmarks/results/
bench_targets.jsonl (every result) and bench_targets.md (the summary), and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

import cnnzoo
from cnnzoo.bench import benchmark, machine_peaks, useful_variants

RESULTS = Path(__file__).parent / "results"
# (fastest cnnzoo fp32 / ORT fp32, fastest cnnzoo bf16 / ORT fp32) the issue asks for.
TARGETS = {"resnet50": (1.0, 2.5), "resnet18": (1.0, 2.5), "vgg16": (1.0, None),
           "mobilenet_v2": (1.0, None)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(TARGETS))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for PyTorch and ONNX Runtime alike (default: torch's)")
    parser.add_argument("--summarise-only", action="store_true",
                        help="only rewrite the summary from the results log")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    peaks = machine_peaks("cpu")
    RESULTS.mkdir(exist_ok=True)
    log_path = RESULTS / "bench_targets.jsonl"
    if not args.summarise_only:
        with open(log_path, "a") as log:
            for name in args.models.split(","):
                load_before = os.getloadavg()
                results = benchmark(
                    cnnzoo.create_model(name), None, useful_variants("cpu"), [args.batch],
                    warmup=2, repeats=args.repeats, rounds=args.rounds, peaks=peaks,
                    progress=lambda d, t, label: print(f"[{d}/{t}] {label}", file=sys.stderr),
                )
                load = (load_before[0], os.getloadavg()[0])
                for r in results:
                    log.write(json.dumps({**r.record(), "load_1min": load}) + "\n")
    # The summary reads the log back, so a later, better peak measurement (load only ever
    # lowers one) also corrects the "% of peak" of earlier runs.
    threads = torch.get_num_threads()
    lines = [f"machine: {peaks.description}; best measured peaks fp32 "
             f"{peaks.flops['fp32'] / 1e9:.0f}, bf16 {peaks.flops['bf16'] / 1e9:.0f} GFLOP/s; "
             f"batch {args.batch}, {threads} thread(s)", "",
             "| model | path | images/s | x ORT fp32 | GFLOP/s | % of peak | target | met |",
             "|---|---|--:|--:|--:|--:|--:|---|"]
    runs: dict[str, list] = {}
    for line in log_path.read_text().splitlines():
        rec = json.loads(line)
        if rec["threads"] == threads and rec["batch_size"] == args.batch:
            runs.setdefault(rec["model"], []).append(rec)
    for name in args.models.split(","):
        recs = runs.get(name, [])[-len(useful_variants("cpu")):]  # the latest run
        if recs:
            lines += summarise(name, recs, peaks)
    text = "\n".join(lines)
    (RESULTS / f"bench_targets_{torch.get_num_threads()}t.md").write_text(text + "\n")
    print(text)
    return 0


def summarise(name: str, recs: list[dict], peaks: object) -> list[str]:
    ort = next(r for r in recs if r["backend"] == "onnxruntime")
    ours = [r for r in recs if r["backend"] != "onnxruntime"]
    fp32 = max((r for r in ours if r["precision"] == "fp32"), key=lambda r: r["images_per_s"])
    bf16 = max((r for r in ours if r["precision"] == "bf16"), key=lambda r: r["images_per_s"])
    t32, t16 = TARGETS.get(name, (None, None))
    rows = []
    for label, r, target in (
        ("ONNX Runtime fp32", ort, None),
        (f"fastest fp32: {fp32['backend']} {fp32['memory_format']}", fp32, t32),
        (f"fastest bf16: {bf16['backend']} {bf16['memory_format']}", bf16, t16),
    ):
        ratio = r["images_per_s"] / ort["images_per_s"]
        met = "-" if target is None else ("yes" if ratio >= target else "no")
        share = 100 * r["gflops"] * 1e9 / peaks.peak(r["precision"])  # type: ignore[attr-defined]
        rows.append(f"| {name} | {label} | {r['images_per_s']:.1f} | {ratio:.2f} | "
                    f"{r['gflops']:.0f} | {share:.0f} | "
                    f"{'-' if target is None else f'>= {target}'} | {met} |")
    others = ", ".join(f"{r['backend']}/{r['precision']}/{r['memory_format']} "
                       f"{r['images_per_s']:.1f}" for r in ours if r not in (fp32, bf16))
    load = ort["load_1min"]
    rows.append(f"| {name} | others (images/s) | {others} | | | | | |")
    rows.append(f"| {name} | load average (1 min) before/after | {load[0]:.1f} / {load[1]:.1f} "
                "| | | | | |")
    return rows


if __name__ == "__main__":
    sys.exit(main())
