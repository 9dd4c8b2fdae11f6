"""Where each box, line and arc goes. A diagram is a column of items: boxes, forks
(branches side by side, joined below) and bypasses (a main path with its shortcut as an
arc on the right). Each item knows its extent left and right of the column's centre and
its height, so nothing is placed on top of anything else."""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnzoo.draw.svg import Canvas, Circle, Path, Rect, Text, n, text_width

COLOURS = {  # fill, stroke
    "conv": ("#dbe8f7", "#3b70b0"), "pool": ("#fde5cc", "#cf7a25"),
    "norm": ("#dcf0da", "#44914a"), "act": ("#fff3bf", "#a88a00"),
    "linear": ("#ebdff5", "#7d4fa6"), "merge": ("#f6dada", "#b8483f"),
    "block": ("#eceff3", "#4f5866"), "other": ("#f1f1f1", "#8a8a8a"),
    "io": ("#ffffff", "#39414d"),
}
TITLE, DETAIL, NOTE = 13.0, 11.5, 11.0
PAD_X, PAD_Y, STRIPE, MIN_W = 12, 7, 6, 150
V_GAP, H_GAP, FORK, LANE = 22, 22, 16, 18
SKIP_TOP, SKIP_BOTTOM, PLUS_R, STACK = 8, 28, 10, 4
GREY, INK, LINE = "#5d6675", "#1d2430", "#5b6372"


@dataclass
class Skip:
    identity: bool
    label: list[str]


@dataclass
class Box:
    title: str
    lines: list[str] = field(default_factory=list)
    note: str = ""
    kind: str = "other"
    chips: list[str] = field(default_factory=list)
    skip: Skip | None = None  # a shortcut around this one box (a block drawn whole)
    repeat: int = 1
    path: str = ""
    plus: bool = False  # an addition, drawn as a circled +

    def text_w(self) -> float:
        widths = [text_width(self.title, TITLE, True)]
        widths += [text_width(s, DETAIL) for s in self.lines]
        if self.note:
            widths.append(text_width(self.note, NOTE))
        return max(widths)

    def size(self) -> tuple[float, float]:
        if self.plus:
            return 2 * PLUS_R, 2 * PLUS_R
        w = max(MIN_W, self.text_w() + 2 * PAD_X + STRIPE)
        h = 2 * PAD_Y + 17 + 15 * len(self.lines) + (15 if self.note else 0)
        return w, h


@dataclass
class Fork:
    branches: list[list[Item]]
    join: Box


@dataclass
class Bypass:
    main: list[Item]
    shortcut: Box | None
    join: Box
    label: list[str]


Item = Box | Fork | Bypass


def skip_label_w(label: list[str]) -> float:
    return max((text_width(s, NOTE) for s in label), default=0)


def measure(item: Item) -> tuple[float, float, float]:
    """(left of centre, right of centre, height)."""
    if isinstance(item, Box):
        w, h = item.size()
        right = w / 2 + (2 * STACK if item.repeat > 1 else 0)
        h += 2 * STACK if item.repeat > 1 else 0
        if item.skip:
            right = max(right, w / 2 + LANE + 8 + skip_label_w(item.skip.label))
            h += SKIP_TOP + SKIP_BOTTOM
        return w / 2, right, h
    if isinstance(item, Fork):
        sizes = [measure_seq(b) for b in item.branches]
        total = sum(l + r for l, r, _ in sizes) + H_GAP * (len(sizes) - 1)
        jl, jr, jh = measure(item.join)
        height = 2 * FORK + max(h for _, _, h in sizes) + V_GAP + jh
        return max(total / 2, jl), max(total / 2, jr), height
    left, right, h = measure_seq(item.main)
    lane = right + LANE
    if item.shortcut is not None:
        sl, sr, _ = measure(item.shortcut)
        right = lane + sl + sr
    else:
        right = lane + 8 + skip_label_w(item.label)
    return left, right, SKIP_TOP + h + V_GAP + 2 * PLUS_R


def measure_seq(items: list[Item]) -> tuple[float, float, float]:
    sizes = [measure(i) for i in items]
    if not sizes:
        return 0, 0, 0
    return (max(s[0] for s in sizes), max(s[1] for s in sizes),
            sum(s[2] for s in sizes) + V_GAP * (len(sizes) - 1))


def _line(c: Canvas, x0: float, y0: float, x1: float, y1: float, arrow: bool = False,
          dash: bool = False) -> None:
    c.add(Path(f"M{n(x0)},{n(y0)} L{n(x1)},{n(y1)}", arrow=arrow, dash=dash))


def place_seq(c: Canvas, items: list[Item], cx: float, y: float) -> list[tuple[float, float]]:
    """Draw items top to bottom from y; return each one's (top, bottom)."""
    spans = []
    for i, item in enumerate(items):
        if i:
            _line(c, cx, y - V_GAP, cx, y, arrow=True)
        h = measure(item)[2]
        place(c, item, cx, y)
        spans.append((y, y + h))
        y += h + V_GAP
    return spans


def place(c: Canvas, item: Item, cx: float, y: float) -> None:
    if isinstance(item, Box):
        _place_box(c, item, cx, y)
    elif isinstance(item, Fork):
        _place_fork(c, item, cx, y)
    else:
        _place_bypass(c, item, cx, y)


def _place_box(c: Canvas, box: Box, cx: float, y: float) -> None:
    w, h = box.size()
    if box.plus:
        fill, stroke = COLOURS["merge"]
        c.add(Circle(cx, y + PLUS_R, PLUS_R, fill, stroke))
        c.add(Path(f"M{n(cx - 5)},{n(y + PLUS_R)} L{n(cx + 5)},{n(y + PLUS_R)} "
                   f"M{n(cx)},{n(y + PLUS_R - 5)} L{n(cx)},{n(y + PLUS_R + 5)}",
                   stroke=stroke, width=1.8))
        return
    top = y + (SKIP_TOP if box.skip else 0)
    if box.skip:
        _line(c, cx, y, cx, top)
    x0 = cx - w / 2
    fill, stroke = COLOURS.get(box.kind, COLOURS["other"])
    attrs = (("data-path", box.path),) if box.path else ()
    if box.repeat > 1:
        attrs += (("data-repeat", str(box.repeat)),)
        for k in (2, 1):
            c.add(Rect(x0 + k * STACK, top + k * STACK, w, h, "#ffffff", stroke))
    c.add(Rect(x0, top, w, h, fill, stroke, attrs=attrs))
    _chips(c, box.chips or [box.kind], x0, top, h)
    tx = cx + STRIPE / 2
    ty = top + PAD_Y + 13
    c.add(Text(tx, ty, box.title, TITLE, bold=True, anchor="middle", fill=INK))
    for s in box.lines:
        ty += 15
        c.add(Text(tx, ty, s, DETAIL, anchor="middle", fill=INK))
    if box.note:
        c.add(Text(tx, ty + 15, box.note, NOTE, anchor="middle", fill=GREY))
    if box.skip:
        _box_skip(c, box, cx, y, top, w, h)


def _chips(c: Canvas, kinds: list[str], x0: float, top: float, h: float) -> None:
    """The stripe on a box's left edge: one band per layer kind it holds, in order."""
    inner = h - 6
    step = inner / len(kinds)
    for i, kind in enumerate(kinds):
        c.add(Rect(x0 + 3, top + 3 + i * step, STRIPE - 2, step, COLOURS[kind][1], rx=1))


def _box_skip(c: Canvas, box: Box, cx: float, y: float, top: float, w: float,
              h: float) -> None:
    assert box.skip is not None
    extra = 2 * STACK if box.repeat > 1 else 0
    bottom = top + h + extra
    plus_y = bottom + SKIP_BOTTOM / 2 + 1
    _line(c, cx, bottom, cx, plus_y - PLUS_R, arrow=True)
    _place_box(c, Box("+", plus=True), cx, plus_y - PLUS_R)
    _line(c, cx, plus_y + PLUS_R, cx, y + measure(box)[2])
    lane = cx + w / 2 + LANE
    _arc(c, cx, y + 2, lane, plus_y, dash=not box.skip.identity)
    _skip_text(c, box.skip.label, lane + 8, top + h / 2)


def _skip_text(c: Canvas, label: list[str], x: float, mid: float) -> None:
    y = mid - 15 * (len(label) - 1) / 2 + 4
    for s in label:
        c.add(Text(x, y, s, NOTE, fill=GREY))
        y += 15


def _arc(c: Canvas, cx: float, y0: float, lane: float, y1: float, dash: bool) -> None:
    """From the main path at y0, out to the lane, down, and back into the + at y1."""
    r = 6
    d = (f"M{n(cx)},{n(y0)} L{n(lane - r)},{n(y0)} Q{n(lane)},{n(y0)} {n(lane)},{n(y0 + r)} "
         f"L{n(lane)},{n(y1 - r)} Q{n(lane)},{n(y1)} {n(lane - r)},{n(y1)} "
         f"L{n(cx + PLUS_R + 1)},{n(y1)}")
    c.add(Path(d, stroke="#2f3742", width=1.6, dash=dash, arrow=True))


def _place_fork(c: Canvas, fork: Fork, cx: float, y: float) -> None:
    sizes = [measure_seq(b) for b in fork.branches]
    total = sum(l + r for l, r, _ in sizes) + H_GAP * (len(sizes) - 1)
    x = cx - total / 2
    centres = []
    for left, right, _ in sizes:
        centres.append(x + left)
        x += left + right + H_GAP
    tallest = max(h for _, _, h in sizes)
    bus_top, bus_bottom = y + FORK / 2, y + 1.5 * FORK + tallest
    _line(c, cx, y, cx, bus_top)
    c.add(Path(f"M{n(min(centres))},{n(bus_top)} L{n(max(centres))},{n(bus_top)}"))
    c.add(Path(f"M{n(min(centres))},{n(bus_bottom)} L{n(max(centres))},{n(bus_bottom)}"))
    for bx, branch, (_, _, h) in zip(centres, fork.branches, sizes, strict=True):
        if not branch:
            _line(c, bx, bus_top, bx, bus_bottom)
            continue
        _line(c, bx, bus_top, bx, y + FORK, arrow=True)
        place_seq(c, branch, bx, y + FORK)
        _line(c, bx, y + FORK + h, bx, bus_bottom)
    join_top = y + 2 * FORK + tallest + V_GAP
    _line(c, cx, bus_bottom, cx, join_top, arrow=True)
    place(c, fork.join, cx, join_top)


def _place_bypass(c: Canvas, bp: Bypass, cx: float, y: float) -> None:
    _, right, h = measure_seq(bp.main)
    lane = cx + right + LANE
    _line(c, cx, y, cx, y + SKIP_TOP)
    place_seq(c, bp.main, cx, y + SKIP_TOP)
    plus_top = y + SKIP_TOP + h + V_GAP
    _line(c, cx, plus_top - V_GAP, cx, plus_top, arrow=True)
    place(c, bp.join, cx, plus_top)
    plus_y = plus_top + PLUS_R
    if bp.shortcut is None:
        _arc(c, cx, y + 2, lane, plus_y, dash=False)
        _skip_text(c, bp.label, lane + 8, y + SKIP_TOP + h / 2)
        return
    sl, sr, sh = measure(bp.shortcut)
    sx = lane + sl
    s_top = y + SKIP_TOP + (h - sh) / 2
    d = f"M{n(cx)},{n(y + 2)} L{n(sx - 6)},{n(y + 2)} Q{n(sx)},{n(y + 2)} {n(sx)},{n(y + 8)} " \
        f"L{n(sx)},{n(s_top)}"
    c.add(Path(d, stroke="#2f3742", width=1.6, dash=True, arrow=True))
    place(c, bp.shortcut, sx, s_top)
    d = f"M{n(sx)},{n(s_top + sh)} L{n(sx)},{n(plus_y - 6)} Q{n(sx)},{n(plus_y)} " \
        f"{n(sx - 6)},{n(plus_y)} L{n(cx + PLUS_R + 1)},{n(plus_y)}"
    c.add(Path(d, stroke="#2f3742", width=1.6, dash=True, arrow=True))


def place_arcs(c: Canvas, spans: list[tuple[float, float]], edges: list[tuple[int, int]],
               x_left: float) -> float:
    """Edges a column cannot show as its next step, as arcs in lanes on its left; the
    lanes' leftmost x is returned (for the canvas size)."""
    lanes: list[float] = []  # the lowest y each lane is busy until
    x = x_left
    for a, b in sorted(edges, key=lambda e: (e[0], e[1])):
        y0 = (spans[a][0] + spans[a][1]) / 2
        y1 = (spans[b][0] + spans[b][1]) / 2
        lane = next((k for k, busy in enumerate(lanes) if busy < y0), len(lanes))
        if lane == len(lanes):
            lanes.append(0)
        lanes[lane] = y1 + 4
        x = x_left - LANE * (lane + 1)
        c.add(Path(f"M{n(x_left)},{n(y0)} L{n(x)},{n(y0)} L{n(x)},{n(y1)} "
                   f"L{n(x_left)},{n(y1)}", stroke="#2f3742", width=1.4, arrow=True))
    return min(x, x_left)
