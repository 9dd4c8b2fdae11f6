"""Two CPU processes under torchrun (gloo) against one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cnnzoo.train import TrainConfig, train

# Real subprocesses training real runs: tens of seconds; the full suite (`make test`) only.
pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("train_ddp_worker.py")


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def torchrun(out: Path, config: str) -> tuple[dict, dict]:
    """Both ranks' final weights."""
    out.mkdir(exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(WORKER), str(out), config]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return (torch.load(out / "rank0.pt", weights_only=True),
            torch.load(out / "rank1.pt", weights_only=True))


def assert_equal_weights(rank0: dict, rank1: dict) -> None:
    assert rank0.keys() == rank1.keys()
    for k in rank0:
        assert torch.equal(rank0[k], rank1[k]), f"ranks differ in {k}"


def test_two_processes_match_one_process(tmp_path: Path) -> None:
    ddp = tmp_path / "ddp"
    rank0, rank1 = torchrun(ddp, "plain")
    assert_equal_weights(rank0, rank1)

    single = tmp_path / "single"
    train(TrainConfig(model="lenet5_modern", data="mnist", batch_size=64, lr=0.2, epochs=2,
                      limit_train=1024, limit_test=300, augment=False, threads=1, out=str(single)),
          log=lambda s: None, progress=False)
    two, one = _metrics(ddp), _metrics(single)
    assert len(two) == len(one) == 2
    for a, b in zip(two, one, strict=True):
        # 300 test images over 2 ranks: every image counted once, none padded in.
        assert a["test_count"] == b["test_count"] == 300
        # Same data order and global batch, no augmentation, no batch norm: only the
        # order in which gradients are summed differs, so the runs agree closely.
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-3)
        assert a["test_top1"] == pytest.approx(b["test_top1"], abs=2 / 300)
    assert one[-1]["test_top1"] > 0.5  # it learned: the comparison is not of two untrained nets
    # The checkpoint written by rank 0 holds the weights both ranks ended with.
    last = torch.load(ddp / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(last[k], rank0[k]) for k in rank0)


def test_batch_norm_buffers_uneven_test_shards_and_resume(tmp_path: Path) -> None:
    # 513 test images, 256 per evaluation batch: rank 0 has two batches, rank 1 one.
    rank0, rank1 = torchrun(tmp_path / "bn", "bn")
    assert any("running_mean" in k for k in rank0)
    assert_equal_weights(rank0, rank1)
    assert [r["test_count"] for r in _metrics(tmp_path / "bn")] == [513]
    # Resuming under torchrun restores each rank's own RNG stream and stays in step.
    rank0, rank1 = torchrun(tmp_path / "bn", "bn-resume")
    assert_equal_weights(rank0, rank1)
    assert [r["epoch"] for r in _metrics(tmp_path / "bn")] == [1, 2]
