"""The study core: verdicts from hand-made raw files, runner (skip, force, needs-data,
crash), CLI, and the report's self-containment and determinism."""

from __future__ import annotations

import json
import shutil
import subprocess
import types
import xml.dom.minidom
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cnnzoo.cli import main
from cnnzoo.studies import list_studies, report, run
from cnnzoo.studies.base import (
    CONFIRMED,
    INCONCLUSIVE,
    NEEDS_DATA,
    REFUTED,
    NeedsData,
    RawData,
    Study,
    StudyContext,
    Verdict,
)
from cnnzoo.studies.registry import STUDY_IDS, StudyModule, get
from cnnzoo.studies.runner import evaluate, run_study
from cnnzoo.studies.svg import bar_chart, grouped_bars, line_chart

MINE = ("params", "vgg-uniform", "one-by-one", "bottleneck", "depthwise",
        "mobilenet-structure", "v2-block-cost", "v2-memory", "top5-table")


def _ctx(tmp_path: Path, study_id: str) -> StudyContext:
    return StudyContext(study=get(study_id).study, mode="quick", seeds=(0,),
                        out=tmp_path / study_id, log=lambda s: None)


def _verdict(folder: Path, study_id: str) -> Verdict:
    return evaluate(get(study_id), folder)[1]


# ---------------------------------------------------------------- verdicts on hand-made files

def _one_by_one(ctx: StudyContext, macs: int, output: list[int]) -> None:
    ctx.write_json("counts", {"input_shape": [192, 28, 28], "output_shape": output,
                              "params": 6176, "macs": macs, "formula_macs": 4816896,
                              "formula_working": "1*1*192 * 28*28*32 = 4,816,896"})


def test_one_by_one_verdicts(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "one-by-one")
    _one_by_one(ctx, 4816896, [32, 28, 28])
    assert _verdict(ctx.out, "one-by-one").verdict == CONFIRMED
    _one_by_one(ctx, 4816897, [32, 28, 28])
    v = _verdict(ctx.out, "one-by-one")
    assert v.verdict == REFUTED and "formula" in v.reason
    _one_by_one(ctx, 4816896, [32, 14, 14])
    assert _verdict(ctx.out, "one-by-one").verdict == REFUTED


def _params_rows(vgg: int, vgg_fc: int) -> list[dict]:
    return [
        {"model": "lenet5", "params": 60850, "conv": 50000, "fc": 10850, "other": 0,
         "notes": 60e3, "paper": 60e3, "paper_source": "x"},
        {"model": "vgg16", "params": vgg, "conv": vgg - vgg_fc, "fc": vgg_fc, "other": 0,
         "notes": 138e6, "paper": 138e6, "paper_source": "y"},
    ]


def test_params_verdicts(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "params")
    ctx.write_csv("counts", _params_rows(138_357_544, 123_642_856))
    assert _verdict(ctx.out, "params").verdict == CONFIRMED
    ctx.write_csv("counts", _params_rows(150_000_000, 123_642_856))  # 8.7% off
    v = _verdict(ctx.out, "params")
    assert v.verdict == REFUTED and "vgg16" in v.reason
    ctx.write_csv("counts", _params_rows(138_357_544, 10_000_000))  # FC no longer most
    assert _verdict(ctx.out, "params").verdict == REFUTED


def _v2_cost(ctx: StudyContext, ir_stated: int, ir_real: int) -> None:
    base = {"c_in": 64, "c_out": 64, "hw": 14, "stride": 1, "normal": 7_225_344,
            "separable": 915_712}
    rows = [{"case": "stated", **base, "t": 6, "inverted_residual": ir_stated}]
    rows += [{"case": f"t={t}", **base, "t": t, "inverted_residual": 1_700_000 * t}
             for t in range(1, 7)]
    rows += [{"case": "features.1", **base, "t": 6, "inverted_residual": ir_real}]
    ctx.write_csv("macs", rows)


def test_v2_block_cost_all_three_verdicts(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "v2-block-cost")
    _v2_cost(ctx, 5_000_000, 5_000_000)
    assert _verdict(ctx.out, "v2-block-cost").verdict == CONFIRMED
    _v2_cost(ctx, 5_000_000, 9_000_000)  # true at the stated shape, not at a real block
    assert _verdict(ctx.out, "v2-block-cost").verdict == INCONCLUSIVE
    _v2_cost(ctx, 10_311_168, 9_000_000)
    v = _verdict(ctx.out, "v2-block-cost")
    assert v.verdict == REFUTED and "1.43x" in v.reason


def _v2_memory(ctx: StudyContext, v2_boundary: int) -> None:
    rows = []
    for model, boundary, inside in (("mobilenet_v1", 3_000_000, 3_000_000),
                                    ("mobilenet_v2", v2_boundary, 6 * v2_boundary)):
        rows += [{"model": model, "index": i, "block": f"b{i}", "boundary_shape": "",
                  "boundary_bytes": boundary, "inside_bytes": inside, "input_bytes": boundary}
                 for i in range(1, 4)]
    ctx.write_csv("blocks", rows)
    ctx.write_csv("peaks", [{"model": m, "traced_peak_bytes": 10_000_000, "traced_peak_at": "x",
                             "measured_peak_bytes": 11_000_000}
                            for m in ("mobilenet_v1", "mobilenet_v2")])


def test_v2_memory_verdicts(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "v2-memory")
    _v2_memory(ctx, 800_000)
    assert _verdict(ctx.out, "v2-memory").verdict == CONFIRMED
    _v2_memory(ctx, 4_000_000)
    assert _verdict(ctx.out, "v2-memory").verdict == REFUTED


def test_top5_table_verdicts(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, "top5-table")
    get("top5-table").module.run(ctx)  # published figures only: no data, no network
    v = _verdict(ctx.out, "top5-table")
    assert v.verdict == INCONCLUSIVE  # Inception-v3's 3.46% is a 4-model ensemble
    assert "inception_v3" in v.key and "--data imagenet" in v.reason
    # The key accounts for every row: MobileNet v1 has no published top-5 to match.
    assert v.key.startswith("4/7 ") and v.key.endswith("; no published top-5: mobilenet_v1")
    notes = RawData(ctx.out).csv("notes")
    for r in notes:  # the notes now claim a figure nobody published
        if r["model"] == "alexnet":
            r["value"] = "30.0"
    ctx.write_csv("notes", notes)
    assert _verdict(ctx.out, "top5-table").verdict == REFUTED


# ---------------------------------------------------------------- runner

def _fake(run_fn, tolerance: str = "exact") -> StudyModule:
    study = Study(id="fake", claim="c", source="s", experiment="e", tolerance=tolerance)
    mod = types.ModuleType("fake")
    mod.run = run_fn
    mod.measure = lambda raw: {"x": int(raw.csv("x")[0]["x"])}
    mod.verdict = lambda m: Verdict(CONFIRMED if m["x"] == 1 else REFUTED, f"x={m['x']}")
    return StudyModule(study, mod)


def test_runner_skips_finished_and_reruns_on_change(tmp_path: Path) -> None:
    calls = []

    def run_fn(ctx: StudyContext) -> None:
        calls.append(ctx.seeds)
        ctx.write_csv("x", [{"x": 1}])

    m = _fake(run_fn)
    first = run_study(m, out=tmp_path, log=lambda s: None)
    assert first["verdict"] == CONFIRMED and not first.get("skipped")
    saved = json.loads((tmp_path / "fake" / "result.json").read_text())
    assert saved["environment"]["torch"] and saved["commands"][0].startswith("cnnzoo study run")
    assert run_study(m, out=tmp_path, log=lambda s: None)["skipped"]
    assert len(calls) == 1
    run_study(m, out=tmp_path, force=True, log=lambda s: None)
    run_study(m, out=tmp_path, seeds=2, log=lambda s: None)
    assert calls[-1] == (0, 1) and len(calls) == 3
    # The raw file changed on disk: the reused result's verdict follows the file.
    (tmp_path / "fake" / "x.csv").write_text("x\n2\n")
    again = run_study(m, out=tmp_path, seeds=2, log=lambda s: None)
    assert again["skipped"] and again["verdict"] == REFUTED


def test_a_rerun_stopped_part_way_keeps_the_earlier_results(tmp_path: Path) -> None:
    """Ctrl-C during a rerun (issue 23: it had deleted the old result.json first)."""
    m = _fake(lambda ctx: ctx.write_csv("x", [{"x": 1}]))
    run_study(m, out=tmp_path, log=lambda s: None)
    before = {p.name: p.read_bytes() for p in (tmp_path / "fake").iterdir()}

    def stopped(ctx: StudyContext) -> None:
        ctx.write_csv("x", [{"x": 2}])  # new raw data, half way
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(_fake(stopped), out=tmp_path, force=True, log=lambda s: None)
    assert {p.name: p.read_bytes() for p in (tmp_path / "fake").iterdir()} == before
    again = run_study(m, out=tmp_path, force=True, log=lambda s: None)  # completes: replaces
    assert again["verdict"] == CONFIRMED and not (tmp_path / "_partial" / "fake").exists()


def test_runner_needs_data_and_crash(tmp_path: Path) -> None:
    def needs(ctx: StudyContext) -> None:
        raise NeedsData("needs ImageNet: pass --data imagenet --data-root DIR")

    r = run_study(_fake(needs), out=tmp_path, log=lambda s: None)
    assert r["verdict"] == NEEDS_DATA and "--data-root" in r["key"]

    # Asked again on data that is not here, a study with a finished verdict keeps it.
    done = tmp_path / "done"
    run_study(_fake(lambda ctx: ctx.write_csv("x", [{"x": 1}])), out=done, log=lambda s: None)
    before = {p.name: p.read_bytes() for p in (done / "fake").iterdir()}
    said: list[str] = []
    again = run_study(_fake(needs), out=done, data="imagenet", log=said.append)
    assert again["verdict"] == NEEDS_DATA and again["kept"] == str(done / "fake")
    assert {p.name: p.read_bytes() for p in (done / "fake").iterdir()} == before
    assert said and "is kept" in said[-1] and not (done / "_partial" / "fake").exists()

    def crash(ctx: StudyContext) -> None:
        ctx.write_csv("x", [{"x": 1}])
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        run_study(_fake(crash), out=tmp_path / "c", log=lambda s: None)
    folder = tmp_path / "c" / "fake"
    assert (folder / "error.txt").is_file() and not (folder / "result.json").exists()
    assert "failed" in report(tmp_path / "c").read_text()


# ---------------------------------------------------------------- end to end, CLI, report

def test_list_has_every_counting_study_in_order() -> None:
    ids = [s.id for s in list_studies()]
    assert [i for i in ids if i in MINE] == list(MINE)
    assert [i for i in STUDY_IDS if i in ids] == ids  # the order


def test_cli_list_json(capsys: pytest.CaptureFixture) -> None:
    assert main(["study", "list", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"vgg-uniform", "top5-table"} <= {r["id"] for r in rows}


def test_unknown_study_is_one_line_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["study", "run", "bottlenek"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "did you mean bottleneck" in err


def test_cli_run_then_report_is_self_contained(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "s"
    assert main(["study", "run", "vgg-uniform", "mobilenet-structure", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "verdict" in text and "confirmed" in text and str(out / "report.html") in text
    python = run("mobilenet-structure", out=out, log=lambda s: None)
    assert python["skipped"] and python["verdict"] == CONFIRMED
    html = (out / "report.html").read_text()
    _check_self_contained(html)
    # Rebuilt from the same files: the same page, the same verdicts.
    again = report(out, tmp_path / "again.html").read_text()
    assert again == html
    stored = {p.parent.name: json.loads(p.read_text())["verdict"]
              for p in out.glob("*/result.json")}
    for study_id, verdict in stored.items():
        assert f"id='{study_id}'><h2>{study_id} " in html and verdict in html


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]


def _check_self_contained(html: str) -> None:
    parser = _Links()
    parser.feed(html)
    assert not [u for u in parser.urls if u.startswith(("http:", "https:", "//"))]
    assert "script" not in parser.tags and "link" not in parser.tags
    assert any(u.startswith("data:text/csv;base64,") for u in parser.urls)
    start = 0
    while (i := html.find("<svg", start)) >= 0:  # every chart is well-formed XML
        j = html.index("</svg>", i) + len("</svg>")
        xml.dom.minidom.parseString(html[i:j])
        start = j


def test_svg_charts_are_deterministic_and_parse() -> None:
    charts = [
        line_chart({"a": [(1, 0.3), (2, 0.2)], "b & c": [(1, 0.4), (2, 0.1)]}, title="t <x>"),
        bar_chart(["p", "q"], [1.0, 2e6], [0.1, 3e5], title="bars"),
        grouped_bars([str(i) for i in range(17)], {"s": [float(i) for i in range(17)]}),
    ]
    for svg in charts:
        xml.dom.minidom.parseString(svg)
        assert "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
    assert charts[0] == line_chart({"a": [(1, 0.3), (2, 0.2)], "b & c": [(1, 0.4), (2, 0.1)]},
                                   title="t <x>")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless chromium not installed")
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    out = tmp_path / "s"
    run("vgg-uniform", out=out, log=lambda s: None)
    page = report(out)
    png = tmp_path / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={png}", "--window-size=1200,1600", page.as_uri()],
                   capture_output=True, timeout=120, check=False)
    assert png.is_file() and png.stat().st_size > 10_000


def test_missing_or_broken_study_modules_are_skipped_with_a_note(monkeypatch) -> None:
    from cnnzoo.studies import registry

    real = registry.importlib.import_module

    def fake_import(name: str):
        if name.endswith(".one_by_one"):
            raise SyntaxError("bad file")
        return real(name)

    monkeypatch.setattr(registry, "STUDY_IDS", ("no-such-study", "one-by-one", "vgg-uniform"))
    monkeypatch.setattr(registry.importlib, "import_module", fake_import)
    assert [m.id for m in registry.available()] == ["vgg-uniform"]
    assert "not written yet" in registry.SKIPPED["no-such-study"]
    assert "SyntaxError" in registry.SKIPPED["one-by-one"]
    with pytest.raises(Exception, match="cannot run here"):
        registry.get("one-by-one")
    monkeypatch.undo()
    registry.SKIPPED.pop("no-such-study", None)
    assert registry.get("one-by-one").id == "one-by-one"


def test_timing_rows_per_precision_and_round() -> None:
    from torch import nn

    from cnnzoo.studies.layers import native_bf16, time_precisions, time_summary

    mods = {"a": nn.Conv2d(3, 4, 1), "b": nn.Conv2d(3, 4, 3, padding=1)}
    rows = time_precisions(mods, (3, 8, 8), batch=1, rounds=4, precisions=("fp32", "bf16"))
    fp32 = [r for r in rows if r["precision"] == "fp32"]
    bf16 = [r for r in rows if r["precision"] == "bf16"]
    assert len(fp32) == 8 and len(bf16) == (8 if native_bf16() else 6)
    summary = time_summary(rows, "a", "b")
    assert summary["fp32"]["ratio"]["n"] == 4 and summary["fp32"]["a"]["mean"] > 0


def test_top5_measured_column_says_what_is_missing(tmp_path: Path) -> None:
    r = run("top5-table", out=tmp_path, data="imagenet", data_root=str(tmp_path),
            weights_dir=str(tmp_path / "weights"), log=lambda s: None)
    rows = r["measured"]["rows"]
    assert r["measured"]["measured_status"] == "measured"
    assert "resnet50.pth is missing" in rows["resnet50"]["measured"]["error"]
    assert r["verdict"] == INCONCLUSIVE  # the published comparison does not need the data
    with pytest.raises(Exception, match="unknown study option"):
        run("top5-table", out=tmp_path, force=True, weights="x", log=lambda s: None)


def test_a_time_ratio_is_explained_only_when_the_timing_is_reliable() -> None:
    """Timings that know their load (issue 23: ratios measured at load 4.35 were explained as
    properties of the layers)."""
    from cnnzoo.studies.layers import ratio_text, time_reason, time_summary, unreliable

    def rows(load: float, spread: float, others: int) -> list[dict]:
        out = []
        for r in range(5):
            wobble = 1 + spread * (-1) ** r
            out += [{"module": "a", "precision": "fp32", "round": r, "seconds": 0.2 * wobble,
                     "load_1min": load, "others_running": others, "cores": 2},
                    {"module": "b", "precision": "fp32", "round": r, "seconds": 1.0,
                     "load_1min": load, "others_running": others, "cores": 2}]
        return out

    calm = rows(0.5, 0.01, 0)
    assert unreliable(calm, time_summary(calm, "a", "b")) is None
    # a 1-min load raised by this process's own training just before is not a busy machine
    after_training = rows(2.4, 0.01, 0)
    assert unreliable(after_training, time_summary(after_training, "a", "b")) is None
    busy = rows(4.35, 0.01, 3)
    why = unreliable(busy, time_summary(busy, "a", "b"))
    assert why == "load 4.35, 3 other processes running on 2 cores"
    shaky = rows(0.5, 0.4, 0)
    why = unreliable(shaky, time_summary(shaky, "a", "b"))
    assert why is not None and why.startswith("fp32 rounds spread")
    text = time_reason(busy, [], time_summary(busy, "a", "b"), "a", "b", 0.1)
    assert text.startswith("timing unreliable here (load 4.35")
    # the key figure in the verdict table says so too, instead of a bare ratio
    assert ratio_text(time_summary(busy, "a", "b"), text) == (
        "time ratio not judged: timing unreliable here (load 4.35, 3 other processes running "
        "on 2 cores)")
    assert ratio_text(time_summary(calm, "a", "b"), "the layers") == "time ratio fp32 0.20"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["quick", "standard", "full"])
def test_every_counting_study_runs_in_every_mode(tmp_path: Path, mode: str) -> None:
    """Each study declares its sizes per mode (the timing studies once knew only quick and
    full, and failed in standard mode with a KeyError)."""
    from cnnzoo.studies.registry import available

    for m in available():
        if m.study.seeded or m.study.data:
            continue
        if mode == "full" and m.id in ("bottleneck", "depthwise"):
            continue  # full mode times emulated bf16 too: minutes, not seconds
        result = run_study(m, mode=mode, out=tmp_path, threads=1, log=lambda s: None)
        assert result["verdict"] in ("confirmed", "refuted", "inconclusive"), m.id
        assert not (tmp_path / m.id / "error.txt").exists(), m.id
