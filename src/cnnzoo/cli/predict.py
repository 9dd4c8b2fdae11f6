"""`cnnzoo predict`: classify image files with trained or pretrained weights.

Each image is compared with the data the weights expect; every change made to it
(converted, inverted, resized) is one `note:` line on stderr, the answers go to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cnnzoo.cli.common import add_model_arguments, trained_from_args
from cnnzoo.errors import UsageError
from cnnzoo.inference import predict_files


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify image files with trained or pretrained weights")
    add_model_arguments(p)
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--invert", action=argparse.BooleanOptionalAction, default=None,
                   help="invert grey levels; by default an image whose polarity differs from "
                        "grey training data (a dark digit on white paper, for MNIST weights) "
                        "is inverted with a note, --no-invert keeps it as it is")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(run=run_predict)


def run_predict(args: argparse.Namespace, extra: list[str]) -> int:
    if args.top_k < 1:
        raise UsageError(f"--top-k must be at least 1, got {args.top_k}")
    missing = [img for img in args.images if not Path(img).is_file()]
    if missing:  # before any weights are read or fetched
        raise UsageError(f"image not found: {missing[0]}" +
                         (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    trained = trained_from_args(args, extra)
    results = predict_files(trained, args.images, args.top_k, invert=args.invert)
    for r in results:
        for note in r.notes:
            print(f"note: {note}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps([{"image": r.image, "top": [{"class": c, "probability": p}
                                                     for c, p in r.top], "notes": r.notes}
                          for r in results], indent=2))
        return 0
    for r in results:
        print(f"{r.image}: " + ", ".join(f"{c} {100 * p:.1f}%" for c, p in r.top))
    return 0
