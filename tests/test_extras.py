"""Install messages name the extra that pyproject.toml declares, read from the metadata."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

from cnnzoo import extras

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


def test_every_optional_package_maps_to_the_first_extra_that_declares_it() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    first: dict[str, str] = {}
    for extra, requirements in declared.items():
        for requirement in requirements:
            name = re.match(r"[A-Za-z0-9._-]+", requirement)[0].lower()
            first.setdefault(name, extra)
    # A failure here means the installed metadata is older than pyproject: reinstall.
    assert extras.extras() == first
    assert extras.install_command("nncf") == "pip install 'cnnzoo[openvino]' (or: pip install nncf)"


def test_without_metadata_the_message_is_plain_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "requires", missing)
    extras.extras.cache_clear()
    try:
        assert extras.install_command("onnx", "onnxruntime") == "pip install onnx onnxruntime"
    finally:
        extras.extras.cache_clear()
