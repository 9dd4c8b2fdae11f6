"""`cnnzoo cost`: the case studies' cost arithmetic, worked step by step."""

from __future__ import annotations

import argparse

from cnnzoo.cost import bottleneck_saving, conv_cost, depthwise_separable_saving


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cost", help="the case studies' cost arithmetic, worked step by step")
    kinds = p.add_subparsers(dest="formula", metavar="FORMULA")
    kinds.required = True
    k = kinds.add_parser("conv", help="multiplications of one convolution")
    _sizes(k, h=28, w=28, c_in=192, c_out=32, f=5)
    k.add_argument("--groups", type=int, default=1)
    k.set_defaults(run=run_cost)
    k = kinds.add_parser("bottleneck", help="a 5x5 conv directly vs. through a 1x1 bottleneck")
    _sizes(k, h=28, w=28, c_in=192, c_mid=16, c_out=32, f=5)
    k.set_defaults(run=run_cost)
    k = kinds.add_parser("depthwise", help="a normal conv vs. depthwise + pointwise")
    _sizes(k, h=4, w=4, c_in=3, c_out=5, f=3)
    k.set_defaults(run=run_cost)


def _sizes(p: argparse.ArgumentParser, **defaults: int) -> None:
    help_ = {"h": "output height", "w": "output width", "c_in": "input channels",
             "c_mid": "bottleneck channels", "c_out": "output channels", "f": "filter size"}
    for name, value in defaults.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=value,
                       help=f"{help_[name]} (default {value})")


def run_cost(args: argparse.Namespace, extra: list[str]) -> int:
    if args.formula == "conv":
        print(conv_cost(args.h, args.w, args.c_in, args.c_out, args.f, args.groups))
    elif args.formula == "bottleneck":
        print(bottleneck_saving(args.h, args.w, args.c_in, args.c_mid, args.c_out, args.f))
    else:
        print(depthwise_separable_saving(args.h, args.w, args.c_in, args.c_out, args.f))
    return 0
