"""The one atomic-write helper every artefact goes through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnnzoo.atomic import atomic_path, write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "metrics.jsonl"
    write_text_atomic(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a li")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


def test_the_temporary_keeps_the_extension_and_the_result_the_umask_mode(
        tmp_path: Path) -> None:
    target = tmp_path / "sub" / "curves.png"  # the folder is made
    with atomic_path(target, fsync=True) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".png"  # matplotlib reads it
        tmp.write_bytes(b"\x89PNG")
    mask = os.umask(0)
    os.umask(mask)
    assert target.read_bytes() == b"\x89PNG"
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
