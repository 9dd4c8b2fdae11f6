"""The committed evidence (docs/studies/standard/): the report rebuilt from those files alone
gives the verdicts committed with them, and every comparison's bounds recompute from its
per-seed values by the t rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnzoo.studies.comparisons import MIN_SEEDS, interval, leaning, outcome
from cnnzoo.studies.report import verdicts, write_report

EVIDENCE = Path(__file__).resolve().parents[1] / "docs" / "studies" / "standard"
RESULTS = sorted(EVIDENCE.glob("*/result.json"))


def test_the_standard_evidence_is_committed() -> None:
    assert len(RESULTS) >= 16, "run benchmarks/studies_standard.sh and commit its results"


@pytest.mark.parametrize("path", RESULTS, ids=[p.parent.name for p in RESULTS])
def test_each_comparison_recomputes_from_its_values(path: Path) -> None:
    result = json.loads(path.read_text())
    assert result["mode"] == "standard"
    for c in result["comparisons"]:
        a, b = c["arms"]
        again = interval(c["values"][a], c["values"][b], c["paired"])
        assert abs(again["lower"] - c["lower"]) < 1e-6
        assert abs(again["upper"] - c["upper"]) < 1e-6
        assert outcome(c["lower"], c["upper"], c["margin"]) == c["outcome"]
        assert leaning(c, c["outcome"]) == c["leaning"]
        assert c["n"] >= 5  # standard mode: 5 seeds a comparison
    if result["verdict"] in ("confirmed", "refuted") and any(
            c["decides"] for c in result["comparisons"]):  # v2-vs-v1 rests on counts instead
        assert result["n"] >= MIN_SEEDS


def test_the_report_rebuilt_from_the_files_gives_the_committed_verdicts() -> None:
    stored = {p.parent.name: json.loads(p.read_text()) for p in RESULTS}
    rebuilt = verdicts(EVIDENCE)
    assert set(rebuilt) == set(stored)
    for sid, result in stored.items():
        assert (rebuilt[sid].verdict, rebuilt[sid].n) == (result["verdict"], result["n"]), sid


def test_the_committed_report_is_what_the_code_builds_now(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """The page a reader opens from the README: stale after a change to the report's code or
    a study's text until `cnnzoo study report docs/studies/standard` rebuilds it."""
    monkeypatch.chdir(EVIDENCE.parents[2])  # the page names its folder as it was given
    rebuilt = write_report(Path("docs/studies/standard"), tmp_path / "report.html").read_text()
    assert rebuilt == (EVIDENCE / "report.html").read_text(), (
        "docs/studies/standard/report.html is stale: run "
        "`cnnzoo study report docs/studies/standard`")
