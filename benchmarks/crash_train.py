"""Crash benchmark: kill training at random moments, resume, and compare with a clean run.

    nice python benchmarks/crash_train.py [--kills 20] [--terms 5] [--seed 0]

Each trial starts `cnnzoo train lenet5` on the embedded MNIST sample in a fresh folder, its
stderr a pseudo terminal so that it draws its progress bar, and follows that bar: the signal
(SIGKILL or SIGTERM) goes at a random moment of training, drawn from the run's progress
rather than the clock (80% of the trials: a random moment inside a random epoch, extrapolated
from the bar's last redraw; 20%: just after an epoch's last step, while it evaluates and
writes its checkpoints), so every signal meets a live trainer under any load. It then inspects the
folder (does last.pt load? does best.safetensors match the epoch
last.pt calls best, or is it legitimately ahead? which temporary files were left?), then
resumes (or restarts when no checkpoint was written yet) to the end and compares the final
state with an uninterrupted run bit for bit: weights, optimizer state, history, metrics
lines and best weights. Results go to benchmarks/results/crash_train.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pty
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

RUN = ["lenet5", "--data", "mnist", "--limit-train", "1024", "--limit-test", "128",
       "--batch-size", "16", "--epochs", "3", "--optimizer", "adamw", "--lr", "0.002",
       "--threads", "1", "--seed", "3"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TEMP_GLOBS = (".*.tmp", ".*.tmp.*")
# The progress bar cnnzoo draws on a terminal: 'epoch 2/3 [###...] 17/64 ... ETA 00:01'
# while the epoch trains, the same line with the elapsed time instead of 'ETA' at its end.
BAR = re.compile(r"epoch (\d+)/\d+ \[[#.]*\] (\d+)/(\d+) ")
MID_EPOCH_SHARE = 0.8  # the other signals land as an epoch closes: evaluation and writes


class Progress:
    """Where a training process is, read from the progress bar it draws on a pseudo
    terminal (redrawn every 0.2 s, and always at an epoch's end)."""

    def __init__(self) -> None:
        self.epoch, self.step, self.total, self.closed = 0, 0, 0, False
        self.began: float | None = None
        self.marks: list[tuple[float, int, int, bool]] = []  # (time, epoch, step, closed)
        self.changed = threading.Condition()

    def feed(self, text: str) -> None:
        m = BAR.search(text)
        if not m:
            return
        with self.changed:
            self.epoch, self.step, self.total = int(m[1]), int(m[2]), int(m[3])
            self.closed = " ETA " not in text
            self.marks.append((time.monotonic(), self.epoch, self.step, self.closed))
            self.changed.notify_all()

    def snapshot(self) -> dict:
        return {"epoch": self.epoch, "step": self.step, "steps": self.total,
                "closed": self.closed}

    def wait(self, done: Callable[[Progress], bool], proc: subprocess.Popen) -> None:
        with self.changed:
            while not done(self) and proc.poll() is None:
                self.changed.wait(0.05)


def start(out: Path, *extra: str) -> tuple[subprocess.Popen, threading.Event, list[str],
                                            Progress]:
    args = [sys.executable, "-m", "cnnzoo", "train", *extra] if extra else \
        [sys.executable, "-m", "cnnzoo", "train", *RUN, "--out", str(out)]
    master, slave = pty.openpty()  # stderr a terminal: the progress bar is drawn
    proc = subprocess.Popen(args, env=ENV, text=True, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    begun, lines, progress = threading.Event(), [], Progress()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith(("training ", "resumed from")):
                progress.began = time.monotonic()
                begun.set()
        begun.set()

    def read_bar() -> None:
        pending = ""
        while True:
            try:
                chunk = os.read(master, 4096).decode(errors="replace")
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            *parts, pending = re.split(r"[\r\n]", pending + chunk)
            for part in parts:
                if "Traceback" in part or "Error" in part:
                    lines.append(part + "\n")
                progress.feed(part)
        os.close(master)

    threading.Thread(target=read, daemon=True).start()
    threading.Thread(target=read_bar, daemon=True).start()
    return proc, begun, lines, progress


def finish(out: Path, resume: bool) -> tuple[int, str]:
    proc, _, lines, _ = start(out, "--resume", str(out)) if resume else start(out)
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


def step_seconds(progress: Progress) -> float:
    """One training step's duration in a run, from its bar's redraws within epochs."""
    rates = []
    for (t0, e0, s0, c0), (t1, e1, s1, _) in zip(progress.marks, progress.marks[1:],
                                                     strict=False):
        if e0 == e1 and not c0 and s1 > s0:
            rates.append((t1 - t0) / (s1 - s0))
    return sorted(rates)[len(rates) // 2] if rates else 0.05


def target(rng: random.Random, epochs: int, steps: int, mid: bool, step_s: float) -> dict:
    """A moment of training: after step `step` of `epoch` and a random part of the next
    step, or (step None) a random moment of the evaluation and writes after `epoch`. Steps
    stop short of the epoch's end by the bar's redraw interval (0.2 s) and a step: a target
    there would be passed before the watcher sees it."""
    epoch = rng.randint(1, epochs)
    if mid:
        margin = math.ceil(0.2 / step_s) + 1
        return {"epoch": epoch, "step": rng.randint(1, max(1, steps - margin)),
                "within_step": rng.random()}
    return {"epoch": epoch, "step": None, "after_close_s": rng.uniform(0, 0.3)}


def wait_for_step(progress: Progress, aim: dict, step_s: float,
                  proc: subprocess.Popen) -> None:
    """Until the run is `within_step` into the step after `step` of `epoch`: extrapolated
    from the bar's last redraw, which comes only every 0.2 s (or until the epoch closes)."""
    e = aim["epoch"]
    with progress.changed:
        while proc.poll() is None:
            if progress.epoch > e or (progress.epoch == e and progress.closed):
                return
            if progress.epoch == e and progress.marks:
                t, _, k, _ = progress.marks[-1]
                ahead = max(0.0, aim["step"] - k + aim["within_step"]) * step_s
                if time.monotonic() >= t + ahead:
                    return
            progress.changed.wait(0.005)


def trial(ref: Path, root: Path, sig: int, aim: dict, step_s: float, i: int) -> dict:
    out = root / f"trial{i:02d}"
    proc, begun, lines, progress = start(out)
    begun.wait(600)
    e = aim["epoch"]
    if aim["step"] is None:
        progress.wait(lambda p: p.epoch > e or (p.epoch == e and p.closed), proc)
        time.sleep(aim["after_close_s"])
    else:
        wait_for_step(progress, aim, step_s, proc)
    alive = proc.poll() is None
    at_signal = progress.snapshot()
    if alive:
        proc.send_signal(sig)
    proc.wait()
    time.sleep(0.1)  # let the readers drain what the process wrote before it died
    after = progress.snapshot()
    # Where the signal landed: a SIGKILL'd process stops where it is (its last bar says
    # where); a SIGTERM'd one closes its bar as it stops, so the moment of sending counts.
    where = after if sig == signal.SIGKILL else at_signal
    landed = ("after finish" if not alive else "mid-epoch" if not where["closed"]
              else "between epochs")
    record = {"signal": signal.Signals(sig).name, "aim": aim, "at_signal": at_signal,
              "last_bar": after, "landed": landed, "exit": proc.returncode,
              "finished_before_signal": not alive}
    record.update(inspect(out))
    if sig == signal.SIGTERM and alive:
        text = "".join(lines)
        record["clean_exit"] = proc.returncode in (130, 143) and "Traceback" not in text
    resume = record["last"] is not None and not record["corrupt"]
    if alive:
        code, text = finish(out, resume)
        record["resumed"], record["resume_exit"] = resume, code
        if code != 0:
            record["resume_output"] = text[-800:]
    record["orphans_after"] = orphans(out) + ([".lock"] if (out / ".lock").exists() else [])
    record["differs"] = same_final(ref, out) if (out / "last.pt").exists() else ["no last.pt"]
    return record


def summarise(records: list[dict], run: dict) -> dict:
    """The counts the issue asks for, over the trials so far."""
    return {
        "trials": len(records),
        "sigkill": sum(r["signal"] == "SIGKILL" for r in records),
        "sigterm": sum(r["signal"] == "SIGTERM" for r in records),
        "landed_after_finish": sum(r["finished_before_signal"] for r in records),
        "landed_mid_epoch": sum(r["landed"] == "mid-epoch" for r in records),
        "landed_between_epochs": sum(r["landed"] == "between epochs" for r in records),
        "sigterm_saved_mid_epoch": sum(bool(r["signal"] == "SIGTERM" and r["last"]
                                            and r["last"]["batch"]) for r in records),
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
        **run,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--terms", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="benchmarks/results/crash_train.json")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="crash-train-") as tmp:
        root = Path(tmp)
        ref = root / "reference"
        proc, begun, lines, progress = start(ref)
        begun.wait(600)
        t0 = time.monotonic()
        proc.wait()
        span = time.monotonic() - t0
        assert proc.returncode == 0, "".join(lines)
        epochs, steps, step_s = progress.epoch, progress.total, step_seconds(progress)
        print(f"reference run: {span:.1f} s of training after start-up, {epochs} epochs of "
              f"{steps} steps, {1000 * step_s:.0f} ms a step", flush=True)
        signals = [signal.SIGKILL] * args.kills + [signal.SIGTERM] * args.terms
        rng.shuffle(signals)
        mids = round(MID_EPOCH_SHARE * len(signals))  # exactly this share, in random order
        mid_aims = [True] * mids + [False] * (len(signals) - mids)
        rng.shuffle(mid_aims)
        records: list[dict] = []
        t_all = time.monotonic()
        run = {"reference_training_s": round(span, 1), "reference_step_ms": round(
            1000 * step_s, 1), "threads": 1, "load_at_start": round(load0, 2)}
        for i, sig in enumerate(signals):
            r = trial(ref, root, sig, target(rng, epochs, steps, mid_aims[i], step_s), step_s,
                      i)
            records.append(r)
            last = r["last"] or {}
            bar = r["last_bar"] if r["signal"] == "SIGKILL" else r["at_signal"]
            print(f"{i:2d} {r['signal']:7s} {r['landed']:14s} (epoch {bar['epoch']}, step "
                  f"{bar['step']}/{bar['steps']}): exit {r['exit']}, "
                  f"last.pt {'corrupt' if r['corrupt'] else last or 'none'}, "
                  f"orphans {len(r['orphans'])}, stale best {r['stale_best']}, "
                  f"resume exit {r.get('resume_exit', '-')}, "
                  f"differs {r['differs'] or 'no'}", flush=True)
            # Written after every trial: a stopped benchmark keeps what it measured.
            run["benchmark_s"] = round(time.monotonic() - t_all, 1)
            run["load_now"] = round(os.getloadavg()[0], 2)
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(
                {"summary": summarise(records, run), "trials": records}, indent=1))
    print(json.dumps(summarise(records, run), indent=1))


if __name__ == "__main__":
    main()
