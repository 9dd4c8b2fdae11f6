"""Arguments shared by the commands that build a model: name, classes, channels, size,
weights, and any model option passed through as `--option value`."""

from __future__ import annotations

import argparse
from typing import Any

from cnnzoo.errors import UsageError
from cnnzoo.factory import create_model
from cnnzoo.fmt import FORMATS
from cnnzoo.inference import load_trained
from cnnzoo.models.base import ZooModel
from cnnzoo.precision import ANALYSIS, precision_arg, words
from cnnzoo.registry import default_input_size, model_card
from cnnzoo.sizes import check_input_size
from cnnzoo.train.config import MAX_THREADS


def add_model_arguments(parser: argparse.ArgumentParser, weights: bool = True) -> None:
    parser.add_argument("model", metavar="NAME", help="a model name (see `cnnzoo list`)")
    parser.add_argument("--num-classes", type=positive_int, default=None, help="output classes")
    parser.add_argument("--in-chans", type=positive_int, default=None, help="input channels")
    parser.add_argument(
        "--input-size", default=None, metavar="C,H,W",
        help="input size as C,H,W or H,W or S (default: the model card's)",
    )
    if weights:
        parser.add_argument("--weights", default=None, metavar="FILE|imagenet",
                            help="torchvision .pth or cnnzoo .safetensors weights (rebuilt with "
                                 "the options they record), or imagenet or torchvision's name "
                                 "IMAGENET1K_V1 (pretrained, fetched once unless in torch's "
                                 "hub cache: see `cnnzoo weights list`)")
    parser.epilog = (
        "Any other --option VALUE is passed to the model, e.g. --width 0.5 or --aux-logits "
        "(`cnnzoo show NAME` lists a model's options)."
    )
    parser.set_defaults(accepts_model_options=True)


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1 (argparse words the error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def check_threads(threads: int | None) -> None:
    """--threads within TrainConfig's bound (the one that `cnnzoo train` applies too)."""

    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise UsageError(f"--threads must be in [1, {MAX_THREADS}], got {threads}")


def parse_input_size(text: str, default_channels: int) -> tuple[int, int, int]:
    """'3,160,160' -> (3, 160, 160); '160,128' -> (C, 160, 128); '160' -> (C, 160, 160)."""
    parts = text.replace("x", ",").split(",")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        values = []
    if not values:
        raise UsageError(f"--input-size {text!r} is not a size: give C,H,W (e.g. 3,224,224), "
                         "H,W or one side, as positive integers")
    return check_input_size(values, default_channels, what="--input-size")


def _convert(value: str) -> Any:
    lowered = value.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    if lowered == "none":
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


def parse_model_options(tokens: list[str]) -> dict[str, Any]:
    """['--width', '0.5', '--aux-logits', '--no-transform-input'] ->
    {'width': 0.5, 'aux_logits': True, 'transform_input': False}."""
    options: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or token == "--":
            raise UsageError(f"unexpected argument {token!r}; model options look like --width 0.5")
        key, eq, value = token[2:].partition("=")
        key = key.replace("-", "_")
        if eq:
            options[key] = _convert(value)
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            options[key] = _convert(tokens[i + 1])
            i += 1
        elif key.startswith("no_"):
            options[key[3:]] = False
        else:
            options[key] = True
        i += 1
    return options


def model_from_args(
    args: argparse.Namespace, extra: list[str], device: str | None = None
) -> tuple[ZooModel, tuple[int, int, int]]:
    """Build the model the arguments describe; return it with the input size to use."""
    card = model_card(args.model)
    options = parse_model_options(extra)
    in_chans = args.in_chans
    size = None
    if args.input_size:
        size = parse_input_size(args.input_size, in_chans or card.input_size[0])
        in_chans = in_chans or size[0]
    model = create_model(
        args.model,
        num_classes=args.num_classes,
        in_chans=in_chans,
        weights=getattr(args, "weights", None),
        device=device,
        **options,
    )
    if size is None:
        size = default_input_size(model)
    elif size[0] != model.in_chans:
        raise UsageError(
            f"--input-size has {size[0]} channels but the model takes {model.in_chans}; "
            f"use --in-chans {size[0]} or --input-size {model.in_chans},{size[1]},{size[2]}"
        )
    return model, size


def trained_from_args(args: argparse.Namespace, extra: list[str]):  # noqa: ANN202

    if not args.weights:
        raise UsageError(f"{args.command} needs trained weights: --weights FILE "
                         "(e.g. runs/NAME-DATA/best.safetensors) or --weights imagenet")
    size = parse_input_size(args.input_size, args.in_chans or 1) if args.input_size else None
    trained = load_trained(args.model, args.weights, input_size=None, in_chans=args.in_chans,
                           **parse_model_options(extra))
    if size is not None:
        trained.input_size = (trained.model.in_chans, size[1], size[2])
    return trained


def add_profile_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--dtype", "--precision", dest="dtype", type=precision_arg(ANALYSIS),
                   default="fp32", metavar="P",
                   help=f"activation and weight precision: {words(ANALYSIS)} (default fp32)")
    p.add_argument("--batch-size", type=int, default=1, help="batch size (default 1: per image)")
