"""The study report: one self-contained HTML file rebuilt from the result folders alone.

Each study's verdict is recomputed from its saved raw files by its own module (so the same
files always give the same verdicts); a study whose module is absent shows what its
result.json recorded. CSS and SVG are inline and the raw data are data: URI downloads, so
the page opens offline anywhere. The page is for people: numbers are formatted, `code` is
set as code, and absolute paths under the results folder read DIR/...
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from cnnzoo.atomic import write_text_atomic
from cnnzoo.draw import draw
from cnnzoo.factory import create_model
from cnnzoo.registry import model_card
from cnnzoo.studies.base import Figure, RawData, StudyError, Verdict
from cnnzoo.studies.comparisons import MIN_SEEDS
from cnnzoo.studies.registry import STUDY_IDS, _load
from cnnzoo.studies.report_text import (
    INDICATIVE,
    cell,
    data_used,
    deciding_comparison,
    evidence_parts,
    evidence_text,
    interval_text,
    is_indicative,
    is_long,
    is_stats,
    points,
    prose,
    scrub,
    short_claim,
    training_text,
    value_html,
    verdict_label,
)
from cnnzoo.studies.runner import FAILED, RESULT, evaluate, read_result, write_json_atomic
from cnnzoo.studies.svg import interval_chart
from cnnzoo.studies.training import read_meta

# Studies about a block: the block diagram drawn above their figures.
# (model, module path of one such block)
BLOCKS = {
    "degradation": ("resnet20", "layer1.0"), "identity": ("resnet20", "layer1.0"),
    "bottleneck": ("googlenet_paper", "inception3a"),  # 5x5 branches, as in the paper
    "inception-block": ("googlenet_paper", "inception3a"),
    "inception-aux": ("googlenet", "inception3a"),
    "depthwise": ("mobilenet_v1", "blocks.0"), "depthwise-accuracy": ("mobilenet_v1", "blocks.0"),
    "v2-block-cost": ("mobilenet_v2", "features.8"),  # 14x14x64 -> 64, t=6, the stated shape
    "v2-memory": ("mobilenet_v2", "features.2"),  # where v2 reaches its peak
}
MAX_ROWS = 60  # rows shown inline per CSV; the download has them all
BADGE = {"confirmed": "#1a7f37", "refuted": "#c62828", "inconclusive": "#b26a00",
         "needs-data": "#5f6b7a", "failed": "#222", INDICATIVE: "#6b7280"}

CSS = """
body{font:15px/1.5 Helvetica,Arial,sans-serif;color:#1d1d1f;max-width:1040px;margin:24px auto;
padding:0 20px}h1{font-size:26px;margin-bottom:4px}h2{font-size:20px;margin:0 0 6px}
h3{font-size:16px;margin:18px 0 6px}.sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13.5px}
td,th{border-bottom:1px solid #e3e3e3;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f7}.num{text-align:right;font-variant-numeric:tabular-nums;
white-space:nowrap}.badge{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;
font-size:12.5px;font-weight:bold;white-space:nowrap}section.study{border:1px solid #ddd;
border-radius:8px;padding:14px 18px;margin:18px 0}dl{display:grid;
grid-template-columns:150px 1fr;gap:3px 12px;margin:8px 0}dt{color:#555;font-weight:bold}
dd{margin:0}code,pre{background:#f5f5f7;border-radius:4px;font-size:13px}code{padding:1px 4px}
pre{padding:8px;overflow-x:auto;white-space:pre-wrap}details{margin:4px 0}
summary{cursor:pointer;color:#0b57a3}figure{margin:10px 0}
figcaption{color:#555;font-size:13.5px;max-width:640px}.reason{margin:6px 0}
.fig svg{max-width:100%;height:auto}a{color:#0b57a3}
.figs{display:flex;flex-wrap:wrap;gap:6px 18px;align-items:flex-start}
td:first-child{white-space:nowrap}td pre{margin:0}.small{font-size:12.5px}
.tables{display:flex;flex-wrap:wrap;gap:0 24px;align-items:flex-start}
.note{background:#f5f5f7;border-left:4px solid #6b7280;padding:8px 12px}
"""

def _badge(verdict: str, n: int | None = None) -> str:
    kind = INDICATIVE if is_indicative(verdict, n) else verdict
    return _pill(verdict_label(verdict, n), BADGE.get(kind, "#222"))


def _pill(label: str, colour: str) -> str:
    return f"<span class='badge' style='background:{colour}'>{escape(label)}</span>"


def _n(e: Mapping[str, Any]) -> int | None:
    """The seeds a study's verdict rests on: its verdict's n; for a result from before
    verdicts said, its seeds where chance matters."""
    if "n" in e:
        return None if e["n"] is None else int(e["n"])
    module = _load(e["id"]) if e.get("id") in STUDY_IDS else None
    return len(e.get("seeds", [])) if module and module.study.seeded else None


# -- collecting the studies ---------------------------------------------------------------


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
        module = _load(sub.name) if sub.name in STUDY_IDS else None
        if module is not None and result.get("verdict") != "needs-data":
            try:
                measured, verdict = evaluate(module, sub)
                entry.update(measured=measured, verdict=verdict.verdict, key=verdict.key,
                             reason=verdict.reason, n=verdict.n, recomputed=True,
                             comparisons=measured.get("comparisons", []))
            except (StudyError, KeyError, ValueError, TypeError) as e:
                entry["note"] = f"verdict as stored: the raw files could not be re-read ({e})"
        entry["figures"] = _figures(sub, entry.get("measured"))
        entries.append(entry)
    return entries


def _figures(folder: Path, measured: dict | None) -> list[Figure]:
    """The study's own figures, drawn from its raw files (none where it has no code here
    or measured nothing)."""
    module = _load(folder.name) if folder.name in STUDY_IDS else None
    if module is None or not hasattr(module.module, "figures") or not measured:
        return []
    try:
        return module.module.figures(RawData(folder), measured)
    except Exception as e:  # noqa: BLE001 - a figure must not cost the whole report
        return [Figure("figure unavailable", caption=f"{type(e).__name__}: {e}")]


# -- one study's section ------------------------------------------------------------------


def _block_diagram(study_id: str, folder: Path) -> str:
    """The block's diagram drawn from the real module, at the input the study trained it on
    where its meta.json says (a block's shapes follow the input), else at the model's
    default input."""
    if study_id not in BLOCKS:
        return ""

    name, block = BLOCKS[study_id]
    size = read_meta(RawData(folder)).get("input_size")
    where = "the input this study trained it on"
    card = model_card(name)
    if not size or min(size[1:]) < card.min_input_size:  # a study net imitating the block
        size, where = list(card.input_size), "its default input"
    model = create_model(name, in_chans=size[0], device="meta")
    svg = draw(model, input_size=tuple(size), block=block, detail="layers")
    shape = "x".join(str(v) for v in size)
    return (f"<figure class='fig'>{svg}<figcaption>The block: {escape(name)} "
            f"<code>{escape(block)}</code>, drawn from the real module at {shape}, "
            f"{where}.</figcaption></figure>")


def _flatten(d: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    if isinstance(d, dict) and not is_stats(d) and depth < 3:
        out = []
        for k, v in d.items():
            out += _flatten(v, f"{prefix}{k}" if not prefix else f"{prefix} / {k}", depth + 1)
        return out
    return [(prefix, d)]


def _records(v: Any) -> list[str] | None:
    """The columns, when `v` is a table in disguise: {name: {field: scalar, ...}, ...};
    columns empty in every record are left out."""
    if not isinstance(v, dict) or len(v) < 2 or not all(isinstance(r, dict) for r in v.values()):
        return None
    cols = [c for c in dict.fromkeys(k for r in v.values() for k in r)
            if any(r.get(c) not in (None, "") for r in v.values())]
    flat = all(not isinstance(x, dict) or is_stats(x) for r in v.values() for x in r.values())
    return cols if flat and 0 < len(cols) <= 10 else None


SHOWN_ELSEWHERE = ("comparisons",)  # the comparisons have their own table and chart


def _measured_table(measured: dict, root: Path) -> str:
    """Tables of records as real tables (one row each), everything else as figure/value;
    rows with nothing in them are left out."""
    parts, rest = [], {}
    for key, v in measured.items():
        if key in SHOWN_ELSEWHERE:
            continue
        cols = _records(v)
        if cols is None:
            rest[key] = v
            continue
        head = "".join(f"<th>{escape(c)}</th>" for c in cols)
        body = "".join(f"<tr><td>{escape(name)}</td>" + "".join(
            cell(r.get(c), root) for c in cols) + "</tr>" for name, r in v.items())
        parts.append(f"<table><tr><th>{escape(key)}</th>{head}</tr>{body}</table>")
    rows = [(k, v) for k, v in _flatten(rest) if v not in (None, "")]
    short = [(k, v) for k, v in rows if not is_long(v)]
    if short:
        body = "".join(f"<tr><td>{escape(k)}</td>{cell(v, root)}</tr>" for k, v in short)
        parts.append(f"<table><tr><th>figure</th><th>value</th></tr>{body}</table>")
    # Sentences and worked sums below the tables, where they do not stretch a column.
    texts = "".join(f"<p><strong>{escape(k)}</strong>: {value_html(v, root)}</p>"
                    for k, v in rows if is_long(v))
    if not parts and not texts:
        return "<p>nothing measured</p>"
    return f"<div class='tables'>{''.join(parts)}</div>{texts}"


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _raw_files(folder: Path) -> str:
    root = folder.parent
    parts = []
    for path in sorted(folder.glob("*.csv")):
        rows = list(csv.reader(io.StringIO(path.read_text())))
        head, body = (rows[0], rows[1:]) if rows else ([], [])
        shown = "".join("<tr>" + "".join(f"<td>{escape(scrub(c, root))}</td>" for c in r)
                        + "</tr>" for r in body[:MAX_ROWS])
        more = (f"<p>first {MAX_ROWS} of {len(body):,} rows; the download has all</p>"
                if len(body) > MAX_ROWS else "")
        parts.append(
            f"<details><summary>{escape(path.name)} ({len(body):,} rows)</summary>"
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
            f"{escape(path.name)}</a></p><pre>{escape(scrub(path.read_text()[:20000], root))}"
            "</pre></details>")
    if (folder / RESULT).is_file():
        parts.append(f"<p><a download='result.json' href='"
                     f"{_data_uri(folder / RESULT, 'application/json')}'>download "
                     "result.json</a> (everything above, with the comparisons' per-seed "
                     "values)</p>")
    return "".join(parts) or "<p>no raw files</p>"


def _figure(f: Figure, root: Path) -> str:
    if f.svg:
        inner = f.svg
    elif f.png_data_uri.startswith("data:image/png;base64,"):
        inner = f"<img alt='{escape(f.title)}' src='{f.png_data_uri}'>"
    else:
        inner = ""
    caption = f"<figcaption>{prose(f.caption, root)}</figcaption>" if f.caption else ""
    return f"<figure class='fig'>{inner}{caption}</figure>"


OUTCOME = {  # (outcome, leaning) -> words
    ("above", "for"): "above the margin: for the claim",
    ("above", "against"): "above the margin: against the claim",
    ("below", "for"): "below the margin: for the claim",
    ("below", "against"): "below the margin: against the claim",
}


def _comparison_row(r: Mapping[str, Any], root: Path) -> str:
    test = "paired" if r.get("paired") else "Welch"
    if r.get("df") is not None:
        test += f", df {float(r['df']):.3g}"
    if r.get("lower") is None or r.get("upper") is None:
        bounds = "none (n&lt;2)"
    else:
        bounds = f"[{points(r, 'lower')}, {points(r, 'upper')}]"
    outcome = OUTCOME.get((r.get("outcome"), r.get("leaning")),
                          "unclear: no interval yet" if r.get("lower") is None else
                          "unclear: the interval contains the margin")
    mde = r.get("detectable")
    name = escape(str(r.get("name", "")))
    cells = [
        f"<strong>{name}</strong>" if r.get("decides") else name,
        prose(r.get("statement", ""), root), f"<span class='num'>{r.get('n', '-')}</span>",
        test, f"<span class='num'>{points(r, 'difference')}</span>",
        f"<span class='num'>{bounds}</span>", f"<span class='num'>{points(r, 'margin')}</span>",
        outcome, "yes" if r.get("decides") else "no (shown only)",
        "-" if mde is None else f"<span class='num'>{float(r.get('scale', 1.0)) * mde:.2f}"
                                "</span>",
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _comparisons(e: Mapping[str, Any], root: Path) -> str:
    """The chart and table of a seeded study's comparisons: what its verdict rests on."""
    rows = e.get("comparisons") or []
    if not rows:
        return ""
    unit = escape(str(rows[0].get("unit", "points")))
    head = ("comparison", "the claim says", "n", "test", f"b - a ({unit})", "90% interval",
            "margin", "outcome", "decides", "decidable beyond the margin")
    table = ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
             + "".join(_comparison_row(r, root) for r in rows) + "</table>")
    chart = interval_chart(rows, title=f"{e['id']}: the differences against their margins")
    return (
        "<h3>What the verdict rests on</h3>"
        f"<p class='small'>Each comparison is the difference b - a between two arms, in "
        f"{unit}, over seeds (paired where the arms share each seed's data and start). The "
        "bar is its 90% t-interval (each bound one-sided 95%). A comparison is decided for "
        "the claim when the whole bar lies in the green zone beyond its margin, against it "
        "when the whole bar lies on the other side, and not decided while the bar crosses "
        f"the margin. A verdict needs at least {MIN_SEEDS} seeds.</p>"
        f"<figure class='fig'>{chart}</figure>{table}")


def _run_line(e: Mapping[str, Any], root: Path) -> str:
    env = e.get("environment", {})
    seeds = e.get("seeds", [])
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else \
        f"{len(seeds)} seeds ({', '.join(str(s) for s in seeds)})"
    load = env.get("load_1min")
    training = training_text(env)
    used = data_used(e)  # a study that reads no data names none
    data = f"data {used}, " if used else "data default, " if e.get("data_needed") else ""
    return prose(f"{e.get('mode')} mode, {seed_text}, {data}"
                  f"{_seconds(e.get('elapsed_s', 0))} on {_threads(env.get('threads'))}"
                  f"{_jobs(env)}{'' if load is None else f' (load {load})'}"
                  f"{f'; {training}' if training else ''}, "
                  f"{e.get('created', '')}", root)


def _seconds(s: float) -> str:
    return "under 0.1 s" if s < 0.05 else f"{s:,.1f} s"


def _threads(n: Any) -> str:
    return f"{n} thread" if n == 1 else f"{n or '?'} threads"


def _study_section(e: dict) -> str:
    sid = escape(e["id"])
    root = e["folder"].parent
    if e["verdict"] == "failed":
        return (f"<section class='study' id='{sid}'><h2>{sid} {_badge('failed')}</h2>"
                f"<pre>{escape(scrub(e['traceback'][-4000:], root))}</pre></section>")
    dl = [("Claim", prose(e.get("claim", ""), root)),
          ("Source", prose(e.get("source", ""), root)),
          ("Experiment", prose(e.get("experiment", ""), root)),
          ("Deviations", prose(e.get("deviations") or "none", root)),
          ("Tolerance", prose(e.get("tolerance", ""), root)),
          ("Run", _run_line(e, root))]
    shown = _commands(e, root)
    commands = "".join(f"<code>{escape(c)}</code><br>" for c in shown)
    if len(shown) > 2:  # the study's own command, then its training runs', folded
        commands = (f"<code>{escape(shown[0])}</code><details><summary>the {len(shown) - 1} "
                    "training runs' <code>cnnzoo train</code> commands</summary>"
                    + "".join(f"<code>{escape(c)}</code><br>" for c in shown[1:])
                    + "</details>")
    dl.append(("Commands", commands or "-"))
    note = f"<p><em>{prose(e['note'], root)}</em></p>" if e.get("note") else ""
    figs = _block_diagram(e["id"], e["folder"]) + "<div class='figs'>" + "".join(
        _figure(f, root) for f in e["figures"]) + "</div>"
    return "".join([
        f"<section class='study' id='{sid}'><h2>{sid} {_badge(e['verdict'], _n(e))}</h2>",
        f"<p class='reason'><strong>{prose(e.get('key', ''), root)}</strong></p>",
        f"<p class='reason'>{prose(e.get('reason', ''), root)}</p>{note}",
        "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in dl) + "</dl>",
        _comparisons(e, root), figs,
        "<h3>Measured</h3>", _measured_table(e.get("measured") or {}, root),
        "<h3>Raw data</h3>", _raw_files(e["folder"]), "</section>",
    ])


def _commands(e: Mapping[str, Any], root: Path) -> list[str]:
    """The study's commands with the results folder as DIR, also where it was run into
    another folder (moved since): its own `study run` command's --out says which."""
    commands = list(e.get("commands", []))
    words = commands[0].split() if commands else []
    old = words[words.index("--out") + 1] if "--out" in words[:-1] else ""
    if old.startswith("/"):
        commands = [re.sub(re.escape(old) + r"(?=/|\s|$)", str(root), c) for c in commands]
    return [scrub(c, root) for c in commands]


def _jobs(env: dict) -> str:
    """How the study's training runs shared the threads, where it trained."""
    jobs = env.get("training_jobs")
    if not jobs:
        return ""
    return ", training runs one at a time on 1 thread" if jobs == 1 else \
        f", training runs {jobs} at a time on 1 thread each"


# -- the page -----------------------------------------------------------------------------


def _summary_row(e: Mapping[str, Any], root: Path) -> str:
    sid = escape(e["id"])
    n = _n(e)
    # The comparison's name wraps; its interval stays on one line.
    name, interval = evidence_parts(e.get("comparisons") or [], e["verdict"])
    evidence = ((f"{escape(name)}: " if name else "")
                + f"<span class='num'>{escape(interval)}</span>")
    claim = e.get("claim", "")
    cells = [f"<a href='#{sid}'>{sid}</a>",
             f"<span title='{escape(claim)}'>{prose(short_claim(claim), root)}</span>",
             _badge(e["verdict"], n), f"<span class='num'>{'-' if n is None else n}</span>",
             evidence, prose(e.get("key", ""), root),
             escape(e.get("mode", ""))]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _summary(entries: list[dict], root: Path) -> str:
    counts: dict[str, int] = {}
    for e in entries:
        label = INDICATIVE if is_indicative(e["verdict"], _n(e)) else e["verdict"]
        counts[label] = counts.get(label, 0) + 1
    tally = ", ".join(f"{n} {v}" for v, n in counts.items())
    here = {e["id"] for e in entries}
    absent = [i for i in STUDY_IDS if i not in here]
    missing = (f"<p>Not run into this folder: {escape(', '.join(absent))} "
               "(<code>cnnzoo study run ID --out DIR</code> adds them).</p>" if absent else "")
    head = ("study", "claim", "verdict", "n", "b - a [90% interval] vs margin, points",
            "key figure", "mode")
    return (f"<p>{len(entries)} studies: {escape(tally)}.</p><table><tr>"
            + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
            + "".join(_summary_row(e, root) for e in entries) + "</table>"
            f"{_one_seed_note(entries)}{_how_to_read()}{missing}")


def _how_to_read() -> str:
    return ("<p class='small'>How to read the verdicts: a counting study is confirmed or "
            "refuted by its tolerance. A training study (one with n) is confirmed when every "
            "deciding comparison's 90% interval lies beyond its margin on the claim's side, "
            "refuted when one lies wholly on the other side, inconclusive otherwise; "
            f"with fewer than {MIN_SEEDS} seeds it is only "
            f"{_pill(INDICATIVE, BADGE[INDICATIVE])}.</p>")


def _one_seed_note(entries: list[dict]) -> str:
    """Which verdicts are indicative (fewer than MIN_SEEDS seeds): a reader of the table
    should not take those for decisions."""
    few = [(e["id"], n) for e in entries if is_indicative(e["verdict"], n := _n(e))]
    if not few:
        return ""
    ns = {n for _, n in few}
    seeds = ("one seed" if ns == {1} else f"{ns.pop()} seeds" if len(ns) == 1
             else f"fewer than {MIN_SEEDS} seeds")
    quick = " of a quick run" if all(e.get("mode") == "quick" for e in entries) else ""
    return (f"<p class='note'>The verdicts of {escape(', '.join(i for i, _ in few))} rest on "
            f"{seeds}{quick}: indicative only (grey), as so few seeds cannot tell a "
            f"difference from chance. Confirmed and refuted need at least {MIN_SEEDS} seeds "
            "and a 90% t-interval of each deciding difference clear of its margin; "
            f"<code>cnnzoo study run ID --seeds {MIN_SEEDS}</code> (or more) decides "
            "them.</p>")


def _environment(entries: list[dict], folder: Path) -> str:
    envs = [e["environment"] for e in entries if e.get("environment")]
    if not envs:
        return ""
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{value_html(v, folder)}</td></tr>"
                   for k, v in envs[0].items())
    modes = sorted({e.get("mode", "quick") for e in entries if e.get("mode")})
    shown = scrub(str(folder), folder)
    rerun = f"cnnzoo study run --{modes[0] if len(modes) == 1 else 'quick'} --out {shown}"
    return ("<h2>Environment</h2><p>As recorded by the first study (each study's own run "
            "line above gives its threads, load and date).</p>"
            f"<table>{rows}</table><h2>Regenerate</h2><p>This page, from the files alone: "
            f"<code>cnnzoo study report {escape(shown)}</code>; the experiments: "
            f"<code>{escape(rerun)}</code> (add <code>--force</code> to rerun finished "
            "studies).</p>")


# A notebook's share of CSS: scoped to the result's box, so the page keeps its own styles.
NOTEBOOK_CSS = "".join(
    f"div.cnnzoo-study {rule}" for rule in (
        "table{border-collapse:collapse;font-size:12.5px;margin:4px 0}",
        "td{border-bottom:1px solid #e3e3e3;padding:2px 6px;text-align:left}",
        "th{border-bottom:1px solid #e3e3e3;padding:2px 6px;text-align:left}",
        ".num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}",
        ".badge{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;"
        "font-size:12.5px;font-weight:bold}",
        ".fig svg{max-width:100%;height:auto}", "figcaption{color:#555;font-size:12.5px}",
        ".small{font-size:12px}", ".tables{display:flex;flex-wrap:wrap;gap:0 24px}"))


def result_html(result: Mapping[str, Any], folder: Path) -> str:
    """One study's result as a notebook shows it: the verdict and why, the interval chart
    and table of its comparisons, its figures and what it measured (the report's own
    pieces; no raw files, no diagrams)."""
    root = folder.parent
    sid = escape(str(result.get("id", folder.name)))
    figures = "".join(_figure(f, root) for f in _figures(folder, result.get("measured")))
    return "".join([
        f"<div class='cnnzoo-study'><style>{NOTEBOOK_CSS}</style>",
        f"<h3>{sid} {_badge(str(result.get('verdict', '')), _n(result))}</h3>",
        f"<p><em>{prose(result.get('claim', ''), root)}</em></p>",
        f"<p><strong>{prose(result.get('key', ''), root)}</strong></p>",
        f"<p>{prose(result.get('reason', ''), root)}</p>",
        _comparisons(result, root), f"<div class='figs'>{figures}</div>",
        "<details><summary>measured</summary>",
        _measured_table(result.get("measured") or {}, root), "</details></div>",
    ])


def _where(folder: Path) -> str:
    if not folder.is_absolute():
        return f"<code>{escape(str(folder))}</code>"
    return (f"the folder <code>{escape(folder.name)}</code> (DIR in the commands and paths "
            "below)")


def render_html(folder: Path, entries: list[dict]) -> str:
    body = "".join(_study_section(e) for e in entries)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>cnnzoo case studies</title><style>{CSS}</style></head><body>"
        "<h1>The CNN case studies, as experiments</h1>"
        "<p class='sub'>Each claim of the case-study notes, the experiment that tests it, "
        "what was measured and a verdict computed from the saved data against a tolerance "
        f"fixed before the run. Results from {_where(folder)}.</p>"
        f"<h2>Verdicts</h2>{_summary(entries, folder)}{body}{_environment(entries, folder)}"
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
    """id -> the verdict the report shows (recomputed where the module is here), with the
    seeds it rests on."""
    return {e["id"]: Verdict(e["verdict"] if e["verdict"] != "failed" else "inconclusive",
                             e.get("key", ""), e.get("reason", ""),
                             n=None if e["verdict"] == "failed" else _n(e))
            for e in collect(folder)}


__all__ = ["collect", "deciding_comparison", "evidence_text", "interval_text", "is_indicative",
           "render_html", "result_html", "short_claim", "verdict_label", "verdicts",
           "write_json_atomic", "write_report"]
