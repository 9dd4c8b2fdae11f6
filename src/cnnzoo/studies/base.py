"""What a case study is: a claim with its source, a tolerance fixed before the run, an
experiment that saves raw data, and a verdict computed from that saved data alone.

A study module (one per claim, e.g. `cnnzoo/studies/degradation.py`) declares

    STUDY = Study(id="degradation", claim=..., source=..., experiment=..., tolerance=...,
                  data=("fashion-mnist",), quick_cost="~2 min", full_cost="~3 h",
                  deviations=...)

    def run(ctx: StudyContext) -> None:         # runs the experiment, saves raw data via ctx
    def measure(raw: RawData) -> dict:           # the figures, from the saved raw files only
    def verdict(measured: dict) -> Verdict:      # pure: the same files give the same verdict

and optionally `def figures(raw: RawData, measured: dict) -> list[Figure]` for the report.
The runner (cnnzoo.studies.runner) calls run, then measure on what was saved, then verdict,
and writes DIR/ID/result.json; `cnnzoo study report DIR` repeats measure and verdict from the
files on disk.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnzoo.atomic import atomic_path, write_text_atomic
from cnnzoo.errors import CnnzooError

if TYPE_CHECKING:  # the training cache imports the trainer; only studies that train need it
    from cnnzoo.studies.cache import RunCache

CONFIRMED = "confirmed"
REFUTED = "refuted"
INCONCLUSIVE = "inconclusive"
NEEDS_DATA = "needs-data"
VERDICTS = (CONFIRMED, REFUTED, INCONCLUSIVE, NEEDS_DATA)

# quick: the default (`make demo`), minutes; standard: committed evidence, <= 90 min on 2
# cores; full: the paper's recipe where the data allows.
MODES = ("quick", "standard", "full")
# Who trains the studies' runs (cnnzoo.studies.executors): local processes, Ray, Slurm.
EXECUTORS = ("local", "ray", "slurm")


class StudyError(CnnzooError, RuntimeError):
    """A study that cannot run or whose saved results cannot be read."""


class NeedsData(CnnzooError, RuntimeError):  # noqa: N818 - a verdict, raised from run()
    """Raised by a study's run() when the data it needs is not here. The message says exactly
    what to install or pass (e.g. `--data imagenet --data-root DIR`)."""


@dataclass(frozen=True)
class Study:
    id: str
    claim: str  # in the case studies' words (paraphrased)
    source: str  # the primary source: paper, table or figure
    experiment: str  # what is run, in a sentence or two
    tolerance: str  # fixed before the run; the verdict function implements exactly this
    data: tuple[str, ...] = ()  # datasets it needs; () for counting studies
    # Wall time on 2 cores: quick as measured on idle ones (3 seeds), full as the plan's
    # run-time model estimates it (5 seeds); e.g. "< 1 s", "~5 h (standard ~25 min)".
    quick_cost: str = ""
    full_cost: str = ""
    deviations: str = ""  # where the experiment departs from the paper, and why
    quick_deviations: str = ""  # what --quick shortens further, beyond `deviations`
    seeded: bool = False  # True where chance matters (training); then >= 3 seeds in full mode
    # Training runs that start from earlier runs' weights, so that a plan (cnnzoo.studies.plan)
    # can list them only once those have finished: what they are, in a few words.
    planned_later: str = ""

    def deviations_in(self, mode: str) -> str:
        """The deviations of a run in `mode`: quick mode adds its own shortening."""
        if mode == "quick" and self.quick_deviations:
            return f"{self.deviations} Quick mode: {self.quick_deviations}".strip()
        return self.deviations


@dataclass(frozen=True)
class Verdict:
    verdict: str  # one of VERDICTS
    key: str  # the key figure, one line: "plain-56 train error 9.1% vs plain-20 6.2%"
    reason: str = ""  # why this verdict, against the tolerance
    n: int | None = None  # seeds the verdict rests on (seeded studies): < 3 is indicative

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise StudyError(f"verdict must be one of {', '.join(VERDICTS)}, got {self.verdict!r}")


@dataclass(frozen=True)
class Figure:
    """One figure for the report: inline SVG (preferred) or a base64 PNG data URI."""

    title: str
    svg: str = ""
    png_data_uri: str = ""
    caption: str = ""


@dataclass
class StudyContext:
    """What a study's run() gets: the mode, seeds and data, where to save, and the cache of
    training runs (shared by all studies under one output root, keyed by config hash)."""

    study: Study
    mode: str  # "quick" or "full"
    seeds: tuple[int, ...]
    out: Path  # DIR/ID: this study's own folder
    data: str | None = None  # the dataset to use (None: the study's default)
    data_root: str | None = None
    threads: int | None = None
    progress: bool = True
    runs: RunCache | None = None  # set by the runner for studies that train
    commands: list[str] = field(default_factory=list)  # exact commands that reproduce runs
    # TrainConfig fields forced on every training run (tests: {"limit_train": 256, ...}).
    train_overrides: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = print
    weights_dir: str | None = None  # pretrained weights MODEL.pth (top5-table's measurement)
    device: str | None = None  # every training run's device (None: the trainer's default)
    # True while a plan is made (cnnzoo.studies.plan): run() lists its training runs and
    # skips what it measures beside them, which the real run measures again anyway.
    planning: bool = False

    @property
    def quick(self) -> bool:
        return self.mode == "quick"

    def write_csv(self, name: str, rows: Sequence[dict[str, Any]]) -> Path:
        """Save raw rows as DIR/ID/NAME.csv (columns from the first row), atomically."""
        if not rows:
            raise StudyError(f"{self.study.id}: no rows to write to {name}.csv")
        path = self.out / f"{name}.csv"
        with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return path

    def write_json(self, name: str, obj: Any) -> Path:
        """Save non-tabular raw data as DIR/ID/NAME.json, atomically."""
        return write_text_atomic(self.out / f"{name}.json",
                                 json.dumps(obj, indent=2, sort_keys=True))


@dataclass(frozen=True)
class RawData:
    """Read access to what a study saved, for measure() and figures()."""

    folder: Path

    def csv(self, name: str) -> list[dict[str, str]]:
        path = self.folder / f"{name}.csv"
        if not path.is_file():
            raise StudyError(f"{path} is missing; rerun the study (`cnnzoo study run ...`)")
        with path.open(newline="") as f:
            return list(csv.DictReader(f))

    def json(self, name: str) -> Any:
        path = self.folder / f"{name}.json"
        if not path.is_file():
            raise StudyError(f"{path} is missing; rerun the study (`cnnzoo study run ...`)")
        return json.loads(path.read_text())

    def has(self, name: str) -> bool:
        return (self.folder / f"{name}.csv").is_file() or (self.folder / f"{name}.json").is_file()
