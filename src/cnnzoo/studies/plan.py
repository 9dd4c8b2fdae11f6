"""The studies' training runs as a plan any scheduler can execute: one line per run in
DIR/plan.jsonl (its hash, its full config, the `cnnzoo train` command, its estimated cost,
the studies that use it), and `run_entry`, the one way a line is trained: RunCache.train
into DIR/_runs, resumed from a checkpoint, marked finished as the studies expect.

The plan is what the studies' own run() code asks for: each training study runs against a
PlanningCache, which records the runs instead of training them and stops the study at its
first unfinished one. A study whose later runs start from earlier ones' weights (identity's
fine-tunes) lists those once the earlier runs have finished: plan again then (the Ray and
Slurm executors do it for you).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cnnzoo.atomic import write_text_atomic
from cnnzoo.cost.profile import profile
from cnnzoo.data.specs import SPECS, canonical_name
from cnnzoo.factory import create_model
from cnnzoo.studies.base import NeedsData, StudyContext, StudyError
from cnnzoo.studies.cache import CachedRun, Planned, RunCache, train_command
from cnnzoo.studies.registry import RUNS, StudyModule, default_seeds
from cnnzoo.studies.training import trained_input

PLAN_FILE = "plan.jsonl"
# One run-time model, seconds on one thread of one core: it orders a local queue longest
# first, gives the queue's time left (scaled by what the runs already ended took) and a
# plan's CPU-hours. Small nets are bound less by their multiply-adds (forward 1x, backward 2x
# on each training image, forward on each per-epoch test image) than by launching each layer
# every step, and every run has a fixed part (its start, data, final evaluation). Fitted on
# an AMD EPYC (AVX-512) to the quick and full modes' runs timed step by step
# (benchmarks/run_time_model.py: within 0.44-1.26x of each) and to the quick mode's runs in
# the queue (their start: ~3 s). Slowest against it: depthwise and LRN layers. The GPU
# figures are assumptions, not measured (no GPU here): small nets are bound by each step's
# kernel launches (GPU_STEP_S), plus their MACs at bf16's rate.
CPU_S_PER_GMAC, CPU_S_PER_LAYER_STEP, CPU_S_PER_RUN = 0.027, 2.3e-4, 3.0
GPU_MACS_PER_S = 5.0e12  # one data-centre GPU, bf16, about a tenth of its peak
GPU_STEP_S = 0.005  # one small net's training step in eager PyTorch, launch-bound

@dataclass(frozen=True)
class PlanEntry:
    """One line of plan.jsonl: RunCache.train's arguments, where the cache is, and what the
    run is (hash, config, command, cost, studies)."""

    index: int
    hash: str
    root: str  # the cache folder, absolute: every worker must see it at this path
    model: str
    data: str
    seed: int
    fields: dict[str, Any]
    config: dict[str, Any]
    command: str
    cost: dict[str, Any]
    studies: list[str] = field(default_factory=list)
    finished: bool = False

    @property
    def planned(self) -> Planned:
        return Planned(self.model, self.data, self.seed, self.fields)

    @property
    def device(self) -> str:
        return self.config.get("device") or "cpu"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def entry_of(cache: RunCache, p: Planned, index: int = 0,
             studies: Sequence[str] = ()) -> PlanEntry:
    cfg = cache.config(p.model, p.data, seed=p.seed, **p.fields)
    return PlanEntry(index=index, hash=Path(cfg.out).name, root=str(cache.root.resolve()),
                     model=p.model, data=p.data, seed=p.seed,
                     fields=json.loads(json.dumps(p.fields)),  # as plan.jsonl gives them back
                     config=cfg.to_dict(), command=train_command(cfg), cost=cost(p),
                     studies=list(studies), finished=cache.get(cfg) is not None)


def run_entry(entry: PlanEntry, log: Callable[[str], None] = print,
              progress: bool = False) -> CachedRun:
    """Train one plan line into its cache (found there finished: nothing to do). The one
    code path of `study exec`, the local workers, Ray and Slurm."""
    cache = RunCache(entry.root, progress=progress, log=log)
    got = Path(cache.config(entry.model, entry.data, seed=entry.seed, **entry.fields).out).name
    if got != entry.hash:
        raise StudyError(f"plan line {entry.index} hashes to {got}, not {entry.hash}: the plan "
                         "was made by another version of cnnzoo; make it again "
                         "(`cnnzoo study plan`)")
    return cache.train(entry.model, entry.data, seed=entry.seed, **entry.fields)


def work(p: Planned) -> tuple[float, int, int]:
    """(multiply-adds the run computes (the cost model above), its training steps, its
    layers (leaf modules))."""
    shape = tuple(trained_input(p.model, p.data, p.fields))
    spec = SPECS.get(canonical_name(p.data) or p.data)
    model = create_model(p.model, device="meta", in_chans=shape[0],
                         num_classes=spec.num_classes if spec else 10,
                         **p.fields.get("model_options", {}))
    macs = profile(model, shape).macs
    layers = sum(1 for m in model.modules() if next(m.children(), None) is None)
    sizes = {s.name: s.size for s in spec.splits} if spec else {}
    train = p.fields.get("limit_train") or sizes.get("train", 50_000)
    test = p.fields.get("limit_test") or sizes.get("test", 10_000)
    epochs = p.fields.get("epochs") or 1
    steps = epochs * -(-train // (p.fields.get("batch_size") or 64))
    return float(macs) * (3 * train + test) * epochs, steps, layers


def cpu_seconds(macs: float, steps: int, layers: int) -> float:
    """The run-time model above: a run's seconds on one thread of one core."""
    return macs / 1e9 * CPU_S_PER_GMAC + steps * layers * CPU_S_PER_LAYER_STEP + CPU_S_PER_RUN


def cost(p: Planned) -> dict[str, Any]:
    """The run's estimated cost: its MACs and steps, CPU-hours on one thread of one core
    (cpu_seconds) and hours on one GPU."""
    macs, steps, layers = work(p)
    gpu_s = macs / GPU_MACS_PER_S + steps * GPU_STEP_S
    return {"macs": macs, "steps": steps,
            "cpu_hours": _sig(cpu_seconds(macs, steps, layers) / 3600),
            "gpu_hours": _sig(gpu_s / 3600), "estimate": True}


def _sig(x: float) -> float:
    return float(f"{x:.3g}")  # an estimate: three figures say more than it knows


class _Unfinished(Exception):  # noqa: N818 - control flow, never leaves this module
    """The study asked for a run that has not finished: what follows may depend on it."""


class PlanningCache(RunCache):
    """A RunCache that records what a study asks for instead of training it."""

    def __init__(self, root: Path | str) -> None:
        super().__init__(root, progress=False, log=lambda line: None)
        self.planned: list[Planned] = []  # every run asked for, once, in order
        self.asked: set[int] = set()  # indices into `planned` the current study asked for

    def _record(self, plan: Sequence[Planned]) -> bool:
        """Record `plan`; True when one of its runs has not finished."""
        for p in plan:
            if p not in self.planned:
                self.planned.append(p)
            self.asked.add(self.planned.index(p))
        return any(self.get(self.config(p.model, p.data, seed=p.seed, **p.fields)) is None
                   for p in plan)

    def train_all(self, plan: Sequence[Planned]) -> None:
        if self._record(plan):
            raise _Unfinished

    def train(self, model: str, data: str, *, seed: int, **config_fields: Any) -> CachedRun:
        if self._record([Planned(model, data, seed, config_fields)]):
            raise _Unfinished
        return super().train(model, data, seed=seed, **config_fields)  # found finished


@dataclass
class Plan:
    entries: list[PlanEntry]
    waiting: dict[str, str]  # study id -> what it plans once the runs listed have finished
    needs_data: dict[str, str]  # study id -> what it needs


def plan_study(module: StudyModule, cache: PlanningCache, mode: str, seeds: int | None,
               **context: Any) -> bool:
    """Run the study's run() against `cache` in a scratch folder; True when it went through
    (every run it needs is listed and finished), False when it stopped at an unfinished one.
    NeedsData goes up."""
    with tempfile.TemporaryDirectory(prefix=f"cnnzoo-plan-{module.id}-") as scratch:
        ctx = StudyContext(study=module.study, mode=mode,
                           seeds=default_seeds(module, mode, seeds), out=Path(scratch),
                           progress=False, planning=True, **context)
        ctx.runs = cache
        try:
            module.module.run(ctx)
        except _Unfinished:
            return False
    return True


def make_plan(modules: Sequence[StudyModule], out: Path | str, mode: str = "quick",
              seeds: int | None = None, **context: Any) -> Plan:
    """Every training run `modules` need in `mode` (the studies that do not train are left
    out), with the cache under OUT/_runs. Context: data, data_root, device, log,
    train_overrides (StudyContext's fields)."""
    cache = PlanningCache(Path(out) / RUNS)
    users: dict[int, list[str]] = {}
    waiting, needs = {}, {}
    for module in modules:
        if not module.study.seeded:
            continue
        cache.asked = set()
        try:
            went_through = plan_study(module, cache, mode, seeds, **context)
        except NeedsData as e:
            needs[module.id] = str(e).splitlines()[0]
            continue
        if not went_through and module.study.planned_later:
            waiting[module.id] = module.study.planned_later
        for i in sorted(cache.asked):
            users.setdefault(i, []).append(module.id)
    entries = [entry_of(cache, p, i, users.get(i, [])) for i, p in enumerate(cache.planned)]
    return Plan(entries, waiting, needs)


def write_plan(plan: Plan, folder: Path | str) -> Path:
    path = Path(folder) / PLAN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, "".join(e.to_json() + "\n" for e in plan.entries))
    return path


def read_plan(path: Path | str) -> list[PlanEntry]:
    path = Path(path)
    if path.is_dir():
        path = path / PLAN_FILE
    if path.exists() and not path.is_file():
        kind = "folder" if path.is_dir() else "special file"
        raise StudyError(f"{path} is a {kind}, not a plan; give the plan.jsonl that `cnnzoo "
                         "study plan --out DIR` wrote")
    if not path.is_file():
        raise StudyError(f"{path} does not exist; make it with `cnnzoo study plan --out DIR`")
    try:
        return [PlanEntry(**json.loads(line)) for line in path.read_text().splitlines()
                if line.strip()]
    except (json.JSONDecodeError, TypeError) as e:
        raise StudyError(f"{path} is not a plan ({e}); make it again with "
                         "`cnnzoo study plan`") from None


def select(entries: Sequence[PlanEntry], index: int | None = None,
           hash_: str | None = None) -> PlanEntry:
    """The plan line with this index or hash (a unique prefix of it will do)."""
    if index is not None:
        if not 0 <= index < len(entries):
            raise StudyError(f"--index {index} is outside the plan (0 to {len(entries) - 1})")
        return entries[index]
    found = [e for e in entries if hash_ and e.hash.startswith(hash_)]
    if len(found) != 1:
        raise StudyError(f"--hash {hash_} matches {len(found)} plan lines; give one of its "
                         "16-digit hashes")
    return found[0]
