"""`cnnzoo summary`, `cnnzoo compare` and `cnnzoo cost`: what every layer costs."""

from __future__ import annotations

import argparse

from cnnzoo.cli.common import add_model_arguments, model_from_args, parse_model_options
from cnnzoo.cost import bottleneck_saving, conv_cost, depthwise_separable_saving
from cnnzoo.cost.memory import OPTIMIZER_STATE, training_memory
from cnnzoo.cost.profile import DTYPES, profile
from cnnzoo.cost.report import compare_rows, footer, headline, summary_table
from cnnzoo.fmt import FORMATS, human
from cnnzoo.registry import create_model, headline_errors, model_card


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="every layer's parameters, MACs, memory and receptive "
                       "field, with stage subtotals")
    add_model_arguments(p, weights=False)
    _common(p)
    p.add_argument("--stages", action="store_true", help="stage subtotals only")
    p.add_argument("--train-batch", type=int, default=None, metavar="N",
                   help="also estimate the memory of a training step at batch N")
    p.add_argument("--optimizer", choices=list(OPTIMIZER_STATE), default="momentum",
                   help="optimizer for the training-memory estimate (default momentum)")
    p.set_defaults(run=run_summary)

    p = sub.add_parser("compare", help="models side by side: params, MACs, peak activation "
                       "memory, reported error")
    p.add_argument("models", nargs="+", metavar="NAME")
    _common(p)
    p.set_defaults(run=run_compare)

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


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--dtype", choices=list(DTYPES), default="float32",
                   help="activation and weight dtype (default float32)")
    p.add_argument("--batch-size", type=int, default=1, help="batch size (default 1: per image)")


def _sizes(p: argparse.ArgumentParser, **defaults: int) -> None:
    help_ = {"h": "output height", "w": "output width", "c_in": "input channels",
             "c_mid": "bottleneck channels", "c_out": "output channels", "f": "filter size"}
    for name, value in defaults.items():
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=value,
                       help=f"{help_[name]} (default {value})")


def run_summary(args: argparse.Namespace, extra: list[str]) -> int:
    model, size = model_from_args(args, extra, device="meta")
    prof = profile(model, size, dtype=args.dtype, batch_size=args.batch_size)
    if args.format == "table":
        options = ", ".join(f"{k}={v!r}" for k, v in parse_model_options(extra).items())
        print(headline(prof, model_card(args.model).description, options) + "\n")
    print(summary_table(prof, args.format, stages_only=args.stages))
    if args.format == "table":
        print("\n" + footer(prof))
    if args.train_batch and args.format == "table":
        tm = training_memory(model, size, args.train_batch, args.optimizer, args.dtype)
        mib = {k: human(v, binary=True) for k, v in tm.to_dict().items() if isinstance(v, int)}
        print(f"training step at batch {tm.batch_size} with {tm.optimizer}: peak {mib['peak']}"
              f" = weights {mib['weights']} + optimizer state {mib['optimizer_state']}"
              f" + forward/backward {mib['step_peak']} (saved activations"
              f" {mib['saved_activations']}, gradients {mib['gradients']})")
    return 0


def run_compare(args: argparse.Namespace, extra: list[str]) -> int:
    profiles, reported = [], []
    for name in args.models:
        card = model_card(name)
        model = create_model(name, device="meta")
        profiles.append(profile(model, card.input_size, args.dtype, args.batch_size))
        reported.append(headline_errors(card))
    print(compare_rows(profiles, reported, args.format))
    return 0


def run_cost(args: argparse.Namespace, extra: list[str]) -> int:
    if args.formula == "conv":
        print(conv_cost(args.h, args.w, args.c_in, args.c_out, args.f, args.groups))
    elif args.formula == "bottleneck":
        print(bottleneck_saving(args.h, args.w, args.c_in, args.c_mid, args.c_out, args.f))
    else:
        print(depthwise_separable_saving(args.h, args.w, args.c_in, args.c_out, args.f))
    return 0
