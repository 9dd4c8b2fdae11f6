"""Training speed by precision and memory format: which `cnnzoo train` flags are fastest here.

One SGD step (forward, backward, update) of each model on a fixed random batch, timed
after two warm-up steps; images/s is the median of --reps timed blocks. The data's values
do not change the speed of these models, so random inputs are honest here. Sizes are the
ones the Fashion-MNIST runs use (docs/benchmarks.md).

    .venv/bin/python benchmarks/train_speed.py [--threads 2] [--reps 3] [--compile]

bf16 runs as `cnnzoo train --precision bf16` does on CPU: autocast, with the depthwise
convolutions kept in fp32 (cnnzoo.train.precision.depthwise_in_fp32); --plain-autocast
measures autocast alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from cnnzoo import create_model
from cnnzoo.train.precision import depthwise_in_fp32

MODELS = {  # name: (options, input side)
    "lenet5": ({}, 32),
    "resnet20": ({}, 28),
    "mobilenet_v2": ({"width": 0.5}, 32),
}


def images_per_s(name: str, precision: str, channels_last: bool, compiled: bool,
                 batch: int, reps: int, plain_autocast: bool = False) -> float:
    options, side = MODELS[name]
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_chans=1, **options)
    x = torch.randn(batch, 1, side, side)
    y = torch.randint(0, 10, (batch,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if not plain_autocast:
        depthwise_in_fp32(model, torch.device("cpu"), precision)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    net = torch.compile(model) if compiled else model

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    step()
    steps = max(4, 4096 // batch)
    rates = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * batch / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="add torch.compile rows (slow)")
    ap.add_argument("--plain-autocast", action="store_true",
                    help="bf16: autocast alone, depthwise convolutions in bf16 too")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    mode = "plain autocast" if args.plain_autocast else "depthwise convolutions in fp32"
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}, "
          f"bf16: {mode}, "
          f"load average {os.getloadavg()[0]:.2f}\n")
    print("| model | precision | memory format | compiled | train images/s |")
    print("|---|---|---|---|---:|")
    variants = [(p, cl, False) for p in ("fp32", "bf16") for cl in (False, True)]
    if args.compile:
        variants += [(p, True, True) for p in ("fp32", "bf16")]
    for name in MODELS:
        for precision, channels_last, compiled in variants:
            rate = images_per_s(name, precision, channels_last, compiled, args.batch_size,
                                args.reps, args.plain_autocast)
            fmt = "channels_last" if channels_last else "contiguous"
            print(f"| {name} | {precision} | {fmt} | {'yes' if compiled else 'no'} | "
                  f"{rate:,.0f} |", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
