"""Formatting shared by every command: humanised numbers and aligned tables."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from html import escape
from typing import Any

FORMATS = ("table", "md", "json", "csv")


def human(n: float, unit: str = "", binary: bool = False) -> str:
    """1234567 -> '1.23M'; with binary=True, bytes in KiB/MiB/GiB."""
    if binary:
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(n) < 1024 or suffix == "TiB":
                return f"{n:.0f} {suffix}" if suffix == "B" else f"{n:.2f} {suffix}"
            n /= 1024
    for suffix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n:g}{unit}"


def shape_str(shape: Sequence[int]) -> str:
    return "x".join(str(int(s)) for s in shape)


def render(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: str = "table",
    right: Sequence[int] = (),
    records: Sequence[dict] | None = None,
) -> str:
    """Rows as an aligned text table, a Markdown table, CSV, or JSON.

    `right` lists the column indexes to right-align (numbers). For JSON, `records`
    (machine-readable values) are written when given, else the rows as dicts.
    """
    if fmt == "html":
        return html_table(headers, rows, right)
    if fmt == "json":
        if records is None:
            records = [dict(zip(headers, r, strict=True)) for r in rows]
        data = list(records)
        return json.dumps(data, indent=2)
    cells = [[str(c) for c in row] for row in rows]
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(cells)
        return buf.getvalue().rstrip("\n")
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(values)
        ]
        return ("| " + " | ".join(parts) + " |") if fmt == "md" else "  ".join(parts).rstrip()

    if fmt == "md":
        rule = "|" + "|".join(
            ("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)
        ) + "|"
    elif fmt == "table":
        rule = "  ".join("-" * w for w in widths)
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


# Compact enough for a notebook cell: small type, tight cells, numbers aligned. Scoped to
# the table's class, so that it restyles nothing else on the page.
TABLE_CSS = ("<style>table.cnnzoo{font-size:12px;border-collapse:collapse}"
             "table.cnnzoo td,table.cnnzoo th{padding:1px 6px;text-align:left}"
             "table.cnnzoo .r{text-align:right;font-variant-numeric:tabular-nums}</style>")


def html_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
               right: Sequence[int] = ()) -> str:
    """Rows as an HTML table (what a notebook shows), with its own small stylesheet;
    `right` columns are right-aligned."""
    def cells(values: Sequence[Any], tag: str) -> str:
        return "".join(f"<{tag}{' class=r' if i in right else ''}>{escape(str(v))}</{tag}>"
                       for i, v in enumerate(values))

    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    return f"{TABLE_CSS}<table class=cnnzoo><tr>{cells(headers, 'th')}</tr>{body}</table>"
