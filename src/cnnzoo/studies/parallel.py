"""Several of a study's training runs at once, each in its own process with a share of the
cores: small nets use two threads poorly, so on 2 CPU cores two runs of one thread each
finish sooner than the same runs one after another with two threads
(docs/benchmarks.md#case-studies-several-runs-at-once).

Each worker process trains one plan line by cnnzoo.studies.plan.run_entry (RunCache.train),
the one way a run is trained and recorded, also by `study exec`, Ray and Slurm, so a study's
own train() calls afterwards find every run finished in the cache. A run that fails
in a worker is left to that later call, which resumes it in the study's process and raises
its error where the study can report it. Ctrl-C (or SIGTERM) stops every worker at its next
step boundary, after it has saved; rerunning resumes them.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from cnnzoo.load import TAKEN, cores, others_busy
from cnnzoo.studies.cache import DONE, Planned, RunCache
from cnnzoo.studies.plan import PlanEntry, entry_of, run_entry
from cnnzoo.train.rundir import interrupts

STOP_GRACE_S = 600  # how long workers get to save after Ctrl-C before they are killed


def default_jobs() -> int:
    """Runs at once when none is asked for: one per core on CPU (each run has one thread),
    one where a GPU does the work."""
    if torch.cuda.is_available():
        return 1
    return max(1, os.cpu_count() or 1)


def train_in_parallel(cache: RunCache, plan: Sequence[Planned], jobs: int) -> None:
    """Train the unfinished runs of `plan`, `jobs` at a time (see run_locally)."""
    # Finished runs are skipped before entry_of estimates their cost (a trace of the model).
    pending = [entry_of(cache, p) for p in plan if cache.get(cache.config(
        p.model, p.data, seed=p.seed, **p.fields)) is None]
    if jobs >= 2 and len(pending) >= 2:
        run_locally(pending, jobs, cache.log)


class ParallelRunCache(RunCache):
    """The run cache of `cnnzoo study run --jobs N`: train_all trains the unfinished runs
    `jobs` at a time, each in its own process."""

    def train_all(self, plan: Sequence[Planned]) -> None:
        train_in_parallel(self, plan, self.jobs)


def run_locally(entries: Sequence[PlanEntry], jobs: int,
                log: Callable[[str], None] = print) -> None:
    """Train plan lines `jobs` at a time, each in its own process, the longest first by
    their estimated time (so the last to finish is a short one). Returns when all
    have ended, finished or failed."""
    jobs = min(jobs, len(entries))
    queue = sorted(entries, key=_cpu_s, reverse=True)
    threads = max(e.config.get("threads") or 1 for e in entries)
    log(f"training {len(queue)} runs, {jobs} at a time with {threads} thread"
        f"{'s' if threads > 1 else ''} each" + first_estimate(queue, jobs, others_busy()))
    start = _start_method()
    running: dict[multiprocessing.process.BaseProcess, tuple[PlanEntry, float]] = {}
    total, ended = len(queue), 0
    pace = _Pace(jobs)
    arms = arm_labels(queue)
    # Ctrl-C and SIGTERM stop the workers (also where SIGINT came in ignored, which would
    # leave them training on).
    with interrupts(signal.SIGINT, signal.SIGTERM):
        try:
            while queue or running:
                while queue and len(running) < jobs:
                    entry = queue.pop(0)
                    worker = start.Process(target=_train_one, daemon=True, args=(entry,))
                    worker.start()
                    running[worker] = (entry, time.monotonic())
                time.sleep(0.2)
                for worker in [w for w in running if not w.is_alive()]:
                    entry, began = running.pop(worker)
                    ended += 1
                    seconds = time.monotonic() - began
                    finished = (Path(entry.root) / entry.hash / DONE).is_file()
                    if finished:  # a run that failed at once says nothing of the pace
                        pace.add(entry, seconds)
                    left = pace.left([*queue, *(e for e, _ in running.values())])
                    log(_ended_line(entry, arms.get(entry.hash, ""), finished, seconds,
                                    ended, total) + left)
        except KeyboardInterrupt:
            _stop(list(running))
            raise


def _cpu_s(entry: PlanEntry) -> float:
    """The run's estimated seconds on one thread (plan.cpu_seconds): every entry here was
    just planned, so its cost holds them."""
    return entry.cost["cpu_hours"] * 3600


class _Pace:
    """How long the runs left will take: their estimated times, scaled by what the ended
    ones took against theirs (a learner waiting minutes wants to know how many)."""

    def __init__(self, jobs: int) -> None:
        self.jobs, self.estimated, self.seconds, self.runs = jobs, 0.0, 0.0, 0

    def add(self, entry: PlanEntry, seconds: float) -> None:
        self.estimated += _cpu_s(entry)
        self.seconds += seconds
        self.runs += 1

    def left(self, pending: Sequence[PlanEntry]) -> str:
        if self.runs < 2 or not pending or self.estimated <= 0:
            return ""
        seconds = sum(map(_cpu_s, pending)) * self.seconds / self.estimated / self.jobs
        return f"; about {max(1, round(seconds / 60))} min of training left" \
            if seconds >= 60 else "; under a minute of training left"


def first_estimate(entries: Sequence[PlanEntry], jobs: int, others: float | None) -> str:
    """The queue's time by the plan's model alone, before any run has ended to give the pace:
    each worker's share of a core shrinks when other processes keep `others` cores busy (None:
    not known) or the workers outnumber the cores. The model was fitted on one CPU: the figure
    is a first guess."""
    if not entries:
        return ""
    # Under half a core of others' work is noise (a shell, the kernel), as for the trainer.
    busy = others if others is not None and others >= TAKEN else 0.0
    share = min(1.0, cores() / (busy + jobs))
    seconds = max(max(map(_cpu_s, entries)), sum(map(_cpu_s, entries)) / jobs) / share
    why = ""
    if busy and share < 1.0:
        why = f", other processes keeping {busy:.1f} of the {cores()} cores busy"
    elif share < 1.0:
        why = f", {jobs} workers sharing {cores()} cores"
    when = f"about {round(seconds / 60)} min" if seconds >= 90 else "about a minute" \
        if seconds >= 30 else "under a minute"
    return f"; {when} by the plan's estimate{why}"


def arm_labels(entries: Sequence[PlanEntry]) -> dict[str, str]:
    """What tells a run from the others of its model and seed in `entries` (inception-aux's
    two GoogLeNets differ only in aux_weight), by hash: the settings that differ, e.g.
    'lrn False'. Runs alone of their model and seed get none."""
    groups: dict[tuple[str, int], list[PlanEntry]] = {}
    for e in entries:
        groups.setdefault((e.model, e.seed), []).append(e)
    labels = {}
    for group in (g for g in groups.values() if len(g) > 1):
        # The starting weights' path differs with every run: the options say what it is.
        flat = [{**{k: v for k, v in e.fields.items() if k not in ("model_options",
                                                                    "init_weights")},
                 **e.fields.get("model_options", {})} for e in group]
        differ = [k for k in dict.fromkeys(k for f in flat for k in f)
                  if len({repr(f.get(k)) for f in flat}) > 1]
        for e, f in zip(group, flat, strict=True):
            labels[e.hash] = ", ".join(f"{k} {f[k]}" for k in differ if k in f)
    return labels


def _ended_line(entry: PlanEntry, arm: str, finished: bool, seconds: float, ended: int,
                total: int) -> str:
    how = f"finished in {seconds:.0f} s" if finished else \
        "stopped unfinished (the study that needs it resumes it and reports why)"
    who = f"{', '.join(entry.studies)}: " if entry.studies else ""
    what = f"{entry.model} ({arm})" if arm else entry.model
    return f"[{ended}/{total} runs] {who}{what} seed {entry.seed} ({entry.hash[:6]}) {how}"


def _start_method() -> Any:
    """forkserver where there is one: its server imports torch and the trainer once, and
    every worker after the first starts as a fork of it in a fraction of a second, where a
    spawned one spends ~6 s importing torch and torch._dynamo (the optimizer's first use)
    again. Plain fork would copy the parent's busy OpenMP thread pool, which can deadlock."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "torch._dynamo", "torch.optim",
                                    "cnnzoo.studies.parallel", "cnnzoo.train"])
    return context


def _train_one(entry: PlanEntry) -> None:
    os.setpgrp()  # a terminal's Ctrl-C reaches the parent only; it asks each worker once
    # The run's folder name tells apart two runs of one model (inception-aux's two arms).
    tag = f"[{entry.model} {entry.hash[:6]}]"
    try:
        run_entry(entry, log=lambda line: print(f"{tag} {line}", flush=True))
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def _stop(workers: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """One SIGINT each (the trainer saves at its next step; a second would cut it short),
    then wait for them to save."""
    for w in workers:
        if w.is_alive() and w.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    for w in workers:
        w.join(max(0.0, deadline - time.monotonic()))
        if w.is_alive():
            w.kill()
