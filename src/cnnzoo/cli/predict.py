"""`cnnzoo predict`: classify image files with trained weights."""

from __future__ import annotations

import argparse
import json

from cnnzoo.cli.common import add_model_arguments, trained_from_args
from cnnzoo.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify image files with trained weights")
    add_model_arguments(p)
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--invert", action="store_true",
                   help="invert grey levels (dark digits on white paper, for MNIST weights)")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(run=run_predict)


def run_predict(args: argparse.Namespace, extra: list[str]) -> int:
    from cnnzoo.train.inference import predict_files

    if args.top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {args.top_k}")
    trained = trained_from_args(args, extra)
    results = predict_files(trained, args.images, args.top_k, invert=args.invert)
    if args.format == "json":
        print(json.dumps([{"image": img, "top": [{"class": c, "probability": p} for c, p in r]}
                          for img, r in zip(args.images, results, strict=True)], indent=2))
        return 0
    for img, r in zip(args.images, results, strict=True):
        print(f"{img}: " + ", ".join(f"{c} {100 * p:.1f}%" for c, p in r))
    return 0
