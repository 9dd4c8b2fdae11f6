"""Image files for `predict`: read, compared with the data the weights were trained on, and
made to match it, with one note per change (converted, inverted, resized) so a newcomer
sees why an answer might be off instead of a confident wrong one.

Polarity is checked for grey training data: MNIST and Fashion-MNIST are light strokes on a
dark field (mean below 0.5), a digit drawn on paper is dark on light. Such an image is
inverted with a note (`invert=None`, the default); `invert=True/False` forces the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnzoo.data.imagefile import open_image
from cnnzoo.data.imagenet import preset_decode
from cnnzoo.errors import UsageError
from cnnzoo.pretrained import Preset

_MODES = {1: "L", 3: "RGB"}
_NAMES = {"L": "grey", "RGB": "RGB", "RGBA": "RGBA", "P": "palette", "1": "black-and-white",
          "LA": "grey+alpha", "CMYK": "CMYK", "I;16": "16-bit grey", "I": "32-bit grey"}


@dataclass(frozen=True)
class Expected:
    """What the weights were trained on: channels, image size, and (grey data) whether the
    background is dark."""

    channels: int
    size: tuple[int, int]
    dataset: str
    dark_background: bool | None = None  # None: not checked (colour photographs)


def _open(path: str | Path):  # noqa: ANN202

    return open_image(path, UsageError, fix="give a PNG, JPEG, BMP, GIF or TIFF file")


def _background_is_light(grey: np.ndarray) -> bool:
    """The median of the outer frame (a tenth of each side) is above mid-grey."""
    h, w = grey.shape
    bh, bw = max(1, h // 10), max(1, w // 10)
    frame = np.concatenate([grey[:bh].ravel(), grey[-bh:].ravel(),
                            grey[:, :bw].ravel(), grey[:, -bw:].ravel()])
    return float(np.median(frame)) > 127.5


def read_for_training_data(path: str | Path, expected: Expected, invert: bool | None = None
                           ) -> tuple[torch.Tensor, list[str]]:
    """The image as uint8 (C, H, W) in the training data's channels, polarity and size, and
    one note for each change made."""
    from PIL import Image, ImageOps

    notes = []
    with _open(path) as im:
        mode = _MODES[expected.channels]
        if im.mode != mode:
            notes.append(f"{path}: converted {_NAMES.get(im.mode, im.mode)} to "
                         f"{_NAMES[mode]} (the weights were trained on {_NAMES[mode]} images)")
            im = im.convert(mode)
        if expected.dark_background is not None:
            light = _background_is_light(np.asarray(im.convert("L")))
            mismatch = light == expected.dark_background
            polarity = "dark on light" if light else "light on dark"
            wanted = "light on dark" if expected.dark_background else "dark on light"
            if invert is None and mismatch:
                notes.append(f"{path}: {polarity}, but {expected.dataset} images are {wanted}: "
                             "inverted it (--no-invert keeps it as it is)")
                invert = True
            elif invert is False and mismatch:
                notes.append(f"{path}: {polarity}, but {expected.dataset} images are {wanted}; "
                             "kept as it is (--no-invert), expect poor predictions")
        if invert:
            im = ImageOps.invert(im)
        h, w = expected.size
        if im.size != (w, h):
            aspect = "" if im.size[0] * h == im.size[1] * w else ", aspect ratio not kept"
            notes.append(f"{path}: resized {im.size[0]}x{im.size[1]} to {w}x{h} (the training "
                         f"images' size{aspect})")
            im = im.resize((w, h), Image.Resampling.BILINEAR)
        data = np.asarray(im, dtype=np.uint8).reshape(h, w, expected.channels)
    return torch.from_numpy(data.transpose(2, 0, 1).copy()), notes


def read_with_preset(path: str | Path, preset: Preset) -> tuple[torch.Tensor, list[str]]:
    """The image as uint8 (3, crop, crop) through the weights' evaluation preset, with a note
    for the conversion and the resize."""

    notes = []
    with _open(path) as im:
        mode, (w, h) = im.mode, im.size
    if mode != "RGB":
        notes.append(f"{path}: converted {_NAMES.get(mode, mode)} to RGB (the weights take "
                     "RGB photographs)")
    if (w, h) != (preset.crop, preset.crop):
        notes.append(f"{path}: resized {w}x{h} (shorter side to {preset.resize}) and "
                     f"centre-cropped to {preset.crop}x{preset.crop}, the weights' "
                     "evaluation preset")
    return torch.from_numpy(preset_decode(path, preset)), notes
