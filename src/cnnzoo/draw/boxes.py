"""What each box says: units and their structure become the boxes, forks and bypasses
of the layout, with the case studies' names, runs of identical blocks collapsed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cnnzoo.draw.layout import DETAIL, Box, Bypass, Fork, Item, Skip
from cnnzoo.draw.names import conv_is_depthwise, layer_label, main_op, shape_text
from cnnzoo.draw.structure import Flow, Par, Res, flow, walk
from cnnzoo.draw.svg import text_width
from cnnzoo.draw.trace import Call, Graph
from cnnzoo.draw.units import Blocks, Unit, build_units, successors
from cnnzoo.fmt import human

MAX_LINE = 330  # px of detail text in a box before it wraps
BRANCH_LINE = 210  # inside a branch of a block drawn in the overview


@dataclass
class Context:
    graph: Graph
    blocks: Blocks
    root: Call
    costs: bool = False
    summaries: dict[int, Summary] = field(default_factory=dict)

    def relative(self, path: str) -> str:
        prefix = self.root.path + "." if self.root.parent is not None else ""
        return path[len(prefix):] if prefix and path.startswith(prefix) else path


def wrap(parts: list[str], sep: str, width: float, size: float = DETAIL) -> list[str]:
    """Join parts with sep into lines no wider than width (a part is never split)."""
    lines: list[str] = []
    for part in parts:
        if lines and text_width(lines[-1] + sep + part, size) <= width:
            lines[-1] += sep + part
        else:
            lines.append(part if not lines else sep.strip() + " " + part)
    return lines


# ---------------------------------------------------------------- one unit


def linear_units(units: list[Unit]) -> set[int]:
    """Convolutions with no activation after them, anywhere on to the output (the linear
    bottleneck of MobileNetV2)."""
    succ = successors(units)
    by_id = {u.id: u for u in units}
    act_after: dict[int, bool] = {}
    for u in reversed(units):
        act_after[u.id] = any(by_id[s].kind == "act" or _has_act(by_id[s]) or act_after[s]
                              for s in succ[u.id])
    return {u.id for u in units if u.kind == "conv" and not _has_act(u) and not act_after[u.id]}


def _has_act(u: Unit) -> bool:
    return any(nd.kind == "act" for nd in u.nodes)


def role(u: Unit, linear: bool) -> str:
    """expand / reduce / depthwise / linear projection, for 1x1 and depthwise convs."""
    op = main_op(u.head.ops)
    if op is None or op.kind != "conv":
        return ""
    if conv_is_depthwise(op):
        return "depthwise"
    if op.kernel != (1, 1):
        return ""
    if op.out_channels > op.in_channels:
        ratio = op.out_channels / op.in_channels
        return f"expand ×{ratio:g}" if ratio == int(ratio) else "expand"
    if op.out_channels < op.in_channels:
        return "linear projection" if linear else "1x1 reduce"
    return "linear" if linear else ""


def short(u: Unit, linear: bool = False) -> str:
    """A unit inside a block's one-line summary: `1x1, 64`, `dw 3x3/2`, `max-pool 3x3`."""
    text = layer_label(u.head.module, u.head.ops, short=True)
    return text + " linear" if linear else text


def _cost_note(params: int, macs: int) -> str:
    return f"{human(params)} params · {human(macs)} MACs"


def unit_box(u: Unit, ctx: Context, linear: set[int]) -> Box:
    if u.role:
        return Box(u.role, note=shape_text(u.shape), kind="io")
    if u.call is not None:
        return block_box(u, ctx)
    if u.kind == "merge":
        label = "concat" if u.head.merge == "concat" else u.head.merge
        return Box(label, note=shape_text(u.shape), kind="merge", path=ctx.relative(u.head.path))
    title = " + ".join(layer_label(nd.module, nd.ops) for nd in u.nodes)
    chips = [nd.kind for nd in u.nodes]
    where = ctx.relative(unit_path(u, ctx)) if u.head.module is not None else ""
    bits = [role(u, u.id in linear), where, shape_text(u.shape)]
    lines = [_cost_note(u.params, u.macs)] if ctx.costs and (u.params or u.macs) else []
    return Box(title, lines, " · ".join(b for b in bits if b), u.kind,
               [k if k != "merge" else "other" for k in chips], path=u.head.path)


def unit_path(u: Unit, ctx: Context) -> str:
    """The module that is exactly this unit (ConvBNReLU `conv1`, a downsample), else the
    path of its first layer."""
    ids = {nd.index for nd in u.nodes}
    for c in reversed(u.head.scope):
        inside = set(ctx.graph.calls[c].nodes)
        if ids <= inside:
            return ctx.graph.calls[c].path if inside == ids else u.head.path
    return u.head.path


# ---------------------------------------------------------------- a block drawn whole


@dataclass
class Summary:
    call: Call
    flow: Flow
    units: list[Unit]
    main: list[str]  # the main path, one short label per layer
    skip: Skip | None
    branches: Par | None  # a fork that is not a residual: drawn inline


def summarise(call: Call, ctx: Context) -> Summary:
    if call.index not in ctx.summaries:
        ctx.summaries[call.index] = _summarise(call, ctx)
    return ctx.summaries[call.index]


def _summarise(call: Call, ctx: Context) -> Summary:
    units = build_units(ctx.graph, call, "blocks", ctx.blocks)
    f = flow(units)
    linear = linear_units(units)
    main: list[str] = []
    skip: Skip | None = None
    branches: Par | None = None
    for item in f.items:
        if isinstance(item, Unit):
            if item.kind in ("conv", "linear", "pool") and not item.role:
                main.append(short(item, item.id in linear))
        elif isinstance(item, Res):
            main += [short(u, u.id in linear) for u in walk(item.main)
                     if u.kind in ("conv", "linear", "pool")]
            if item.shortcut:
                sc = [short(u) for u in walk(item.shortcut)]
                skip = Skip(False, ["projection", ", ".join(sc)])
            else:
                skip = Skip(True, ["identity"])
        elif branches is None:
            branches = item
    if f.extra and skip is None:
        skip = Skip(False, ["skip connection"])
    return Summary(call, f, units, main, skip, branches)


def _block_name(s: Summary) -> str:
    name = type(s.call.module).__name__
    if s.skip is None and s.branches is None and re.search("residual|bottleneck", name, re.I):
        return f"{name} (no shortcut)"  # a plain net's block: the same layers, no skip
    return name


def block_box(u: Unit, ctx: Context, run: list[Unit] | None = None) -> Box:
    """A block as one box: its name, its layers in a line, its shortcut as an arc. A run
    of blocks reads from its first, which may change channels and stride."""
    assert u.call is not None
    run = run or [u]
    first = summarise(u.call, ctx)
    rest = summarise(run[1].call, ctx) if len(run) > 1 else first  # type: ignore[arg-type]
    title = _block_name(rest) + (f" × {len(run)}" if len(run) > 1 else "")
    lines = wrap(first.main, " → ", MAX_LINE)
    path = u.call.path  # in full: what --block takes
    if len(run) > 1:
        last = run[-1].call.path  # type: ignore[union-attr]
        common = path.rsplit(".", 1)[0]
        path = f"{path}–{last.rsplit('.', 1)[-1]}" if last.startswith(common + ".") else \
            f"{path}–{last}"
    skip = first.skip
    if len(run) > 1 and rest.skip is not None and first.skip != rest.skip:
        if first.skip is None:
            skip = Skip(True, ["first: no shortcut", "then identity"])
        else:
            skip = Skip(False, [f"first: {first.skip.label[0]}", *first.skip.label[1:],
                                "then identity"])
    if ctx.costs:
        lines.append(_cost_note(sum(r.params for r in run), sum(r.macs for r in run)))
    return Box(title, lines, f"{path} · {shape_text(run[-1].shape)}", "block",
               _block_chips(first), skip=skip, repeat=len(run), path=u.call.path)


def _block_chips(s: Summary) -> list[str]:
    chips: list[str] = []
    for u in s.units:
        for nd in u.nodes:
            kind = nd.kind if not u.role else None
            if kind and (not chips or chips[-1] != kind):
                chips.append(kind)
    return chips[:12] or ["block"]


def inline_block(u: Unit, ctx: Context, s: Summary) -> list[Item]:
    """A block with parallel branches (Inception): one summary box per branch, side by
    side, joined at a box that names the block."""
    out: list[Item] = []
    linear = linear_units(s.units)
    for item in s.flow.items:
        if isinstance(item, Unit):
            if not item.role:
                out.append(unit_box(item, ctx, linear))
            continue
        if item is not s.branches:
            out += lay_out([item], ctx, linear)
            continue
        boxes = [[_branch_box(b, ctx, linear)] if b else [] for b in item.branches]
        label = f"{item.join.head.merge} of {len(item.branches)} branches"
        join = Box(type(u.call.module).__name__, [label],  # type: ignore[union-attr]
                   f"{ctx.relative(u.call.path)} · {shape_text(item.join.shape)}",  # type: ignore[union-attr]
                   "merge", path=u.call.path)  # type: ignore[union-attr]
        out.append(Fork(boxes, join))
    return out


def _branch_box(branch: list[Item], ctx: Context, linear: set[int]) -> Box:
    parts: list[str] = []
    for item in branch:
        if isinstance(item, Unit):
            if item.kind in ("conv", "linear", "pool"):
                parts.append(short(item, item.id in linear))
        else:
            inner = item.branches if isinstance(item, Par) else [item.main, item.shortcut]
            alts = [", ".join(short(u) for u in walk(b)) or "identity" for b in inner]
            parts.append("[" + " | ".join(alts) + "]")
    units = list(walk(branch))
    kinds = [u.kind for u in units if u.kind != "merge"]
    title_lines = wrap(parts or ["identity"], " → ", BRANCH_LINE)
    return Box(title_lines[0], title_lines[1:], shape_text(units[-1].shape),
               "conv" if "conv" in kinds else (kinds[0] if kinds else "other"),
               kinds[:8] or ["other"], path=units[0].head.path)


# ---------------------------------------------------------------- the whole column


def lay_out(items: list, ctx: Context, linear: set[int], collapse: bool = False) -> list[Item]:
    out: list[Item] = []
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, Unit):
            s = summarise(item.call, ctx) if item.call is not None else None
            inline = s is not None and s.branches is not None
            run = _run(items, i, ctx) if collapse and not inline else [item]
            if s is not None:
                if inline:
                    out += inline_block(item, ctx, s)
                else:
                    out.append(block_box(item, ctx, run))
            elif len(run) > 1:
                box = unit_box(run[-1], ctx, linear)
                box.title += f" × {len(run)}"
                box.repeat = len(run)
                box.note = " · ".join([f"{ctx.relative(item.head.path)}–"
                                       f"{ctx.relative(run[-1].head.path).rsplit('.', 1)[-1]}",
                                       shape_text(run[-1].shape)])
                out.append(box)
            else:
                out.append(unit_box(item, ctx, linear))
            i += len(run)
            continue
        if isinstance(item, Res):
            sc = unit_box(item.shortcut[0], ctx, linear) if item.shortcut else None
            if sc is not None:
                sc.lines.insert(0, "projection shortcut")
            label = ["identity"] if sc is None else []
            out.append(Bypass(lay_out(item.main, ctx, linear), sc, Box("+", plus=True), label))
        else:
            out.append(Fork([lay_out(b, ctx, linear) for b in item.branches],
                            unit_box(item.join, ctx, linear)))
        i += 1
    return out


def _signature(u: Unit, ctx: Context) -> tuple:
    if u.call is not None:
        s = summarise(u.call, ctx)
        skip = None if s.skip is None else tuple(s.skip.label)
        return (type(u.call.module).__name__, tuple(s.main), skip, u.shape, u.params)
    return (tuple(layer_label(nd.module, nd.ops) for nd in u.nodes), u.shape, u.params)


def _family(u: Unit, ctx: Context) -> tuple:
    """What stays the same along a stage: the kind of block and its kernels, not its
    channels or strides (the first block of a stage changes those)."""
    sig = _signature(u, ctx)

    def bare(text: str) -> str:
        return re.sub(r"/\d+|, \d+|\d+(?= groups)", "", text)

    if u.call is not None:
        return (sig[0], tuple(bare(t) for t in sig[1]))
    return tuple(bare(t) for t in sig[0])


def _run(items: list, i: int, ctx: Context) -> list[Unit]:
    """items[i] and the identical units after it (the first of a stage may differ in
    channels and stride): ResNet-50's 3, 4, 6, 3; MobileNetV2's rows of Table 2."""
    first = items[i]
    run = [first]
    j = i + 1
    while j < len(items) and isinstance(items[j], Unit) and not items[j].role:
        u = items[j]
        prev_shape = items[j - 1].shape
        same = (_signature(u, ctx) == _signature(run[1], ctx)) if len(run) > 1 else \
            (_family(u, ctx) == _family(first, ctx) and prev_shape == u.shape
             and (u.call is None) == (first.call is None))
        if not same or prev_shape != u.shape:
            break
        run.append(u)
        j += 1
    return run
