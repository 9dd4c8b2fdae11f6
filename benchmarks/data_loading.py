"""How fast the data path is: load times, and loader images/s with the train transform.

    .venv/bin/python benchmarks/data_loading.py [--threads 2] [--epochs 3] [--prefetch 0]

The loader figure is one pass over the training split (shuffle, random crop, flip where the
dataset uses it, normalise) with no model: it shows whether loading can be the bottleneck
next to a model's own images/s. A CIFAR-shaped split of random pixels (50,000 x 3x32x32)
stands in when CIFAR-10 itself is not on disk (same shapes, same work).
"""

from __future__ import annotations

import argparse
import time

import torch

from cnnzoo.data import BatchLoader, ImageDataset, Split, build_transform, load_dataset, locate
from cnnzoo.data.specs import SPECS


def _cifar_shaped() -> ImageDataset:
    spec = SPECS["cifar10"]
    g = torch.Generator().manual_seed(0)
    train = Split(torch.randint(0, 256, (50000, 3, 32, 32), dtype=torch.uint8, generator=g),
                  torch.randint(0, 10, (50000,), generator=g), "random pixels")
    test = train.take(10000)
    return ImageDataset("cifar10 (random pixels)", spec.classes, train, test, spec.mean, spec.std,
                        "random pixels", spec.augment, spec.crop_padding, spec.fit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--prefetch", type=int, default=0, help="BatchLoader(prefetch=N)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cases = [("mnist", None, (1, 32, 32))]
    if locate("fashion-mnist") is not None:
        cases.append(("fashion-mnist", None, (1, 28, 28)))
    cases.append(("cifar10", None, (3, 32, 32)))
    print(f"torch {torch.__version__}, {args.threads} threads, batch {args.batch_size}, "
          f"prefetch {args.prefetch}")
    print("| dataset | source | load s | train images | input | loader images/s (best of "
          f"{args.epochs} epochs) |")
    print("|---|---|--:|--:|---|--:|")
    for name, root, size in cases:
        start = time.perf_counter()
        if name == "cifar10" and locate("cifar10") is None:
            ds = _cifar_shaped()
        else:
            ds = load_dataset(name, root)
        load_s = time.perf_counter() - start
        tf = build_transform(ds, size, train=True)
        loader = BatchLoader(ds.train, args.batch_size, transform=tf, shuffle=True, seed=0,
                             prefetch=args.prefetch)
        best = 0.0
        for epoch in range(args.epochs):
            loader.set_epoch(epoch)
            start = time.perf_counter()
            n = sum(len(y) for _, y in loader)
            best = max(best, n / (time.perf_counter() - start))
        print(f"| {ds.name} | {ds.source} | {load_s:.2f} | {len(ds.train):,} | "
              f"{'x'.join(map(str, size))} | {best:,.0f} |")


if __name__ == "__main__":
    main()
