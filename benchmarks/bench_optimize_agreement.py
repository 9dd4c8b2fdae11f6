"""Does `cnnzoo.optimize` keep what a trained model computes? On a real test set: the
fp32 optimised model's relative error, and the bf16 one's argmax agreement.

    .venv/bin/cnnzoo train resnet20 --data fashion-mnist --epochs 2 --precision bf16 \
        --channels-last --schedule cosine --out runs/r20-fmnist
    .venv/bin/python benchmarks/bench_optimize_agreement.py \
        --model resnet20 --weights runs/r20-fmnist/best.safetensors --data fashion-mnist

Writes benchmarks/results/optimize_agreement.md and prints it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import cnnzoo
from cnnzoo.data import build_transform, load_dataset
from cnnzoo.optimize import relative_error

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--weights", required=True)
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    ds = load_dataset(args.data)
    model = cnnzoo.create_model(args.model, weights=args.weights).eval()
    size = (model.in_chans, *cnnzoo.model_card(args.model).input_size[1:])
    transform = build_transform(ds, size)
    variants = {
        "optimize(fp32): folded, channels_last": cnnzoo.optimize(model),
        "optimize(bf16): folded, channels_last, bf16": cnnzoo.optimize(model, dtype="bf16"),
    }
    preds = {k: [] for k in ("reference", *variants)}
    worst = dict.fromkeys(variants, 0.0)
    with torch.no_grad():
        for i in range(0, len(ds.test), args.batch):
            x = transform(ds.test.images[i:i + args.batch])
            ref = model(x)
            preds["reference"].append(ref.argmax(1))
            for name, m in variants.items():
                out = m(x)
                preds[name].append(out.argmax(1))
                worst[name] = max(worst[name], relative_error(out, ref))
    labels = ds.test.labels
    ref = torch.cat(preds["reference"])
    lines = [f"{args.model} ({args.weights}) on the {len(labels):,} {args.data} test images", "",
             "| model | accuracy | argmax agreement with eager fp32 | max relative error |",
             "|---|--:|--:|--:|",
             f"| eager fp32 (reference) | {100 * (ref == labels).float().mean():.2f}% | - | - |"]
    for name in variants:
        got = torch.cat(preds[name])
        lines.append(f"| {name} | {100 * (got == labels).float().mean():.2f}% | "
                     f"{100 * (got == ref).float().mean():.2f}% | {worst[name]:.2e} |")
    text = "\n".join(lines)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "optimize_agreement.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
