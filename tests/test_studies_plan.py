"""The studies' runs as a plan (cnnzoo.studies.plan) that any scheduler executes by index:
`study plan`, `study exec` (twice at once trains once), submitit's local executor, and a
real local Ray cluster (the same verdicts as local workers; a killed worker's task is run
again and resumes its run bit for bit)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import cnnzoo
from cnnzoo.studies import lrn
from cnnzoo.studies.base import StudyError
from cnnzoo.studies.cache import CLAIM, DONE, Planned, RunCache
from cnnzoo.studies.executors import _ranges, sbatch_script, summary
from cnnzoo.studies.plan import (
    Plan,
    entry_of,
    make_plan,
    read_plan,
    run_entry,
    select,
    write_plan,
)
from cnnzoo.studies.registry import get
from cnnzoo.train.checkpoint import load_checkpoint

TINY = {"limit_train": 256, "limit_test": 64, "epochs": 1}
SRC = str(Path(cnnzoo.__file__).resolve().parents[1])


def _plan(out: Path, **fields: object) -> Path:
    """A plan of one or two LeNet-5 runs on the embedded digits."""
    cache = RunCache(out / "_runs")
    runs = [Planned("lenet5", "mnist", seed, {**TINY, **fields}) for seed in (0, 1)]
    return write_plan(Plan([entry_of(cache, p, i) for i, p in enumerate(runs)], {}, {}), out)


def test_plan_lists_what_the_study_asks_for_without_training(tmp_path: Path) -> None:
    plan = make_plan([get("depthwise-accuracy"), get("params")], tmp_path, "quick", 2,
                     data="mnist", train_overrides=TINY)
    assert len(plan.entries) == 4  # 2 arms x 2 seeds; params trains nothing
    assert not list((tmp_path / "_runs").glob("*/last.pt"))
    cache = RunCache(tmp_path / "_runs")
    for i, e in enumerate(plan.entries):
        cfg = cache.config(e.model, e.data, seed=e.seed, **e.fields)
        assert (e.index, e.hash, e.config) == (i, Path(cfg.out).name, cfg.to_dict())
        assert e.command.startswith("cnnzoo train study_small_convnet ") and e.hash in e.command
        assert e.studies == ["depthwise-accuracy"] and not e.finished
        assert e.cost["cpu_hours"] > 0 and e.cost["estimate"]
    assert sorted(e.seed for e in plan.entries) == [0, 0, 1, 1]
    path = write_plan(plan, tmp_path)
    assert read_plan(path) == plan.entries == read_plan(tmp_path)
    assert select(plan.entries, hash_=plan.entries[2].hash[:10]) == plan.entries[2]
    with pytest.raises(StudyError, match="outside the plan"):
        select(plan.entries, index=4)
    assert summary(plan).startswith("4 training runs, 0 already finished; the 4 to train")


def test_a_plan_made_by_another_version_is_refused(tmp_path: Path) -> None:
    from cnnzoo.studies.plan import run_entry

    (entry, _) = read_plan(_plan(tmp_path))
    with pytest.raises(StudyError, match="another version of cnnzoo"):
        run_entry(entry.__class__(**{**entry.__dict__, "hash": "0" * 16}))


def test_sbatch_script_is_a_job_array_of_the_pending_lines(tmp_path: Path) -> None:
    assert _ranges([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8" and _ranges([3]) == "3"
    entries = read_plan(_plan(tmp_path))
    script = sbatch_script(tmp_path / "plan.jsonl", entries[1:])
    assert "#SBATCH --array=1%64" in script
    assert script.rstrip().endswith(f'study exec {tmp_path / "plan.jsonl"} --index '
                                    '"$SLURM_ARRAY_TASK_ID"')


def _epochs(folder: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (folder / "metrics.jsonl").read_text()
            .splitlines()]


def _exec(plan: Path, index: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": SRC}
    return subprocess.Popen([sys.executable, "-m", "cnnzoo", "study", "exec", str(plan),
                             "--index", str(index)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_exec_twice_at_once_trains_the_run_once(tmp_path: Path) -> None:
    plan = _plan(tmp_path, epochs=3)
    procs = [_exec(plan, 0), _exec(plan, 0)]
    outs = [(p.communicate(timeout=300)[0], p.returncode) for p in procs]
    trained = [o for o, rc in outs if rc == 0 and "finished (" in o]
    others = [o for o, rc in outs if o not in trained]
    assert len(trained) == 1, outs
    # the second was refused by the claim, or came after the first had finished
    (other,) = others
    assert "is being trained by another process" in other or "already finished" in other, outs
    run = read_plan(plan)[0]
    folder = Path(run.root) / run.hash
    assert _epochs(folder) == [1, 2, 3]
    assert (folder / DONE).is_file() and not (folder / CLAIM).exists()
    again = _exec(plan, 0)
    assert "already finished" in again.communicate(timeout=120)[0] and again.returncode == 0


@pytest.mark.slow
def test_submitit_local_executor_runs_a_plan(tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    from cnnzoo.studies.executors import run_with_submitit

    path = _plan(tmp_path)
    entries = read_plan(path)
    os.environ.setdefault("PYTHONPATH", SRC)
    run_with_submitit(entries, path, tmp_path / "slurm", cluster="local", log=lambda s: None)
    assert all((Path(e.root) / e.hash / DONE).is_file() for e in entries)
    assert list((tmp_path / "slurm").glob("*_0_log.out"))  # submitit's own job logs


# Ray -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """A local Ray cluster of 2 CPUs whose files (sessions, logs, the token Ray writes under
    the home folder) all stay in the test's temporary folder."""
    ray = pytest.importorskip("ray")
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("HOME", "RAY_TMPDIR", "TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
            mp.setenv(var, str(home))
        mp.setenv("PYTHONPATH", os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
        mp.setenv("OMP_NUM_THREADS", "1")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 _temp_dir=str(tmp_path_factory.mktemp("ray")))
        try:
            yield ray
        finally:
            ray.shutdown()


@pytest.mark.slow
def test_ray_gives_the_verdicts_of_the_local_workers(ray_cluster, tmp_path: Path) -> None:
    from cnnzoo.studies.executors import run_with_ray, train_plan
    from cnnzoo.studies.runner import run_study

    module = get("depthwise-accuracy")
    context = {"data": "mnist", "train_overrides": TINY}
    plan = train_plan([module], tmp_path / "ray", "quick", 1, run_with_ray,
                      log=lambda s: None, **context)
    assert len(plan.entries) == 2 and all(e.finished for e in plan.entries)
    results = {where: run_study(module, mode="quick", seeds=1, out=tmp_path / where, jobs=2,
                                progress=False, log=lambda s: None, **context)
               for where in ("ray", "local")}
    for key in ("measured", "verdict", "key", "reason", "n"):
        assert results["ray"][key] == results["local"][key], key
    for name in ("final.csv", "runs.csv"):
        assert (tmp_path / "ray" / module.id / name).read_bytes() == \
            (tmp_path / "local" / module.id / name).read_bytes()


@pytest.mark.slow
def test_a_killed_ray_worker_is_retried_and_resumes_bit_for_bit(ray_cluster,
                                                                 tmp_path: Path) -> None:
    from cnnzoo.studies.executors import run_with_ray

    # Ten epochs: the kill, sent once epoch 1 is saved, must land before the run ends even
    # when a busy machine delays this thread (nine epochs of the worker's time).
    fields = {"limit_train": 512, "limit_test": 64, "epochs": 10, "batch_size": 32}
    (entry, _) = read_plan(_plan(tmp_path / "ray", **fields))
    folder = Path(entry.root) / entry.hash
    killed: list[tuple[int, bool]] = []

    def kill_after_first_epoch() -> None:
        deadline = time.monotonic() + 300
        while not (folder / "metrics.jsonl").is_file():  # epoch 1 saved (metrics come last)
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        pid = int((folder / CLAIM).read_text().split()[0])  # the Ray worker training it
        os.kill(pid, signal.SIGKILL)
        killed.append((pid, (folder / DONE).exists()))

    killer = threading.Thread(target=kill_after_first_epoch, daemon=True)
    killer.start()
    run_with_ray([entry], log=lambda s: None)
    killer.join(timeout=60)
    assert killed and killed[0][1] is False  # killed mid-run, then retried to the end
    assert _epochs(folder) == list(range(1, 11)) and (folder / DONE).is_file()
    alone = RunCache(tmp_path / "alone", progress=False, log=lambda s: None)
    uninterrupted = alone.train("lenet5", "mnist", seed=0, **{**TINY, **fields})
    resumed, whole = (load_checkpoint(p / "last.pt")["model"] for p in
                      (folder, uninterrupted.out))
    assert resumed.keys() == whole.keys()
    assert all(torch.equal(resumed[k], whole[k]) for k in whole)


def test_exec_of_a_missing_plan_or_line_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from cnnzoo.cli import main

    assert main(["study", "exec", str(tmp_path / "nope.jsonl"), "--index", "0"]) == 2
    assert "make it with `cnnzoo study plan" in capsys.readouterr().err
    assert main(["study", "exec", str(_plan(tmp_path)), "--index", "7"]) == 2
    err = capsys.readouterr().err
    assert "outside the plan (0 to 1)" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "d" / "plan.jsonl").mkdir(parents=True)
    assert main(["study", "exec", str(tmp_path / "d"), "--index", "0"]) == 2
    err = capsys.readouterr().err
    assert "plan.jsonl is a folder, not a plan" in err and len(err.strip().splitlines()) == 1


def test_study_run_queues_the_runs_of_the_studies_that_will_run(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """`study run --jobs 2` hands train_here the studies run_study will run (not those reused
    as finished, unless --force) with the context run_study gets; a failing queue leaves each
    study to train its own runs."""
    from cnnzoo.cli import main
    from cnnzoo.cli import study as cli

    queued, ran = [], []
    monkeypatch.setattr(cli, "train_here", lambda modules, out, mode, seeds, jobs, **ctx:
                        queued.append(([m.id for m in modules], mode, seeds, jobs, ctx)))
    monkeypatch.setattr(cli, "run_study", lambda module, **kw: ran.append(kw) or {
        "verdict": "confirmed", "n": 3, "key": "", "elapsed_s": 0.0, "skipped": False})
    monkeypatch.setattr(cli, "report", lambda out: out / "report.html")
    monkeypatch.setattr(cli, "is_current", lambda m, *a: m.id == "lrn")
    args = ["study", "run", "lrn", "depthwise-accuracy", "params", "--jobs", "2", "--seeds",
            "3", "--data", "mnist", "--out", str(tmp_path)]
    assert main(args) == 0
    assert queued == [(["depthwise-accuracy", "params"], "quick", 3, 2,
                       {"data": "mnist", "data_root": None, "device": None})]
    assert all(kw["data"] == "mnist" and kw["seeds"] == 3 and kw["mode"] == "quick"
               for kw in ran)
    assert main([*args, "--force"]) == 0
    assert queued[-1][0] == ["lrn", "depthwise-accuracy", "params"]
    assert main([*args, "--jobs", "1"]) == 0 and len(queued) == 2  # one at a time: no queue

    def broken(*a: object, **k: object) -> None:
        raise KeyError("fashion-mnist")

    monkeypatch.setattr(cli, "train_here", broken)
    assert main(args) == 0 and len(ran) == 12  # 3 studies x 4 calls: every one still ran
    assert "note: the shared queue stopped (KeyError" in capsys.readouterr().out


@pytest.mark.slow
def test_planning_a_finished_study_skips_what_it_measures(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """A plan only lists runs: lrn's activity and timing, measured beside its finished runs,
    are left to the study itself (`study run --force` plans before it runs)."""
    context = {"data": "mnist", "train_overrides": TINY}
    for e in make_plan([get("lrn")], tmp_path, "quick", 1, **context).entries:
        run_entry(e, log=lambda line: None)

    def measured(*args: object, **kwargs: object) -> None:
        raise AssertionError("lrn measured while planning")

    monkeypatch.setattr(lrn, "time_lrn", measured)
    monkeypatch.setattr(lrn, "lrn_activity", measured)
    plan = make_plan([get("lrn")], tmp_path, "quick", 1, **context)
    assert len(plan.entries) == 2 and all(e.finished for e in plan.entries)
