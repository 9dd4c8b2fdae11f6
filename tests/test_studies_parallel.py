"""Several study runs at once (cnnzoo.studies.parallel): the same results as one after
another, reused by the study's own calls, and a Ctrl-C that loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from cnnzoo.studies import parallel
from cnnzoo.studies.cache import DONE, Planned, RunCache
from cnnzoo.studies.parallel import ParallelRunCache

TINY = {"limit_train": 256, "limit_test": 64, "epochs": 2, "batch_size": 32}
PLAN = [Planned("lenet5", "mnist", 0, TINY), Planned("lenet5", "mnist", 1, TINY)]


def _finals(cache: RunCache) -> list[list[dict]]:
    runs = [cache.train(p.model, p.data, seed=p.seed, **p.fields) for p in PLAN]
    assert all(r.cached for r in runs) or not any(r.cached for r in runs)
    return [[{k: e[k] for k in ("train_loss", "test_top1")} for e in r.epochs] for r in runs]


@pytest.mark.slow
def test_runs_at_once_match_runs_one_after_another(tmp_path: Path) -> None:
    logs: list[str] = []
    together = ParallelRunCache(tmp_path / "a", progress=False, log=logs.append, jobs=2)
    together.train_all(PLAN)
    assert logs and "2 runs, 2 at a time with 1 thread each" in logs[0]
    assert all((together.root / d / DONE).is_file() for d in os.listdir(together.root))
    runs = [together.train(p.model, p.data, seed=p.seed, **p.fields) for p in PLAN]
    assert all(r.cached for r in runs)  # the study's own calls train nothing
    alone = RunCache(tmp_path / "b", progress=False, log=lambda s: None)
    assert _finals(alone) == _finals(together)  # bit for bit, seed by seed


SCRIPT = """
import sys
from cnnzoo.studies.cache import Planned, RunCache
from cnnzoo.studies.parallel import ParallelRunCache
fields = {"limit_train": 4096, "limit_test": 64, "epochs": 3, "batch_size": 16}
plan = [Planned("lenet5", "mnist", s, fields) for s in (0, 1)]
cache = ParallelRunCache(sys.argv[1], progress=False, jobs=2)
try:
    cache.train_all(plan)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_after_it_saved_and_a_rerun_resumes(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(root.glob("*/metrics.jsonl"))) < 2:
        time.sleep(0.2)  # both workers are past their first epoch
    assert len(list(root.glob("*/metrics.jsonl"))) == 2, proc.communicate()[0]
    os.kill(proc.pid, signal.SIGINT)  # the parent only, as a terminal's Ctrl-C now is
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted" in out, out
    runs = sorted(root.iterdir())
    assert len(runs) == 2 and not any((r / DONE).exists() for r in runs), out
    assert all((r / "last.pt").is_file() for r in runs)
    done_before = [len((r / "metrics.jsonl").read_text().splitlines()) for r in runs]
    fields = {"limit_train": 4096, "limit_test": 64, "epochs": 3, "batch_size": 16}
    cache = RunCache(root, progress=False, log=lambda s: None)
    for seed in (0, 1):
        run = cache.train("lenet5", "mnist", seed=seed, **fields)
        assert [e["epoch"] for e in run.epochs] == [1, 2, 3]
    after = [json.loads((r / DONE).read_text())["epochs_done"] for r in runs]
    assert after == [3, 3] and min(done_before) >= 1


@pytest.mark.slow
def test_one_queue_trains_every_study_first_and_the_studies_train_nothing(
        tmp_path: Path) -> None:
    """`study run` with --jobs 2: identity's fine-tunes start from degradation's resnet-20,
    so they are planned in a second round, once those have finished; then each study finds
    every run it needs finished, and its verdict equals one computed run by run."""
    from cnnzoo.studies.executors import train_here
    from cnnzoo.studies.plan import make_plan
    from cnnzoo.studies.registry import get
    from cnnzoo.studies.runner import is_current, run_study

    tiny = {"limit_train": 128, "limit_test": 64, "epochs": 1}
    context = {"data": "mnist", "train_overrides": tiny}
    modules = [get("degradation"), get("identity")]
    logs: list[str] = []
    train_here(modules, tmp_path / "q", "quick", 1, jobs=2, log=logs.append, **context)
    rounds = [line.split(";")[0] for line in logs if line.startswith("training ")]
    assert rounds == ["training 4 runs, 2 at a time with 1 thread each",
                      "training 3 runs, 2 at a time with 1 thread each"], logs
    assert all("by the plan's estimate" in line for line in logs if line.startswith("training "))
    first = logs.index(next(line for line in logs if line.startswith("training ")))
    assert logs[first - 1].startswith("identity: 3 fine-tunes a seed") and \
        logs[first - 1].endswith("a second queue, once those have finished")
    ended = [line for line in logs if " runs] " in line]
    assert len(ended) == 7 and all("finished in" in line for line in ended)
    assert all(e.finished for e in make_plan(modules, tmp_path / "q", "quick", 1, **context)
               .entries)
    for module in modules:
        assert not is_current(module, tmp_path / "q", "quick", 1, "mnist")
        queued = run_study(module, mode="quick", seeds=1, data="mnist", out=tmp_path / "q",
                           jobs=2, progress=False, log=lambda s: None, train_overrides=tiny)
        # degradation: its 4 nets; identity: degradation's resnet-20 and its 3 fine-tunes.
        assert queued["environment"]["training_runs"] == 4
        assert is_current(module, tmp_path / "q", "quick", 1, "mnist")
        assert not is_current(module, tmp_path / "q", "quick", 2, "mnist")
        alone = run_study(module, mode="quick", seeds=1, data="mnist", out=tmp_path / "a",
                          jobs=1, progress=False, log=lambda s: None, train_overrides=tiny)
        for key in ("measured", "verdict", "key", "n"):
            assert queued[key] == alone[key], (module.id, key)


def test_the_time_left_is_estimated_from_the_runs_that_ended() -> None:
    def run(estimated_s: float) -> SimpleNamespace:
        return SimpleNamespace(cost={"macs": 1.0, "cpu_hours": estimated_s / 3600})

    pace = parallel._Pace(jobs=2)
    pace.add(run(1), 10.0)
    assert pace.left([run(50)]) == ""  # one run says too little
    pace.add(run(3), 30.0)  # the runs take 10x their estimate here
    assert pace.left([run(3), run(4)]) == "; under a minute of training left"  # 70 s / 2
    assert pace.left([run(20), run(4)]) == "; about 2 min of training left"  # 240 s / 2


def test_the_first_estimate_stretches_with_the_cores_others_keep_busy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    runs = [SimpleNamespace(cost={"cpu_hours": s / 3600}) for s in (200, 100, 60)]
    assert parallel.first_estimate(runs, 2, 0.0) == "; about 3 min by the plan's estimate"
    busy = parallel.first_estimate(runs, 2, 2.0)  # half a core each: twice as long (400 s)
    assert busy == ("; about 7 min by the plan's estimate, other processes keeping 2.0 of "
                    "the 2 cores busy")
    assert parallel.first_estimate(runs[:1], 2, None) == "; about 3 min by the plan's estimate"
    assert parallel.first_estimate(runs, 2, 0.04) == "; about 3 min by the plan's estimate"
    assert parallel.first_estimate(runs, 4, None) == \
        "; about 7 min by the plan's estimate, 4 workers sharing 2 cores"  # 200 s at half
    assert parallel.first_estimate(runs[2:], 1, 0.0) == "; about a minute by the plan's estimate"
    assert parallel.first_estimate([], 2, 0.0) == ""


def test_a_run_is_told_from_the_others_of_its_model_and_seed_by_what_differs() -> None:
    def run(hash_: str, model: str, seed: int, **fields: object) -> SimpleNamespace:
        return SimpleNamespace(hash=hash_, model=model, seed=seed, fields=fields)

    runs = [run("a", "googlenet", 0, epochs=6, aux_weight=0.0),
            run("b", "googlenet", 0, epochs=6, aux_weight=0.3),
            run("c", "googlenet", 1, epochs=6, aux_weight=0.0),  # alone of its seed
            run("d", "net", 0, init_weights="/x/d.pt", model_options={"lrn": True, "alpha": 2}),
            run("e", "net", 0, init_weights="/x/e.pt", model_options={"lrn": False})]
    assert parallel.arm_labels(runs) == {"a": "aux_weight 0.0", "b": "aux_weight 0.3",
                                         "d": "lrn True, alpha 2", "e": "lrn False"}
