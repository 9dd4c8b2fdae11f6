"""metrics.jsonl: one JSON object per finished epoch, appended and flushed as it ends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cnnzoo.atomic import write_text_atomic


def append_metrics(path: str | Path, record: dict[str, Any]) -> None:
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            records.append(json.loads(line))
    return records


def rewrite_metrics(path: str | Path, records: list[dict[str, Any]]) -> None:
    """Keep only the epochs a resumed run restarts from (a run killed after writing its
    metrics line but before its checkpoint would otherwise repeat an epoch)."""
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in records))
