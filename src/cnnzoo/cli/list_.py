"""`cnnzoo list`: the zoo, with parameters and reported accuracy."""

from __future__ import annotations

import argparse

from cnnzoo.errors import UsageError
from cnnzoo.fmt import FORMATS, render, shape_str
from cnnzoo.registry import list_models, model_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="the models, with parameters and reported accuracy")
    p.add_argument("pattern", nargs="?", default="*", help="shell pattern, e.g. 'resnet*'")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.set_defaults(run=run_list)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def run_list(args: argparse.Namespace, extra: list[str]) -> int:
    records = model_table(args.pattern)
    if not records:
        raise UsageError(f"no model matches {args.pattern!r}; `cnnzoo list` shows all "
                         f"{len(list_models())} models (patterns: 'resnet*', '*net*')")
    headers = ["name", "family", "params", "input", "top-1 err %", "top-5 err %",
               "reported by", "torchvision acc@1/5", "data"]
    rows = [
        [
            r["name"], r["family"],
            f"{r['params']:,}",
            shape_str(r["input_size"]), _pct(r["top1_err"]), _pct(r["top5_err"]),
            r["top1_source"] or r["top5_source"] or "-",
            "-" if r["torchvision_acc1"] is None
            else f"{r['torchvision_acc1']:g} / {r['torchvision_acc5']:g}",
            r["dataset"],
        ]
        for r in records
    ]
    print(render(headers, rows, args.format, right=(2, 4, 5), records=records))
    return 0
