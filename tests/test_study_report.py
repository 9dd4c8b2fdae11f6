"""The study report and the CLI's verdict table on honestly built result folders: the
comparisons are computed by comparisons.compare from made-up per-seed values, so what the
page shows is what the one rule gives."""

from __future__ import annotations

import json
import os
import re
import xml.dom.minidom
from html import escape, unescape
from pathlib import Path

import pytest

from cnnzoo.studies import report
from cnnzoo.studies.base import CONFIRMED, INCONCLUSIVE
from cnnzoo.studies.comparisons import NON_INFERIORITY, SUPERIORITY, Comparison, compare, decide
from cnnzoo.studies.report import (
    BADGE,
    _run_line,
    deciding_comparison,
    interval_text,
    short_claim,
    verdict_label,
    verdicts,
)
from cnnzoo.studies.report_text import evidence_parts, evidence_text, result_text
from cnnzoo.studies.svg import interval_chart, line_chart

BETTER = Comparison("wide beats narrow", "test_acc", ("narrow", "wide"), 0.005, SUPERIORITY)
NO_WORSE = Comparison("deep no worse", "test_acc", ("narrow", "deep"), 0.01, NON_INFERIORITY,
                      paired=False, decides=False)


def _values(seeds: int) -> dict[str, dict[int, float]]:
    return {"narrow": {s: 0.80 + 0.002 * s for s in range(seeds)},
            "wide": {s: 0.815 + 0.003 * s for s in range(seeds)},
            "deep": {s: 0.805 - 0.001 * s for s in range(seeds)}}


def _study(root: Path, sid: str, seeds: int) -> dict:
    """A seeded study's folder: final.csv and a result.json with its comparisons."""
    values = _values(seeds)
    comparisons = [compare(c, values) for c in (BETTER, NO_WORSE)]
    decision = decide(comparisons)
    folder = root / sid
    folder.mkdir(parents=True)
    rows = [f"{arm},{s},{v}" for arm, per in values.items() for s, v in per.items()]
    (folder / "final.csv").write_text("arm,seed,test_acc\n" + "\n".join(rows) + "\n")
    acc = {arm: {"mean": sum(per.values()) / len(per), "sd": None if seeds < 2 else 0.002,
                 "n": seeds, "values": list(per.values())} for arm, per in values.items()}
    result = {
        "id": sid, "claim": "A wider net is more accurate; see `cnnzoo train` for how. It is "
        "also no slower per epoch, which this study does not test at all.",
        "source": "Made up (2024)", "experiment": "train both", "mode": "quick",
        "seeds": list(range(seeds)), "data": None, "tolerance": "the one rule",
        "deviations": "uses `fashion-mnist`",
        "measured": {"accuracy": acc, "note": "", "comparisons": comparisons,
                     "cost": {"macs": 568740352, "params": 6176},
                     "per_model": {m: {"blocks": 13, "cost": {"macs": 568740352,
                                                              "params": 6176}}
                                   for m in ("v1", "v2")}},
        "comparisons": comparisons, "verdict": decision.verdict, "n": decision.n,
        "key": f"wide {acc['wide']['mean']:.3f} vs narrow {acc['narrow']['mean']:.3f}",
        "reason": decision.why, "elapsed_s": 12.5,
        "commands": [f"cnnzoo study run {sid} --quick --seeds {seeds} --out {root}",
                     f"cnnzoo train resnet20 --out {root}/_runs/abc123"],
        "environment": {"threads": 2, "load_1min": None, "torch": "2.x"},
        "created": "2024-01-01 00:00 UTC",
    }
    (folder / "result.json").write_text(json.dumps(result))
    return result


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "studies"
    _study(root, "fake-one-seed", 1)
    _study(root, "fake-three-seeds", 3)
    return root


def _section(html: str, sid: str) -> str:
    start = html.index(f"<section class='study' id='{sid}'>")
    return html[start:html.index("</section>", start)]


def _summary_row(html: str, sid: str) -> str:
    start = html.index(f"<a href='#{sid}'>")
    return html[start:html.index("</tr>", start)]


def _text(html: str) -> str:
    """What a reader sees: no tags, no SVG, no data: URIs."""
    html = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    html = re.sub(r"<(title|style)>.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_a_one_seed_verdict_is_indicative_and_grey(folder: Path) -> None:
    html = report(folder).read_text()
    grey = f"background:{BADGE['indicative']}'>indicative (n=1)</span>"
    for part in (_summary_row(html, "fake-one-seed"), _section(html, "fake-one-seed")):
        assert grey in part
        for colour in (BADGE["confirmed"], BADGE["refuted"], BADGE["inconclusive"]):
            assert colour not in part
    assert "rest on one seed of a quick run" in html and "at least 3 seeds" in html
    # Three seeds decide: the deciding comparison is clear of its margin.
    assert f"{BADGE['confirmed']}'>confirmed</span>" in _summary_row(html, "fake-three-seeds")
    v = verdicts(folder)
    assert v["fake-one-seed"].verdict == INCONCLUSIVE and v["fake-one-seed"].n == 1
    assert v["fake-three-seeds"].verdict == CONFIRMED and v["fake-three-seeds"].n == 3


def test_the_summary_shows_n_claim_and_the_deciding_interval(folder: Path) -> None:
    html = report(folder).read_text()
    row = _summary_row(html, "fake-three-seeds")
    r = json.loads((folder / "fake-three-seeds" / "result.json").read_text())["comparisons"][0]
    assert re.search(r"\+1\.\d\d \[\+\d\.\d\d, \+\d\.\d\d\] vs margin \+0\.50", row)
    assert interval_text(r) in row and ">3</span>" in row
    # The interval stays on one line; the deciding comparison's name wraps beside it, so
    # the claim and key figure keep their width.
    assert f"<span class='num'>{escape(interval_text(r))}</span>" in row
    two = [r, {**r, "name": "second half"}]
    assert evidence_parts(two, "confirmed") == (r["name"], interval_text(r))
    assert evidence_text(two, "confirmed") == f"{r['name']}: {interval_text(r)}"
    assert evidence_parts([r], "confirmed") == (r["name"], interval_text(r))
    assert evidence_parts([], "confirmed") == ("", "-")
    assert "A wider net is more accurate" in row and "no slower" not in _text(row)
    assert "+1.50 (no interval, n&lt;2) vs margin +0.50" in _summary_row(html, "fake-one-seed")


def test_each_seeded_study_has_an_interval_chart_and_a_comparisons_table(folder: Path) -> None:
    html = report(folder).read_text()
    for sid in ("fake-one-seed", "fake-three-seeds"):
        part = _section(html, sid)
        svg = part[part.index("<svg"):part.index("</svg>") + 6]
        xml.dom.minidom.parseString(svg)
        assert "wide beats narrow" in svg and "deep no worse" in svg
        assert "the differences against their margins" in svg
        assert "<th>90% interval</th>" in part and "no (shown only)" in part
    assert "no interval (n&lt;2)" in _section(html, "fake-one-seed")
    three = _section(html, "fake-three-seeds")
    assert "Welch, df" in three and "paired, df 2" in three
    assert "above the margin: for the claim" in three


def test_the_page_has_no_internals(folder: Path) -> None:
    html = report(folder).read_text()
    text = _text(html)
    for leak in ("None", "/tmp/", "{'", "`", str(folder)):
        assert leak not in text, leak
    assert "macs 568.7M, params 6,176" in text  # a dict too deep for rows of its own
    assert re.search(r"cost / macs\s+568,740,352", text)  # one shallow enough: sub-rows
    assert "<code>fashion-mnist</code>" in html
    assert "--out DIR" in text and "DIR/_runs/abc123" in text
    assert "data:text/csv;base64," in html  # the raw data stay downloadable
    assert report(folder, folder / "again.html").read_text() == html


def test_the_cli_table_shows_the_interval(folder: Path, capsys: pytest.CaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnzoo.cli import study

    results = {sid: json.loads((folder / sid / "result.json").read_text())
               for sid in ("fake-one-seed", "fake-three-seeds")}
    table = study._verdict_table([study._table_row(s, r) for s, r in results.items()])
    one = next(line for line in table.splitlines() if line.startswith("fake-one-seed"))
    three = next(line for line in table.splitlines() if line.startswith("fake-three-seeds"))
    assert "indicative (n=1)" in one and "(no interval, n<2) vs margin +0.50" in one
    assert "confirmed" in three and interval_text(results["fake-three-seeds"]
                                                  ["comparisons"][0]) in three
    assert "\033" not in table  # not a terminal: no colour codes

    # On a terminal the key figures are cut to fit its width; a log keeps them whole.
    rows = [study._table_row(s, {**r, "key": "k" * 300}) for s, r in results.items()]
    monkeypatch.setattr(study.sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(study.shutil, "get_terminal_size", lambda: os.terminal_size((150, 40)))
    monkeypatch.setenv("NO_COLOR", "1")
    cut = study._verdict_table(rows).splitlines()
    assert max(map(len, cut)) == 150 and all(line.endswith("...") for line in cut[2:])


def test_the_deciding_comparison_is_the_one_the_verdict_turned_on() -> None:
    rows = [{"name": "a", "decides": True, "leaning": "for"},
            {"name": "b", "decides": True, "leaning": "unclear"},
            {"name": "c", "decides": True, "leaning": "against"},
            {"name": "d", "decides": False, "leaning": "against"}]
    assert deciding_comparison(rows, "refuted")["name"] == "c"
    assert deciding_comparison(rows, "inconclusive")["name"] == "b"
    assert deciding_comparison(rows, "confirmed")["name"] == "a"
    assert deciding_comparison(rows[3:], "refuted") is None
    assert verdict_label("inconclusive", 2) == "indicative (n=2)"
    assert verdict_label("inconclusive", 3) == "inconclusive"
    assert verdict_label("confirmed", None) == "confirmed"
    assert verdict_label("needs-data", 0) == "needs-data"


def test_short_claim_keeps_the_first_sentence_within_width() -> None:
    assert short_claim("One. Two.") == "One"
    long = "word " * 40
    cut = short_claim(long, 50)
    assert len(cut) <= 50 and cut.endswith("…") and not cut.endswith(" …")


def test_interval_chart_and_bands_are_deterministic_and_parse() -> None:
    values = _values(3)
    rows = [compare(BETTER, values), compare(NO_WORSE, {k: {0: v[0]} for k, v in values.items()})]
    svg = interval_chart(rows)
    xml.dom.minidom.parseString(svg)
    assert svg == interval_chart(rows) and "no interval (n&lt;2)" in svg
    assert "font-size='11'" not in svg and "font-size='10'" not in svg
    curves = line_chart({"plain": [(1, 30.0), (2, 20.0)], "res": [(1, 25.0), (2, 15.0)]},
                        dashed=["plain"], bands={"plain": [(1, 28.0, 33.0), (2, 18.0, 22.0)]},
                        y_range=(0.0, 50.0))
    xml.dom.minidom.parseString(curves)
    assert "<polygon" in curves and ">50<" in curves  # the band, the shared y range
    legend_dash = curves.count("stroke-dasharray")
    assert legend_dash == 2  # the plain line and its legend swatch


def test_the_note_names_the_indicative_verdicts_and_the_rule() -> None:
    from cnnzoo.studies.report import _one_seed_note

    one = {"id": "lrn", "verdict": "inconclusive", "n": 1, "mode": "quick"}
    two = {"id": "lrn-2", "verdict": "inconclusive", "n": 2, "mode": "standard"}
    counted = {"id": "params", "verdict": "confirmed", "n": None, "mode": "quick"}
    note = _one_seed_note([one, counted])
    assert "of lrn rest on one seed of a quick run" in note and "params" not in note
    assert "at least 3 seeds" in note and "90% t-interval" in note
    assert "rest on fewer than 3 seeds:" in _one_seed_note([one, two])
    assert _one_seed_note([{**one, "n": 3}, counted]) == ""


def test_paths_are_shown_relative_to_the_results_folder(tmp_path: Path) -> None:
    from cnnzoo.studies.report import _commands
    from cnnzoo.studies.report_text import scrub

    root = tmp_path / "studies"
    assert scrub(f"see {root}/x/final.csv and /opt/data/mnist", root) == \
        "see DIR/x/final.csv and …/mnist"
    assert scrub("3x3/s1/p1 and https://a.org/b/c", root) == "3x3/s1/p1 and https://a.org/b/c"
    # A run-cache path written where the folder was then (another clone): still DIR/_runs.
    assert scrub("--init-weights /elsewhere/clone/studies/_runs/inits/a.safetensors", root) \
        == "--init-weights DIR/_runs/inits/a.safetensors"
    moved = {"commands": ["cnnzoo study run x --out /old/place/studies",
                          "cnnzoo train m --out /old/place/studies/_runs/ab"]}
    assert _commands(moved, root) == ["cnnzoo study run x --out DIR",
                                      "cnnzoo train m --out DIR/_runs/ab"]


def test_a_studys_training_runs_are_counted_in_words() -> None:
    from cnnzoo.studies.report_text import training_text

    assert training_text({"training_runs": 12, "training_s": 344.24}) == \
        "12 training runs, 344.2 s of training"
    assert training_text({"training_runs": 1, "training_s": 1234.0}) == \
        "1 training run, 1,234.0 s of training"
    assert training_text({"threads": 1}) == ""  # a study that trained nothing


def test_the_run_line_names_the_data_a_study_used(tmp_path: Path) -> None:
    """A training study run on its default data says which (its measure records it); a
    study that reads no data names none."""
    trained = {"mode": "quick", "seeds": [0, 1, 2], "data": None, "elapsed_s": 1.0,
               "data_needed": ["fashion-mnist"], "measured": {"data": "fashion-mnist"}}
    assert "data fashion-mnist," in _run_line(trained, tmp_path)
    assert "data mnist," in _run_line({**trained, "data": "mnist"}, tmp_path)
    counted = {**trained, "seeds": [0], "data_needed": [], "measured": {}}
    assert "data" not in _run_line(counted, tmp_path)


def test_study_show_prints_one_result_for_a_terminal(folder: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    from cnnzoo.cli import main

    assert main(["study", "show", "lrn", "--out", str(folder)]) == 2  # not run there
    assert "run it first: cnnzoo study run lrn" in capsys.readouterr().err
    result = json.loads((folder / "fake-three-seeds" / "result.json").read_text())
    text = result_text({**result, "id": "lrn"}, width=70)
    lines = text.splitlines()
    assert lines[0].startswith("lrn: confirmed (n=3), quick mode, seeds 0, 1, 2")
    assert all(len(line) <= 70 for line in lines if not line.startswith("reproduce:"))
    deciding = [line for line in lines if line.endswith("[deciding]")]
    assert len(deciding) == 1 and "comparisons (b - a" in text and "key figure: " in text
