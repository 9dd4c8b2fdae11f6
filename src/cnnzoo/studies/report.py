"""The study report: one self-contained HTML file rebuilt from the result folders alone.

Each study's verdict is recomputed from its saved raw files by its own module (so the same
files always give the same verdicts); a study whose module is absent shows what its
result.json recorded. CSS and SVG are inline and the raw data are data: URI downloads, so
the page opens offline anywhere.
"""

from __future__ import annotations

import base64
import csv
import io
from html import escape
from pathlib import Path
from typing import Any

from cnnzoo.atomic import write_text_atomic
from cnnzoo.studies.base import Figure, RawData, StudyError, Verdict
from cnnzoo.studies.registry import STUDY_IDS, _load
from cnnzoo.studies.runner import FAILED, RESULT, evaluate, read_result, write_json_atomic

# Studies about a block: the block diagram drawn above their figures.
# (model, module path of one such block)
BLOCKS = {
    "degradation": ("resnet20", "layer1.0"), "identity": ("resnet20", "layer1.0"),
    "bottleneck": ("googlenet_paper", "inception3a"),  # 5x5 branches, as in the paper
    "inception-aux": ("googlenet", "inception3a"),
    "depthwise": ("mobilenet_v1", "blocks.0"), "depthwise-accuracy": ("mobilenet_v1", "blocks.0"),
    "v2-block-cost": ("mobilenet_v2", "features.8"),  # 14x14x64 -> 64, t=6, the stated shape
    "v2-memory": ("mobilenet_v2", "features.2"),  # where v2 reaches its peak
}
MAX_ROWS = 60  # rows shown inline per CSV; the download has them all
BADGE = {"confirmed": "#1a7f37", "refuted": "#c62828", "inconclusive": "#b26a00",
         "needs-data": "#5f6b7a", "failed": "#222"}

CSS = """
body{font:15px/1.5 Helvetica,Arial,sans-serif;color:#1d1d1f;max-width:1040px;margin:24px auto;
padding:0 20px}h1{font-size:26px;margin-bottom:4px}h2{font-size:20px;margin:0 0 6px}
h3{font-size:15px;margin:14px 0 4px}.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
td,th{border-bottom:1px solid #e3e3e3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f7}.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;font-size:12px;
font-weight:bold;white-space:nowrap}section.study{border:1px solid #ddd;border-radius:8px;
padding:14px 18px;margin:18px 0}dl{display:grid;grid-template-columns:150px 1fr;gap:3px 12px;
margin:8px 0}dt{color:#555;font-weight:bold}dd{margin:0}code,pre{background:#f5f5f7;
border-radius:4px;font-size:12.5px}code{padding:1px 4px}pre{padding:8px;overflow-x:auto;
white-space:pre-wrap}details{margin:4px 0}summary{cursor:pointer;color:#0b57a3}
figure{margin:10px 0}figcaption{color:#555;font-size:13px}.reason{margin:6px 0}
.fig svg{max-width:100%;height:auto}a{color:#0b57a3}
.figs{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:flex-start}
td:first-child{white-space:nowrap}td pre{margin:0}
"""



def _b(verdict: str) -> str:
    colour = BADGE.get(verdict, "#222")
    return f"<span class='badge' style='background:{colour}'>{escape(verdict)}</span>"


def _order(folder: Path) -> list[Path]:
    found = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_")
             and ((p / RESULT).is_file() or (p / FAILED).is_file())]
    rank = {s: i for i, s in enumerate(STUDY_IDS)}
    return sorted(found, key=lambda p: (rank.get(p.name, len(rank)), p.name))


def collect(folder: Path) -> list[dict]:
    """One entry per study folder: the stored result with measured/verdict recomputed from
    the raw files where the study's module is here, and its figures."""
    entries = []
    for sub in _order(folder):
        result = read_result(sub)
        if result is None:
            entries.append({"id": sub.name, "verdict": "failed", "key": "the study's code "
                            "failed; see the traceback", "traceback":
                            (sub / FAILED).read_text(), "figures": [], "folder": sub})
            continue
        entry = {**result, "folder": sub, "figures": [], "recomputed": False}
        module = _load(sub.name)
        if module is not None and result.get("verdict") != "needs-data":
            try:
                measured, verdict = evaluate(module, sub)
                entry.update(measured=measured, verdict=verdict.verdict, key=verdict.key,
                             reason=verdict.reason, recomputed=True)
            except (StudyError, KeyError, ValueError, TypeError) as e:
                entry["note"] = f"verdict as stored: the raw files could not be re-read ({e})"
        if module is not None and hasattr(module.module, "figures") and entry.get("measured"):
            try:
                entry["figures"] = module.module.figures(RawData(sub), entry["measured"])
            except Exception as e:  # noqa: BLE001 - a figure must not cost the whole report
                entry["figures"] = [Figure("figure unavailable",
                                           caption=f"{type(e).__name__}: {e}")]
        entries.append(entry)
    return entries


def _block_diagram(study_id: str, folder: Path) -> str:
    """The block's diagram drawn from the real module, at the input the study trained it on
    where its meta.json says (a block's shapes follow the input), else at the model's
    default input."""
    if study_id not in BLOCKS:
        return ""
    from cnnzoo.draw import draw
    from cnnzoo.registry import create_model, model_card
    from cnnzoo.studies.training import read_meta

    name, block = BLOCKS[study_id]
    size = read_meta(RawData(folder)).get("input_size")
    where = "the input this study trained it on"
    if not size:
        size, where = list(model_card(name).input_size), "its default input"
    model = create_model(name, in_chans=size[0], device="meta")
    svg = draw(model, input_size=tuple(size), block=block, detail="layers")
    shape = "x".join(str(v) for v in size)
    return (f"<figure class='fig'>{svg}<figcaption>The block: {escape(name)} "
            f"<code>{escape(block)}</code>, drawn from the real module at {shape}, "
            f"{where}.</figcaption></figure>")


def _value(v: Any) -> str:
    if isinstance(v, dict) and "mean" in v and "sd" in v:
        if v["mean"] is None:
            return "-"
        sd = "" if v["sd"] is None else f" &plusmn; {_num(v['sd'])}"
        return f"{_num(v['mean'])}{sd} (n={v.get('n', '?')})"
    if isinstance(v, float):
        return _num(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, str) and "\n" in v:
        return f"<pre>{escape(v)}</pre>"
    if isinstance(v, list):
        text = ", ".join(_plain(x) for x in v[:12]) + (", ..." if len(v) > 12 else "")
        return escape(text)
    return escape(str(v))


def _plain(x: Any) -> str:
    return _num(x) if isinstance(x, float) else str(x)


def _num(x: float) -> str:
    if float(x).is_integer() and abs(x) >= 1:
        return f"{int(x):,}"
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:,.0f}"


def _flatten(d: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    if isinstance(d, dict) and not ("mean" in d and "sd" in d) and depth < 3:
        out = []
        for k, v in d.items():
            out += _flatten(v, f"{prefix}{k}" if not prefix else f"{prefix} / {k}", depth + 1)
        return out
    return [(prefix, d)]


def _records(v: Any) -> list[str] | None:
    """The columns, when `v` is a table in disguise: {name: {field: scalar, ...}, ...}."""
    if not isinstance(v, dict) or len(v) < 2 or not all(isinstance(r, dict) for r in v.values()):
        return None
    cols = list(dict.fromkeys(k for r in v.values() for k in r))
    flat = all(not isinstance(x, dict) or ("mean" in x and "sd" in x)
               for r in v.values() for x in r.values())
    return cols if flat and len(cols) <= 10 else None


def _measured_table(measured: dict) -> str:
    """Tables of records as real tables (one row each), everything else as figure/value."""
    parts, rest = [], {}
    for key, v in measured.items():
        cols = _records(v)
        if cols is None:
            rest[key] = v
            continue
        head = "".join(f"<th>{escape(c)}</th>" for c in cols)
        body = "".join(f"<tr><td>{escape(name)}</td>" + "".join(
            f"<td>{_value(r.get(c, ''))}</td>" for c in cols) + "</tr>" for name, r in v.items())
        parts.append(f"<table><tr><th>{escape(key)}</th>{head}</tr>{body}</table>")
    rows = _flatten(rest)
    if rows:
        body = "".join(f"<tr><td>{escape(k)}</td><td>{_value(v)}</td></tr>" for k, v in rows)
        parts.append(f"<table><tr><th>figure</th><th>value</th></tr>{body}</table>")
    return "".join(parts) or "<p>nothing measured</p>"


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _raw_files(folder: Path) -> str:
    parts = []
    for path in sorted(folder.glob("*.csv")):
        rows = list(csv.reader(io.StringIO(path.read_text())))
        head, body = (rows[0], rows[1:]) if rows else ([], [])
        shown = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>"
                        for r in body[:MAX_ROWS])
        more = (f"<p>first {MAX_ROWS} of {len(body)} rows; the download has all</p>"
                if len(body) > MAX_ROWS else "")
        parts.append(
            f"<details><summary>{escape(path.name)} ({len(body)} rows)</summary>"
            f"<p><a download='{escape(path.name)}' href='{_data_uri(path, 'text/csv')}'>"
            f"download {escape(path.name)}</a></p><table><tr>"
            + "".join(f"<th>{escape(h)}</th>" for h in head) + f"</tr>{shown}</table>{more}"
            "</details>")
    for path in sorted(folder.glob("*.json")):
        if path.name == RESULT:
            continue
        parts.append(
            f"<details><summary>{escape(path.name)}</summary><p><a download="
            f"'{escape(path.name)}' href='{_data_uri(path, 'application/json')}'>download "
            f"{escape(path.name)}</a></p><pre>{escape(path.read_text()[:20000])}</pre>"
            "</details>")
    if (folder / RESULT).is_file():
        parts.append(f"<p><a download='result.json' href='"
                     f"{_data_uri(folder / RESULT, 'application/json')}'>download "
                     "result.json</a></p>")
    return "".join(parts) or "<p>no raw files</p>"


def _figure(f: Figure) -> str:
    if f.svg:
        inner = f.svg
    elif f.png_data_uri.startswith("data:image/png;base64,"):
        inner = f"<img alt='{escape(f.title)}' src='{f.png_data_uri}'>"
    else:
        inner = ""
    caption = f"<figcaption>{escape(f.caption)}</figcaption>" if f.caption else ""
    return f"<figure class='fig'>{inner}{caption}</figure>"


def _study_section(e: dict) -> str:
    sid = escape(e["id"])
    if e["verdict"] == "failed":
        return (f"<section class='study' id='{sid}'><h2>{sid} {_b('failed')}</h2>"
                f"<pre>{escape(e['traceback'][-4000:])}</pre></section>")
    seeds = e.get("seeds", [])
    env = e.get("environment", {})
    dl = [("Claim", escape(e.get("claim", ""))), ("Source", escape(e.get("source", ""))),
          ("Experiment", escape(e.get("experiment", ""))),
          ("Deviations", escape(e.get("deviations") or "none")),
          ("Tolerance", escape(e.get("tolerance", ""))),
          ("Run", escape(f"{e.get('mode')} mode, seeds {seeds}, data "
                         f"{e.get('data') or 'default'}, {e.get('elapsed_s', 0):.1f} s on "
                         f"{env.get('threads', '?')} threads{_jobs(env)} (load "
                         f"{env.get('load_1min')}), {e.get('created', '')}"))]
    commands = "".join(f"<code>{escape(c)}</code><br>" for c in e.get("commands", []))
    dl.append(("Commands", commands or "-"))
    note = f"<p><em>{escape(e['note'])}</em></p>" if e.get("note") else ""
    figs = _block_diagram(e["id"], e["folder"]) + "<div class='figs'>" + "".join(
        _figure(f) for f in e["figures"]) + "</div>"
    return "".join([
        f"<section class='study' id='{sid}'><h2>{sid} {_b(e['verdict'])}</h2>",
        f"<p class='reason'><strong>{escape(e.get('key', ''))}</strong></p>",
        f"<p class='reason'>{escape(e.get('reason', ''))}</p>{note}",
        "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in dl) + "</dl>",
        figs,
        "<h3>Measured</h3>", _measured_table(e.get("measured") or {}),
        "<h3>Raw data</h3>", _raw_files(e["folder"]), "</section>",
    ])


def _jobs(env: dict) -> str:
    """How the study's training runs shared the threads, where it trained."""
    jobs = env.get("training_jobs")
    if not jobs:
        return ""
    return ", training runs one at a time" if jobs == 1 else \
        f", training runs {jobs} at a time with a share of the threads each"


def _summary(entries: list[dict]) -> str:
    rows = "".join(
        f"<tr><td><a href='#{escape(e['id'])}'>{escape(e['id'])}</a></td>"
        f"<td>{_b(e['verdict'])}</td><td>{escape(e.get('key', ''))}</td>"
        f"<td>{escape(e.get('mode', ''))}</td></tr>" for e in entries)
    counts = {}
    for e in entries:
        counts[e["verdict"]] = counts.get(e["verdict"], 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in counts.items())
    here = {e["id"] for e in entries}
    absent = [i for i in STUDY_IDS if i not in here]
    missing = (f"<p>Not run into this folder: {escape(', '.join(absent))} "
               "(<code>cnnzoo study run ID --out DIR</code> adds them).</p>" if absent else "")
    return (f"<p>{len(entries)} studies: {escape(tally)}.</p><table><tr><th>study</th>"
            f"<th>verdict</th><th>key figure</th><th>mode</th></tr>{rows}</table>"
            f"{_one_seed_note(entries)}{missing}")


def _one_seed_note(entries: list[dict]) -> str:
    """Which verdicts rest on one seed of a study where chance matters: a reader of the
    table should not take those for decisions."""
    ids = []
    for e in entries:
        module = _load(e["id"]) if e["id"] in STUDY_IDS else None
        if module and module.study.seeded and e["verdict"] in ("confirmed", "refuted") \
                and len(e.get("seeds", [])) < 2:
            ids.append(e["id"])
    if not ids:
        return ""
    return (f"<p>The verdicts of {escape(', '.join(ids))} rest on one seed"
            f"{' of a quick run' if all(e.get('mode') == 'quick' for e in entries) else ''}"
            ": indicative only, as one seed cannot tell a difference from chance; "
            "<code>cnnzoo study run --full</code> (3 seeds each) decides them.</p>")


def _environment(entries: list[dict], folder: Path) -> str:
    envs = [e["environment"] for e in entries if e.get("environment")]
    if not envs:
        return ""
    first = envs[0]
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(str(v))}</td></tr>"
                   for k, v in first.items())
    modes = sorted({e.get("mode", "quick") for e in entries if e.get("mode")})
    rerun = f"cnnzoo study run --{modes[0] if len(modes) == 1 else 'quick'} --out {folder}"
    return ("<h2>Environment</h2><p>As recorded by the first study (each study's own run "
            "line above gives its threads, load and date).</p>"
            f"<table>{rows}</table><h2>Regenerate</h2><p>This page, from the files alone: "
            f"<code>cnnzoo study report {escape(str(folder))}</code>; the experiments: "
            f"<code>{escape(rerun)}</code> (add <code>--force</code> to rerun finished "
            "studies).</p>")


def render_html(folder: Path, entries: list[dict]) -> str:
    body = "".join(_study_section(e) for e in entries)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>cnnzoo case studies</title><style>{CSS}</style></head><body>"
        "<h1>The CNN case studies, as experiments</h1>"
        "<p class='sub'>Each claim of the case-study notes, the experiment that tests it, "
        "what was measured and a verdict computed from the saved data against a tolerance "
        f"fixed before the run. Results from <code>{escape(str(folder))}</code>.</p>"
        f"<h2>Verdicts</h2>{_summary(entries)}{body}{_environment(entries, folder)}"
        "</body></html>\n")


def write_report(folder: Path, html_path: Path | None = None) -> Path:
    """Rebuild the report of every study under `folder`; returns the HTML's path."""
    if not folder.is_dir():
        raise StudyError(f"{folder} is not a folder of study results; run `cnnzoo study run "
                         f"--out {folder}` first")
    entries = collect(folder)
    if not entries:
        raise StudyError(f"{folder} holds no study results (DIR/ID/result.json); run "
                         f"`cnnzoo study run --out {folder}` first")
    path = html_path or folder / "report.html"
    return write_text_atomic(path, render_html(folder, entries))


def verdicts(folder: Path) -> dict[str, Verdict]:
    """id -> the verdict the report shows (recomputed where the module is here)."""
    return {e["id"]: Verdict(e["verdict"] if e["verdict"] != "failed" else "inconclusive",
                             e.get("key", ""), e.get("reason", ""))
            for e in collect(folder)}


__all__ = ["collect", "render_html", "verdicts", "write_json_atomic", "write_report"]
