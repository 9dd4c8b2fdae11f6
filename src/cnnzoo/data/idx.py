"""IDX files (MNIST, Fashion-MNIST), gzipped or raw, read and validated.

Format: 2 zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, each
dimension as a big-endian uint32, then the data in C order.
"""

from __future__ import annotations

import gzip
import io
import math
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
_PIECE = 1 << 24


class _Stream:
    """A raw or gzip file read in pieces, so only what the header declares is ever held."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.raw = open(path, "rb")  # noqa: SIM115 (closed in close())
            gz = self.raw.read(2) == b"\x1f\x8b"  # gzip is detected by content, not name
            self.raw.seek(0)
        except OSError as e:
            raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None
        self.file = gzip.GzipFile(fileobj=self.raw) if gz else self.raw

    def read(self, n: int) -> bytes:
        """Up to n bytes, in pieces: memory follows what the file holds, not what it claims."""
        out = bytearray()
        try:
            while len(out) < n:
                piece = self.file.read(min(n - len(out), _PIECE))
                if not piece:
                    break
                out += piece
            return bytes(out) if len(out) < _PIECE else out  # type: ignore[return-value]
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"{self.path}: corrupted or truncated gzip data ({e}); "
                               f"{_FIX}") from None

    def close(self) -> None:
        self.raw.close()


def _parse(read, source: str, ndim: int, max_items: int | None,
           item_shape: tuple[int, ...] | None) -> np.ndarray:
    """Header first, checked against what the caller expects; then exactly the data the
    header declares (one byte more, to tell trailing bytes), never more."""
    head = read(4)
    if len(head) < 4:
        raise DatasetError(f"{source}: truncated: {len(head)} bytes is shorter than an IDX "
                           f"header; {_FIX}")
    if head[0] != 0 or head[1] != 0 or head[2] not in _TYPES:
        raise DatasetError(f"{source}: not an IDX file (magic number {head.hex()}); {_FIX}")
    if head[2] != 0x08:
        raise DatasetError(f"{source}: holds {_TYPES[head[2]]} values; cnnzoo reads IDX files "
                           "of unsigned bytes (as MNIST and Fashion-MNIST are)")
    if head[3] != ndim:
        kind = "images (N, rows, cols)" if ndim == 3 else "labels (N)"
        raise DatasetError(f"{source}: has {head[3]} dimensions where {kind} need {ndim}; "
                           "is it the wrong file (images and labels swapped)?")
    raw_dims = read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DatasetError(f"{source}: truncated inside the header; {_FIX}")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    if max_items is not None and dims[0] > max_items:
        raise DatasetError(f"{source}: declares {dims[0]:,} items, more than the {max_items:,} "
                           f"of the whole split; {_FIX}")
    if item_shape is not None and dims[1:] != item_shape:
        raise DatasetError(f"{source}: holds {'x'.join(map(str, dims[1:]))} images where the "
                           f"dataset has {'x'.join(map(str, item_shape))}; is it another "
                           f"dataset's file? {_FIX}")
    expected = math.prod(dims)
    body = read(expected + 1)
    if len(body) != expected:
        what = "truncated" if len(body) < expected else "has trailing bytes"
        got = str(len(body)) if len(body) < expected else "more"
        raise DatasetError(f"{source}: {what}: dimensions {dims} need {expected} bytes of data, "
                           f"the file has {got}; {_FIX}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def parse_idx(data: bytes, source: str, ndim: int, max_items: int | None = None,
              item_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """An IDX file's unsigned-byte array with `ndim` dimensions, or a DatasetError."""
    return _parse(io.BytesIO(data).read, source, ndim, max_items, item_shape)


def read_idx(path: Path, ndim: int, max_items: int | None = None,
             item_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """parse_idx of a raw or gzipped file, reading no more than its header declares."""
    stream = _Stream(Path(path))
    try:
        return _parse(stream.read, str(path), ndim, max_items, item_shape)
    finally:
        stream.close()


def find_idx(folder: Path, base: str) -> Path | None:
    """`base` in `folder` as .gz or raw, also under the names people unpack it to."""
    stem = base.replace("-idx", ".idx")  # train-images.idx3-ubyte
    for name in (base + ".gz", base, stem + ".gz", stem):
        path = folder / name
        if path.is_file():
            return path
    return None


def read_idx_pair(images_path: Path, labels_path: Path, num_classes: int,
                  max_items: int | None = None, item_shape: tuple[int, int] | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) and labels (N,) from matching IDX files, checked together."""
    images = read_idx(images_path, 3, max_items, item_shape)
    labels = read_idx(labels_path, 1, max_items)
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


def load(spec: DatasetSpec, folder: Path, image_size: int | None = None) -> ImageDataset:
    """The spec's IDX splits from `folder`, each checked against the spec's image shape."""
    splits = {}
    for split in spec.splits:
        images, labels = (find_idx(folder, base) for base in split.files)
        x, y = read_idx_pair(images, labels, spec.num_classes, split.size,
                             spec.image_shape[1:])
        splits[split.name] = Split(torch.from_numpy(x.copy()), torch.from_numpy(
            y.astype("int64")), str(images))
    return dataset_from_spec(spec, splits["train"], splits["test"], str(folder))
