"""Fashion-MNIST (full 60k/10k) training runs: best test top-1, time to a target accuracy,
and bf16 against fp32. Each run is a plain `cnnzoo train` command (printed, so it can be
rerun by hand); the table is built from each run's metrics.jsonl.

    apt-get install -y dataset-fashion-mnist          # the data, on Debian/Ubuntu
    .venv/bin/python benchmarks/train_fashion.py               # every run (long)
    .venv/bin/python benchmarks/train_fashion.py --only resnet20-bf16,lenet5-fp32
    .venv/bin/python benchmarks/train_fashion.py --summary      # table of finished runs
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

COMMON = "--data fashion-mnist --no-progress"
_LENET = ("lenet5 --epochs 15 --batch-size 64 --optimizer adamw --lr 0.005 --weight-decay 0.01 "
          "--no-augment --threads 1")
RUNS: dict[str, tuple[str, float]] = {
    # name: (model and options, target top-1 whose time is recorded). One thread each: on
    # this shared 2-core machine two threads per process collapse under load.
    # LeNet-5 (60k parameters, tanh) underfits Fashion-MNIST: augmentation only slows it.
    "lenet5-fp32": (_LENET, 0.89),
    "lenet5-bf16": (_LENET + " --precision bf16", 0.89),
    "resnet20-bf16": ("resnet20 --image-size 28 --epochs 12 --batch-size 256 --lr 0.2 "
                      "--schedule onecycle --threads 1 --precision bf16", 0.93),
    "resnet20-fp32": ("resnet20 --image-size 28 --epochs 12 --batch-size 256 --lr 0.2 "
                      "--schedule onecycle --threads 1", 0.93),
    "mobilenet_v2-w0.5-bf16": ("mobilenet_v2 --width 0.5 --image-size 32 --epochs 12 "
                               "--batch-size 256 --lr 0.2 --schedule onecycle --threads 1 "
                               "--precision bf16", 0.93),
    # lr 0.2 diverged at the one-cycle peak (above); a gentler peak, in half the epochs.
    "mobilenet_v2-w0.5-bf16-lr0.05": ("mobilenet_v2 --width 0.5 --image-size 32 --epochs 6 "
                                      "--batch-size 256 --lr 0.05 --schedule onecycle "
                                      "--threads 1 --precision bf16", 0.93),
}


def command(name: str, root: Path) -> list[str]:
    spec, _ = RUNS[name]
    return ["cnnzoo", "train", *shlex.split(spec), *shlex.split(COMMON),
            "--out", str(root / name)]


def summary(name: str, root: Path) -> dict | None:
    path = root / name / "metrics.jsonl"
    if not path.is_file():
        return None
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not records:
        return None
    target = RUNS[name][1]
    best = max(records, key=lambda r: r["test_top1"])
    reached = next((r for r in records if r["test_top1"] >= target), None)
    return {
        "run": name,
        "epochs": len(records),
        "best_top1": best["test_top1"],
        "best_epoch": best["epoch"],
        "target": target,
        "time_to_target_s": reached["elapsed"] if reached else None,
        "total_s": records[-1]["elapsed"],
        "train_images_per_s": sorted(r["train_images_per_s"] for r in records)[len(records) // 2],
    }


def print_table(root: Path, names: list[str]) -> None:
    print("| run | epochs | best test top-1 | target | time to target | total time | "
          "median train img/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in names:
        s = summary(name, root)
        if s is None:
            print(f"| {name} | not run | | | | | |")
            continue
        to = "not reached" if s["time_to_target_s"] is None else f"{s['time_to_target_s']:.0f} s"
        print(f"| {name} | {s['epochs']} | {100 * s['best_top1']:.2f}% (epoch "
              f"{s['best_epoch']}) | {100 * s['target']:.0f}% | {to} | {s['total_s']:.0f} s | "
              f"{s['train_images_per_s']:,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated run names: " + ", ".join(RUNS))
    ap.add_argument("--root", default="runs/bench-fashion", help="where the runs go")
    ap.add_argument("--summary", action="store_true", help="only print the table")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        sys.exit(f"unknown run {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    root = Path(args.root)
    if not args.summary:
        bin_dir = Path(sys.executable).parent
        for name in names:
            if (root / name / "last.pt").exists():
                print(f"{name}: already run in {root / name} (delete it to rerun)")
                continue
            cmd = command(name, root)
            print("$ " + shlex.join(cmd), flush=True)
            load = os.getloadavg()
            subprocess.run([str(bin_dir / cmd[0]), *cmd[1:]], check=True)
            print(f"  load average before the run: {load[0]:.2f}", flush=True)
    print_table(root, names)


if __name__ == "__main__":
    main()
