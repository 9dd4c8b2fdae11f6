"""`cnnzoo show`: one architecture, stage by stage, with its card."""

from __future__ import annotations

import argparse

from cnnzoo.architecture import architecture
from cnnzoo.cli.common import add_model_arguments, model_from_args, parse_model_options
from cnnzoo.cli.draw import check_target, write_diagram
from cnnzoo.cli.train import flag_of
from cnnzoo.draw import draw
from cnnzoo.fmt import FORMATS, human, render, shape_str
from cnnzoo.registry import Figure, count_params, model_card, model_options
from cnnzoo.train.recipes import recipes_for


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("show", help="one architecture, stage by stage, with output shapes")
    add_model_arguments(p, weights=False)
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--svg", metavar="FILE", default=None,
                   help="also write the architecture diagram (as `cnnzoo draw` does)")
    p.set_defaults(run=run_show)


_METRICS = {"top1_err": "top-1 error {}%", "top5_err": "top-5 error {}%",
            "acc1": "top-1 accuracy {}%", "acc5": "top-5 accuracy {}%"}


def _figure_text(f: Figure) -> str:
    if f.metric in _METRICS:
        return _METRICS[f.metric].format(f"{f.value:g}")
    return f"{f.metric} {human(f.value)}"


def run_show(args: argparse.Namespace, extra: list[str]) -> int:
    if args.svg:
        check_target(args.svg)
    model, size = model_from_args(args, extra, device="meta")
    stages = architecture(model, size)
    card = model_card(args.model)
    if args.format == "table":
        print(f"{card.name}: {card.description}")
        print(f"paper: {card.paper}")
        if card.notes:
            print(f"note: {card.notes}")
        built = {**model_options(args.model), **parse_model_options(extra)}
        options = ", ".join(f"{k}={v!r}" for k, v in built.items())
        print(f"options: {options or 'none'}")
        print(f"input: {shape_str(size)} (min {card.min_input_size}x{card.min_input_size})")
        for f in card.figures:
            print(f"reported: {_figure_text(f)} ({f.source}{': ' + f.note if f.note else ''})")
        for r in recipes_for(card.name):
            print(f"recipe {r.name}: {r.text(flag_of)} ({r.source})")
        print()
    headers = ["stage", "type", "output", "params"]
    rows = [["input", "", shape_str(size), ""]]
    rows += [[s.name, s.kind, shape_str(s.output_shape), f"{s.params:,}"] for s in stages]
    total = count_params(model)
    records = [
        {"name": s.name, "type": s.kind, "output_shape": list(s.output_shape), "params": s.params}
        for s in stages
    ]
    if args.format == "table":
        rows.append(["total", "", "", f"{total:,}"])
    print(render(headers, rows, args.format, right=(3,), records=records))
    if args.svg:
        write_diagram(draw(model, size), args.svg)
    return 0
