"""The one low-level SVG writer: escaping, elements and their attributes, text, the
document, and how numbers are written. `cnnzoo.draw` (architecture diagrams) and the
studies' charts both write through it, each keeping only its own drawing.

    w = Writer(quote="'", number=fixed)
    w.tag("circle", [("cx", 12.34), ("cy", 8), ("r", "2.5"), ("fill", "#000")])
    # -> "<circle cx='12.3' cy='8.0' r='2.5' fill='#000'/>"

Attribute values that are numbers are written in the writer's number style (a coordinate);
anything else (a font size, a fixed radius) is passed as a string and written as it is,
escaped. Output is deterministic: the same calls give the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

SVG_NS = "http://www.w3.org/2000/svg"

# An attribute: (name, value); a value of None leaves the attribute out.
Attr = tuple[str, str | float | None]

# A carriage return is escaped everywhere and tabs and newlines inside attributes, so that
# a parser's line-end and attribute-whitespace normalisation gives back the same string.
_TEXT = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}
_ATTR = {**_TEXT, "\n": "&#10;", "\t": "&#9;"}
_QUOTED = {'"': "&quot;", "'": "&#39;"}


def escape_text(s: str) -> str:
    """Character data: &, < and > escaped (quotes need no escaping between tags)."""
    return "".join(_TEXT.get(c, c) for c in s)


def escape_attr(s: str, quote: str = '"') -> str:
    """An attribute value delimited by `quote`: &, <, > and that quote escaped, so the value
    can neither end the attribute nor open a tag, in a file or inlined in HTML."""
    return "".join(_ATTR.get(c) or (_QUOTED[c] if c == quote else c) for c in s)


def num(v: float) -> str:
    """A number with at most one decimal, none when whole: 3.0 -> '3', 2.34 -> '2.3'."""
    r = round(v, 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


def fixed(v: float) -> str:
    """A number with exactly one decimal: 3 -> '3.0'."""
    return f"{v:.1f}"


class Writer:
    """Writes elements with one quote character and one number style."""

    def __init__(self, quote: str = '"', number: Callable[[float], str] = num) -> None:
        if quote not in _QUOTED:
            raise ValueError(f"quote must be ' or \", got {quote!r}")
        self.quote, self.number = quote, number

    def value(self, v: str | float) -> str:
        return escape_attr(v, self.quote) if isinstance(v, str) else self.number(v)

    def attrs(self, attrs: Iterable[Attr]) -> str:
        """' name="value"' for each attribute whose value is not None, in the given order."""
        q = self.quote
        return "".join(f" {k}={q}{self.value(v)}{q}" for k, v in attrs if v is not None)

    def tag(self, name: str, attrs: Iterable[Attr] = (), text: str | None = None) -> str:
        """An element: empty (`<name .../>`) without text, else with its text escaped."""
        if text is None:
            return f"<{name}{self.attrs(attrs)}/>"
        return f"<{name}{self.attrs(attrs)}>{escape_text(text)}</{name}>"

    def group(self, name: str, attrs: Iterable[Attr], children: Iterable[str],
              sep: str = "") -> str:
        """An element around already-written children, joined (and framed) by `sep`."""
        return sep.join([f"<{name}{self.attrs(attrs)}>", *children, f"</{name}>"])

    def points(self, coords: Iterable[tuple[float, float]]) -> str:
        """A polyline's or polygon's points: 'x,y x,y ...'."""
        return " ".join(f"{self.number(x)},{self.number(y)}" for x, y in coords)

    def document(self, width: int, height: int, title: str, body: Iterable[str],
                 attrs: Sequence[Attr] = ()) -> str:
        """The <svg> element, one child a line, its <title> first. No XML declaration and
        no trailing newline: the same text works as a file and inline in HTML."""
        head: list[Attr] = [("xmlns", SVG_NS), ("width", str(width)), ("height", str(height)),
                            ("viewBox", f"0 0 {width} {height}"), *attrs]
        return self.group("svg", head, [self.tag("title", text=title), *body], sep="\n")
