"""Profiles as tables: the per-layer summary and the side-by-side comparison."""

from __future__ import annotations

import csv
import io
import json
from html import escape
from typing import TYPE_CHECKING

from cnnzoo.cost.rows import LayerCost
from cnnzoo.fmt import human, render, shape_str

if TYPE_CHECKING:  # a Profile renders itself with these functions: profile.py imports this
    from cnnzoo.cost.profile import Profile, StageCost

HEADERS = ["layer", "type", "input", "output", "params", "MACs", "% MACs", "other FLOPs",
           "activation", "RF", "jump"]
_RIGHT = (4, 5, 6, 7, 8, 9, 10)


def _hw(value: tuple[int, int] | None) -> str:
    if value is None:
        return "-"
    return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}" if whole else "-"


def _count(n: int, exact: bool) -> str:
    return f"{n:,}" if exact else ("" if n == 0 else human(n))


def _layer_row(r: LayerCost, total: int, exact: bool) -> list[str]:
    return [r.name, r.type, shape_str(r.input_shape), shape_str(r.output_shape),
            _count(r.params, exact), _count(r.macs, exact), _pct(r.macs, total) if r.macs else "",
            _count(r.total_other_flops, exact), human(r.activation_bytes, binary=True),
            _hw(r.receptive_field), _hw(r.jump)]


def _stage_row(s: StageCost, total: int, exact: bool) -> list[str]:
    return [f"= {s.name}", f"{s.layers} layers", shape_str(s.input_shape),
            shape_str(s.output_shape),
            _count(s.params, exact), _count(s.macs, exact), _pct(s.macs, total),
            _count(s.other_flops, exact), human(s.activation_bytes, binary=True),
            _hw(s.receptive_field), _hw(s.jump)]


def summary_table(p: Profile, fmt: str = "table", stages_only: bool = False) -> str:
    """The per-layer table (or the stage table) in `fmt`: table, md, json, csv or html (a
    notebook's; numbers humanised as in the text table)."""
    if fmt == "json":
        return json.dumps(p.to_dict(), indent=2)
    if fmt == "csv":
        return _csv(p)
    exact = fmt not in ("table", "html")
    total = p.macs
    rows: list[list[str]] = []
    stages = p.stages()
    if stages_only:
        rows = [_stage_row(s, total, exact) for s in stages]
        rows = [[r[0][2:], *r[1:]] for r in rows]
    else:
        i = 0
        for s in stages:
            block = p.layers[i : i + s.layers]
            i += s.layers
            rows += [_layer_row(r, total, exact) for r in block]
            if s.layers > 1:
                rows.append(_stage_row(s, total, exact))
            if fmt == "table" and s.layers > 1:
                rows.append([""] * len(HEADERS))
    rows.append(["total", "", shape_str(p.input_size), "", _count(p.params, exact),
                 _count(total, exact), "100.0", _count(p.other_flops, exact),
                 human(p.activation_bytes, binary=True), "", ""])
    headers = ["stage" if stages_only else "layer", *HEADERS[1:]]
    return render(headers, rows, fmt, right=_RIGHT)


def _csv(p: Profile) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "type", "stage", "input_shape", "output_shape", "params", "macs",
                     "zero_macs", "other_flops", "activation_elements", "activation_bytes",
                     "receptive_field", "jump", "shares"])
    for r in p.layers:
        writer.writerow([r.name, r.type, r.stage, shape_str(r.input_shape),
                         shape_str(r.output_shape), r.params, r.macs, r.zero_macs,
                         r.total_other_flops, r.activation_elements, r.activation_bytes,
                         _hw(r.receptive_field), _hw(r.jump), r.shares])
    return buf.getvalue().rstrip("\n")


def headline(p: Profile, description: str = "", options: str = "") -> str:
    """The lines above the table: what was profiled and the totals in words."""
    kinds = ", ".join(f"{k} {human(v)}" for k, v in p.other_flops_by_kind.items())
    lines = [f"{p.model}: {description}" if description else p.model]
    if options:
        lines.append(f"options: {options}")
    lines.append(f"input {shape_str(p.input_size)}, batch {p.batch_size}, {p.dtype}")
    zeros = f" (and {p.zero_macs:,} on structural zeros)" if p.zero_macs else ""
    lines.append(
        f"params {p.params:,} ({human(p.params)})   MACs {p.macs:,} ({human(p.macs)}){zeros}"
    )
    lines.append(f"other FLOPs {human(p.other_flops)}: {kinds or 'none'}")
    return "\n".join(lines)


def footer(p: Profile) -> str:
    counted = "2 x (MACs + those on structural zeros)" if p.zero_macs else "2 x MACs"
    lines = [
        f"peak activation memory {human(p.peak_activation_bytes, binary=True)} (tensors alive"
        f" at once, input included; reached in {p.peak_at or 'the input'}); every output"
        f" summed would be {human(p.activation_bytes, binary=True)}",
        f"MACs are conv + linear multiply-adds; torch's FlopCounterMode reports {counted} ="
        f" {human(2 * (p.macs + p.zero_macs))} FLOPs. RF: receptive field in input pixels;"
        f" jump: its stride.",
    ]
    for r in p.layers:
        if r.zero_macs:
            lines.append(f"{r.name}: {r.macs + r.zero_macs:,} multiply-adds, of which"
                         f" {r.zero_macs:,} multiply structural zeros (weights its connection"
                         f" table leaves at zero); MACs count the {r.macs:,} real ones")
        if r.shares:
            lines.append(f"{r.name}: the parameters of {r.shares} again (counted there once)")
    if p.uncounted_ops:
        lines.append(f"no cost rule for: {', '.join(p.uncounted_ops)} (counted as 0)")
    return "\n".join(lines)


COMPARE_HEADERS = ["model", "input", "params", "MACs", "peak activations", "top-1 err %",
                   "top-5 err %", "reported by", "torchvision acc@1"]


def compare_rows(profiles: list[Profile], reported: list[dict], fmt: str) -> str:
    """Side by side: params, MACs, peak activation memory and the model cards' errors."""
    exact = fmt != "table"
    rows, records = [], []
    for p, rep in zip(profiles, reported, strict=True):
        source = rep["top1_source"] or rep["top5_source"] or "-"
        rows.append([
            p.model, shape_str(p.input_size), _count(p.params, exact), _count(p.macs, exact),
            human(p.peak_activation_bytes, binary=True),
            "-" if rep["top1_err"] is None else f"{rep['top1_err']:g}",
            "-" if rep["top5_err"] is None else f"{rep['top5_err']:g}", source,
            "-" if rep["torchvision_acc1"] is None else f"{rep['torchvision_acc1']:g}",
        ])
        records.append({
            "model": p.model, "input_size": list(p.input_size), "params": p.params,
            "macs": p.macs, "other_flops": p.other_flops,
            "peak_activation_bytes": p.peak_activation_bytes,
            "top1_err": rep["top1_err"], "top5_err": rep["top5_err"], "reported_by": source,
            "torchvision_acc1": rep["torchvision_acc1"],
        })
    return render(COMPARE_HEADERS, rows, fmt, right=(2, 3, 4, 5, 6, 8), records=records)


def profile_html(p: Profile) -> str:
    """What a notebook shows for a profile: the totals, the per-layer table, the notes."""
    lines = "<br>".join(escape(line) for line in headline(p).splitlines())
    notes = "<br>".join(escape(line) for line in footer(p).splitlines())
    return (f"<div><p style='font-size:13px'><strong>{lines}</strong></p>"
            f"{summary_table(p, 'html')}<p style='font-size:12px;color:#555'>{notes}</p></div>")


def profile_repr(p: Profile) -> str:
    """One line instead of the dataclass's (every layer's row: 23,820 characters for
    ResNet-50); `print(profile)` prints the table."""
    return (f"<Profile {p.model}: input {shape_str(p.input_size)}, batch {p.batch_size}, "
            f"{p.dtype}, {len(p.layers)} layers, params {human(p.params)}, MACs "
            f"{human(p.macs)}; print() it for the table>")
