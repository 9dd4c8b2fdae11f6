"""`cnnzoo export`: ONNX, TorchScript or a torch.export program, checked against eager."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cnnzoo.cli.common import add_model_arguments, model_from_args
from cnnzoo.export import DEFAULT_TOLERANCE, check_output, export_model
from cnnzoo.inference import weights_meta


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a model to ONNX, TorchScript or a torch.export program",
        description="Export, then check the exported file against eager PyTorch on random "
        "and real inputs; exit 2 (and write nothing) if they disagree.",
    )
    add_model_arguments(p)
    p.add_argument("--format", dest="export_format", required=True,
                   choices=("onnx", "torchscript", "exported-program"))
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--static-batch", action="store_true",
                   help="fix the batch size (default: dynamic)")
    p.add_argument("--tolerance", type=float, default=None,
                   help="largest relative error accepted (default 1e-4)")
    p.add_argument("--no-check", action="store_true", help="skip the parity check")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: exporter's)")
    p.set_defaults(run=run_export)


def run_export(args: argparse.Namespace, extra: list[str]) -> int:
    check_output(args.output, args.export_format)
    model, size = model_from_args(args, extra)
    meta = weights_meta(args.model, args.weights) if args.weights else None
    print(f"exporting {args.model} to {args.export_format} ...", file=sys.stderr, flush=True)
    result = export_model(
        model, Path(args.output), args.export_format, size,
        dynamic_batch=not args.static_batch, check=not args.no_check,
        tolerance=DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance,
        opset=args.opset, weights_meta=meta,
    )
    print(result.summary())
    return 0
