"""Where a study run's time goes, and which speed-up wins: one training step of the study
nets (one thread, as every study run trains), under each candidate, side by side.

Variants, timed in alternating rounds (A B C A B C ...) so a load change hits all alike:
  fp32           the studies' path: SGD with momentum, for-each loop over parameters
  foreach        SGD's multi-tensor (foreach) update
  channels_last  inputs and weights in channels-last memory format
  bf16           autocast to bfloat16 (only where the CPU has native bf16: avx512_bf16/AMX)
  compile        torch.compile of the model (the first call's compile time reported apart)
Reports each variant's median ms per step and its ratio to fp32 in the same round.

    .venv/bin/python benchmarks/study_step_speed.py [--rounds 5] [--steps 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from cnnzoo import create_model
from cnnzoo.precision import native_bf16
from cnnzoo.studies.runner import environment

# (model, options, side, batch): the quick-mode runs of the training studies.
NETS = (
    ("resnet56", {"width": 8}, 14, 32),  # degradation's costliest
    ("resnet20", {"width": 8}, 14, 32),
    ("study_small_convnet", {"width": 16, "separable": True}, 14, 32),  # depthwise-accuracy
    ("mobilenet_v2", {"width": 0.25}, 48, 64),  # v2-vs-v1's proxy
)


def step_fn(name: str, options: dict, side: int, batch: int, variant: str
            ) -> tuple[Callable[[], None], float]:
    """One training step of a fresh net under `variant`, and its set-up seconds."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_chans=1, **options).train()
    x, y = torch.randn(batch, 1, side, side), torch.randint(0, 10, (batch,))
    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4,
                          foreach=variant == "foreach")
    net: Callable = torch.compile(model) if variant == "compile" else model
    dtype = torch.bfloat16

    def step() -> None:
        with torch.autocast("cpu", dtype=dtype, enabled=variant == "bf16"):
            loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    step()  # the first call: compile time for `compile`
    return step, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--variants", default="fp32,foreach,channels_last,bf16,compile")
    args = ap.parse_args()
    torch.set_num_threads(1)
    variants = [v for v in args.variants.split(",") if v != "bf16" or native_bf16()]
    env = environment()
    print(f"cpu: {env['cpu']}; native bf16: {native_bf16()}; torch {env['torch']}; "
          f"1 thread; load {env['load_1min']}; git {env['git_commit']}")
    print("| net | batch | " + " | ".join(f"{v} ms/step (x fp32)" for v in variants) + " |")
    print("|---|---:|" + "---:|" * len(variants))
    for name, options, side, batch in NETS:
        fns, setup = {}, {}
        for v in variants:
            fns[v], setup[v] = step_fn(name, options, side, batch, v)
            for _ in range(2):
                fns[v]()
        ms: dict[str, list[float]] = {v: [] for v in variants}
        ratio: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.rounds):
            this = {}
            for v in variants:
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    fns[v]()
                this[v] = 1000 * (time.perf_counter() - t0) / args.steps
                ms[v].append(this[v])
            for v in variants:
                ratio[v].append(this[v] / this["fp32"])
        cells = [f"{statistics.median(ms[v]):.1f} ({statistics.median(ratio[v]):.2f})"
                 for v in variants]
        extra = f" compile's first call {setup['compile']:.0f} s;" if "compile" in setup else ""
        print(f"| {name} {options} {side}x{side} | {batch} | " + " | ".join(cells) + " |"
              + (f" <!--{extra} -->" if extra else ""))
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
