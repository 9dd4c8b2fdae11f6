"""`cnnzoo summary`: every layer's parameters, MACs, memory and receptive field."""

from __future__ import annotations

import argparse

from cnnzoo.cli.common import (
    add_model_arguments,
    add_profile_arguments,
    model_from_args,
    parse_model_options,
)
from cnnzoo.cost.memory import OPTIMIZERS, training_memory
from cnnzoo.cost.profile import profile
from cnnzoo.cost.report import footer, headline, summary_table
from cnnzoo.fmt import human
from cnnzoo.registry import model_card


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="every layer's parameters, MACs, memory and receptive "
                       "field, with stage subtotals")
    add_model_arguments(p, weights=False)
    add_profile_arguments(p)
    p.add_argument("--stages", action="store_true", help="stage subtotals only")
    p.add_argument("--train-batch", type=int, default=None, metavar="N",
                   help="also estimate the memory of a training step at batch N")
    p.add_argument("--optimizer", choices=list(OPTIMIZERS), default="momentum",
                   help="optimizer for the training-memory estimate (default momentum)")
    p.set_defaults(run=run_summary)


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
        mib = {k: human(v, binary=True) for k, v in tm.to_dict().items()
               if isinstance(v, int) and not isinstance(v, bool)}
        print(f"training step at batch {tm.batch_size} with {tm.optimizer}: peak {mib['peak']}"
              f" (in the {tm.peak_in}) = weights {mib['weights']} + optimizer state"
              f" {mib['optimizer_state']} + the larger of backward {mib['backward_peak']}"
              f" (saved activations {mib['saved_activations']}, gradients {mib['gradients']})"
              f" and the optimizer step's gradients and temporaries"
              f" {human(tm.batch + tm.gradients + tm.step_temporaries, binary=True)}")
    return 0
