"""Fashion-MNIST (full 60k/10k) training runs: best test top-1, time to a target accuracy,
and bf16 against fp32 over several seeds. Each run is a plain `cnnzoo train` command
(printed, so it can be rerun by hand); the tables are built from each run's metrics.jsonl
and the bench.json this script writes beside it (load average, whole-command wall time).

    apt-get install -y dataset-fashion-mnist          # the data, on Debian/Ubuntu
    .venv/bin/python benchmarks/train_fashion.py                       # every run, seed 0
    .venv/bin/python benchmarks/train_fashion.py --only resnet20-bf16,resnet20-fp32 --seeds 0,1,2
    .venv/bin/python benchmarks/train_fashion.py --summary --seeds 0,1,2   # tables only

Run on an otherwise idle machine: every run uses both cores (--threads 2).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cnnzoo.train.metrics import read_metrics

COMMON = "--data fashion-mnist --no-progress --threads 2"
# LeNet-5 (60k parameters, tanh) underfits Fashion-MNIST: augmentation only slows it.
_LENET = ("lenet5 --epochs 15 --batch-size 64 --optimizer adamw --lr 0.005 --weight-decay 0.01 "
          "--no-augment")
# resnet20 (0.27M parameters) underfits in a short run too: with the random crop it needed
# 10 epochs for 93%; without it, and with label smoothing, 6-7 (docs/benchmarks.md).
_RESNET20 = ("resnet20 --image-size 28 --epochs 7 --batch-size 256 --lr 0.2 --schedule onecycle "
             "--label-smoothing 0.1 --no-augment --channels-last")
# At lr 0.2 MobileNetV2 diverged at the one-cycle peak; 0.05 trains steadily.
_MOBILENET = ("mobilenet_v2 --width 0.5 --image-size 32 --epochs 8 --batch-size 256 --lr 0.05 "
              "--schedule onecycle --label-smoothing 0.1 --no-augment --channels-last")
RUNS: dict[str, tuple[str, float | None]] = {
    # name: (model and options, target top-1 whose time is recorded, if any)
    "lenet5-fp32": (_LENET, 0.89),
    "lenet5-bf16": (_LENET + " --precision bf16", 0.89),
    "resnet20-bf16": (_RESNET20 + " --precision bf16", 0.93),
    "resnet20-fp32": (_RESNET20, 0.93),
    "mobilenet_v2-w0.5-bf16": (_MOBILENET + " --precision bf16", None),
    "mobilenet_v2-w0.5-fp32": (_MOBILENET, None),
}


def run_dir(root: Path, name: str, seed: int) -> Path:
    return root / f"{name}-seed{seed}"


def command(name: str, seed: int, root: Path) -> list[str]:
    spec, _ = RUNS[name]
    return ["cnnzoo", "train", *shlex.split(spec), *shlex.split(COMMON), "--seed", str(seed),
            "--out", str(run_dir(root, name, seed))]


def run_one(name: str, seed: int, root: Path) -> None:
    out = run_dir(root, name, seed)
    if (out / "last.pt").exists():
        print(f"{name} seed {seed}: already run in {out} (delete it to rerun)")
        return
    cmd = command(name, seed, root)
    print("$ " + shlex.join(cmd), flush=True)
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / cmd[0]), *cmd[1:]], check=True)
    record = {"command": shlex.join(cmd), "wall_s": time.perf_counter() - t0,
              "load_before": load_before, "load_after": os.getloadavg()[0]}
    (out / "bench.json").write_text(json.dumps(record, indent=1) + "\n")


def summary(name: str, seed: int, root: Path) -> dict | None:
    out = run_dir(root, name, seed)
    records = read_metrics(out / "metrics.jsonl")
    if not records:
        return None
    target = RUNS[name][1]
    best = max(records, key=lambda r: r["test_top1"])
    reached = next((r for r in records if target and r["test_top1"] >= target), None)
    bench = json.loads((out / "bench.json").read_text()) if (out / "bench.json").is_file() else {}
    return {
        "run": name,
        "seed": seed,
        "epochs": len(records),
        "best_top1": best["test_top1"],
        "best_epoch": best["epoch"],
        "final_top1": records[-1]["test_top1"],
        "target": target,
        "time_to_target_s": reached["elapsed"] if reached else None,
        "epoch_to_target": reached["epoch"] if reached else None,
        "total_s": records[-1]["elapsed"],
        "wall_s": bench.get("wall_s"),
        "load": (bench.get("load_before"), bench.get("load_after")),
        "train_images_per_s": statistics.median(r["train_images_per_s"] for r in records),
        "curve": [r["test_top1"] for r in records],
    }


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def print_tables(root: Path, names: list[str], seeds: list[int]) -> None:
    print("| run | seed | best test top-1 | final | time to target | training time | "
          "whole command | median train img/s | load before/after |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    done: dict[str, list[dict]] = {}
    for name in names:
        for seed in seeds:
            s = summary(name, seed, root)
            if s is None:
                print(f"| {name} | {seed} | not run | | | | | | |")
                continue
            done.setdefault(name, []).append(s)
            if s["target"] is None:
                to = "-"
            elif s["time_to_target_s"] is None:
                to = f"{100 * s['target']:.0f}%: not reached"
            else:
                to = (f"{100 * s['target']:.0f}%: {s['time_to_target_s']:.0f} s "
                      f"(epoch {s['epoch_to_target']})")
            wall = "" if s["wall_s"] is None else f"{s['wall_s']:.0f} s"
            load = "" if s["load"][0] is None else f"{s['load'][0]:.1f} / {s['load'][1]:.1f}"
            print(f"| {name} | {seed} | {_pct(s['best_top1'])} (epoch {s['best_epoch']}) | "
                  f"{_pct(s['final_top1'])} | {to} | "
                  f"{s['total_s']:.0f} s | {wall} | {s['train_images_per_s']:,.0f} | {load} |")
    print("\nPer-epoch test top-1 (%):")
    for rows in done.values():
        for s in rows:
            curve = " ".join(f"{100 * a:.2f}" for a in s["curve"])
            print(f"- {s['run']} seed {s['seed']}: {curve}")
    print("\n| run | seeds | best top-1 mean (sd) | final mean | time to target, median |")
    print("|---|---:|---:|---:|---:|")
    for name, rows in done.items():
        best = [r["best_top1"] for r in rows]
        sd = statistics.stdev(best) if len(best) > 1 else 0.0
        times = [r["time_to_target_s"] for r in rows if r["time_to_target_s"] is not None]
        t = f"{statistics.median(times):.0f} s ({len(times)} of {len(rows)})" if times else "-"
        print(f"| {name} | {len(rows)} | {_pct(statistics.mean(best))} ({100 * sd:.2f}) | "
              f"{_pct(statistics.mean(r['final_top1'] for r in rows))} | {t} |")
    print("\nbf16 - fp32, in points (same seeds):")
    for name in done:
        twin = name.replace("-bf16", "-fp32")
        if not name.endswith("-bf16") or twin not in done:
            continue
        pairs = {r["seed"]: r for r in done[name]}
        common = [r for r in done[twin] if r["seed"] in pairs]
        for key in ("best_top1", "final_top1"):
            diff = statistics.mean(100 * (pairs[r["seed"]][key] - r[key]) for r in common)
            print(f"- {name.removesuffix('-bf16')}, {key.split('_')[0]} top-1 over "
                  f"{len(common)} seed(s): {diff:+.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated run names: " + ", ".join(RUNS))
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    ap.add_argument("--root", default="runs/bench-fashion", help="where the runs go")
    ap.add_argument("--summary", action="store_true", help="only print the tables")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        sys.exit(f"unknown run {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        sys.exit(f"--seeds {args.seeds!r}: give integers, e.g. 0,1,2")
    root = Path(args.root)
    if not args.summary:
        for seed in seeds:
            for name in names:
                run_one(name, seed, root)
    print_tables(root, names, seeds)


if __name__ == "__main__":
    main()
