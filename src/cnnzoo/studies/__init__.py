"""The case studies as experiments: one module per claim (see base.py), a runner, a report.

    >>> from cnnzoo import studies
    >>> [s.id for s in studies.list_studies()]
    >>> result = studies.run("bottleneck", mode="quick", out="runs/studies")
    >>> studies.report("runs/studies", "runs/studies/report.html")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnzoo.studies.base import (
    CONFIRMED,
    INCONCLUSIVE,
    NEEDS_DATA,
    REFUTED,
    VERDICTS,
    NeedsData,
    Study,
    StudyContext,
    StudyError,
    Verdict,
)
from cnnzoo.studies.registry import SKIPPED, STUDY_IDS, STUDY_MODULES, UnknownStudyError

# Load the submodule now: its first import would otherwise rebind `cnnzoo.studies.report`
# from the function below to the module.
import cnnzoo.studies.report as _report_module  # noqa: E402, F401  isort: skip
from cnnzoo.studies.result import StudyResult  # noqa: E402  isort: skip
from cnnzoo.studies.registry import available, get
from cnnzoo.studies.runner import run_study

__all__ = [
    "CONFIRMED", "INCONCLUSIVE", "NEEDS_DATA", "REFUTED", "SKIPPED", "STUDY_IDS",
    "STUDY_MODULES", "VERDICTS", "NeedsData", "Study", "StudyContext", "StudyError",
    "StudyResult",
    "UnknownStudyError", "Verdict", "list_studies", "report", "run",
]


def list_studies() -> list[Study]:
    """The studies whose modules are here, in the case studies' order (missing ones are
    named in SKIPPED)."""

    return [m.study for m in available()]


def run(study_id: str, mode: str = "quick", seeds: int | None = None, data: str | None = None,
        out: str | Path = "runs/studies", **options: Any) -> StudyResult:
    """Run one study (or reuse its finished result) and return its result dict: claim,
    measured figures, verdict, key figure, reason, environment (a notebook shows it as the
    report's section: verdict, interval chart, figures). Options: data_root,
    threads, jobs (training runs at once, default 1; more start worker processes, so a script
    calling this needs multiprocessing's `if __name__ == "__main__":` guard), force,
    progress, log, weights_dir."""

    module = get(study_id)
    result = run_study(module, mode=mode, seeds=seeds, data=data, out=out, **options)
    return StudyResult(result, Path(out) / module.id)


def report(folder: str | Path, html_path: str | Path | None = None) -> Path:
    """Rebuild the self-contained HTML report from the result files under `folder` alone;
    returns its path (default FOLDER/report.html)."""
    return _report_module.write_report(Path(folder), Path(html_path) if html_path else None)
