"""Which optional extra of cnnzoo installs a package, read from cnnzoo's installed metadata.

pyproject.toml's [project.optional-dependencies] is the one declaration; install messages
and `cnnzoo deploy`'s skipped paths ask here instead of naming extras by hand.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from functools import cache

# `onnxruntime>=1.18; extra == "export"`: the distribution, then the extra that requires it.
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*).*;.*extra\s*==\s*['\"]([^'\"]+)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@cache
def extras() -> dict[str, str]:
    """Distribution name -> the first extra (in pyproject's order) that installs it; empty
    when cnnzoo runs without being installed (its metadata is then not there)."""
    try:
        requirements = importlib.metadata.requires("cnnzoo") or []
    except importlib.metadata.PackageNotFoundError:
        return {}
    found: dict[str, str] = {}
    for line in requirements:
        match = _REQUIREMENT.match(line)
        if match:
            found.setdefault(_normal(match[1]), match[2])
    return found


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def install_command(*packages: str) -> str:
    """How to install `packages`: cnnzoo's extra that has the first, and the plain pip line."""
    plain = "pip install " + " ".join(packages)
    extra = extras().get(_normal(packages[0]))
    return f"pip install 'cnnzoo[{extra}]' (or: {plain})" if extra else plain
