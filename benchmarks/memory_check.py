"""Check cnnzoo's memory figures, traced on the meta device, against measured peaks.

Measured with torch.profiler's memory events on the CPU (cnnzoo.cost.measure):
- inference: one eval-mode forward pass; vs. `profile(...).peak_activation_bytes`;
- training: two real training steps (the second has optimizer state), weights
  included; vs. `training_memory(...).peak`.

    .venv/bin/python benchmarks/memory_check.py [--train resnet18 mobilenet_v2]
        [--batch-size 32] [--optimizers momentum adam] [--infer resnet18 ...]
"""

from __future__ import annotations

import argparse
import time

import torch

import cnnzoo
from cnnzoo.cost.measure import measure_inference_peak, measure_training_peak

MIB = 2**20


def inference(models: list[str], batches: list[int]) -> None:
    print("\nInference (eval, no_grad): peak activation memory, input included\n")
    print("| model | batch | traced MiB | measured MiB | traced / measured |")
    print("|---|---:|---:|---:|---:|")
    for name in models:
        card = cnnzoo.model_card(name)
        for batch in batches:
            meta = cnnzoo.create_model(name, device="meta")
            est = cnnzoo.profile(meta, card.input_size, batch_size=batch).peak_activation_bytes
            torch.manual_seed(0)
            real = measure_inference_peak(cnnzoo.create_model(name), card.input_size, batch)
            print(f"| {name} | {batch} | {est / MIB:,.2f} | {real / MIB:,.2f} | "
                  f"{est / real:.3f} |", flush=True)


def training(models: list[str], batch: int, optimizers: list[str]) -> None:
    print(f"\nTraining step at batch {batch}: peak memory, weights included\n")
    print("| model | optimizer | estimate MiB | measured MiB | estimate / measured | "
          "measuring took s |")
    print("|---|---|---:|---:|---:|---:|")
    for name in models:
        card = cnnzoo.model_card(name)
        for optimizer in optimizers:
            meta = cnnzoo.create_model(name, device="meta")
            est = cnnzoo.training_memory(meta, card.input_size, batch, optimizer).peak
            torch.manual_seed(0)
            t = time.perf_counter()
            real = measure_training_peak(cnnzoo.create_model(name), card.input_size, batch,
                                         optimizer, card.num_classes)
            took = time.perf_counter() - t
            print(f"| {name} | {optimizer} | {est / MIB:,.0f} | {real / MIB:,.0f} | "
                  f"{est / real:.3f} | {took:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="*", default=["resnet18", "mobilenet_v2"])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizers", nargs="+", default=["momentum", "adam"])
    parser.add_argument("--infer", nargs="*", default=[
        "resnet18", "resnet50", "mobilenet_v2", "vgg16", "googlenet", "inception_v3"])
    parser.add_argument("--infer-batches", nargs="+", type=int, default=[1, 8])
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    if args.infer:
        inference(args.infer, args.infer_batches)
    if args.train:
        training(args.train, args.batch_size, args.optimizers)


if __name__ == "__main__":
    main()
