"""Opening an image file (folder trees, `predict`) without trusting its header.

Pillow reads the header first and allocates the whole canvas it declares when it decodes,
so a 1.5 KB BMP declaring 24x5,636,116 pixels (under Pillow's bomb error, which starts at
179M pixels) grew the process by over 100 MiB before failing as truncated. Here the
declared size is checked before any pixel is decoded: against MAX_IMAGE_PIXELS, and, for
uncompressed data, against the bytes the file actually holds.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from cnnzoo.data.pipeline import MAX_IMAGE_PIXELS
from cnnzoo.errors import CnnzooError, DatasetError, MissingDependencyError

if TYPE_CHECKING:
    from PIL.Image import Image

# Bits per pixel of an uncompressed tile whose stride the header leaves to the mode.
_BITS = {"1": 1, "L": 8, "P": 8, "LA": 16, "I;16": 16, "I;16B": 16, "I;16L": 16, "RGB": 24,
         "RGBA": 32, "CMYK": 32, "I": 32, "F": 32}


def _raw_bytes_needed(im: Image) -> int:
    """The file size an uncompressed ('raw') image needs for the canvas it declares; 0 when
    its data is compressed (its size then says nothing about the canvas)."""
    needed = 0
    for tile in im.tile:
        if tile[0] != "raw":
            continue
        x0, y0, x1, y1 = tile[1]
        args = tile[3] if isinstance(tile[3], tuple) else (tile[3],)
        stride = args[1] if len(args) > 1 and args[1] else 0
        if not stride:
            bits = _BITS.get(args[0] if args[0] in _BITS else im.mode)
            if bits is None:
                continue
            stride = ((x1 - x0) * bits + 7) // 8
        needed = max(needed, tile[2] + abs(stride) * (y1 - y0))
    return needed


def check_header(im: Image, path: str | Path, size_on_disk: int) -> None:
    """Refuse an image whose declared size is over MAX_IMAGE_PIXELS or more than its bytes
    can hold, before it is decoded."""
    w, h = im.size
    if w * h > MAX_IMAGE_PIXELS:
        raise DatasetError(f"{path}: refused, its header declares {w}x{h} pixels, more than "
                           f"the {MAX_IMAGE_PIXELS:,} cnnzoo decodes (a decompression bomb or "
                           "a huge scan); resize it first")
    needed = _raw_bytes_needed(im)
    if needed > size_on_disk:
        raise DatasetError(f"{path}: truncated, its header declares {w}x{h} pixels of "
                           f"uncompressed data ({needed:,} bytes) but the file has "
                           f"{size_on_disk:,}; remove or replace the file")


def open_image(path: str | Path, error: type[CnnzooError] = DatasetError,
               fix: str = "remove or replace the file") -> Image:
    """The image at `path`, decoded, its header checked first; anything wrong is `error`
    with one line naming the file (and `fix`)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise MissingDependencyError("reading image files needs Pillow: pip install Pillow") \
            from None
    try:
        with warnings.catch_warnings():  # its size is checked below, against a lower cap
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except FileNotFoundError:
        raise error(f"image not found: {path}") from None
    except Image.DecompressionBombError as e:
        raise error(f"{path}: refused, too many pixels ({e}); resize it first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise error(f"{path}: cannot decode the image ({e}); {fix}") from None
    try:
        check_header(im, path, Path(path).stat().st_size)
        im.load()
    except DatasetError as e:
        im.close()
        raise error(str(e)) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        im.close()
        raise error(f"{path}: cannot decode the image ({e}); {fix}") from None
    return im
