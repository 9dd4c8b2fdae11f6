"""A diagram's shapes, how wide a label will be, and the diagram as an SVG document
(written by cnnzoo.svg's writer, deterministically).

No fonts are embedded or fetched: text asks for DejaVu Sans, then the system's generic
sans-serif. Widths are measured with DejaVu Sans's own advance widths (the widest of the
common sans-serif faces; Arial, Helvetica and Liberation Sans are narrower) plus a margin,
so a label that fits here fits in any of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cnnzoo.svg import Writer, num

FONT_FAMILY = "'DejaVu Sans', Verdana, Arial, Helvetica, sans-serif"

# Advance widths of DejaVu Sans (Book, Bold) for ASCII 32..126, in 1/1000 em.
_REGULAR = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337, 636, 636,
    636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531, 1000, 684, 686, 698,
    770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787, 603, 787, 695, 635, 611, 732,
    684, 989, 685, 611, 685, 390, 337, 390, 838, 500, 500, 613, 635, 550, 635, 615, 352, 635,
    634, 278, 278, 579, 278, 974, 634, 612, 635, 635, 411, 521, 392, 634, 592, 818, 592, 592,
    525, 636, 337, 636, 838,
)
_BOLD = (
    348, 456, 521, 838, 696, 1002, 872, 306, 457, 457, 523, 838, 380, 415, 380, 365, 696, 696,
    696, 696, 696, 696, 696, 696, 696, 696, 400, 400, 838, 838, 838, 580, 1000, 774, 762, 734,
    830, 683, 683, 821, 837, 372, 372, 775, 637, 995, 837, 850, 733, 850, 770, 720, 682, 812,
    774, 1103, 771, 724, 725, 457, 365, 457, 838, 500, 500, 675, 716, 593, 716, 678, 435, 716,
    712, 343, 343, 665, 343, 1042, 712, 687, 716, 716, 493, 595, 478, 712, 652, 924, 645, 652,
    582, 712, 365, 712, 838,
)
_OTHER = {"×": 838, "→": 838, "·": 380, "⊕": 838, "–": 500, "…": 1000}
MARGIN = 1.05  # hinting and rounding in the renderer


def text_width(text: str, size: float, bold: bool = False) -> float:
    table = _BOLD if bold else _REGULAR
    units = 0
    for ch in text:
        code = ord(ch)
        units += table[code - 32] if 32 <= code < 127 else _OTHER.get(ch, 1000)
    return units / 1000 * size * MARGIN


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float
    bold: bool = False
    anchor: str = "start"  # or "middle"
    fill: str = "#1d2430"

    def bbox(self) -> tuple[float, float, float, float]:
        w = text_width(self.text, self.size, self.bold)
        x0 = self.x - w / 2 if self.anchor == "middle" else self.x
        return (x0, self.y - 0.80 * self.size, x0 + w, self.y + 0.24 * self.size)


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str = "none"
    rx: float = 4
    dash: bool = False
    attrs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Path:
    d: str
    stroke: str = "#5b6372"
    width: float = 1.4
    dash: bool = False
    arrow: bool = False


@dataclass(frozen=True)
class Circle:
    cx: float
    cy: float
    r: float
    fill: str
    stroke: str


@dataclass
class Canvas:
    width: float = 0
    height: float = 0
    shapes: list = field(default_factory=list)

    def add(self, shape: object) -> None:
        self.shapes.append(shape)

    def texts(self) -> list[Text]:
        return [s for s in self.shapes if isinstance(s, Text)]


# The draw modules' short name for a coordinate written into path data.
n = num

_W = Writer(quote='"', number=num)


def to_svg(canvas: Canvas, title: str) -> str:
    """The SVG document. Its arrow marker's id is derived from the title, so several
    diagrams inlined in one HTML page (the studies' report) do not share ids."""
    w, h = int(round(canvas.width)), int(round(canvas.height))
    marker = "arrow-" + hashlib.sha1(title.encode("utf-8")).hexdigest()[:8]
    head = _W.tag("path", [("d", "M0,0 L8,4 L0,8 z"), ("fill", "#5b6372")])
    marker_attrs = [("id", marker), ("viewBox", "0 0 8 8"), ("refX", "7"), ("refY", "4"),
                    ("markerWidth", "7"), ("markerHeight", "7"), ("orient", "auto")]
    body = [
        _W.group("defs", [], [_W.group("marker", marker_attrs, [head])]),
        _W.tag("rect", [("x", 0), ("y", 0), ("width", w), ("height", h), ("fill", "#ffffff")]),
        *(_shape(s, marker) for s in canvas.shapes),
    ]
    # a file ends with a newline
    return _W.document(w, h, title, body, [("font-family", FONT_FAMILY)]) + "\n"


def _shape(s: object, marker: str) -> str:
    if isinstance(s, Text):
        return _W.tag("text", [
            ("x", s.x), ("y", s.y), ("font-size", s.size),
            ("font-weight", "bold" if s.bold else None),
            ("text-anchor", s.anchor if s.anchor != "start" else None), ("fill", s.fill),
        ], s.text)
    if isinstance(s, Rect):
        return _W.tag("rect", [
            ("x", s.x), ("y", s.y), ("width", s.w), ("height", s.h), ("rx", s.rx),
            ("fill", s.fill), ("stroke", s.stroke),
            ("stroke-dasharray", "5 3" if s.dash else None), *s.attrs,
        ])
    if isinstance(s, Path):
        return _W.tag("path", [
            ("d", s.d), ("fill", "none"), ("stroke", s.stroke), ("stroke-width", s.width),
            ("stroke-dasharray", "6 4" if s.dash else None),
            ("marker-end", f"url(#{marker})" if s.arrow else None),
        ])
    if isinstance(s, Circle):
        return _W.tag("circle", [("cx", s.cx), ("cy", s.cy), ("r", s.r), ("fill", s.fill),
                                 ("stroke", s.stroke), ("stroke-width", "1.4")])
    raise TypeError(type(s))
