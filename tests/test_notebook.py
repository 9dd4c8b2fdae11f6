"""In a notebook: profiles, diagrams and study results show as what they are (a table, the
picture, the verdict with its evidence), and the tour notebook runs headless."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import cnnzoo
from cnnzoo import studies

ROOT = Path(__file__).resolve().parent.parent
STANDARD = ROOT / "docs" / "studies" / "standard"


def test_profile_repr_is_one_line_and_its_html_is_the_layer_table() -> None:
    p = cnnzoo.profile(cnnzoo.create_model("resnet50", device="meta"), (3, 224, 224))
    text = repr(p)
    assert "\n" not in text and len(text) < 200
    assert "resnet50" in text and "4.09G" in text
    html = p._repr_html_()
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    names = [re.match(r"<td>([^<]*)</td>", r) for r in rows[1:]]
    shown = {m.group(1) for m in names if m}
    assert {r.name for r in p.layers} <= shown  # every layer has its row
    assert "total" in shown and "4,089,184,256" in html  # the headline's exact MACs
    assert len(html) < len(str(p)) * 2  # compact: no per-cell styles


def test_draw_is_still_the_svg_string_and_shows_as_svg(tmp_path: Path) -> None:
    d = cnnzoo.draw("lenet5")
    assert isinstance(d, str) and d.startswith("<svg")
    assert d._repr_svg_() == str(d)
    assert d == str(d) and d + "" == str(d)  # what callers did with the str still works
    assert len(repr(d)) < 120 and "SVG" in repr(d)
    assert d.save(tmp_path / "l.svg").read_text() == str(d)


def test_a_counting_study_shows_its_verdict_and_figures(tmp_path: Path) -> None:
    result = studies.run("inception-block", out=tmp_path, progress=False, log=lambda s: None)
    assert isinstance(result, dict)
    stored = json.loads((tmp_path / "inception-block" / "result.json").read_text())
    assert {k: v for k, v in result.items() if k != "skipped"} == stored
    html = result._repr_html_()
    assert f">{result['verdict']}</span>" in html
    assert "<svg" in html  # its figures, drawn from its raw files


def test_a_seeded_study_shows_its_interval_chart() -> None:
    folder = STANDARD / "degradation"
    result = studies.StudyResult(json.loads((folder / "result.json").read_text()), folder)
    html = result._repr_html_()
    assert "the differences against their margins" in html  # the interval chart's title
    for row in result["comparisons"]:
        assert row["name"] in html


@pytest.mark.slow
def test_the_tour_notebook_runs_and_renders(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(ROOT / "examples" / "cnnzoo_tour.ipynb", as_version=4)
    # The kernel is this interpreter's (ipykernel's own spec): the venv that runs the tests.
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    kinds = [set().union(*(o.get("data", {}).keys() for o in c.outputs))
             for c in nb.cells if c.cell_type == "code"]
    assert "text/html" in kinds[1]  # the profile's table
    assert "image/svg+xml" in kinds[2]  # the diagram
    assert "text/html" in kinds[3]  # the study's result
    html = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
            for o in c.outputs if "text/html" in o.get("data", {})]
    lenet = cnnzoo.profile(cnnzoo.create_model("lenet5"), (1, 32, 32))
    assert all(f"<td>{r.name}</td>" in html[0] for r in lenet.layers)
    assert "badge" in html[1]
    assert (tmp_path / "runs" / "studies" / "inception-block" / "result.json").is_file()
