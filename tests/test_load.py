"""cnnzoo.load: the cores other processes leave free, and the thread count that follows."""

from __future__ import annotations

import os

import pytest
import torch

from cnnzoo import load


def test_free_cores_counts_a_core_taken_when_it_is_mostly_busy() -> None:
    assert load.free_cores(0.0, 2) == 2
    assert load.free_cores(0.3, 2) == 2  # a short background job leaves both
    assert load.free_cores(0.7, 2) == 1
    assert load.free_cores(2.0, 2) == 1  # never fewer than one
    assert load.free_cores(1.2, 8) == 7
    assert load.free_cores(None, 4) == 4  # no /proc/stat: nothing known to be taken


class _Clock:
    """Stands in for /proc/stat and os.times: the machine's and this process's CPU seconds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now, self.machine, self.own = 100.0, 0.0, 0.0
        monkeypatch.setattr(load.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(load.time, "sleep", self.advance_idle)
        monkeypatch.setattr(load, "_machine_busy_seconds", lambda: self.machine)
        monkeypatch.setattr(load.os, "times",
                            lambda: os.times_result((self.own, 0.0, 0.0, 0.0, 0.0)))
        monkeypatch.setattr(load, "cores", lambda: 2)
        self.others = 0.0

    def advance_idle(self, seconds: float) -> None:
        self.advance(seconds, own_cores=0.0)

    def advance(self, seconds: float, own_cores: float) -> None:
        self.now += seconds
        self.own += own_cores * seconds
        self.machine += (own_cores + self.others) * seconds


def test_others_busy_leaves_out_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock(monkeypatch)
    clock.others = 1.5
    first = load._Counters()
    clock.advance(4.0, own_cores=2.0)  # this process's own threads are not "others"
    assert load._Counters().others_since(first) == pytest.approx(1.5)


def test_the_governor_follows_other_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock(monkeypatch)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        clock.others = 2.0  # two busy processes when training starts
        cores = load.ThreadGovernor(every_s=2.0)
        assert (cores.limit, cores.threads, torch.get_num_threads()) == (2, 1, 1)
        clock.others = 0.0  # they stop
        clock.advance(1.0, own_cores=1.0)
        cores.step()
        assert cores.threads == 1  # judged again only after every_s
        clock.advance(1.5, own_cores=1.0)
        cores.step()
        assert (cores.threads, torch.get_num_threads()) == (2, 2)
        assert cores.take_fewest() == 1 and cores.take_fewest() == 2
        clock.others = 1.0  # one comes back
        clock.advance(2.5, own_cores=1.0)
        cores.step()
        assert cores.threads == 1
        cores.release()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_snapshot_names_the_load() -> None:
    snap = load.snapshot()
    assert snap.cores >= 1 and snap.others_running >= 0 and snap.load_1min >= 0
    busier = load.worse(snap, load.Load(snap.load_1min + 1, snap.others_running + 5, snap.cores))
    assert busier.busy() and "other processes running" in busier.text()


def test_a_failed_run_gives_back_the_threads_it_took(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path) -> None:
    from cnnzoo.errors import TrainingError
    from cnnzoo.train import TrainConfig, train

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(load, "free_cores", lambda others, total=None: 1)  # busy machine
        out = tmp_path / "run"
        (out / "metrics.jsonl").mkdir(parents=True)  # the first epoch's record cannot be written
        with pytest.raises(TrainingError):
            train(TrainConfig(model="lenet5", data="mnist", epochs=2, limit_train=128,
                              limit_test=64, out=str(out)), log=lambda s: None, progress=False,
                  plots=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
