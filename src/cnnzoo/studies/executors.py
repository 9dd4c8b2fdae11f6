"""Who trains a plan's pending lines: the local workers (cnnzoo.studies.parallel, one queue
for every study), a Ray cluster, or a Slurm job array (submitit, or a generated sbatch
script). Each runs cnnzoo.studies.plan.run_entry on every line, so every engine writes the
same cache; the studies then compute their verdicts from it as after a local run.

Every worker must see the studies folder at the same path (a shared file system): the plan
names its cache by absolute path, and a worker that cannot see it refuses before training.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cnnzoo.errors import UsageError
from cnnzoo.extras import install_command, installed
from cnnzoo.studies.base import EXECUTORS, StudyError
from cnnzoo.studies.parallel import run_locally
from cnnzoo.studies.plan import (
    GPU_MACS_PER_S,
    GPU_STEP_S,
    PLAN_FILE,
    Plan,
    PlanEntry,
    make_plan,
    read_plan,
    run_entry,
    select,
    write_plan,
)
from cnnzoo.studies.registry import StudyModule

__all__ = ["EXECUTORS", "run_with_ray", "run_with_submitit", "sbatch_script", "summary",
           "train_here", "train_plan"]
SHARED = ".shared-check"  # a token the driver writes in the cache and every worker reads
ROUNDS = 3  # plans made in turn: a study's later runs are listed once earlier ones finish
RETRIES = 3  # a Ray task whose worker died is run again this many times (it resumes)


def summary(plan: Plan) -> str:
    """Runs, finished, estimated CPU-hours (and on one GPU), and what is left out."""
    runs = plan.entries
    todo = [e for e in runs if not e.finished]
    cpu = sum(e.cost["cpu_hours"] for e in todo)
    gpu = sum(e.cost["gpu_hours"] for e in todo)
    lines = [f"{len(runs)} training runs, {len(runs) - len(todo)} already finished; the "
             f"{len(todo)} to train: ~{cpu:.1f} CPU-hours (one thread each: ~{cpu / 2:.1f} h "
             f"on 2 cores), ~{gpu:.1f} h on one GPU one run at a time (estimates: a run-time "
             "model fitted on an AMD EPYC core, good to a factor of 2-3; "
             f"{GPU_MACS_PER_S / 1e12:g} TMAC/s and {1e3 * GPU_STEP_S:g} ms a step assumed "
             "for a GPU, not measured)"]
    lines += [f"  {sid}: {why}: plan again once its runs above have finished"
              for sid, why in plan.waiting.items()]
    lines += [f"  {sid}: needs data, left out: {why}" for sid, why in plan.needs_data.items()]
    return "\n".join(lines)


def check_shared(root: str | Path, token: str) -> None:
    """Refuse, naming this host, when the cache folder is not the driver's (not shared)."""
    path = Path(root) / SHARED
    try:
        seen = path.read_text().strip()
    except OSError:
        seen = ""
    if seen != token:
        raise StudyError(f"{socket.gethostname()} cannot see the studies' cache {root} (no "
                         f"{SHARED} written by the driver there): put --out on a folder every "
                         "node mounts at the same path (NFS, Lustre...)")


def share_token(root: str | Path) -> str:
    token = secrets.token_hex(8)
    Path(root).mkdir(parents=True, exist_ok=True)
    (Path(root) / SHARED).write_text(token + "\n")
    return token


def train_plan(modules: Sequence[StudyModule], out: Path, mode: str, seeds: int | None,
               run: Callable[[list[PlanEntry]], None], log: Callable[[str], None] = print,
               **context: Any) -> Plan:
    """Plan, train the pending lines with `run`, plan again (for runs that start from
    others' weights) until nothing is pending. Returns the last plan."""
    for _ in range(ROUNDS):
        plan = make_plan(modules, out, mode, seeds, log=log, **context)
        path = write_plan(plan, out)
        todo = [e for e in plan.entries if not e.finished]
        log(f"plan {path}: {summary(plan)}")
        if not todo:
            return plan
        run(todo)
    raise StudyError(f"runs still pending after {ROUNDS} rounds; see {out / PLAN_FILE}")


def train_here(modules: Sequence[StudyModule], out: Path, mode: str, seeds: int | None,
               jobs: int, log: Callable[[str], None] = print, **context: Any) -> None:
    """Every run `modules` need, trained on this machine `jobs` at a time before any study
    computes its verdict: one queue over all the studies, longest first, so no core waits
    at the end of one study for its last run while the next study's runs could start
    (docs/benchmarks.md#case-studies-one-queue-for-every-study). Runs that start from
    others' weights (identity's fine-tunes) follow in a second queue, once those have
    finished; anything later the study trains itself. Only the studies still waiting are
    planned again. A run that fails is not tried again here: the study that needs it
    resumes it and reports its error."""
    tried: set[str] = set()
    for _ in range(2):
        plan = make_plan(modules, out, mode, seeds, log=lambda line: None, **context)
        todo = [e for e in plan.entries if not e.finished and e.hash not in tried]
        if todo:
            for sid, why in plan.waiting.items():  # so that a learner knows more will come
                log(f"{sid}: {why}: a second queue, once those have finished")
            tried.update(e.hash for e in todo)
            run_locally(todo, jobs, log)
        modules = [m for m in modules if m.id in plan.waiting]
        if not modules:
            return


# Ray ----------------------------------------------------------------------------------------

def ray_task(entry_json: str, token: str) -> dict[str, Any]:
    """One plan line on a Ray worker: check the cache is the driver's, then run_entry."""
    entry = PlanEntry(**json.loads(entry_json))
    check_shared(entry.root, token)
    tag = f"[{entry.model} {entry.hash[:6]}]"
    run = run_entry(entry, log=lambda line: print(f"{tag} {line}", flush=True))
    return {"hash": entry.hash, "seconds": run.seconds, "host": socket.gethostname(),
            "pid": os.getpid()}


def _ray() -> Any:
    if not installed("ray"):
        raise UsageError(f"--executor ray needs Ray: {install_command('ray')}")
    import ray

    return ray


def run_with_ray(entries: Sequence[PlanEntry], address: str | None = None,
                 log: Callable[[str], None] = print) -> None:
    """Every line a Ray task (its threads as CPUs, or one GPU where it trains on CUDA), run
    again up to RETRIES times if its worker dies (it resumes from its last checkpoint).
    Without `address` (and no Ray started) a local Ray instance is started and stopped."""
    ray = _ray()
    started = not ray.is_initialized()
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        # Ray colours each worker's "(ray_task pid=N)" prefix: escape codes in a log file.
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    if started:
        ray.init(address=address, log_to_driver=True)
    try:
        token = share_token(entries[0].root)
        _probe_nodes(ray, entries[0].root, token)
        refs, remote = {}, ray.remote(ray_task)
        for e in entries:
            gpu = e.device.startswith("cuda")
            task = remote.options(
                num_cpus=0 if gpu else e.config.get("threads") or 1, num_gpus=1 if gpu else 0,
                max_retries=RETRIES, name=f"cnnzoo-{e.model}-{e.hash[:6]}")
            refs[task.remote(e.to_json(), token)] = e
        _collect(ray, refs, log)
    finally:
        if started:
            ray.shutdown()


def _probe_nodes(ray: Any, root: str, token: str) -> None:
    """Check the cache is shared on every alive node before any training is submitted."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    probe = ray.remote(num_cpus=0)(check_shared)
    nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
    ray.get([probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False))
             .remote(root, token) for n in nodes])


def _collect(ray: Any, refs: dict[Any, PlanEntry], log: Callable[[str], None]) -> None:
    failed, total = [], len(refs)
    while refs:
        [ref], _ = ray.wait(list(refs), num_returns=1)
        e = refs.pop(ref)
        try:
            got = ray.get(ref)
            log(f"[{total - len(refs)}/{total}] {e.model} seed {e.seed} ({e.hash}) finished "
                f"on {got['host']}: {got['seconds']:.0f} s of training")
        except ray.exceptions.RayError as err:
            cause = getattr(err, "cause", None) or err
            failed.append(f"{e.hash} ({e.model} seed {e.seed}): "
                          f"{str(cause).strip().splitlines()[-1]}")
            log(f"[{total - len(refs)}/{total}] {e.model} seed {e.seed} ({e.hash}) failed")
    if failed:
        raise StudyError(f"{len(failed)} run(s) failed: {'; '.join(failed)}")


# Slurm --------------------------------------------------------------------------------------

def exec_line(plan_path: str, index: int) -> str:
    """One plan line in a submitit job: what `cnnzoo study exec PLAN --index N` does."""

    entry = select(read_plan(plan_path), index=index)
    run_entry(entry)
    return entry.hash


def run_with_submitit(entries: Sequence[PlanEntry], plan_path: Path, folder: Path,
                      cluster: str | None = None, log: Callable[[str], None] = print,
                      **parameters: Any) -> None:
    """The lines as one Slurm job array by submitit (cluster "local": its local executor,
    the same code path without Slurm), waited for. `parameters`: submitit's, e.g.
    slurm_partition, timeout_min, slurm_array_parallelism."""
    if not installed("submitit"):
        raise UsageError(f"--executor slurm needs submitit: {install_command('submitit')}")
    import submitit

    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    gpu = any(e.device.startswith("cuda") for e in entries)
    executor.update_parameters(cpus_per_task=max(e.config.get("threads") or 1 for e in entries),
                               gpus_per_node=1 if gpu else 0, **parameters)
    indices = [e.index for e in entries]
    jobs = executor.map_array(exec_line, [str(plan_path)] * len(indices), indices)
    log(f"submitted {len(jobs)} jobs ({executor.cluster}); logs in {folder}")
    failed = []
    for k, (job, e) in enumerate(zip(jobs, entries, strict=True), 1):
        try:
            job.result()
            log(f"[{k}/{len(jobs)}] {e.model} seed {e.seed} ({e.hash}) finished")
        except Exception as err:  # noqa: BLE001 - submitit re-raises the job's own error
            failed.append(f"{e.hash}: {str(err).strip().splitlines()[-1]}")
    if failed:
        raise StudyError(f"{len(failed)} job(s) failed (logs in {folder}): {'; '.join(failed)}")


def sbatch_script(plan_path: Path, entries: Sequence[PlanEntry], parallel: int = 64) -> str:
    """A Slurm job array of the pending lines, each `cnnzoo study exec PLAN --index N`."""
    gpu = any(e.device.startswith("cuda") for e in entries)
    hours = max((e.cost["gpu_hours" if gpu else "cpu_hours"] for e in entries), default=0.0)
    # Four times the estimate: runs with depthwise or LRN layers, beside other work, have
    # taken up to 2.7 times theirs (the standard runs: docs/benchmarks.md, "The plans'
    # run-time model").
    limit = max(1, int(4 * hours + 1))
    command = shlex.join([sys.executable, "-m", "cnnzoo", "study", "exec", str(plan_path),
                          "--index"])
    lines = ["#!/bin/bash", "#SBATCH --job-name=cnnzoo-studies",
             f"#SBATCH --array={_ranges([e.index for e in entries])}%{parallel}",
             "#SBATCH --cpus-per-task=1", f"#SBATCH --time={limit}:00:00",
             f"#SBATCH --output={plan_path.parent}/slurm/%A_%a.out"]
    if gpu:
        lines.append("#SBATCH --gpus=1")
    lines += ["# each task trains one line of the plan; a requeued or repeated task resumes it",
              f'{command} "$SLURM_ARRAY_TASK_ID"']
    return "\n".join(lines) + "\n"


def _ranges(indices: Sequence[int]) -> str:
    """0,1,2,5,7,8 -> '0-2,5,7-8' (Slurm's --array syntax)."""
    spans: list[list[int]] = []
    for i in sorted(indices):
        if spans and spans[-1][1] == i - 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
