"""`cnnzoo draw`: an architecture diagram (SVG, or PNG through an installed converter)."""

from __future__ import annotations

import argparse
import re
import sys

from cnnzoo.cli.common import add_model_arguments, model_from_args
from cnnzoo.draw import draw, save
from cnnzoo.draw.units import DETAILS
from cnnzoo.errors import UsageError
from cnnzoo.train.rundir import check_writable_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "draw", help="an architecture diagram as SVG (or PNG), drawn from the real modules",
        description="Draw a model from its real forward pass (traced on the meta device): "
        "blocks named as the case studies name them, runs of identical blocks collapsed "
        "to one box marked x n, shortcuts as arcs, branches side by side.",
    )
    add_model_arguments(p, weights=False)
    p.add_argument("--block", metavar="PATH", default=None,
                   help="draw one block in detail, e.g. layer1.0, inception3a, features.3")
    p.add_argument("--detail", choices=DETAILS, default="stages",
                   help="stages: runs of blocks collapsed (default); blocks: every block; "
                   "layers: every layer")
    p.add_argument("--costs", action="store_true", help="add parameters and MACs to each box")
    p.add_argument("-o", "--output", metavar="FILE", default=None,
                   help="FILE.svg or FILE.png (default NAME.svg here; - for stdout)")
    p.set_defaults(run=run_draw)


def default_file(name: str, block: str | None) -> str:
    return f"{name}{'_' + block if block else ''}.svg"


def write_diagram(svg: str, target: str) -> None:
    if target == "-":
        sys.stdout.write(svg)
        return
    path = save(svg, target)
    m = re.search(r'width="(\d+)" height="(\d+)"', svg)
    size = f" ({m.group(1)} x {m.group(2)} px)" if m else ""
    print(f"wrote {path}{size}")


def check_target(target: str) -> None:
    """Before the work: a file name that cannot be written is an error now, not later."""
    if target != "-" and not target.lower().endswith((".svg", ".png")):
        raise UsageError(f"cannot write {target}: give a .svg or .png file name (or - for "
                         "stdout)")
    if target != "-":
        check_writable_file(target, "-o")


def run_draw(args: argparse.Namespace, extra: list[str]) -> int:
    check_target(args.output or "-")
    model, size = model_from_args(args, extra, device="meta")
    svg = draw(model, size, block=args.block, detail=args.detail, costs=args.costs)
    write_diagram(svg, args.output or default_file(args.model, args.block))
    return 0
