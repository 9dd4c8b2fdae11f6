"""`cnnzoo compare`: models side by side."""

from __future__ import annotations

import argparse

from cnnzoo.cli.common import add_profile_arguments
from cnnzoo.cost.profile import profile
from cnnzoo.cost.report import compare_rows
from cnnzoo.factory import create_model
from cnnzoo.registry import headline_errors, model_card


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="models side by side: params, MACs, peak activation "
                       "memory, reported error")
    p.add_argument("models", nargs="+", metavar="NAME")
    add_profile_arguments(p)
    p.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace, extra: list[str]) -> int:
    profiles, reported = [], []
    for name in args.models:
        card = model_card(name)
        model = create_model(name, device="meta")
        profiles.append(profile(model, card.input_size, args.dtype, args.batch_size))
        reported.append(headline_errors(card))
    print(compare_rows(profiles, reported, args.format))
    return 0
