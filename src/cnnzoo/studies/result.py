"""What `cnnzoo.studies.run` returns: the result dict, which a notebook shows as the
report's section of the study (verdict, interval chart, figures)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnzoo.studies.report import result_html


class StudyResult(dict):
    """The result dict (what result.json holds), unchanged for every dict use, with
    `folder` (where its raw files are) and a Jupyter view."""

    def __init__(self, result: dict[str, Any], folder: str | Path) -> None:
        super().__init__(result)
        self.folder = Path(folder)

    def _repr_html_(self) -> str:
        return result_html(self, self.folder)
