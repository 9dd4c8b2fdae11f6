"""The one cache root: $CNNZOO_HOME, else the platform's cache folder + cnnzoo.

Weights go to HOME/weights (hub.py), datasets to HOME/data (data/load.py; $CNNZOO_DATA
still overrides that one folder, as it did before there was one root).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cnnzoo_home() -> Path:
    """$CNNZOO_HOME, else the platform's cache folder + cnnzoo (~/.cache/cnnzoo on Linux,
    or $XDG_CACHE_HOME/cnnzoo)."""
    env = os.environ.get("CNNZOO_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cnnzoo"
