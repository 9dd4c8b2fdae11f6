"""Run one study: give it a context, time it, turn NeedsData into a verdict, compute the
figures and the verdict from the raw files it saved, and write DIR/ID/result.json.

A finished study (result.json present, same mode, seeds, data and tolerance) is skipped
unless `force`; its verdict is recomputed from its raw files, which is cheap and keeps
result.json in step with the verdict code.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import shlex
import subprocess
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from cnnzoo.atomic import write_text_atomic
from cnnzoo.studies.base import (
    MODES,
    NEEDS_DATA,
    NeedsData,
    RawData,
    StudyContext,
    StudyError,
    Verdict,
)
from cnnzoo.studies.cache import torch_threads
from cnnzoo.studies.parallel import ParallelRunCache
from cnnzoo.studies.registry import RUNS, StudyModule, default_seeds
from cnnzoo.studies.training import device_fields

RESULT = "result.json"
FAILED = "error.txt"  # written instead of result.json when a study's code fails
STAGING = "_partial"  # OUT/_partial/ID: a run in progress (the report skips "_" folders)
DEFAULT_OUT = Path("runs/studies")
def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=10, check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"


def environment() -> dict[str, Any]:
    """What the figures were measured on: torch, CPU, threads, load, date, git commit."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "load_1min": round(load, 2) if load is not None else None,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": _git_commit(),
    }


def study_command(study_id: str, mode: str, seeds: tuple[int, ...], data: str | None,
                  data_root: str | None, out: Path) -> str:
    parts = ["cnnzoo", "study", "run", study_id, f"--{mode}", "--seeds", str(len(seeds))]
    if data:
        parts += ["--data", data]
    if data_root:
        parts += ["--data-root", data_root]
    parts += ["--out", str(out)]
    return shlex.join(parts)


def evaluate(module: StudyModule, folder: Path) -> tuple[dict, Verdict]:
    """measure() then verdict() on the raw files in `folder` alone."""
    measured = module.module.measure(RawData(folder))
    verdict = module.module.verdict(measured)
    try:
        json.dumps(measured)
    except TypeError as e:
        raise StudyError(
            f"{module.id}: measure() returned something JSON cannot hold: {e}") from None
    return measured, verdict


def read_result(folder: Path) -> dict | None:
    path = folder / RESULT
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise StudyError(f"{path} cannot be read ({e}); rerun with --force") from None


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def is_current(module: StudyModule, out: str | Path, mode: str = "quick",
               seeds: int | None = None, data: str | None = None) -> bool:
    """True when OUT/ID holds a finished result of this mode, seeds, data and tolerance:
    run_study reuses it (unless forced) and trains nothing."""
    try:
        old = read_result(Path(out) / module.study.id)
    except StudyError:
        return False  # run_study reports it
    return _matches(old, module, mode, default_seeds(module, mode, seeds), data)


def _matches(old: dict | None, module: StudyModule, mode: str, seeds: tuple[int, ...],
             data: str | None) -> bool:
    return (_finished(old) and old.get("mode") == mode
            and old.get("seeds") == list(seeds) and old.get("data") == data
            and old.get("tolerance") == module.study.tolerance)




def _clear(folder: Path) -> None:
    """Drop an earlier run's files so stale raw data cannot leak into this verdict."""
    for pattern in ("*.csv", "*.json", "*.tmp", FAILED):
        for path in folder.glob(pattern):
            path.unlink()


def _publish(staging: Path, folder: Path) -> None:
    """Replace the study's files by the finished run's (result.json last), so that a run
    stopped part-way leaves the earlier results whole."""
    folder.mkdir(parents=True, exist_ok=True)
    _clear(folder)
    for path in sorted(staging.iterdir(), key=lambda p: p.name == RESULT):
        path.replace(folder / path.name)
    staging.rmdir()


def run_study(
    module: StudyModule,
    mode: str = "quick",
    seeds: int | None = None,
    data: str | None = None,
    data_root: str | None = None,
    out: str | Path = DEFAULT_OUT,
    threads: int | None = None,
    jobs: int | None = None,
    force: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    **extra: Any,
) -> dict:
    """Run (or reuse) one study and return its result dict (what result.json holds)."""
    if mode not in MODES:
        raise StudyError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    study = module.study
    root = Path(out)
    folder = root / study.id
    seed_tuple = default_seeds(module, mode, seeds)
    old = read_result(folder)
    if not force and _matches(old, module, mode, seed_tuple, data):
        measured, verdict = evaluate(module, folder)
        result = {**old, **_verdict_fields(measured, verdict), "skipped": True}  # type: ignore[dict-item]
        if result != {**old, "skipped": True}:
            write_json_atomic(folder / RESULT, {k: v for k, v in result.items() if k != "skipped"})
        return result
    # The run writes into a staging folder (a name the report skips) until it is complete.
    staging = root / STAGING / study.id
    staging.mkdir(parents=True, exist_ok=True)
    _clear(staging)
    ctx = StudyContext(study=study, mode=mode, seeds=seed_tuple, out=staging, data=data,
                       data_root=data_root, threads=threads, progress=progress, log=log)
    unknown = sorted(set(extra) - set(StudyContext.__dataclass_fields__))
    if unknown:
        raise StudyError(f"unknown study option(s): {', '.join(unknown)}")
    for key, value in extra.items():  # context fields without a parameter here
        setattr(ctx, key, value)
    ctx.runs = _run_cache(root, progress, jobs)
    command = study_command(study.id, mode, seed_tuple, data, data_root, root)
    t0 = time.perf_counter()
    missing = None
    with torch_threads(threads):
        try:
            module.module.run(ctx)
        except NeedsData as e:
            missing = str(e)
        except Exception:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / FAILED).write_text(traceback.format_exc())
            raise
        env = environment()
        jobs = ctx.runs.jobs_if_used()
        if jobs is not None:
            env["training_jobs"] = jobs
            # Its runs' own training time: with one queue for every study (and on a rerun)
            # they trained before this study began, outside elapsed_s.
            used = ctx.runs.used
            env["training_runs"] = len(used)
            env["training_s"] = round(sum(used.values()), 1)
        if ctx.device:  # --device: every training run's device and precision
            env["training_device"] = ctx.device
            env["training_precision"] = device_fields(ctx.device).get("precision", "fp32")
    elapsed = time.perf_counter() - t0
    if missing is not None:
        measured, verdict = {}, Verdict(NEEDS_DATA, missing.splitlines()[0], missing)
    else:
        measured, verdict = evaluate(module, staging)
    result = {
        "id": study.id, "claim": study.claim, "source": study.source,
        "experiment": study.experiment, "mode": mode, "seeds": list(seed_tuple), "data": data,
        "data_needed": list(study.data), "tolerance": study.tolerance,
        "deviations": study.deviations_in(mode), **_verdict_fields(measured, verdict),
        "elapsed_s": round(elapsed, 3),
        "commands": [command, *ctx.commands], "environment": env,
        "created": env["date"],
    }
    if missing is not None and _finished(old):
        # Asked for data that is not here: a verdict on other data stays (a report of the
        # folder keeps it); the caller hears why nothing ran.
        _clear(staging)
        staging.rmdir()
        log(f"{study.id}: {missing.splitlines()[0]}; the finished result in {folder} "
            f"({old.get('mode')} mode, data {old.get('data') or 'default'}) is kept")
        return {**result, "kept": str(folder)}
    write_json_atomic(staging / RESULT, result)
    _publish(staging, folder)
    return result


def _finished(result: dict | None) -> bool:
    """A result with a verdict computed from data (not one that needed data)."""
    return result is not None and result.get("verdict") != NEEDS_DATA


def _verdict_fields(measured: dict, verdict: Verdict) -> dict[str, Any]:
    """What result.json holds of measure() and verdict(): the comparisons (seeded studies)
    at the top level, where a reader of the file looks for them."""
    return {"measured": measured, "comparisons": measured.get("comparisons", []),
            "verdict": verdict.verdict, "n": verdict.n, "key": verdict.key,
            "reason": verdict.reason}


def _run_cache(root: Path, progress: bool, jobs: int | None) -> Any:
    """The training cache under OUT/_runs, made when a study first uses it: the report
    says how runs shared the threads only for a study that trained (jobs_if_used)."""
    return _LazyRunCache(root / RUNS, progress, jobs)


class _LazyRunCache:
    def __init__(self, root: Path, progress: bool, jobs: int | None) -> None:
        self._args = (root, progress, jobs)
        self._cache: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._cache is None:
            root, progress, jobs = self._args
            self._cache = ParallelRunCache(root, progress=progress, jobs=jobs or 1)
        return getattr(self._cache, name)

    def jobs_if_used(self) -> int | None:
        """Training runs at once, where a study trained (None where it did not)."""
        return None if self._cache is None else self._cache.jobs
