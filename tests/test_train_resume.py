"""Killed and resumed runs end bit-identical to an uninterrupted one (real subprocesses).

The model has batch norm and dropout, SGD has momentum, the schedule is cosine and the
data is augmented: every piece of state a resume must restore is exercised.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

# Real subprocesses training real runs: tens of seconds; the full suite (`make test`) only.
pytestmark = pytest.mark.slow

# Small enough for CI (each run is seconds), with 8 steps an epoch for a signal to land in.
EPOCHS = 3
RUN = ["mobilenet_v2", "--width", "0.25", "--dropout", "0.2", "--data", "mnist",
       "--image-size", "32", "--limit-train", "256", "--limit-test", "64", "--epochs",
       str(EPOCHS), "--batch-size", "32", "--lr", "0.05", "--threads", "1", "--seed", "7"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def cnnzoo(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnzoo", *args], env=ENV, text=True,
                          capture_output=True, timeout=timeout)


STEPS = 8  # an epoch: 256 images at batch 32
SIGNALLED = Path(__file__).with_name("train_signalled.py")


def signalled(signum: signal.Signals, step: int, *args: str) -> subprocess.CompletedProcess:
    """`cnnzoo train ARGS` that sends itself `signum` as global step `step` begins."""
    return subprocess.run([sys.executable, str(SIGNALLED), signum.name, str(step), *args],
                          env=ENV, text=True, capture_output=True, timeout=600)


def assert_same_state(a: Path, b: Path) -> None:
    sa = torch.load(a / "last.pt", weights_only=True)
    sb = torch.load(b / "last.pt", weights_only=True)
    assert sa["epoch"] == sb["epoch"] == EPOCHS
    for k, v in sa["model"].items():
        assert torch.equal(v, sb["model"][k]), f"weights differ in {k}"
    for i, state in sa["optimizer"]["state"].items():
        assert torch.equal(state["momentum_buffer"], sb["optimizer"]["state"][i]["momentum_buffer"])
    assert [r["test_top1"] for r in sa["history"]] == [r["test_top1"] for r in sb["history"]]
    assert [r["train_loss"] for r in sa["history"]] == [r["train_loss"] for r in sb["history"]]
    lines_b = (b / "metrics.jsonl").read_text().splitlines()
    assert len(lines_b) == EPOCHS  # no epoch logged twice after the resume


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    done = cnnzoo("train", *RUN, "--out", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_sigkill_then_resume_is_bit_identical(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    killed = signalled(signal.SIGKILL, STEPS + 3, *RUN, "--out", str(out), "--no-progress")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1  # killed in epoch 2
    resumed = cnnzoo("train", "--resume", str(out), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from {out / 'last.pt'}" in resumed.stdout
    assert_same_state(reference, out)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_saves_mid_epoch_and_resume_is_bit_identical(
    reference: Path, tmp_path: Path, signum: int
) -> None:
    out = tmp_path / "run"
    stopped = signalled(signum, STEPS + 3, *RUN, "--out", str(out), "--no-progress")
    stdout, stderr = stopped.stdout, stopped.stderr
    assert stopped.returncode == 128 + signum, stderr[-2000:]
    assert not (out / ".lock").exists() and not list(out.glob(".*.tmp*"))
    assert "interrupted" in stdout and "Traceback" not in stderr
    state = torch.load(out / "last.pt", weights_only=True)
    # Signalled as epoch 2's fourth step began: that step completes, the fifth does not.
    assert (state["epoch"], state["batch"]) == (1, 4), "saved inside epoch 2"
    assert f"step {state['batch'] + 1}" in stdout
    resumed = cnnzoo("train", "--resume", str(out), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_state(reference, out)
