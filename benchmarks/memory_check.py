"""Check cnnzoo's memory figures, traced on the meta device, against measured peaks.

Measured with torch.profiler's memory events on the CPU (cnnzoo.cost.measure):
- inference: one eval-mode forward pass; vs. `profile(...).peak_activation_bytes`;
- training: two real training steps (the second has optimizer state), weights
  included; vs. `training_memory(...).peak`, with torch.optim's default implementation
  on the CPU (one parameter at a time) and with foreach=True (CUDA's default).

    .venv/bin/python benchmarks/memory_check.py [--train resnet18:32 vgg16:1 ...]
        [--optimizers sgd momentum adam] [--foreach default on] [--infer resnet18 ...]
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


def training(cases: list[str], optimizers: list[str], foreach: list[str]) -> None:
    print("\nTraining: peak memory over two real steps, weights included\n")
    print("| model | batch | optimizer | foreach | estimate MiB | measured MiB | "
          "estimate / measured | peak in | measuring took s |")
    print("|---|---:|---|---|---:|---:|---:|---|---:|")
    for case in cases:
        name, batch = case.split(":") if ":" in case else (case, "32")
        card = cnnzoo.model_card(name)
        for optimizer in optimizers:
            for each in foreach:
                flag = {"default": None, "on": True}[each]
                meta = cnnzoo.create_model(name, device="meta")
                est = cnnzoo.training_memory(meta, card.input_size, int(batch), optimizer,
                                             foreach=flag)
                torch.manual_seed(0)
                t = time.perf_counter()
                real = measure_training_peak(cnnzoo.create_model(name), card.input_size,
                                             int(batch), optimizer, card.num_classes,
                                             foreach=flag)
                took = time.perf_counter() - t
                print(f"| {name} | {batch} | {optimizer} | {each} | {est.peak / MIB:,.1f} | "
                      f"{real / MIB:,.1f} | {est.peak / real:.3f} | {est.peak_in} | "
                      f"{took:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs="*", metavar="NAME[:BATCH]", default=[
        "resnet18:32", "mobilenet_v2:32", "alexnet:1", "vgg16:1", "lenet5:8"])
    parser.add_argument("--optimizers", nargs="+", default=["sgd", "momentum", "adam"])
    parser.add_argument("--foreach", nargs="+", choices=["default", "on"],
                        default=["default"],
                        help="torch.optim's foreach: its CPU default (off) or on, as on CUDA")
    parser.add_argument("--infer", nargs="*", default=[
        "resnet18", "resnet50", "mobilenet_v2", "vgg16", "googlenet", "inception_v3"])
    parser.add_argument("--infer-batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU")
    if args.infer:
        inference(args.infer, args.infer_batches)
    if args.train:
        training(args.train, args.optimizers, args.foreach)


if __name__ == "__main__":
    main()
