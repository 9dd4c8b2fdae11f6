"""The `cnnzoo` command: parses arguments, calls the library, prints.

Each area adds its subcommands from its own module (see COMMAND_MODULES).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from cnnzoo.errors import CnnzooError

COMMAND_MODULES = tuple(f"cnnzoo.cli.{name}" for name in (
    "list", "show", "train", "eval", "predict", "summary", "compare", "cost", "data", "bench",
    "export", "study",
))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnzoo",
        description="The classic CNN case studies: build, cost, train and measure them.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    return parser


def _version() -> str:
    from cnnzoo import __version__

    return f"cnnzoo {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_model_options", False):
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    try:
        return int(args.run(args, extra) or 0)
    except CnnzooError as e:
        print(f"cnnzoo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cnnzoo: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `cnnzoo list | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
