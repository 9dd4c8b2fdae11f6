"""The model recipes as a newcomer runs them: `cnnzoo train NAME --data D` with no other
training flag, timed, with the load of the machine beside each figure.

Each run appends one JSON line to benchmarks/results/train_recipes.jsonl (the command, the
recipe the run recorded, threads, load average before and after, wall time, training time,
best and final test top-1, time to the target) and the Markdown table
benchmarks/results/train_recipes.md is rebuilt from all the lines.

    .venv/bin/python benchmarks/train_recipes.py                   # every run below
    .venv/bin/python benchmarks/train_recipes.py --only lenet5-mnist,resnet20-fashion-1epoch
    .venv/bin/python benchmarks/train_recipes.py --table           # the table only

Fashion-MNIST runs need Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist).
Timing runs use --threads 2 (both cores) and no `nice`: on a shared machine, read the load.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from cnnzoo.train.metrics import read_metrics

RESULTS = Path(__file__).parent / "results"
# name: (what follows `cnnzoo train`, target test top-1, target wall seconds)
RUNS: dict[str, tuple[str, float | None, float | None]] = {
    "lenet5-mnist": ("lenet5 --data mnist", 0.985, 90),
    "lenet5-mnist-1epoch": ("lenet5 --data mnist --epochs 1", None, None),
    "resnet20-fashion": ("resnet20 --data fashion-mnist", 0.93, 300),
    "resnet20-fashion-1epoch": ("resnet20 --data fashion-mnist --epochs 1", None, None),
    "lenet5-fashion-1epoch": ("lenet5 --data fashion-mnist --epochs 1", None, None),
    "mobilenet_v2-fashion-1epoch": ("mobilenet_v2 --data fashion-mnist --epochs 1", None, None),
    "googlenet-fashion-1epoch": ("googlenet --data fashion-mnist --epochs 1", None, None),
    "mobilenet_v2-fashion": ("mobilenet_v2 --data fashion-mnist", None, None),
    "googlenet-fashion": ("googlenet --data fashion-mnist", None, None),
}


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def run_one(name: str, root: Path, threads: int) -> dict:
    spec, target, target_s = RUNS[name]
    out = root / name
    if out.exists():
        raise SystemExit(f"{out} exists: delete it to rerun {name}")
    cmd = ["cnnzoo", "train", *shlex.split(spec), "--threads", str(threads), "--no-progress",
           "--out", str(out)]
    print("$ " + shlex.join(cmd), flush=True)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / cmd[0]), *cmd[1:]],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    print(done.stdout[-2000:], done.stderr[-2000:], sep="", flush=True)
    records = read_metrics(out / "metrics.jsonl") if (out / "metrics.jsonl").exists() else []
    recipe_line = next((ln for ln in done.stdout.splitlines() if ln.startswith("recipe")), "")
    config = torch.load(out / "last.pt", weights_only=True)["config"] if records else {}
    reached = next((r for r in records if target and r["test_top1"] >= target), None)
    best = max(records, key=lambda r: r["test_top1"]) if records else None
    return {
        "run": name, "command": shlex.join(cmd), "exit": done.returncode,
        "recipe": config.get("recipe"), "recipe_line": recipe_line, "threads": threads,
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in load_after], "cpus": os.cpu_count(),
        "wall_s": round(wall, 1),
        "train_s": round(records[-1]["elapsed"], 1) if records else None,
        "epochs": len(records),
        "best_top1": best["test_top1"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "final_top1": records[-1]["test_top1"] if records else None,
        "curve": [round(r["test_top1"], 4) for r in records],
        "target_top1": target, "target_s": target_s,
        "time_to_target_s": round(reached["elapsed"], 1) if reached else None,
        "commit": _commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def table(lines: list[dict]) -> str:
    rows = ["| run | recipe | threads | load 1-min before / after | wall | training | best "
            "test top-1 | final | target | met? |", "|---|---|---:|---:|---:|---:|---:|---:|"
            "---|---|"]
    for r in lines:
        target = "-"
        met = "-"
        if r["target_top1"]:
            target = f">= {100 * r['target_top1']:g}% in <= {r['target_s']:g} s"
            accurate = (r["best_top1"] or 0) >= r["target_top1"]
            fast = r["wall_s"] <= r["target_s"]
            met = ("yes" if accurate and fast else
                   "accuracy yes, time no" if accurate else "no")
        rows.append(
            f"| {r['run']} | {r['recipe']} | {r['threads']} | {r['load_before'][0]:.1f} / "
            f"{r['load_after'][0]:.1f} | {r['wall_s']:.0f} s | "
            f"{r['train_s'] or 0:.0f} s | {_pct(r['best_top1'])} (epoch {r['best_epoch']}) | "
            f"{_pct(r['final_top1'])} | {target} | {met} |")
    rows.append("")
    rows += [f"- `{r['command']}` ({r['date']}, commit {r['commit']}): per-epoch test top-1 "
             + " ".join(f"{100 * a:.2f}" for a in r["curve"]) for r in lines]
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated run names: " + ", ".join(RUNS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--root", default="runs/bench-recipes", help="where the runs go")
    ap.add_argument("--table", action="store_true", help="only rebuild and print the table")
    args = ap.parse_args()
    names = args.only.split(",") if args.only else list(RUNS)
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        sys.exit(f"unknown run {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    log = RESULTS / "train_recipes.jsonl"
    if not args.table:
        for name in names:
            record = run_one(name, Path(args.root), args.threads)
            with log.open("a") as f:
                f.write(json.dumps(record) + "\n")
            (RESULTS / "train_recipes.md").write_text(table(_read(log)))
    text = table(_read(log))
    (RESULTS / "train_recipes.md").write_text(text)
    print(text)


def _read(path: Path) -> list[dict]:
    return [json.loads(ln) for ln in path.read_text().splitlines()] if path.exists() else []


if __name__ == "__main__":
    main()
