"""Crash benchmark: kill training at random moments, resume, and compare with a clean run.

    nice python benchmarks/crash_train.py [--kills 20] [--terms 5] [--seed 0]

Each trial starts `cnnzoo train lenet5` on the embedded MNIST sample in a fresh folder, waits
until training has begun, sends SIGKILL (or SIGTERM) after a random delay within the run's
length, inspects the folder (does last.pt load? does best.safetensors match the epoch
last.pt calls best, or is it legitimately ahead? which temporary files were left?), then
resumes (or restarts when no checkpoint was written yet) to the end and compares the final
state with an uninterrupted run bit for bit: weights, optimizer state, history, metrics
lines and best weights. Results go to benchmarks/results/crash_train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

RUN = ["lenet5", "--data", "mnist", "--limit-train", "512", "--limit-test", "128",
       "--batch-size", "32", "--epochs", "3", "--optimizer", "adamw", "--lr", "0.002",
       "--threads", "1", "--seed", "3",
       "--no-progress"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TEMP_GLOBS = (".*.tmp", ".*.tmp.*")


def start(out: Path, *extra: str) -> tuple[subprocess.Popen, threading.Event, list[str]]:
    args = [sys.executable, "-m", "cnnzoo", "train", *extra] if extra else \
        [sys.executable, "-m", "cnnzoo", "train", *RUN, "--out", str(out)]
    proc = subprocess.Popen(args, env=ENV, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    begun, lines = threading.Event(), []

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith(("training ", "resumed from")):
                begun.set()
        begun.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, begun, lines


def finish(out: Path, resume: bool) -> tuple[int, str]:
    proc, _, lines = start(out, "--resume", str(out), "--no-progress") if resume \
        else start(out)
    proc.wait()
    time.sleep(0.05)
    return proc.returncode, "".join(lines)


def orphans(out: Path) -> list[str]:
    return sorted(p.name for g in TEMP_GLOBS for p in out.glob(g))


def best_epoch_of(path: Path) -> int | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return int(json.loads((f.metadata() or {})["epoch"]))
    except Exception:  # noqa: BLE001 - missing, unreadable or torn: reported as such
        return None


def inspect(out: Path) -> dict:
    """The folder right after the kill, before anything touches it."""
    seen = {"last": None, "corrupt": False, "stale_best": False, "orphans": orphans(out),
            "lock_left": (out / ".lock").exists()}
    if not (out / "last.pt").exists():
        return seen
    try:
        last = torch.load(out / "last.pt", weights_only=True)
    except Exception:  # noqa: BLE001
        seen["corrupt"] = True
        return seen
    seen["last"] = {"epoch": last["epoch"], "batch": last["batch"],
                    "best_epoch": last["best"]["epoch"]}
    have = best_epoch_of(out / "best.safetensors")
    claimed, done = last["best"]["epoch"], last["epoch"]
    # Ahead (a kill between the best and last.pt writes) is consistent: that epoch is redone.
    seen["best_file_epoch"] = have
    seen["stale_best"] = claimed >= 1 and have != claimed and not (have or 0) > done
    return seen


def same_final(ref: Path, out: Path) -> list[str]:
    a = torch.load(ref / "last.pt", weights_only=True)
    b = torch.load(out / "last.pt", weights_only=True)
    diffs = [k for k, v in a["model"].items() if not torch.equal(v, b["model"][k])]
    for i, s in a["optimizer"]["state"].items():
        for key, v in s.items():
            if torch.is_tensor(v) and not torch.equal(v, b["optimizer"]["state"][i][key]):
                diffs.append(f"optimizer.{i}.{key}")
    for key in ("test_top1", "train_loss", "test_loss"):
        if [r[key] for r in a["history"]] != [r[key] for r in b["history"]]:
            diffs.append(f"history.{key}")
    if len((out / "metrics.jsonl").read_text().splitlines()) != a["epoch"]:
        diffs.append("metrics.jsonl lines")
    from safetensors.torch import load_file

    wa, wb = load_file(ref / "best.safetensors"), load_file(out / "best.safetensors")
    diffs += [f"best.{k}" for k, v in wa.items() if not torch.equal(v, wb[k])]
    return diffs


def trial(ref: Path, root: Path, sig: int, span: float, rng: random.Random, i: int) -> dict:
    out = root / f"trial{i:02d}"
    proc, begun, lines = start(out)
    begun.wait(600)
    delay = rng.uniform(0, span)
    time.sleep(delay)
    proc.send_signal(sig)
    proc.wait()
    time.sleep(0.05)
    record = {"signal": signal.Signals(sig).name, "delay_s": round(delay, 3),
              "exit": proc.returncode, "finished_before_signal": proc.returncode == 0}
    record.update(inspect(out))
    if sig == signal.SIGTERM and proc.returncode != 0:
        text = "".join(lines)
        record["clean_exit"] = proc.returncode in (130, 143) and "Traceback" not in text
    resume = record["last"] is not None and not record["corrupt"]
    if not record["finished_before_signal"]:
        code, text = finish(out, resume)
        record["resumed"], record["resume_exit"] = resume, code
        if code != 0:
            record["resume_output"] = text[-800:]
    record["orphans_after"] = orphans(out) + ([".lock"] if (out / ".lock").exists() else [])
    record["differs"] = same_final(ref, out) if (out / "last.pt").exists() else ["no last.pt"]
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--terms", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="benchmarks/results/crash_train.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="crash-train-") as tmp:
        root = Path(tmp)
        ref = root / "reference"
        proc, begun, lines = start(ref)
        begun.wait(600)
        t0 = time.monotonic()
        proc.wait()
        span = time.monotonic() - t0
        assert proc.returncode == 0, "".join(lines)
        print(f"reference run: {span:.1f} s of training after start-up", flush=True)
        signals = [signal.SIGKILL] * args.kills + [signal.SIGTERM] * args.terms
        rng.shuffle(signals)
        records = []
        for i, sig in enumerate(signals):
            r = trial(ref, root, sig, span, rng, i)
            records.append(r)
            last = r["last"] or {}
            print(f"{i:2d} {r['signal']:7s} after {r['delay_s']:5.1f} s: exit {r['exit']}, "
                  f"last.pt {'corrupt' if r['corrupt'] else last or 'none'}, "
                  f"orphans {len(r['orphans'])}, stale best {r['stale_best']}, "
                  f"resume exit {r.get('resume_exit', '-')}, "
                  f"differs {r['differs'] or 'no'}", flush=True)
    summary = {
        "trials": len(records),
        "sigkill": sum(r["signal"] == "SIGKILL" for r in records),
        "sigterm": sum(r["signal"] == "SIGTERM" for r in records),
        "landed_after_finish": sum(r["finished_before_signal"] for r in records),
        "landed_mid_epoch": sum(bool(r["last"] and r["last"]["batch"]) for r in records),
        "before_first_checkpoint": sum(r["last"] is None and not r["finished_before_signal"]
                                       for r in records),
        "corrupt_checkpoints": sum(r["corrupt"] for r in records),
        "stale_best": sum(r["stale_best"] for r in records),
        "best_ahead_of_last": sum((r.get("best_file_epoch") or 0) > (r["last"] or {}).get(
            "epoch", 99) for r in records),
        "temporaries_left_by_kill": sum(bool(r["orphans"]) for r in records),
        "orphans_after_resume": sum(bool(r["orphans_after"]) for r in records),
        "sigterm_clean_exits": sum(bool(r.get("clean_exit")) for r in records),
        "resume_failures": sum(r.get("resume_exit", 0) != 0 for r in records),
        "final_differs": sum(bool(r["differs"]) for r in records),
        "reference_training_s": round(span, 1),
    }
    print(json.dumps(summary, indent=1))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"summary": summary, "trials": records}, indent=1))


if __name__ == "__main__":
    main()
