"""The `cnnzoo` command: parses arguments, calls the library, prints.

Each area adds its subcommands from its own module (see COMMAND_MODULES).
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from typing import NoReturn

from cnnzoo.cli.suggest import explain_invalid_choice, innermost_parser, suggest_flag
from cnnzoo.errors import CnnzooError, UsageError
from cnnzoo.registry import list_models, model_options
from cnnzoo.version import __version__

# One module per command, named after it; `list` and `eval` get a trailing underscore because
# importing cnnzoo.cli.list would bind the name `list` in this package, hiding the builtin.
COMMAND_MODULES = tuple(f"cnnzoo.cli.{name}" for name in (
    "list_", "show", "train", "eval_", "predict", "summary", "compare", "cost", "data", "bench",
    "export", "deploy", "draw", "weights", "study", "completion",
))


_ARGV: list[str] = []  # what main() parses, for the hints of Parser.error


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the problem, a near miss if there is one, and where the
    help is; instead of the whole usage block. Subcommand parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        hint = None
        invalid = re.search(r"invalid choice: '([^']*)'", message)
        if invalid:
            hint = explain_invalid_choice(self, invalid.group(1), _ARGV)
            message = message.split(" (choose from")[0]
        hint = f"; {hint}" if hint else ""
        print(f"{self.prog}: error: {message}{hint} (see `{self.prog} --help`)", file=sys.stderr)
        sys.exit(2)


def _only_module(argv: Sequence[str] | None) -> str | None:
    """The one command module that `argv` names, if it names one: building the other 15
    commands' parsers (and importing what they need) was a tenth of `summary`'s start-up."""
    if argv is None:
        return None
    command = next((a for a in argv if not a.startswith("-")), None)
    for module in COMMAND_MODULES:
        if command and module.rsplit(".", 1)[1].rstrip("_") == command:
            return module
    return None  # --help, --version, a typo: every command, for the listing and near misses


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `argv`, only the command it names (when it names one)."""
    parser = Parser(
        prog="cnnzoo",
        description="The classic CNN case studies: build, cost, train and measure them.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    only = _only_module(argv)
    for module in (only,) if only else COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def check_flag_near_misses(
    args: argparse.Namespace, extra: list[str], command: argparse.ArgumentParser
) -> None:
    """`train lenet5 --epochz 3` would pass `epochz` to the model as an option; when the token
    is no option of the model but is close to one of the command's flags, say so instead."""
    name = getattr(args, "model", None)
    tokens = [t for t in extra if t.startswith("--") and t != "--"]
    if not name or not tokens:
        return

    if name not in list_models():
        return  # the unknown model gets its own error, with close matches
    options = set(model_options(name))
    for token in tokens:
        key = token[2:].split("=", 1)[0].replace("-", "_")
        if key in options or key.removeprefix("no_") in options:
            continue
        flag = suggest_flag(token, command)
        if flag:
            raise UsageError(f"unknown flag {token.split('=', 1)[0]}; did you mean {flag}? "
                             f"(see `{command.prog} --help`)")


def _version() -> str:
    return f"cnnzoo {__version__}"


_BOOL_WORDS = ("true", "false", "yes", "no")


def _model_option_tokens(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the rest, the model's own options with their values): `COMMAND MODEL ... --width
    0.5` taken out before argparse, which would otherwise read 0.5 as a positional (predict
    took it for an image file)."""
    if len(argv) < 2 or argv[1].startswith("-"):
        return argv, []

    try:
        allowed = model_options(argv[1])
    except CnnzooError:  # not a model: a subcommand, a typo the command reports itself
        return argv, []
    rest, taken = [], []
    i = 0
    while i < len(argv):
        token = argv[i]
        key, eq, _ = token[2:].partition("=")
        key = key.replace("-", "_")
        negated = key.startswith("no_") and key[3:] in allowed
        if not token.startswith("--") or (key not in allowed and not negated):
            rest.append(token)
            i += 1
            continue
        taken.append(token)
        value = argv[i + 1] if i + 1 < len(argv) else None
        wants = key in allowed and not eq and value is not None and not value.startswith("--")
        if wants and (not isinstance(allowed[key], bool) or value.lower() in _BOOL_WORDS):
            taken.append(value)
            i += 1
        i += 1
    return rest, taken


def main(argv: Sequence[str] | None = None) -> int:
    global _ARGV
    _ARGV = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_ARGV)
    rest, options = _model_option_tokens(_ARGV)
    args, extra = parser.parse_known_args(rest)
    extra = options + extra
    command = innermost_parser(parser, args)
    if extra and not getattr(args, "accepts_model_options", False):
        near = [f"{t} (did you mean {suggest_flag(t, command)}?)" if suggest_flag(t, command)
                else t for t in extra]
        command.error(f"unrecognised arguments: {' '.join(near)}")
    try:
        check_flag_near_misses(args, extra, command)
        return int(args.run(args, extra) or 0)
    except CnnzooError as e:
        # One line, whatever the message's layout: the problem, its details, the fix.
        line = "; ".join(part.strip() for part in str(e).splitlines() if part.strip())
        print(f"cnnzoo: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnnzoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cnnzoo list | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
