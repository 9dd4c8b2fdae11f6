"""The study results in words and numbers for people, shared by the report page and the
CLI's verdict table: verdict labels (`indicative (n=1)` below 3 seeds), the comparison a
verdict turned on with its interval, and values formatted for reading (no `None`, no
Python dicts, no absolute paths)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from cnnzoo.studies.comparisons import AGAINST, MIN_SEEDS, UNCLEAR, describe
from cnnzoo.studies.registry import RUNS

INDICATIVE = "indicative"  # shown for a verdict on fewer than MIN_SEEDS seeds
CLAIM_WIDTH = 90  # characters of a claim in the summary table; the full one on hover


# -- the verdict, as people read it (also the CLI's table) --------------------------------


def is_indicative(verdict: str, n: int | None) -> bool:
    """A verdict on fewer than MIN_SEEDS seeds: shown grey, never as a decision."""
    return n is not None and n < MIN_SEEDS and verdict not in ("needs-data", "failed")


def verdict_label(verdict: str, n: int | None) -> str:
    """'indicative (n=1)' for a verdict on too few seeds, else the verdict itself."""
    return f"{INDICATIVE} (n={n})" if is_indicative(verdict, n) else verdict


def deciding_comparison(comparisons: Sequence[Mapping[str, Any]], verdict: str
                        ) -> Mapping[str, Any] | None:
    """The comparison a verdict turned on: a refuted one's first against the claim, an
    inconclusive one's first unclear, else the first deciding one."""
    deciding = [r for r in comparisons if r.get("decides")]
    wanted = {"refuted": (AGAINST,), "inconclusive": (UNCLEAR, AGAINST)}.get(verdict, ())
    for lean in wanted:
        for r in deciding:
            if r.get("leaning") == lean:
                return r
    return deciding[0] if deciding else None


def points(r: Mapping[str, Any], key: str) -> str:
    v = r.get(key)
    return "?" if v is None else f"{float(r.get('scale', 1.0)) * float(v):+.2f}"


def interval_text(r: Mapping[str, Any]) -> str:
    """'+1.23 [+0.40, +2.06] vs margin +0.50': b - a and its 90% interval, in points."""
    if r.get("difference") is None:
        return f"no data vs margin {points(r, 'margin')}"
    bounds = (" (no interval, n<2)" if r.get("lower") is None or r.get("upper") is None
              else f" [{points(r, 'lower')}, {points(r, 'upper')}]")
    return f"{points(r, 'difference')}{bounds} vs margin {points(r, 'margin')}"


def evidence_parts(comparisons: Sequence[Mapping[str, Any]], verdict: str
                   ) -> tuple[str, str]:
    """The comparison a verdict turned on: its name (which half of degradation decided; what
    b - a of lrn's -4.51 measures) and its interval; ('', '-') where none decides."""
    r = deciding_comparison(comparisons, verdict)
    if r is None:
        return "", "-"
    return r["name"], interval_text(r)


def evidence_text(comparisons: Sequence[Mapping[str, Any]], verdict: str) -> str:
    """evidence_parts as one line, as the verdict tables show it."""
    name, interval = evidence_parts(comparisons, verdict)
    return f"{name}: {interval}" if name else interval


def data_used(result: Mapping[str, Any]) -> str | None:
    """The dataset a study ran on: the one asked for, else the default its measure recorded
    (None for a study that reads no data)."""
    return result.get("data") or (result.get("measured") or {}).get("data")


def result_text(result: Mapping[str, Any], width: int = 100) -> str:
    """One study's result.json for a terminal: the verdict, the claim and its source, the
    key figure and why, every comparison (the deciding one marked), the deviations from the
    paper and the commands that reproduce it."""
    n = result.get("n")
    seeds = ", ".join(str(s) for s in result.get("seeds", []))
    data = data_used(result)
    head = (f"{result['id']}: {verdict_label(result['verdict'], n)}"
            f"{'' if n is None else f' (n={n})'}, {result.get('mode')} mode, seeds {seeds}"
            f"{f', data {data}' if data else ''}")

    def field(name: str, text: str) -> str:
        return textwrap.fill(str(text), width, initial_indent=f"{name}: ",
                             subsequent_indent="  ")

    deciding = deciding_comparison(result.get("comparisons") or [], result["verdict"])
    lines = [head, field("claim", result.get("claim", "")),
             field("source", result.get("source", "")), field("key figure", result["key"]),
             field("why", result.get("reason", ""))]
    if result.get("comparisons"):
        lines.append("comparisons (b - a, its 90% interval, against the margin):")
    for r in result.get("comparisons") or []:
        role = "deciding" if r is deciding else "decides" if r.get("decides") else "shown"
        lines.append(textwrap.fill(f"{describe(r)} [{role}]", width, initial_indent="  - ",
                                   subsequent_indent="    "))
    if result.get("deviations"):
        lines.append(field("deviations", result["deviations"]))
    commands = result.get("commands") or []
    if commands:
        lines.append(f"reproduce: {commands[0]}"
                     + (f" ({len(commands) - 1} training runs: the report lists them)"
                        if len(commands) > 1 else ""))
    return "\n".join(lines)


def training_text(environment: Mapping[str, Any]) -> str:
    """A training study's runs and their own training time, as result.json records them
    ('12 training runs, 344.2 s of training'); '' where the study trained nothing."""
    runs = environment.get("training_runs")
    if not runs:
        return ""
    return (f"{runs} training run{'s' if runs != 1 else ''}, "
            f"{environment['training_s']:,.1f} s of training")


def short_claim(text: str, width: int = CLAIM_WIDTH) -> str:
    """A claim's first sentence, cut at a word under `width` characters."""
    first = re.split(r"(?<=[.;])\s", text.strip(), maxsplit=1)[0].rstrip(".;")
    if len(first) <= width:
        return first
    return first[: width - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


# -- text for people ----------------------------------------------------------------------

# An absolute path of two parts or more, not part of a URL or a ratio such as 3x3/s1.
_ABS_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.+@-]+/)+[\w.+@-]+/?")


def scrub(text: str, root: Path) -> str:
    """Absolute paths for people: the results folder as DIR, others as their basename."""
    bases = sorted({b for b in (str(root), str(root.resolve())) if b.startswith("/")},
                   key=len, reverse=True)

    def shown(m: re.Match[str]) -> str:
        path = m.group(0)
        for base in bases:
            if path == base or path.startswith(base + "/"):
                return "DIR" + path[len(base):]
        # The results folder's run cache, written where the folder was then (another clone,
        # another machine): the page reads the same wherever it is rebuilt.
        _, cache, rest = path.partition(f"/{RUNS}/")
        if cache:
            return f"DIR/{RUNS}/{rest}"
        return "…/" + path.rstrip("/").rsplit("/", 1)[-1]

    return _ABS_PATH.sub(shown, text)


def prose(text: Any, root: Path) -> str:
    """Escaped text with `x` set as code and paths scrubbed."""
    html = escape(scrub(str(text), root))
    return re.sub(r"`([^`\n]+)`", r"<code>\1</code>", html).replace("`", "")


def _num(x: float) -> str:
    if float(x).is_integer() and abs(x) >= 1:
        return f"{int(x):,}"
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:,.0f}"


def _compact(x: Any) -> str:
    """A number inside running text: 568740352 -> 568.7M, 6176 -> 6,176."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    for suffix, scale in (("G", 1e9), ("M", 1e6)):
        if abs(x) >= scale:
            return f"{x / scale:.4g}{suffix}"
    return _num(x)


def is_stats(v: Any) -> bool:
    return isinstance(v, dict) and "mean" in v and "sd" in v


def _stats(v: Mapping[str, Any]) -> str:
    if v["mean"] is None:
        return "-"
    sd = "" if v["sd"] is None else f" ± {_num(v['sd'])}"
    return f"{_num(v['mean'])}{sd} (n={v.get('n', '?')})"


def _inline(x: Any) -> str:
    """A nested value as plain text: 'macs 568.7M, params 6,176'."""
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if is_stats(x):
        return _stats(x)
    if isinstance(x, dict):
        return ", ".join(f"{k} {_inline(v) if not isinstance(v, dict) else f'({_inline(v)})'}"
                         for k, v in x.items())
    if isinstance(x, list | tuple):
        sep = "; " if any(isinstance(v, dict) for v in x) else ", "
        return sep.join(_inline(v) for v in x[:12]) + (f"{sep}..." if len(x) > 12 else "")
    return _compact(x)


def value_html(v: Any, root: Path) -> str:
    """One table cell."""
    if v is None:
        return "-"
    if isinstance(v, bool) or is_stats(v) or isinstance(v, dict | list | tuple):
        return escape(_inline(v)) if v != [] else "none"
    if isinstance(v, float):
        return _num(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, str) and "\n" in v:
        return f"<pre>{escape(scrub(v, root))}</pre>"
    return prose(v, root)


def is_long(v: Any) -> bool:
    return isinstance(v, str) and ("\n" in v or len(v) > 80)


def cell(v: Any, root: Path) -> str:
    """A <td>, numbers right-aligned."""
    number = isinstance(v, int | float) and not isinstance(v, bool)
    return f"<td{' class=num' if number else ''}>{value_html(v, root)}</td>"
