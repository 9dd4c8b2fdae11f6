"""Which studies exist, in the case studies' order, each loaded only when asked for.

A study module that is not there yet (or fails to import) is skipped with a note, so
`cnnzoo study list` always works and a module appears as soon as its file lands.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from types import ModuleType

from cnnzoo.errors import UsageError
from cnnzoo.studies.base import Study, StudyError

# The order: the claims as the case studies make them.
STUDY_IDS = (
    "params", "vgg-uniform", "lrn", "degradation", "identity", "one-by-one", "bottleneck",
    "inception-block", "inception-aux", "depthwise", "depthwise-accuracy",
    "mobilenet-structure", "v2-block-cost", "v2-memory", "v2-vs-v1", "top5-table",
)
STUDY_MODULES = tuple(f"cnnzoo.studies.{i.replace('-', '_')}" for i in STUDY_IDS)

# Filled as modules load: id -> the reason it could not (one line each).
SKIPPED: dict[str, str] = {}


class UnknownStudyError(UsageError):
    """A study id that is not one of STUDY_IDS."""


@dataclass(frozen=True)
class StudyModule:
    """A loaded study: its declaration and its module (run, measure, verdict, figures)."""

    study: Study
    module: ModuleType

    @property
    def id(self) -> str:
        return self.study.id


def _load(study_id: str) -> StudyModule | None:
    name = f"cnnzoo.studies.{study_id.replace('-', '_')}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:  # the module is there but something it imports is not
            SKIPPED[study_id] = f"{name} needs {e.name}, which is missing"
        else:
            SKIPPED[study_id] = f"{name} is not written yet"
        return None
    except Exception as e:  # noqa: BLE001 - one broken study must not hide the others
        SKIPPED[study_id] = f"{name} failed to import: {type(e).__name__}: {e}"
        return None
    study = getattr(module, "STUDY", None)
    if not isinstance(study, Study) or study.id != study_id:
        SKIPPED[study_id] = f"{name} does not declare STUDY = Study(id={study_id!r}, ...)"
        return None
    SKIPPED.pop(study_id, None)
    return StudyModule(study, module)


def available() -> list[StudyModule]:
    """Every study whose module loads, in the case studies' order."""
    return [m for m in (_load(i) for i in STUDY_IDS) if m is not None]


def get(study_id: str) -> StudyModule:
    """The study with this id; an unknown or missing one is a one-line error with close
    matches."""
    if study_id in STUDY_IDS:
        loaded = _load(study_id)
        if loaded is None:
            raise UsageError(f"study {study_id!r} cannot run here: {SKIPPED[study_id]}")
        return loaded
    close = difflib.get_close_matches(study_id, STUDY_IDS, n=3, cutoff=0.5)
    close += [i for i in STUDY_IDS if study_id and study_id in i and i not in close]
    hint = f"; did you mean {', '.join(close[:3])}?" if close else ""
    raise UnknownStudyError(
        f"unknown study {study_id!r}{hint} (`cnnzoo study list` shows all {len(STUDY_IDS)})"
    )


RUNS = "_runs"  # OUT/_runs: the training runs' cache, shared by the studies of one OUT


# Seeds of the studies where chance matters, per mode; a counting study runs once.
SEEDS = {"quick": 3, "standard": 5, "full": 5}


def default_seeds(module: StudyModule, mode: str, seeds: int | None) -> tuple[int, ...]:
    """--seeds N gives 0..N-1; else SEEDS[mode] for the studies where chance matters (a
    verdict needs >= 3), one for the counting ones."""
    if seeds is not None:
        if seeds < 1:
            raise StudyError(f"seeds must be >= 1, got {seeds}")
        return tuple(range(seeds))
    return tuple(range(SEEDS[mode])) if module.study.seeded else (0,)
