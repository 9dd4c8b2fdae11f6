"""CIFAR-10/100 python batches, parsed without running pickle code, and validated.

The batches are Python pickles: a dict of `data` (N x 3072 uint8, channel-major 32x32) and
labels. pickle.load runs whatever a file asks for, and even numpy's own constructors can be
abused by a crafted file, so the batches are read by `safepickle`, which builds only plain
values and arrays whose bytes are in the file. Sizes are bounded by the spec: a file larger
than its split's official images could need is refused before it is read.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnzoo.data.dataset import ImageDataset, Split, dataset_from_spec
from cnnzoo.data.safepickle import PickleRefused, loads
from cnnzoo.data.specs import DatasetSpec
from cnnzoo.errors import DatasetError

_FIX = ("fetch the official archive again (`cnnzoo data download`, or cnnzoo.data."
        "download_files) and unpack it")
# Per image, what a batch holds besides the pixels: a label or two and a file name.
_PER_IMAGE_EXTRA = 256
_META_BYTES = 1 << 20


def unpickle(data: bytes, source: str, max_items: int = 1 << 20) -> dict[str, Any]:
    """A CIFAR pickle's top-level dict with str keys, or a DatasetError."""
    try:
        obj = loads(data, max_items)
    except PickleRefused as e:
        what = str(e)
        if what.startswith("refused"):
            raise DatasetError(f"{source}: {what}: a CIFAR batch holds only arrays and "
                               f"lists, so this file is not one (or was tampered with); "
                               f"{_FIX}") from None
        raise DatasetError(f"{source}: not a readable CIFAR batch ({what}); {_FIX}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{source}: holds a {type(obj).__name__}, not a CIFAR batch dict; "
                           f"{_FIX}")
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def parse_batch(data: bytes, source: str, label_key: str, num_classes: int,
                image_shape: tuple[int, int, int] = (3, 32, 32),
                max_images: int = 60000) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, C, H, W) uint8 and labels (N,) int64 from one batch file's bytes."""
    batch = unpickle(data, source, max_items=4 * max_images + 64)
    for key in ("data", label_key):
        if key not in batch:
            raise DatasetError(f"{source}: has no {key!r} entry (keys: "
                               f"{', '.join(sorted(batch)) or 'none'}); {_FIX}")
    images = batch["data"]
    pixels = math.prod(image_shape)
    if (not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2
            or images.shape[1] != pixels):
        what = (f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray)
                else type(images).__name__)
        raise DatasetError(f"{source}: 'data' is {what}, not uint8 (N, {pixels}); {_FIX}")
    if len(images) > max_images:
        raise DatasetError(f"{source}: holds {len(images):,} images, more than the "
                           f"{max_images:,} of the whole split; {_FIX}")
    try:
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        labels = np.zeros((0, 0))
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetError(f"{source}: {len(images)} images but {label_key!r} is not a list of "
                           f"{len(images)} integers; {_FIX}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        bad = int(labels.max()) if labels.max() >= num_classes else int(labels.min())
        raise DatasetError(f"{source}: label {bad} is out of range for "
                           f"{num_classes} classes; {_FIX}")
    return images.reshape(-1, *image_shape), labels


def has_files(spec: DatasetSpec, folder: Path) -> bool:
    return all((folder / f).is_file() for s in spec.splits for f in s.files)


def read_bounded(path: Path, limit: int, fix: str) -> bytes:
    """The file's bytes, refused (before reading) when it is larger than `limit`."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise DatasetError(f"{path}: {size:,} bytes is more than a file of its kind can "
                               f"hold ({limit:,}); {fix}")
        return path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None


def _class_names(spec: DatasetSpec, folder: Path) -> tuple[str, ...]:
    if spec.meta is None or not (folder / spec.meta[0]).is_file():
        return spec.classes
    path, key = folder / spec.meta[0], spec.meta[1]
    names = unpickle(read_bounded(path, _META_BYTES, _FIX), str(path)).get(key)
    expected = spec.num_classes
    if (not isinstance(names, list) or len(names) != expected
            or not all(isinstance(n, bytes | str) for n in names)):
        raise DatasetError(f"{path}: {key!r} is not a list of {expected} class names; {_FIX}")
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)


def load(spec: DatasetSpec, folder: Path, image_size: int | None = None) -> ImageDataset:
    if not has_files(spec, folder):
        raise DatasetError(f"{folder}: {spec.name} batch files are missing; {_FIX}")
    classes = _class_names(spec, folder)
    per_image = math.prod(spec.image_shape) + _PER_IMAGE_EXTRA
    splits = {}
    for split in spec.splits:
        parts, left = [], split.size
        for path in (folder / f for f in split.files):
            data = read_bounded(path, left * per_image + _META_BYTES, _FIX)
            parts.append(parse_batch(data, str(path), spec.labels_key, len(classes),
                                     spec.image_shape, max_images=left))
            left -= len(parts[-1][0])
        images = np.concatenate([x for x, _ in parts])
        labels = np.concatenate([y for _, y in parts])
        splits[split.name] = Split(torch.from_numpy(images), torch.from_numpy(labels),
                                   str(folder))
    return dataset_from_spec(spec, splits["train"], splits["test"], str(folder), classes)
