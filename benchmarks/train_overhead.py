"""Trainer overhead: `cnnzoo train`'s images/s against a bare PyTorch loop, side by side.

Same model (resnet20, 1 channel, 28x28), batch (256), precision, optimizer (SGD with
momentum) and data (the training split, 28x28, no padding). The bare loop trains on
tensors normalised once up front: no augmentation, no metrics, no checks. The trainer
does everything it always does (per-batch augmentation, loss/accuracy sums, the NaN
check, the schedule). Timed epochs alternate (bare, trainer, bare, trainer, ...) so both
see the same machine load; the median epoch of each is reported.

    .venv/bin/python benchmarks/train_overhead.py [--data mnist] [--reps 3] [--threads N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from cnnzoo import create_model
from cnnzoo.data import load_dataset
from cnnzoo.train import TrainConfig, prepare
from cnnzoo.train.distributed import DistContext


def bare_epoch(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int,
               precision: str, opt: torch.optim.Optimizer) -> float:
    model.train()
    n = len(x) // batch * batch
    t0 = time.perf_counter()
    for i in range(0, n, batch):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = F.cross_entropy(model(x[i:i + batch]), y[i:i + batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return n / (time.perf_counter() - t0)


def trainer_epoch(cfg: TrainConfig) -> float:
    s = prepare(cfg, DistContext(), log=lambda _: None, progress=False)
    stats = s.trainer._train_epoch(_NoStop())
    return stats["images_per_s"]


class _NoStop:
    requested = False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--precisions", default="fp32,bf16")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_dataset(args.data)
    mean, std = ds.mean[0], ds.std[0]
    x = ((ds.train.images.float() / 255 - mean) / std).contiguous()
    y = ds.train.labels
    out = tempfile.mkdtemp(prefix="overhead-")
    print(f"resnet20 1x28x28, batch {args.batch_size}, {len(x):,} images/epoch, "
          f"{torch.get_num_threads()} threads, data {args.data}")
    rows = []
    for precision in args.precisions.split(","):
        torch.manual_seed(0)
        model = create_model("resnet20", num_classes=ds.num_classes, in_chans=1)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        cfg = TrainConfig(model="resnet20", data=args.data, image_size=(28, 28), epochs=1,
                          batch_size=args.batch_size, lr=0.05, precision=precision,
                          out=out)
        bare_epoch(model, x[: 4 * args.batch_size], y, args.batch_size, precision, opt)  # warm
        bare, ours = [], []
        for rep in range(args.reps):
            bare.append(bare_epoch(model, x, y, args.batch_size, precision, opt))
            ours.append(trainer_epoch(cfg))
            print(f"  {precision} rep {rep + 1}: bare {bare[-1]:,.0f} img/s, "
                  f"trainer {ours[-1]:,.0f} img/s", flush=True)
        b, t = statistics.median(bare), statistics.median(ours)
        rows.append((precision, b, t))
    shutil.rmtree(out, ignore_errors=True)
    print("\n| precision | bare loop img/s | trainer img/s | trainer / bare |")
    print("|---|---:|---:|---:|")
    for precision, b, t in rows:
        print(f"| {precision} | {b:,.0f} | {t:,.0f} | {100 * t / b:.0f}% |")


if __name__ == "__main__":
    main()
