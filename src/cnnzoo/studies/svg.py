"""Small pure-Python SVG charts for the study report: a line chart of several series (with
optional bands), bars with error bars, grouped bars, and the interval chart of a study's
comparisons. Deterministic text out (same data, same bytes), no fonts or scripts from
anywhere: the report opens offline.

    svg = line_chart({"plain-20": [(1, 0.31), (2, 0.22)], ...}, title=..., xlabel="epoch")

Sizes are in the page's pixels: the report shows a chart at its own width (or narrower on a
small screen), so the smallest text (ticks, legend) is 12 px.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cnnzoo.svg import Attr, Writer, fixed

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")
FONT = "Helvetica, Arial, sans-serif"
MARGIN = {"left": 76, "right": 20, "top": 44, "bottom": 58}
SMALL, LABEL, TITLE = 12, 13, 15  # font sizes: ticks and legend, axis labels, title
CHAR = 7.0  # an average character's width at SMALL, for layout
LEGEND_ROW = 20
DASH = "6 4"
MARGIN_COLOUR, CLAIM_ZONE, MUTED = "#D55E00", "#e3f2e6", "#8a8a8a"

# A legend entry: (label, colour, style); style is box, line, dashed, band or interval.
Entry = tuple[str, str, str]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-6:
        ticks.append(round(v, 12))
        v += step
    if ticks[-1] < hi - step * 1e-6:
        ticks.append(round(v, 12))
    return ticks


def tick_label(v: float) -> str:
    """1200000 -> '1.2M'; 0.25 -> '0.25'; 3.0 -> '3'."""
    a = abs(v)
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= scale:
            return f"{v / scale:.3g}{suffix}"
    return f"{v:.4g}"


# A white outline behind a label keeps it legible over lines.
HALO: tuple[Attr, ...] = (("stroke", "#fff"), ("stroke-width", "4"),
                          ("stroke-linejoin", "round"), ("paint-order", "stroke"))
DASHED: tuple[Attr, ...] = (("stroke-dasharray", DASH),)
# Coordinates with one decimal; sizes and fixed lengths are passed as strings.
_W = Writer(quote="'", number=fixed)


def _text(x: float, y: float, s: str, size: int = SMALL, anchor: str = "middle",
          extra: Sequence[Attr] = (), fill: str = "#222") -> str:
    return _W.tag("text", [("x", x), ("y", y), ("font-size", str(size)),
                           ("text-anchor", anchor), ("font-family", FONT), ("fill", fill),
                           *extra], s)


def _line(x1: float, y1: float, x2: float, y2: float, colour: str, width: float = 1.0,
          extra: Sequence[Attr] = ()) -> str:
    return _W.tag("line", [("x1", x1), ("x2", x2), ("y1", y1), ("y2", y2), ("stroke", colour),
                           ("stroke-width", f"{width:g}"), *extra])


def _swatch(x: float, y: float, colour: str, style: str) -> str:
    """A legend's 18 px sample of a style, its baseline at y."""
    mid = y - 4
    if style in ("line", "dashed"):
        return _line(x, mid, x + 18, mid, colour, 2.5, DASHED if style == "dashed" else ())
    if style == "interval":
        return (_line(x, mid, x + 18, mid, colour, 4)
                + _W.tag("circle", [("cx", x + 9), ("cy", mid), ("r", "4.5"), ("fill", colour),
                                    ("stroke", "#fff")]))
    if style == "vline":
        return _line(x + 9, y - 12, x + 9, y + 3, colour, 2.5)
    return _W.tag("rect", [("x", x), ("y", y - 10), ("width", "18"), ("height", "11"),
                           ("fill", colour),
                           ("fill-opacity", "0.25" if style == "band" else None)])


def _legend_layout(entries: Sequence[Entry], left: float, right: float
                   ) -> list[tuple[float, int]]:
    """(x, row) of each entry, wrapping onto a new row where the next would not fit."""
    out, x, row = [], left, 0
    for label, _, _ in entries:
        w = 26 + CHAR * len(label)
        if x > left and x + w > right:
            x, row = left, row + 1
        out.append((x, row))
        x += w + 14
    return out


class _Frame:
    """A plot area with a y axis (ticks, grid, label), a title, a legend between the title
    and the plot (so it never covers the data) and an x axis label."""

    def __init__(self, width: int, height: int, ylo: float, yhi: float, title: str,
                 xlabel: str, ylabel: str, bottom: int = MARGIN["bottom"],
                 legend: Sequence[Entry] = ()) -> None:
        self.w, self.h = width, height
        self.left, self.right = MARGIN["left"], width - MARGIN["right"]
        places = _legend_layout(legend, self.left, self.right)
        rows = 1 + max((r for _, r in places), default=-1)
        self.top = MARGIN["top"] + LEGEND_ROW * rows
        self.bottom = height - bottom
        self.yticks = nice_ticks(ylo, yhi)
        self.ylo, self.yhi = self.yticks[0], self.yticks[-1]
        self.title = title
        self.parts = _head(width, height, title)
        for (label, colour, style), (x, row) in zip(legend, places, strict=True):
            y = MARGIN["top"] + LEGEND_ROW * row
            self.parts += [_swatch(x, y, colour, style), _text(x + 24, y, label, anchor="start")]
        for t in self.yticks:
            y = self.y(t)
            self.parts.append(_line(self.left, y, self.right, y, "#e5e5e5"))
            self.parts.append(_text(self.left - 6, y + 4, tick_label(t), anchor="end"))
        self.parts.append(_line(self.left, self.top, self.left, self.bottom, "#444"))
        self.parts.append(_line(self.left, self.bottom, self.right, self.bottom, "#444"))
        cy = (self.top + self.bottom) / 2
        self.parts.append(_text(18, cy, ylabel, LABEL,
                                extra=[("transform", f"rotate(-90 18 {fixed(cy)})")]))
        self.parts.append(_text((self.left + self.right) / 2, height - 12, xlabel, LABEL))

    def y(self, v: float) -> float:
        span = (self.yhi - self.ylo) or 1.0
        return self.bottom - (v - self.ylo) / span * (self.bottom - self.top)

    def svg(self) -> str:
        return _document(self.w, self.h, self.title, self.parts)


def _head(width: int, height: int, title: str) -> list[str]:
    """A chart's first parts: its white background and its title drawn above the plot."""
    return [_W.tag("rect", [("width", str(width)), ("height", str(height)), ("fill", "#fff")]),
            _text(width / 2, 22, title, TITLE, extra=[("font-weight", "bold")])]


def _document(width: int, height: int, title: str, parts: Sequence[str]) -> str:
    return _W.document(width, height, title, parts, [("role", "img")])


def _range(values: Sequence[float], zero: bool) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)] or [0.0, 1.0]
    lo, hi = min(finite), max(finite)
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    return lo, hi


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]], title: str = "", xlabel: str = "",
    ylabel: str = "", width: int = 640, height: int = 360, zero: bool = False,
    dashed: Sequence[str] = (),
    bands: Mapping[str, Sequence[tuple[float, float, float]]] | None = None,
    y_range: tuple[float, float] | None = None,
) -> str:
    """One polyline with markers per named series of (x, y) points, with a legend.
    Series named in `dashed` are drawn dashed, and so is their legend swatch. `bands`
    ({name: [(x, lo, hi)]}) shade a range around a series in its colour (e.g. min..max over
    seeds). `y_range` widens the y axis to at least (lo, hi): charts shown side by side
    share a scale that way."""
    bands = bands or {}
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    ys += [v for pts in bands.values() for _, lo, hi in pts for v in (lo, hi)]
    ys += list(y_range or ())
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    legend = [(name, colours[name], "dashed" if name in dashed else "line") for name in series]
    frame = _Frame(width, height, *_range(ys, zero), title, xlabel, ylabel, legend=legend)
    xticks = nice_ticks(*_range(xs, False))
    if all(float(x).is_integer() for x in xs):  # epochs: no tick at 1.5
        xticks = [t for t in xticks if float(t).is_integer()] or xticks
    xlo, xhi = xticks[0], xticks[-1]

    def x_of(v: float) -> float:
        return frame.left + (v - xlo) / ((xhi - xlo) or 1.0) * (frame.right - frame.left)

    for t in xticks:
        frame.parts.append(_text(x_of(t), frame.bottom + 18, tick_label(t)))
    for name, pts in bands.items():  # under every line
        ordered = sorted(pts)
        outline = [(x_of(x), frame.y(hi)) for x, _, hi in ordered]
        outline += [(x_of(x), frame.y(lo)) for x, lo, _ in reversed(ordered)]
        frame.parts.append(_W.tag("polygon", [
            ("points", _W.points(outline)), ("fill", colours.get(name, MUTED)),
            ("fill-opacity", "0.18"), ("stroke", "none")]))
    for name, pts in series.items():
        colour = colours[name]
        coords = _W.points((x_of(x), frame.y(y)) for x, y in sorted(pts))
        frame.parts.append(_W.tag("polyline", [
            ("points", coords), ("fill", "none"), ("stroke", colour), ("stroke-width", "2"),
            *(DASHED if name in dashed else ())]))
        frame.parts += [_W.tag("circle", [("cx", x_of(x)), ("cy", frame.y(y)), ("r", "2.5"),
                                          ("fill", colour)]) for x, y in pts]
    return frame.svg()


def _category_axis(frame: _Frame, labels: Sequence[str]) -> tuple[float, list[float]]:
    """Slot width and slot centres for categories; long label lists are slanted."""
    slot = (frame.right - frame.left) / max(1, len(labels))
    centres = [frame.left + slot * (i + 0.5) for i in range(len(labels))]
    slant = _slanted(labels, frame.right - frame.left)
    for c, label in zip(centres, labels, strict=True):
        if slant:
            y = frame.bottom + 14
            frame.parts.append(_text(c, y, label, anchor="end",
                                     extra=[("transform", f"rotate(-40 {fixed(c)} {fixed(y)})")]))
        else:
            frame.parts.append(_text(c, frame.bottom + 18, label))
    return slot, centres


def _bar(frame: _Frame, x: float, w: float, value: float, colour: str,
         error: float | None) -> None:
    y0, y1 = frame.y(max(0.0, frame.ylo)), frame.y(value)
    frame.parts.append(_W.tag("rect", [("x", x), ("y", min(y0, y1)), ("width", w),
                                       ("height", abs(y0 - y1)), ("fill", colour)]))
    if error:
        cx, lo, hi = x + w / 2, frame.y(value - error), frame.y(value + error)
        frame.parts.append(_line(cx, lo, cx, hi, "#222", 1.4))
        for yy in (lo, hi):
            frame.parts.append(_line(cx - 4, yy, cx + 4, yy, "#222", 1.4))


def _slanted(labels: Sequence[str], plot_width: float) -> bool:
    """Category labels wider than their slot are drawn slanted."""
    slot = plot_width / max(1, len(labels))
    return max((len(s) for s in labels), default=0) * CHAR > slot


def _bottom_for(labels: Sequence[str], width: int) -> int:
    if not _slanted(labels, width - MARGIN["left"] - MARGIN["right"]):
        return MARGIN["bottom"]
    return 46 + 5 * max(len(s) for s in labels)


def _errors(values: Sequence[float], errors: Sequence[float | None] | None) -> list[float]:
    """The error of each value; none given (or None) is no error bar."""
    if errors is None:
        return [0.0] * len(values)
    return [float(e or 0.0) for e in errors]


def bar_chart(
    labels: Sequence[str], values: Sequence[float],
    errors: Sequence[float | None] | None = None, title: str = "", xlabel: str = "",
    ylabel: str = "", width: int = 640, height: int = 360,
) -> str:
    """One bar per label from zero, with +-error bars where `errors` is given."""
    errs = _errors(values, errors)
    ends = [v + s * e for v, e in zip(values, errs, strict=True) for s in (1, -1)]
    frame = _Frame(width, height, *_range(ends, True), title, xlabel, ylabel,
                   bottom=_bottom_for(labels, width))
    slot, centres = _category_axis(frame, labels)
    for i, (c, v) in enumerate(zip(centres, values, strict=True)):
        _bar(frame, c - slot * 0.35, slot * 0.7, v, PALETTE[i % len(PALETTE)]
             if len(values) <= len(PALETTE) else PALETTE[0], errs[i] or None)
        if len(values) <= 12:  # the value on the bar, so nobody reads it off the axis
            frame.parts.append(_text(c, frame.y(max(v + errs[i], 0.0)) - 5, tick_label(v)))
    return frame.svg()


def grouped_bars(
    groups: Sequence[str], series: Mapping[str, Sequence[float]],
    errors: Mapping[str, Sequence[float | None]] | None = None, title: str = "",
    xlabel: str = "", ylabel: str = "", width: int = 640, height: int = 360,
) -> str:
    """For each group, one bar per series side by side, with a legend, and +-error bars
    where `errors` ({series: [error per group]}) gives them."""
    errs = {name: _errors(vals, (errors or {}).get(name)) for name, vals in series.items()}
    ends = [v + s * e for name, vals in series.items()
            for v, e in zip(vals, errs[name], strict=True) for s in (1, -1)]
    legend = [(name, PALETTE[j % len(PALETTE)], "box") for j, name in enumerate(series)]
    frame = _Frame(width, height, *_range(ends, True), title, xlabel, ylabel,
                   bottom=_bottom_for(groups, width), legend=legend)
    slot, centres = _category_axis(frame, groups)
    bar_w = slot * 0.8 / max(1, len(series))
    for j, (name, vals) in enumerate(series.items()):
        for c, v, e in zip(centres, vals, errs[name], strict=True):
            _bar(frame, c - slot * 0.4 + j * bar_w, bar_w, v, PALETTE[j % len(PALETTE)],
                 e or None)
    return frame.svg()


# -- the interval chart of a study's comparisons ------------------------------------------

ROW = 58  # px per comparison


def _signed(v: float) -> str:
    return f"{v:+.2f}"


def _scaled(r: Mapping[str, Any], key: str) -> float | None:
    v = r.get(key)
    return None if v is None else float(r.get("scale", 1.0)) * float(v)


def interval_chart(rows: Sequence[Mapping[str, Any]], title: str = "The comparisons",
                   width: int = 640) -> str:
    """One row per comparison (dicts as comparisons.compare makes them): a dot at the
    difference b - a, a bar for its 90% interval [lower, upper], a vertical line at the
    row's margin over a tint where the claim holds, and a dashed zero line; values times
    each row's `scale` (percentage points). Deciding rows are drawn in colour, the others in
    grey; a row without bounds (n < 2) gets its dot only."""
    unit = str(rows[0].get("unit", "")) if rows else ""
    values = [v for r in rows for k in ("difference", "lower", "upper", "margin")
              if (v := _scaled(r, k)) is not None] + [0.0]
    lo, hi = min(values), max(values)
    pad = 0.08 * ((hi - lo) or 1.0)
    ticks = nice_ticks(lo - pad, hi + pad, 6)
    left, right = 20.0, width - 20.0
    legend: list[Entry] = [("difference and 90% interval", PALETTE[0], "interval"),
                           ("margin", MARGIN_COLOUR, "vline"),
                           ("the claim holds here", CLAIM_ZONE, "box"),
                           ("zero", "#555", "dashed")]
    places = _legend_layout(legend, left, right)
    top = MARGIN["top"] + LEGEND_ROW * (1 + max(r for _, r in places)) + 4
    bottom = top + ROW * len(rows)
    height = int(bottom + MARGIN["bottom"])

    def x_of(v: float) -> float:
        return left + (v - ticks[0]) / ((ticks[-1] - ticks[0]) or 1.0) * (right - left)

    parts = _head(width, height, title)
    for (label, colour, style), (x, row) in zip(legend, places, strict=True):
        y = MARGIN["top"] + LEGEND_ROW * row
        parts += [_swatch(x, y, colour, style), _text(x + 24, y, label, anchor="start")]
    for t in ticks:
        parts.append(_line(x_of(t), top, x_of(t), bottom, "#ececec"))
        parts.append(_text(x_of(t), bottom + 18, f"{t:+g}" if t else "0"))
    parts += [_zone(r, top + ROW * i + 38, x_of, left, right) for i, r in enumerate(rows)]
    parts.append(_line(x_of(0.0), top, x_of(0.0), bottom, "#555", 1.2, DASHED))
    for i, r in enumerate(rows):
        parts += _interval_row(r, top + ROW * i, x_of, left, right)
    parts.append(_line(left, bottom, right, bottom, "#444"))
    parts.append(_text((left + right) / 2, height - 12,
                       f"difference b - a, {unit} (dot: mean over seeds; bar: 90% interval)",
                       LABEL))
    return _document(width, height, title, parts)


def _zone(r: Mapping[str, Any], y: float, x_of: Any, left: float, right: float) -> str:
    """The tint where the claim holds: beyond the margin for superiority (b - a > margin),
    short of it for non-inferiority (b - a < margin)."""
    x_m = x_of(_scaled(r, "margin") or 0.0)
    x0, x1 = (x_m, right) if r.get("hypothesis") != "non-inferiority" else (left, x_m)
    return _W.tag("rect", [("x", x0), ("y", y - 11), ("width", x1 - x0), ("height", "22"),
                           ("fill", CLAIM_ZONE)])


def _interval_row(r: Mapping[str, Any], y0: float, x_of: Any, left: float, right: float
                  ) -> list[str]:
    """One comparison: its label line, then its margin, bar and dot."""
    decides = bool(r.get("decides", True))
    colour, ink = (PALETTE[0], "#222") if decides else (MUTED, "#666")
    diff, lower, upper = (_scaled(r, k) for k in ("difference", "lower", "upper"))
    margin = _scaled(r, "margin") or 0.0
    y = y0 + 38  # the bar's line
    name = f"{r.get('name', '')} (n={r.get('n', '?')})"
    if not decides:
        name += ", shown, not deciding"
    if lower is None or upper is None:
        numbers = "-" if diff is None else f"{_signed(diff)}, no interval (n<2)"
    else:
        numbers = f"{_signed(diff or 0.0)} [{_signed(lower)}, {_signed(upper)}]"
    weight: tuple[Attr, ...] = (("font-weight", "bold"),) if decides else ()
    parts = [  # a white halo keeps the labels legible over the zero line and the grid
        _text(left, y0 + 18, name, LABEL, "start", weight + HALO, ink),
        _text(right, y0 + 18, f"{numbers} vs {_signed(margin)}", LABEL, "end", HALO, ink),
        _line(x_of(margin), y - 14, x_of(margin), y + 14, MARGIN_COLOUR, 2.5),
    ]
    if lower is not None and upper is not None:
        width = 4.0 if decides else 2.5
        parts.append(_line(x_of(lower), y, x_of(upper), y, colour, width))
        parts += [_line(x_of(v), y - 6, x_of(v), y + 6, colour, width / 2 + 0.5)
                  for v in (lower, upper)]
    if diff is not None:
        parts.append(_W.tag("circle", [("cx", x_of(diff)), ("cy", y),
                                       ("r", "6" if decides else "5"), ("fill", colour),
                                       ("stroke", "#fff"), ("stroke-width", "1.5")]))
    return parts
