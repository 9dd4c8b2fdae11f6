"""The plans' run-time model (cnnzoo.studies.plan.cpu_seconds) against measured step times:
for each distinct net of the quick and full modes' runs (model, options, image size: arms
that differ only in their recipe, such as inception-aux's loss weight, are timed once),
one training step and one evaluation image timed on one thread, in the run's own layout and
optimizer; the run's time is then its steps times the step, plus its per-epoch and final
evaluations times the image (the run's start is left out). Prints each run's measured and
modelled seconds, and the three coefficients refitted to minimise the relative error.

    .venv/bin/python benchmarks/run_time_model.py [--steps 8] [--modes quick full]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np
import torch

from cnnzoo.factory import create_model
from cnnzoo.studies.plan import (
    CPU_S_PER_GMAC,
    CPU_S_PER_LAYER_STEP,
    CPU_S_PER_RUN,
    PlanEntry,
    make_plan,
    work,
)
from cnnzoo.studies.registry import available
from cnnzoo.studies.runner import environment
from cnnzoo.studies.training import trained_input
from cnnzoo.train.run import FINAL_TRAIN_IMAGES

FINAL_TEST_IMAGES = 10_000  # the final evaluation's whole test split (Fashion-MNIST)


def distinct_runs(mode: str) -> list[PlanEntry]:
    """One plan line per distinct net (model, options, image size) of `mode`'s first round."""
    with tempfile.TemporaryDirectory() as out:
        plan = make_plan(available(), out, mode, log=lambda line: None)
    seen, runs = set(), []
    for e in plan.entries:
        key = (e.model, json.dumps(e.config["model_options"], sort_keys=True),
               str(e.config.get("image_size")))
        if key not in seen:
            seen.add(key)
            runs.append(e)
    return runs


def step_and_image_seconds(e: PlanEntry, steps: int) -> tuple[float, float]:
    """One training step (the run's batch, optimizer, layout) and one evaluation image."""
    c = e.config
    shape = trained_input(e.model, e.data, e.fields)
    layout = torch.channels_last if c["channels_last"] else torch.contiguous_format
    model = create_model(e.model, num_classes=10, in_chans=shape[0], **c["model_options"])
    model = model.to(memory_format=layout).train()
    adamw = c["optimizer"] == "adamw"
    optimizer = (torch.optim.AdamW(model.parameters(), lr=1e-3) if adamw else
                 torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
    x = torch.randn(c["batch_size"], *shape).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (c["batch_size"],))

    def step() -> None:
        loss = model.loss(model(x), y, aux_weight=c["aux_weight"], label_smoothing=0.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    step_s = (time.perf_counter() - start) / steps
    model.eval()
    images = torch.randn(250, *shape).contiguous(memory_format=layout)
    with torch.no_grad():
        model(images)
        start = time.perf_counter()
        model(images)
    return step_s, (time.perf_counter() - start) / 250


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--modes", nargs="+", default=["quick", "full"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = environment()
    print(f"# {env['cpu']}, {env['cores']} cores, torch {env['torch']}, 1 thread, "
          f"load {env['load_1min']} at the start")
    print("| mode | run | image | ms a step | steps | GMAC | layers | measured s | model s "
          "| model / measured |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    features, measured = [], []
    for mode in args.modes:
        for e in distinct_runs(mode):
            step_s, image_s = step_and_image_seconds(e, args.steps)
            macs, steps, layers = work(e.planned)
            test = e.config["limit_test"] or FINAL_TEST_IMAGES
            seconds = steps * step_s + image_s * (e.config["epochs"] * test
                                                  + FINAL_TEST_IMAGES + FINAL_TRAIN_IMAGES)
            model_s = e.cost["cpu_hours"] * 3600
            options = ", ".join(f"{k} {v}" for k, v in e.config["model_options"].items())
            side = e.config.get("image_size") or trained_input(e.model, e.data, e.fields)[1:]
            print(f"| {mode} | {e.model} ({options}) | {side[0]} | {1e3 * step_s:.1f} | "
                  f"{steps:,} | {macs / 1e9:,.0f} | {layers} | {seconds:,.0f} | "
                  f"{model_s:,.0f} | {model_s / seconds:.2f} |", flush=True)
            features.append([macs / 1e9, steps * layers, 1.0])
            measured.append(seconds)
    a, y = np.array(features), np.array(measured)
    fitted, *_ = np.linalg.lstsq(a / y[:, None], np.ones_like(y), rcond=None)
    ratios = a @ fitted / y
    print(f"\nin use: {CPU_S_PER_GMAC} s/GMAC, {CPU_S_PER_LAYER_STEP} s a layer-step, "
          f"{CPU_S_PER_RUN} s a run")
    print(f"refitted (relative error, the run's start left out): {fitted[0]:.4f} s/GMAC, "
          f"{fitted[1]:.2e} s a layer-step, {fitted[2]:.1f} s; model / measured "
          f"{ratios.min():.2f}-{ratios.max():.2f}")


if __name__ == "__main__":
    main()
