"""`cnnzoo train`: train a model on a dataset, or resume a run.

The flags are generated from TrainConfig's fields (their types, help, choices and
defaults); this module adds only --resume, --config and --no-progress, which are not settings."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path
from typing import Any

from cnnzoo.cli.common import parse_model_options
from cnnzoo.errors import ConfigError, UsageError
from cnnzoo.train import TrainConfig, resume_config, train
from cnnzoo.train.config import config_fields, field_type, read_config_file
from cnnzoo.train.loop import LAST
from cnnzoo.train.recipes import configure, describe

_TRAIN_HELP = """examples:
  cnnzoo train lenet5 --data mnist                 (the model's recipe for the data)
  cnnzoo train resnet20 --data fashion-mnist --epochs 3        (the recipe, 3 epochs)
  cnnzoo train mobilenet_v2 --data cifar10 --width 0.5 --recipe none --schedule onecycle
  cnnzoo train --resume runs/lenet5-mnist --epochs 30     (continue, or train longer)
  cnnzoo train --config runs/lenet5-mnist/config.json --seed 1   (a run's settings again)
  torchrun --standalone --nproc_per_node=2 -m cnnzoo train resnet20 --data mnist
Defaults shown are TrainConfig's; a model's recipe for the data (`cnnzoo show NAME`)
sets some of them first, and each flag given overrides one field.
Any other --option VALUE is a model option (`cnnzoo show NAME` lists them)."""


def flag_of(name: str) -> str:
    """The command-line spelling of a TrainConfig field: 'batch_size' -> '--batch-size'."""
    for f in config_fields():
        if f.name == name:
            flag = f.metadata["flag"]
            if flag and not flag.startswith("-"):
                return flag  # positional
            return flag or "--" + name.replace("_", "-")
    return name


def _help(f: dataclasses.Field) -> str:
    """The field's help with its bound and default, as TrainConfig declares them:
    'SGD momentum (in [0, 1); default: 0.9)'."""
    text, bound, default = f.metadata["help"], f.metadata["bound"], f.default
    if "(default" in text:  # a default the help explains (None: derived from others)
        return text.replace("(default", f"({bound}; default", 1) if bound else text
    parts = [str(bound)] if bound else []
    if isinstance(default, bool):
        parts.append(f"default: {'on' if default else 'off'}")
    elif default not in (None, dataclasses.MISSING):
        parts.append(f"default: {default}")
    return f"{text} ({'; '.join(parts)})" if parts else text


def _metavar(f: dataclasses.Field) -> str | None:
    if f.metadata["choices"]:
        return None  # argparse shows {a,b,c}
    kinds = typing.get_args(field_type(f.name)) or (field_type(f.name),)
    return "N" if int in kinds else "X" if float in kinds else None


def _converter(f: dataclasses.Field):  # noqa: ANN202 - argparse's type callable
    parse = f.metadata["parse"]
    if parse is None:
        kinds = [t for t in typing.get_args(field_type(f.name)) or (field_type(f.name),)
                 if t is not type(None)]
        parse = kinds[0] if kinds and kinds[0] in (int, float) else str

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    convert.__name__ = parse.__name__
    return convert


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """One flag (or positional) per TrainConfig field that is not internal; every default
    is None so that only the flags given override the recipe and the dataclass."""
    for f in config_fields():
        meta = f.metadata
        if meta["internal"]:
            continue
        help_text = _help(f).replace("%", "%%")
        flag = flag_of(f.name)
        if not flag.startswith("-"):
            p.add_argument(f.name, metavar=flag, nargs="?", help=help_text)
        elif meta["const"] is not None:
            p.add_argument(flag, dest=f.name, action="store_const", const=meta["const"],
                           default=None, help=meta["help"])
        elif field_type(f.name) is bool:
            p.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction,
                           default=None, help=help_text)
        else:
            p.add_argument(flag, dest=f.name, type=_converter(f), default=None,
                           choices=meta["choices"], metavar=meta["metavar"] or _metavar(f),
                           help=help_text)
            if meta["negatable"]:  # its own dest, so that --no-X with --X is caught
                p.add_argument("--no-" + flag[2:], dest=NEGATED + f.name,
                               action="store_true", help=argparse.SUPPRESS)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a dataset",
                       epilog=_TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p)
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR from last.pt")
    p.add_argument("--config", metavar="FILE",
                   help="start from the settings in FILE, JSON: a run's config.json or any "
                   "subset of its keys; flags given override them (a run's own config.json "
                   "names its folder: the new run gets a folder of its own)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run_train, accepts_model_options=True)


NEGATED = "negated_"  # the dest of a negatable field's --no-X flag


def _given(args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """The fields given on the command line, and only those."""
    given = {f.name: getattr(args, f.name) for f in config_fields()
             if not f.metadata["internal"] and getattr(args, f.name) is not None}
    for f in config_fields():
        if getattr(args, NEGATED + f.name, False):
            flag = flag_of(f.name)
            if f.name in given:
                raise UsageError(f"--no-{flag[2:]} and {flag} contradict each other; give "
                                 "one of them")
            given[f.name] = False
    if extra:
        given["model_options"] = parse_model_options(extra)
    return given


def _default_out(model: str, data: str) -> str:
    base = f"runs/{model}-{data.replace(':', '_').replace('/', '_')}"
    out, n = base, 1
    while (Path(out) / "last.pt").exists():
        n += 1
        out = f"{base}-{n}"
    return out


def _from_file(path: str, given: dict[str, Any]) -> dict[str, Any]:
    """The settings of a --config file with the flags given over them."""
    values = read_config_file(path)
    out = values.get("out")
    if isinstance(out, str) and Path(out).resolve() == Path(path).resolve().parent:
        del values["out"]  # a run's own record: rerunning it must not land on that run
    merged = {**values, **given}
    stored = values.get("model_options")
    if isinstance(stored, dict) and "model_options" in given:
        merged["model_options"] = {**stored, **given["model_options"]}
    return merged


def run_train(args: argparse.Namespace, extra: list[str]) -> int:
    try:
        return _run(args, extra)
    except ConfigError as e:  # the library names the field; the user typed a flag
        if args.config and getattr(args, e.field, None) is None:  # it came from the file
            raise UsageError(f"--config {args.config}: {e.field} {e.problem}") from None
        raise UsageError(f"{flag_of(e.field)} {e.problem}") from None


def _run(args: argparse.Namespace, extra: list[str]) -> int:
    given = _given(args, extra)
    if args.resume:
        if args.out and Path(args.out) != Path(args.resume):
            raise UsageError("--resume DIR continues the run in DIR; leave out --out")
        if args.config:
            raise UsageError("--resume DIR continues a run with its own settings; --config "
                             "FILE starts a new one: give one of them")
        cfg = resume_config(args.resume, given)
    else:
        if args.config:
            given = _from_file(args.config, given)
        if not given.get("model"):
            raise UsageError("name a model and a dataset, e.g. `cnnzoo train lenet5 --data "
                             "mnist`, or continue a run with --resume DIR")
        given.setdefault("data", TrainConfig.data)
        given.setdefault("out", _default_out(given["model"], given["data"]))
        cfg, recipe = configure(**given)
        if (Path(cfg.out) / LAST).exists():  # the library's words are resume=True
            raise UsageError(f"--out {cfg.out} already holds a run; continue it with --resume "
                             f"{cfg.out} or choose another --out")
        print(describe(cfg, recipe, given, flag=flag_of))
    result = train(cfg, resume=bool(args.resume), progress=not args.no_progress)
    if not result.is_main:
        return result.exit_code
    out = Path(result.out)
    if result.history:
        print(f"\n{cfg.model} on {cfg.data}: best test top-1 {100 * result.best_top1:.2f}% "
              f"(epoch {result.best_epoch}), final {100 * result.final_top1:.2f}%, "
              f"{result.seconds:.1f} s of training")
    else:  # stopped before its first epoch ended: no accuracy to report
        print(f"\n{cfg.model} on {cfg.data}: stopped before the first epoch ended; "
              f"continue with --resume {out}")
    # Only the files that exist: a run stopped early has no weights yet.
    names = {"best.safetensors": "weights", "last.pt": "checkpoint", "best.pt": "checkpoint",
             "metrics.jsonl": "metrics", "curves.png": "curves",
             "config.json": "settings, for --config", "tensorboard": "TensorBoard events"}
    found = [f"{n}{'/' * (out / n).is_dir()} ({what})" for n, what in names.items()
             if (out / n).exists()]
    print(f"artefacts in {out}/: {', '.join(found)}" if found else f"nothing saved in {out}/")
    return result.exit_code
