"""RunCache: the studies' training runs, each trained once, keyed by a hash of its config.

A run lives in ROOT/<hash>/ (the `cnnzoo train` layout: last.pt, best.safetensors,
metrics.jsonl) and is finished when ROOT/<hash>/done.json exists. A run found with a
last.pt but no done.json was killed: it resumes from there, so a killed study loses at
most the epoch in progress. Every run records the `cnnzoo train ...` command that
reproduces it. The trainer of a run holds ROOT/<hash>/.claim until done.json is written, so
two processes (two `cnnzoo study exec` of one plan line, a retried Ray task) never train one
run twice.

Every run trains on STUDY_THREADS threads, which is part of its hash: one thread sums in
another order than two, and a short run amplifies that into points of accuracy. So a run's
figures do not depend on how many runs trained beside it (`--jobs`). A finished run's
verdict figures (final weights on the whole test split and on a fixed part of its training
images, `train.run.evaluate_final`) are computed once and kept in final.json beside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from cnnzoo.atomic import write_text_atomic
from cnnzoo.errors import CnnzooError
from cnnzoo.train import train
from cnnzoo.train.config import TrainConfig, as_recorded, fields_where
from cnnzoo.train.loop import BEST_WEIGHTS, LAST, METRICS
from cnnzoo.train.metrics import read_metrics
from cnnzoo.train.run import evaluate_final
from cnnzoo.train.rundir import RunDir, RunInUseError

DONE = "done.json"
FINAL = "final.json"
CLAIM = ".claim"  # held by the RunCache.train that trains the run, until done.json
STUDY_THREADS = 1  # every study run's torch threads on CPU (hashed: they change the sums)
# Every study run trains channels-last: 0.60-0.89 of the time per step of the study nets on
# one thread, where foreach updates, bf16 and torch.compile gained less or lost
# (benchmarks/study_step_speed.py, docs/benchmarks.md). A study may still ask otherwise.
STUDY_DEFAULTS = {"channels_last": True}
# Fields that change where a run goes, where its data is read from or what else it writes,
# not what it computes (TrainConfig declares them: computes=False).
NOT_HASHED = fields_where("computes", False)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's thread count set to `threads` (None: left as it is) for the block, and put
    back after it: train() and the studies' own measurements set their count."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def config_hash(cfg: TrainConfig) -> str:
    """sha256 (first 16 hex digits) of the config minus NOT_HASHED."""
    record = {k: v for k, v in cfg.to_dict().items() if k not in NOT_HASHED}
    blob = json.dumps(record, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train_command(cfg: TrainConfig) -> str:
    """The `cnnzoo train` command line that runs `cfg` (options left at their default are
    left out)."""
    defaults = {f.name: f.default if f.default_factory is MISSING else f.default_factory()
                for f in fields(TrainConfig) if f.name != "model_options"}
    words = ["cnnzoo", "train", cfg.model]
    if cfg.recipe is None:  # else `cnnzoo train` fills the omitted fields from the model's recipe
        words += ["--recipe", "none"]
    for key, value in cfg.to_dict().items():
        if key in ("model", "model_options") or value == as_recorded(defaults.get(key)):
            continue
        words += _flag(key, value)
    for key, value in cfg.model_options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            words.append(flag)
        elif value is False:
            words.append("--no-" + key.replace("_", "-"))
        else:
            words += [flag, str(value)]
    return shlex.join(words)



def _flag(key: str, value: Any) -> list[str]:
    if key == "channels":
        return ["--convert-channels"] if value == "convert" else []
    if key == "augment":
        if value is False:
            return ["--no-augment"]
        return [] if value is True else ["--augment", ",".join(value)]
    flag = "--" + key.replace("_", "-")
    if value is True:
        return [flag]
    if isinstance(value, list):
        return [flag, ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)]
    return [flag, str(value)]


class RunBusyError(CnnzooError, RuntimeError):
    """Another process is training this run now."""


@dataclass(frozen=True)
class Planned:
    """One run a study will ask the cache for: RunCache.train's arguments."""

    model: str
    data: str
    seed: int
    fields: dict[str, Any]


@dataclass
class CachedRun:
    config: dict[str, Any]
    out: Path
    epochs: list[dict[str, Any]]  # metrics.jsonl rows, one per epoch
    best_top1: float
    final_top1: float
    seconds: float  # training time (the trainer's elapsed, over every resume)
    command: str
    weights: Path  # best.safetensors
    final: dict[str, Any]  # train.run.evaluate_final of the last epoch's weights
    cached: bool = False  # True when this call did not train

    @property
    def hash(self) -> str:
        return self.out.name


class RunCache:
    """Cached training runs under `root` (OUT/_runs, shared by every study of one --out)."""

    def __init__(self, root: Path | str, progress: bool = True,
                 log: Callable[[str], None] = print, jobs: int = 1) -> None:
        self.root = Path(root)
        self.threads = STUDY_THREADS
        self.progress = progress
        self.log = log
        self.jobs = jobs  # runs trained at once by train_all
        self.used: dict[str, float] = {}  # hash -> training seconds of each run handed out

    def train_all(self, plan: Sequence[Planned]) -> None:
        """Train `plan`'s runs ahead of the study's own train() calls: here nothing, each
        trains when asked; cnnzoo.studies.parallel.ParallelRunCache trains them `jobs` at a
        time, each in its own process."""

    def config(self, model: str, data: str, *, seed: int, **config_fields: Any) -> TrainConfig:
        cfg = TrainConfig(model=model, data=data, seed=seed, out=str(self.root / "pending"),
                          threads=self.threads, **{**STUDY_DEFAULTS, **config_fields})
        cfg.out = str(self.root / config_hash(cfg))
        return cfg

    def get(self, cfg: TrainConfig) -> CachedRun | None:
        """The finished run of `cfg`, or None if it has not finished."""
        done = Path(cfg.out) / DONE
        if not done.is_file():
            return None
        return self._load(cfg, json.loads(done.read_text()), cached=True)

    def train(self, model: str, data: str, *, seed: int, **config_fields: Any) -> CachedRun:
        """The finished run of this config: found in the cache, else trained (resumed from
        its last.pt where a killed trainer left one) and marked finished. One process at a
        time trains a run: a second call while another holds it raises RunBusyError."""
        cfg = self.config(model, data, seed=seed, **config_fields)
        found = self.get(cfg)
        if found is not None:
            return found
        with self._claim(Path(cfg.out)):
            # Finished by another process between the look above and the claim.
            found = self.get(cfg)
            return found if found is not None else self._train(cfg)

    @contextlib.contextmanager
    def _claim(self, out: Path) -> Iterator[None]:
        """Hold the run (its CLAIM lock) from before training until done.json is written, so
        a second trainer can neither start it again nor resume it between the two."""

        holder = RunDir(out, lock=CLAIM)
        try:
            holder.acquire()
        except RunInUseError:
            owner = (out / CLAIM).read_text().strip() if (out / CLAIM).is_file() else "?"
            raise RunBusyError(
                f"run {out.name} is being trained by another process (PID and host: {owner}); "
                f"that one will finish it. If that machine went down, delete {out / CLAIM} "
                f"and {out / '.lock'} and run again") from None
        try:
            yield
        finally:
            holder.release()

    def _train(self, cfg: TrainConfig) -> CachedRun:
        out = Path(cfg.out)
        resume = (out / LAST).is_file()
        command = train_command(cfg)
        self.log(f"{'resuming' if resume else 'training'} {cfg.model} seed {cfg.seed}: "
                 f"{command}")
        with torch_threads(None):  # train() sets the run's own count
            result = train(cfg, resume=resume, log=self.log, progress=self.progress,
                           plots=False)
        if result.interrupted:
            raise KeyboardInterrupt(f"{cfg.model} seed {cfg.seed} interrupted; rerun to resume "
                                    f"{out}")
        record = {
            "config": cfg.to_dict(),
            "hash": out.name,
            "command": command,
            "best_top1": result.best_top1,
            "best_epoch": result.best_epoch,
            "final_top1": result.final_top1,
            "epochs_done": result.epochs_done,
            "seconds": result.seconds,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self._final(cfg)  # before done.json: a finished run always has its final figures
        write_text_atomic(out / DONE, json.dumps(record, indent=2, sort_keys=True))
        return self._load(cfg, record, cached=False)

    def _final(self, cfg: TrainConfig) -> dict[str, Any]:
        """final.json of a trained run, computed on the run's own thread count if missing."""

        path = Path(cfg.out) / FINAL
        if path.is_file():
            return json.loads(path.read_text())
        with torch_threads(cfg.threads):
            final = evaluate_final(cfg)
        write_text_atomic(path, json.dumps(final, indent=2, sort_keys=True))
        return final

    def _load(self, cfg: TrainConfig, record: dict[str, Any], cached: bool) -> CachedRun:
        out = Path(cfg.out)
        self.used[out.name] = float(record["seconds"])
        return CachedRun(
            config=record["config"], out=out, epochs=read_metrics(out / METRICS),
            best_top1=float(record["best_top1"]), final_top1=float(record["final_top1"]),
            seconds=float(record["seconds"]), command=record["command"],
            weights=out / BEST_WEIGHTS, final=self._final(cfg), cached=cached,
        )
