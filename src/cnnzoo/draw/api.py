"""`cnnzoo.draw`: an architecture diagram, as SVG text, of a zoo model or any nn.Module."""

from __future__ import annotations

import difflib
import re

from torch import nn

from cnnzoo.draw.boxes import Context, lay_out, linear_units, unit_box
from cnnzoo.draw.layout import COLOURS, NOTE, Item, measure_seq, place_arcs, place_seq
from cnnzoo.draw.names import KIND_NAMES, shape_text
from cnnzoo.draw.output import Diagram
from cnnzoo.draw.structure import flow
from cnnzoo.draw.svg import Canvas, Path, Rect, Text, text_width, to_svg
from cnnzoo.draw.trace import Graph, trace
from cnnzoo.draw.units import DETAILS, Blocks, build_units
from cnnzoo.errors import UsageError
from cnnzoo.factory import create_model
from cnnzoo.fmt import human
from cnnzoo.models.base import model_name_of
from cnnzoo.registry import default_input_size

MARGIN = 24
MIN_WIDTH = 560
LEGEND = ("conv", "pool", "norm", "act", "linear", "merge", "block")


def draw(
    model_or_name: nn.Module | str,
    input_size: tuple[int, int, int] | None = None,
    block: str | None = None,
    detail: str = "stages",
    *,
    costs: bool = False,
) -> Diagram:
    """Draw a model from its real forward pass (traced on the meta device) as SVG text
    (a str; a notebook shows it as the picture; `.save(path)` writes .svg or .png).

    `model_or_name`: a registered name or any nn.Module taking one image batch.
    `input_size`: (C, H, W); a zoo model's default is its card's, and any other module
    needs one. `block`: a module path (`layer1.0`, `inception3a`, `features.2`) to draw
    that block alone, in detail. `detail`: "stages" (blocks, runs of identical ones
    collapsed to one box marked x n), "blocks" (every block), "layers" (every layer).
    `costs`: add parameters and multiply-adds to each box.
    """
    if detail not in DETAILS:
        raise UsageError(f"detail must be one of {', '.join(DETAILS)}, got {detail!r}")
    model, name, size = _resolve(model_or_name, input_size)
    graph = trace(model, size)
    blocks = Blocks(graph)
    root = graph.calls[0]
    if block:
        found = graph.call_at(block)
        if found is None:
            raise UsageError(_bad_block(block, name, graph, blocks))
        root = found
    ctx = Context(graph, blocks, root, costs)
    units = build_units(graph, root, detail, blocks)
    f = flow(units)
    linear = linear_units(units)
    extra: list[tuple[int, int]] = []
    if f.extra:  # not series-parallel: one box per unit in a column, other edges as arcs
        items: list[Item] = [unit_box(u, ctx, linear) for u in units]
        at = {u.id: i for i, u in enumerate(units)}
        extra = [(at[a], at[b]) for a, b in f.extra]
    else:
        items = lay_out(f.items, ctx, linear, collapse=detail == "stages" and not block)
    params = sum(p.numel() for p in root.module.parameters())
    macs = sum(graph.nodes[i].macs for i in root.nodes)
    where = f" · {block} ({type(root.module).__name__})" if block else ""
    heading = f"{name}{where} · {human(params)} params · {human(macs)} MACs · " \
              f"{'at input' if block else 'input'} {shape_text(size)}"
    return render(items, heading, extra)


def render(items: list[Item], heading: str, extra: list[tuple[int, int]]) -> Diagram:
    left, right, height = measure_seq(items)
    arcs_w = 18 * (len(extra) + 1) if extra else 0
    content_w = left + right + arcs_w
    legend_rows = _legend_rows(max(content_w, MIN_WIDTH))
    width = max(content_w, MIN_WIDTH, text_width(heading, 15, True)) + 2 * MARGIN
    top = MARGIN + 28 + 22 * len(legend_rows) + 14
    c = Canvas(width, top + height + MARGIN)
    c.add(Text(MARGIN, MARGIN + 14, heading, 15, bold=True))
    _legend(c, legend_rows, MARGIN + 36)
    cx = MARGIN + arcs_w + (width - 2 * MARGIN - content_w) / 2 + left
    spans = place_seq(c, items, cx, top)
    if extra:
        place_arcs(c, spans, extra, cx - left)
    return Diagram(to_svg(c, heading))


def _legend_entries() -> list[tuple[str, str]]:
    entries = [(k, KIND_NAMES[k]) for k in LEGEND]
    return entries + [("identity", "identity shortcut"), ("projection", "projection shortcut")]


def _entry_w(label: str) -> float:
    return 16 + text_width(label, NOTE) + 16


def _legend_rows(width: float) -> list[list[tuple[str, str]]]:
    rows: list[list[tuple[str, str]]] = [[]]
    used = 0.0
    for key, label in _legend_entries():
        w = _entry_w(label) + (10 if key in ("identity", "projection") else 0)
        if rows[-1] and used + w > width:
            rows.append([])
            used = 0
        rows[-1].append((key, label))
        used += w
    return rows


def _legend(c: Canvas, rows: list[list[tuple[str, str]]], y: float) -> None:
    for row in rows:
        x = MARGIN
        for key, label in row:
            if key in COLOURS:
                fill, stroke = COLOURS[key]
                c.add(Rect(x, y - 10, 12, 12, fill, stroke, rx=2))
                x += 16
            else:
                c.add(Path(f"M{x},{y - 4} L{x + 22},{y - 4}", stroke="#2f3742", width=1.6,
                           dash=key == "projection"))
                x += 26
            c.add(Text(x, y, label, NOTE, fill="#39414d"))
            x += text_width(label, NOTE) + 16
        y += 22


def _resolve(model_or_name: nn.Module | str, input_size: tuple[int, int, int] | None
             ) -> tuple[nn.Module, str, tuple[int, int, int]]:
    if isinstance(model_or_name, str):
        model = create_model(model_or_name, device="meta")
        size = default_input_size(model, input_size)
        return model, model_or_name, size  # type: ignore[return-value]
    if not isinstance(model_or_name, nn.Module):
        raise UsageError(f"draw takes a model name or an nn.Module, got "
                         f"{type(model_or_name).__name__}")

    name = model_name_of(model_or_name)
    if input_size is None:
        try:
            input_size = default_input_size(model_or_name)
        except UsageError:
            raise UsageError(f"draw needs input_size=(C, H, W) for a {name} (only zoo models "
                             "know their input size)") from None
    return model_or_name, name, tuple(input_size)  # type: ignore[return-value]


def block_paths(graph: Graph, blocks: Blocks) -> list[str]:
    """The paths worth offering for --block: every block, else the top-level modules."""
    found = [c.path for c in graph.calls if blocks.is_block(c.index)]
    if not found:
        found = [graph.calls[k].path for k in graph.calls[0].children]
    return list(dict.fromkeys(found))


def _compact(paths: list[str]) -> str:
    """layer1.0, layer1.1, layer1.2 -> layer1.0-2."""
    groups: dict[str, list[str]] = {}
    order: list[str] = []
    for p in paths:
        m = re.fullmatch(r"(.*\.)(\d+)", p)
        key = m.group(1) if m else p
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(m.group(2) if m else "")
    out = []
    for key in order:
        idx = groups[key]
        if len(idx) > 2 and all(i.isdigit() for i in idx):
            out.append(f"{key}{idx[0]}-{idx[-1]}")
        else:
            out += [key + i for i in idx]
    return ", ".join(out)


def _bad_block(block: str, name: str, graph: Graph, blocks: Blocks) -> str:
    valid = block_paths(graph, blocks)
    every = [c.path for c in graph.calls if c.path]
    close = difflib.get_close_matches(block, every, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return (f"no module {block!r} in {name}{hint}; blocks: {_compact(valid)} "
            "(any module path works, e.g. one from `cnnzoo summary`)")
