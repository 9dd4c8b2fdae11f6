"""Write a diagram: SVG as it is; PNG through a converter that is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from cnnzoo.atomic import write_bytes_atomic
from cnnzoo.errors import MissingDependencyError, UsageError

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class Diagram(str):
    """A diagram's SVG text: a str in every way (write it, embed it, compare it), which a
    notebook shows as the picture and whose repr is one line instead of the whole SVG."""

    def _repr_svg_(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        w, h = _size(self)
        return f"<Diagram {w}x{h} SVG, {len(self):,} characters; .save('x.svg' or 'x.png')>"

    def save(self, path: str | Path) -> Path:
        """Write the diagram to a .svg or .png file (see `save`)."""
        return save(self, path)


def save(svg: str, path: str | Path) -> Path:
    """Write `svg` to path (.svg, or .png through cairosvg, rsvg-convert or headless
    Chromium, whichever is installed). Written atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        _atomic(path, svg.encode("utf-8"))
    elif suffix == ".png":
        _atomic(path, to_png(svg))
    else:
        raise UsageError(f"cannot write {path.name}: give a .svg or .png file name")
    return path


def _atomic(path: Path, data: bytes) -> None:
    write_bytes_atomic(path, data)


def _size(svg: str) -> tuple[int, int]:
    m = re.search(r'<svg[^>]* width="(\d+)" height="(\d+)"', svg)
    return (int(m.group(1)), int(m.group(2))) if m else (1200, 1600)


def to_png(svg: str) -> bytes:
    try:
        import cairosvg  # type: ignore[import-not-found]

        return cairosvg.svg2png(bytestring=svg.encode("utf-8"))
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "d.svg", Path(tmp) / "d.png"
        src.write_text(svg, encoding="utf-8")
        rsvg = shutil.which("rsvg-convert")
        if rsvg:
            subprocess.run([rsvg, "-o", str(out), str(src)], check=True, capture_output=True)
            return out.read_bytes()
        browser = next((shutil.which(b) for b in _BROWSERS if shutil.which(b)), None)
        if browser:
            w, h = _size(svg)
            subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--screenshot={out}", f"--window-size={w},{h}", src.as_uri()],
                check=True, capture_output=True, timeout=120,
            )
            return out.read_bytes()
    raise MissingDependencyError(
        "PNG output needs a converter: pip install cairosvg, or install rsvg-convert "
        "(apt-get install librsvg2-bin) or chromium; SVG needs nothing (-o FILE.svg)"
    )
