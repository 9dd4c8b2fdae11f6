"""Near misses on the command line: the subcommand or flag a user most likely meant.

argparse on Python 3.11 says only "invalid choice" or "unrecognized arguments"; a newcomer
who typed `cnnzoo cost resnet50` (meaning `summary`) or `--epochz` needs the right word.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Iterable, Sequence

from cnnzoo.registry import list_models

# Words newcomers reach for, and the command that does it.
SYNONYMS = {
    "info": "show", "describe": "show", "models": "list", "ls": "list", "fit": "train",
    "test": "eval", "evaluate": "eval", "infer": "predict", "classify": "predict",
    "profile": "summary", "macs": "summary", "flops": "summary", "params": "summary",
    "benchmark": "bench", "speed": "bench", "studies": "study", "diagram": "draw",
    "plot": "draw",
}


def close_match(word: str, choices: Iterable[str]) -> str | None:
    """The single best close match of `word` among `choices`, or None."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def subparser_choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of `parser` (name -> its parser); {} when it has none."""
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def flag_names(parser: argparse.ArgumentParser) -> list[str]:
    return [s for action in parser._actions for s in action.option_strings
            if s.startswith("--") and s != "--help"]


def innermost_parser(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> argparse.ArgumentParser:
    """The parser of the (sub)subcommand that was parsed: `cost conv` -> the conv parser."""
    while True:
        action = next((a for a in parser._actions
                       if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, action.dest, None) if action else None
        if chosen not in (action.choices if action else {}):
            return parser
        parser = action.choices[chosen]


def suggest_command(word: str, commands: Iterable[str]) -> str | None:
    commands = list(commands)
    if word in SYNONYMS and SYNONYMS[word] in commands:
        return SYNONYMS[word]
    return close_match(word, commands)


def suggest_flag(token: str, parser: argparse.ArgumentParser) -> str | None:
    """'--epochz' -> '--epochs' for the train parser; None when nothing is close."""
    flag = token.split("=", 1)[0]
    return close_match(flag, flag_names(parser))


def is_model_name(word: str) -> bool:
    return word in list_models()


def explain_invalid_choice(
    parser: argparse.ArgumentParser, word: str, argv: Sequence[str]
) -> str | None:
    """A hint for `cnnzoo WORD` / `cnnzoo CMD WORD` where WORD is not a valid choice."""
    words = list(argv)
    if parser.prog.endswith(" cost") and is_model_name(word):
        return f"did you mean: cnnzoo summary {word}"
    choices = subparser_choices(parser)
    best = suggest_command(word, choices)
    if best is None:
        return None
    rest = words[words.index(word) + 1:] if word in words else []
    prefix = parser.prog.replace("cnnzoo", "cnnzoo", 1)
    return f"did you mean: {' '.join([prefix, best, *rest])}"
