"""Small pure-Python SVG charts for the study report: a line chart of several series, bars
with error bars, grouped bars. Deterministic text out (same data, same bytes), no fonts or
scripts from anywhere: the report opens offline.

    svg = line_chart({"plain-20": [(1, 0.31), (2, 0.22)], ...}, title=..., xlabel="epoch")
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")
FONT = "font-family='Helvetica, Arial, sans-serif'"
MARGIN = {"left": 70, "right": 20, "top": 50, "bottom": 56}


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


def _text(x: float, y: float, s: str, size: int = 11, anchor: str = "middle",
          extra: str = "") -> str:
    return (f"<text x='{x:.1f}' y='{y:.1f}' font-size='{size}' text-anchor='{anchor}' "
            f"{FONT} fill='#222'{extra}>{escape(s)}</text>")


class _Frame:
    """A plot area with a y axis (ticks, grid, label), a title and an x axis label."""

    def __init__(self, width: int, height: int, ylo: float, yhi: float, title: str,
                 xlabel: str, ylabel: str, bottom: int = MARGIN["bottom"]) -> None:
        self.w, self.h = width, height
        self.left, self.right, self.top = MARGIN["left"], width - MARGIN["right"], MARGIN["top"]
        self.bottom = height - bottom
        self.yticks = nice_ticks(ylo, yhi)
        self.ylo, self.yhi = self.yticks[0], self.yticks[-1]
        self.parts = [
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' role='img'>",
            f"<title>{escape(title)}</title>",
            f"<rect width='{width}' height='{height}' fill='#fff'/>",
            _text(width / 2, 20, title, 13, extra=" font-weight='bold'"),
        ]
        for t in self.yticks:
            y = self.y(t)
            self.parts.append(f"<line x1='{self.left}' x2='{self.right}' y1='{y:.1f}' "
                              f"y2='{y:.1f}' stroke='#e5e5e5'/>")
            self.parts.append(_text(self.left - 6, y + 4, tick_label(t), 10, "end"))
        self.parts.append(f"<line x1='{self.left}' x2='{self.left}' y1='{self.top}' "
                          f"y2='{self.bottom}' stroke='#444'/>")
        self.parts.append(f"<line x1='{self.left}' x2='{self.right}' y1='{self.bottom}' "
                          f"y2='{self.bottom}' stroke='#444'/>")
        cy = (self.top + self.bottom) / 2
        self.parts.append(_text(16, cy, ylabel, 11,
                                extra=f" transform='rotate(-90 16 {cy:.1f})'"))
        self.parts.append(_text((self.left + self.right) / 2, height - 10, xlabel, 11))

    def y(self, v: float) -> float:
        span = (self.yhi - self.ylo) or 1.0
        return self.bottom - (v - self.ylo) / span * (self.bottom - self.top)

    def legend(self, names: Sequence[str]) -> None:
        # One row between the title and the plot, so it never covers the data.
        x, y = self.left, self.top - 14
        for i, name in enumerate(names):
            colour = PALETTE[i % len(PALETTE)]
            self.parts.append(f"<rect x='{x}' y='{y - 9}' width='12' height='10' "
                              f"fill='{colour}'/>")
            self.parts.append(_text(x + 16, y, name, 10, "start"))
            x += 30 + 6 * len(name)

    def svg(self) -> str:
        return "\n".join([*self.parts, "</svg>"])


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
) -> str:
    """One polyline with markers per named series of (x, y) points, with a legend.
    Series named in `dashed` are drawn dashed (e.g. test error beside training error)."""
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    frame = _Frame(width, height, *_range(ys, zero), title, xlabel, ylabel)
    xticks = nice_ticks(*_range(xs, False))
    if all(float(x).is_integer() for x in xs):  # epochs: no tick at 1.5
        xticks = [t for t in xticks if float(t).is_integer()] or xticks
    xlo, xhi = xticks[0], xticks[-1]

    def x_of(v: float) -> float:
        return frame.left + (v - xlo) / ((xhi - xlo) or 1.0) * (frame.right - frame.left)

    for t in xticks:
        frame.parts.append(_text(x_of(t), frame.bottom + 16, tick_label(t), 10))
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{x_of(x):.1f},{frame.y(y):.1f}" for x, y in sorted(pts))
        dash = " stroke-dasharray='5 3'" if name in dashed else ""
        frame.parts.append(f"<polyline points='{coords}' fill='none' stroke='{colour}' "
                           f"stroke-width='2'{dash}/>")
        for x, y in pts:
            frame.parts.append(f"<circle cx='{x_of(x):.1f}' cy='{frame.y(y):.1f}' r='2.5' "
                               f"fill='{colour}'/>")
    frame.legend(list(series))
    return frame.svg()


def _category_axis(frame: _Frame, labels: Sequence[str]) -> tuple[float, list[float]]:
    """Slot width and slot centres for categories; long label lists are slanted."""
    slot = (frame.right - frame.left) / max(1, len(labels))
    centres = [frame.left + slot * (i + 0.5) for i in range(len(labels))]
    slant = _slanted(labels, frame.right - frame.left)
    for c, label in zip(centres, labels, strict=True):
        if slant:
            y = frame.bottom + 12
            frame.parts.append(_text(c, y, label, 10, "end",
                                     extra=f" transform='rotate(-40 {c:.1f} {y:.1f})'"))
        else:
            frame.parts.append(_text(c, frame.bottom + 16, label, 10))
    return slot, centres


def _bar(frame: _Frame, x: float, w: float, value: float, colour: str,
         error: float | None) -> None:
    y0, y1 = frame.y(max(0.0, frame.ylo)), frame.y(value)
    frame.parts.append(f"<rect x='{x:.1f}' y='{min(y0, y1):.1f}' width='{w:.1f}' "
                       f"height='{abs(y0 - y1):.1f}' fill='{colour}'/>")
    if error:
        cx, lo, hi = x + w / 2, frame.y(value - error), frame.y(value + error)
        frame.parts.append(f"<line x1='{cx:.1f}' x2='{cx:.1f}' y1='{lo:.1f}' y2='{hi:.1f}' "
                           "stroke='#222' stroke-width='1.2'/>")
        for yy in (lo, hi):
            frame.parts.append(f"<line x1='{cx - 4:.1f}' x2='{cx + 4:.1f}' y1='{yy:.1f}' "
                               f"y2='{yy:.1f}' stroke='#222' stroke-width='1.2'/>")


def _slanted(labels: Sequence[str], plot_width: float) -> bool:
    """Category labels wider than their slot are drawn slanted."""
    slot = plot_width / max(1, len(labels))
    return max((len(s) for s in labels), default=0) * 6 > slot


def _bottom_for(labels: Sequence[str], width: int) -> int:
    if not _slanted(labels, width - MARGIN["left"] - MARGIN["right"]):
        return MARGIN["bottom"]
    return 44 + 5 * max(len(s) for s in labels)


def bar_chart(
    labels: Sequence[str], values: Sequence[float], errors: Sequence[float] | None = None,
    title: str = "", xlabel: str = "", ylabel: str = "", width: int = 640, height: int = 360,
) -> str:
    """One bar per label from zero, with +-error bars where `errors` is given."""
    errs = list(errors) if errors is not None else [0.0] * len(values)
    frame = _Frame(width, height, *_range([v + e for v, e in zip(values, errs, strict=True)]
                                          + [v - e for v, e in zip(values, errs, strict=True)],
                                          True),
                   title, xlabel, ylabel, bottom=_bottom_for(labels, width))
    slot, centres = _category_axis(frame, labels)
    for i, (c, v) in enumerate(zip(centres, values, strict=True)):
        _bar(frame, c - slot * 0.35, slot * 0.7, v, PALETTE[i % len(PALETTE)]
             if len(values) <= len(PALETTE) else PALETTE[0], errs[i] or None)
        if len(values) <= 12:  # the value on the bar, so nobody reads it off the axis
            frame.parts.append(_text(c, frame.y(max(v + errs[i], 0.0)) - 4, tick_label(v), 10))
    return frame.svg()


def grouped_bars(
    groups: Sequence[str], series: Mapping[str, Sequence[float]],
    errors: Mapping[str, Sequence[float]] | None = None, title: str = "", xlabel: str = "",
    ylabel: str = "", width: int = 640, height: int = 360,
) -> str:
    """For each group, one bar per series side by side, with a legend (and error bars)."""
    errors = errors or {}
    everything = []
    for name, vals in series.items():
        errs = errors.get(name, [0.0] * len(vals))
        everything += [v + e for v, e in zip(vals, errs, strict=True)]
        everything += [v - e for v, e in zip(vals, errs, strict=True)]
    frame = _Frame(width, height, *_range(everything, True), title, xlabel, ylabel,
                   bottom=_bottom_for(groups, width))
    slot, centres = _category_axis(frame, groups)
    k = max(1, len(series))
    bar_w = slot * 0.8 / k
    for j, (name, vals) in enumerate(series.items()):
        errs = errors.get(name, [0.0] * len(vals))
        for c, v, e in zip(centres, vals, errs, strict=True):
            _bar(frame, c - slot * 0.4 + j * bar_w, bar_w, v, PALETTE[j % len(PALETTE)], e)
    frame.legend(list(series))
    return frame.svg()
