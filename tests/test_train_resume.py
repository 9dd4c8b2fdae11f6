"""Killed and resumed runs end bit-identical to an uninterrupted one (real subprocesses).

The model has batch norm and dropout, SGD has momentum, the schedule is cosine and the
data is augmented: every piece of state a resume must restore is exercised.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
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


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cnnzoo", *args], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_epochs(run: Path, n: int, proc: subprocess.Popen, timeout: float = 600) -> None:
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()[1][-2000:]}")
        time.sleep(0.01)
    raise AssertionError("timed out waiting for an epoch")


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
    proc = start("train", *RUN, "--out", str(out), "--no-progress")
    wait_for_epochs(out, 1, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    killed_at = torch.load(out / "last.pt", weights_only=True)["epoch"]
    assert 1 <= killed_at < EPOCHS, "the kill must land before the run ends"
    resumed = cnnzoo("train", "--resume", str(out), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from {out / 'last.pt'}" in resumed.stdout
    assert_same_state(reference, out)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_saves_mid_epoch_and_resume_is_bit_identical(
    reference: Path, tmp_path: Path, signum: int
) -> None:
    out = tmp_path / "run"
    proc = start("train", *RUN, "--out", str(out), "--no-progress")
    wait_for_epochs(out, 1, proc)
    first = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    time.sleep(0.4 * first["seconds"])  # well into epoch 2's steps
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr[-2000:]
    assert not (out / ".lock").exists() and not list(out.glob(".*.tmp*"))
    assert "interrupted" in stdout and "Traceback" not in stderr
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["epoch"] == 1 and state["batch"] > 0, "saved inside epoch 2"
    assert f"step {state['batch'] + 1}" in stdout
    resumed = cnnzoo("train", "--resume", str(out), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_state(reference, out)
