"""IDX files (MNIST, Fashion-MNIST), gzipped or raw, read and validated.

Format: 2 zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each
dimension as a big-endian uint32, then the data in C order.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from cnnzoo.data.dataset import ImageDataset, Split, dataset_from_spec
from cnnzoo.data.specs import DatasetSpec
from cnnzoo.errors import DatasetError

_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int",
          0x0D: "float", 0x0E: "double"}
_FIX = "re-download it or replace it with the original file"


def read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzip (detected by content, not name)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: corrupted or truncated gzip data ({e}); {_FIX}") from None


def parse_idx(data: bytes, source: str, ndim: int) -> np.ndarray:
    """An IDX file's unsigned-byte array with `ndim` dimensions, or a DatasetError."""
    if len(data) < 4:
        raise DatasetError(f"{source}: truncated: {len(data)} bytes is shorter than an IDX "
                           f"header; {_FIX}")
    if data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise DatasetError(f"{source}: not an IDX file (magic number {data[:4].hex()}); {_FIX}")
    if data[2] != 0x08:
        raise DatasetError(f"{source}: holds {_TYPES[data[2]]} values; cnnzoo reads IDX files "
                           "of unsigned bytes (as MNIST and Fashion-MNIST are)")
    if data[3] != ndim:
        kind = "images (N, rows, cols)" if ndim == 3 else "labels (N)"
        raise DatasetError(f"{source}: has {data[3]} dimensions where {kind} need {ndim}; "
                           "is it the wrong file (images and labels swapped)?")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{source}: truncated inside the header; {_FIX}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=object))
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise DatasetError(f"{source}: {what}: dimensions {dims} need {expected} bytes of data, "
                           f"the file has {got}; {_FIX}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    return parse_idx(read_bytes(path), str(path), ndim)


def find_idx(folder: Path, base: str) -> Path | None:
    """`base` in `folder` as .gz or raw, also under the names people unpack it to."""
    stem = base.replace("-idx", ".idx")  # train-images.idx3-ubyte
    for name in (base + ".gz", base, stem + ".gz", stem):
        path = folder / name
        if path.is_file():
            return path
    return None


def read_idx_pair(images_path: Path, labels_path: Path, num_classes: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) and labels (N,) from matching IDX files, checked together."""
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise DatasetError(f"{images_path} has {len(images)} images but {labels_path} has "
                           f"{len(labels)} labels; the two files do not belong together")
    if 0 in images.shape:
        raise DatasetError(f"{images_path}: holds no images (dimensions {images.shape}); {_FIX}")
    if labels.size and int(labels.max()) >= num_classes:
        raise DatasetError(f"{labels_path}: label {int(labels.max())} is out of range for "
                           f"{num_classes} classes; {_FIX}")
    return images[:, None], labels


def has_files(spec: DatasetSpec, folder: Path) -> bool:
    return all(find_idx(folder, base) is not None for s in spec.splits for base in s.files)


def load(spec: DatasetSpec, folder: Path) -> ImageDataset:
    """The spec's IDX splits from `folder`, each checked against the spec's image shape."""
    splits = {}
    for split in spec.splits:
        images, labels = (find_idx(folder, base) for base in split.files)
        x, y = read_idx_pair(images, labels, spec.num_classes)
        if x.shape[1:] != spec.image_shape:
            raise DatasetError(f"{images}: holds {x.shape[2]}x{x.shape[3]} images where "
                               f"{spec.name} has {spec.image_shape[1]}x{spec.image_shape[2]}; "
                               f"is it another dataset's file? {_FIX}")
        splits[split.name] = Split(torch.from_numpy(x.copy()), torch.from_numpy(
            y.astype("int64")), str(images))
    return dataset_from_spec(spec, splits["train"], splits["test"], str(folder))
