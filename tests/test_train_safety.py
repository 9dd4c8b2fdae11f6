"""A run never saves what it cannot stand behind, and a run folder it cannot use is one
clear error before any work (issue 14)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cnnzoo.errors import TrainingError
from cnnzoo.train import TrainConfig, train
from cnnzoo.train.checkpoint import load_checkpoint, repair_best, save_checkpoint, weights_epoch
from cnnzoo.train.rundir import LOCK, RunDir

QUICK = dict(model="lenet5", data="mnist", limit_train=256, limit_test=64, batch_size=128,
             epochs=2, threads=1)


def _cfg(out: Path, **kw) -> TrainConfig:
    return TrainConfig(**{**QUICK, "out": str(out), **kw})


def _run(out: Path, **kw):
    return train(_cfg(out, **kw), log=lambda s: None, progress=False)


def test_nonfinite_weights_are_never_saved(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(TrainingError, match=r"weights became non-finite \(c1.weight.*epoch 1, "
                                            r"its last step; stopped without saving"):
        cfg = _cfg(out)
        cfg.lr = 1e37  # past TrainConfig's bound (lr <= 10): the loss is still finite at
        train(cfg, log=lambda s: None, progress=False)  # the first step, the weights not
    assert not out.exists()  # created by the run, left empty: removed


def test_nan_stop_keeps_the_last_finite_checkpoint(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    _run(out, epochs=1)
    before = load_checkpoint(out / "last.pt")
    from cnnzoo.train import loop

    real = loop.Trainer._train_epoch

    def poisoned(self, stop):  # the second epoch's weights turn to NaN
        with torch.no_grad():
            next(self.raw.parameters()).fill_(float("nan"))
        return real(self, stop)

    monkeypatch.setattr(loop.Trainer, "_train_epoch", poisoned)
    from cnnzoo.train import resume_config

    with pytest.raises(TrainingError, match="loss became nan at epoch 2, step 1/2.*last good "
                                            "checkpoint is .*last.pt"):
        train(resume_config(out, {"epochs": 2}), resume=True, log=lambda s: None,
              progress=False)
    after = load_checkpoint(out / "last.pt")
    assert after["epoch"] == 1 and torch.equal(after["model"]["c1.weight"],
                                               before["model"]["c1.weight"])
    assert not (out / LOCK).exists()


def test_a_second_trainer_gets_a_clear_error_and_a_dead_ones_lock_is_taken(
        tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / LOCK).write_text(f"{sleeper.pid} {os.uname().nodename}\n")
        with pytest.raises(TrainingError, match=f"in use by another trainer \\(PID "
                                                f"{sleeper.pid}\\)"):
            _run(out)
        assert out.is_dir()  # someone else's folder: left alone
    finally:
        sleeper.kill()
        sleeper.wait()
    (out / ".last.pt.abc123.tmp").write_bytes(b"half a checkpoint")  # a killed run's
    (out / ".curves.tmp.png").write_bytes(b"half a plot")
    result = _run(out, epochs=1)
    assert result.epochs_done == 1 and not (out / LOCK).exists()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_out_naming_a_file_or_an_unwritable_folder(tmp_path: Path, monkeypatch) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    with pytest.raises(TrainingError, match="notes.txt is a file, not a folder"):
        _run(afile)
    def read_only(lock):  # the lock is the first file a run writes
        raise OSError(errno.EROFS, "Read-only file system", str(lock))

    monkeypatch.setattr(RunDir, "_create_lock", staticmethod(read_only))
    out = tmp_path / "new" / "run"
    with pytest.raises(TrainingError, match=r"cannot write into .*run \(the file system is "
                                            r"read-only\); choose another folder"):
        _run(out)
    assert not (tmp_path / "new").exists()


def test_disk_full_mid_run_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    _run(out, epochs=1)
    good = (out / "last.pt").read_bytes()

    def full(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    from cnnzoo.train import resume_config

    with pytest.raises(TrainingError, match=r"cannot write into .*run \(the disk is full\); "
                                            r"the previous checkpoint is intact"):
        train(resume_config(out, {"epochs": 2}), resume=True, log=lambda s: None,
              progress=False)
    assert (out / "last.pt").read_bytes() == good
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_stale_best_is_repaired_from_best_pt(tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run(out, epochs=1)
    from cnnzoo.factory import create_model
    from cnnzoo.weights import read_weights, save_weights

    last = load_checkpoint(out / "last.pt")
    best_tensors = read_weights(out / "best.safetensors")[0]
    # As a kill between the writes once left it: best.safetensors older than last.pt says.
    stale = create_model("lenet5")
    save_weights(stale, out / "best.safetensors", epoch=0)
    last["best"]["epoch"] = 1
    model = create_model("lenet5")
    note = repair_best(model, out / "best.safetensors", out / "best.pt", last,
                       lambda: save_weights(model, out / "best.safetensors", epoch=1))
    assert note and note.startswith("repaired")
    assert weights_epoch(out / "best.safetensors") == 1
    repaired = read_weights(out / "best.safetensors")[0]
    assert all(torch.equal(repaired[k], v) for k, v in best_tensors.items())


def test_run_dir_lock_is_released_and_checkpoint_writes_are_atomic(tmp_path: Path) -> None:
    with RunDir(tmp_path / "r") as held:
        assert (held.out / LOCK).is_file()
    assert not (tmp_path / "r").exists()  # created, nothing written: removed
    save_checkpoint(tmp_path / "c.pt", {"x": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_the_lock_appears_whole_or_not_at_all(tmp_path: Path, monkeypatch) -> None:
    lock = tmp_path / LOCK
    seen: list[str] = []
    real_link = os.link

    def link(src, dst):  # what another trainer could read the moment the lock exists
        real_link(src, dst)
        seen.append(Path(dst).read_text())

    monkeypatch.setattr(os, "link", link)
    RunDir._create_lock(lock)
    assert seen == [f"{os.getpid()} {os.uname().nodename}\n"]
    with pytest.raises(FileExistsError):
        RunDir._create_lock(lock)  # held: refused, and its draft is gone
    assert sorted(p.name for p in tmp_path.iterdir()) == [LOCK]
