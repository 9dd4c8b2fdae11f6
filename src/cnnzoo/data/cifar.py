"""CIFAR-10/100 python batches, read with a restricted unpickler and validated.

The batches are Python pickles: a dict of `data` (N x 3072 uint8, channel-major 32x32) and
labels. Plain pickle.load runs whatever a file asks for, so only the few globals that
rebuild numpy arrays are allowed; anything else is refused before it runs.
"""

from __future__ import annotations

import codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnzoo.data.dataset import ImageDataset, Split, dataset_from_spec
from cnnzoo.data.specs import DatasetSpec
from cnnzoo.errors import DatasetError

# The callables numpy's own pickles name, taken from numpy itself so that both the old
# module path (numpy.core, in the official files) and the new one (numpy._core) resolve.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]
_SCALAR = np.float64(0).__reduce__()[0]
_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how protocol-2 pickles from Python 3 hold bytes
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_module, "_reconstruct")] = _RECONSTRUCT
    _ALLOWED[(_module, "scalar")] = _SCALAR

_FIX = "re-download the official archive (or pass --download) and unpack it again"


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, source: str) -> None:
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DatasetError(
                f"{self.source}: refused to unpickle {module}.{name}: a CIFAR batch holds only "
                f"arrays and lists, so this file is not one (or was tampered with); {_FIX}"
            ) from None


def unpickle(data: bytes, source: str) -> dict[str, Any]:
    """A CIFAR pickle's top-level dict with str keys, or a DatasetError."""
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), source).load()
    except DatasetError:
        raise
    except Exception as e:  # a damaged pickle can fail in any of a dozen ways
        raise DatasetError(f"{source}: not a readable CIFAR batch "
                           f"({type(e).__name__}: {e}); {_FIX}") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{source}: holds a {type(obj).__name__}, not a CIFAR batch dict; "
                           f"{_FIX}")
    return {k.decode("latin-1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def parse_batch(data: bytes, source: str, label_key: str, num_classes: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 from one batch file's bytes."""
    batch = unpickle(data, source)
    for key in ("data", label_key):
        if key not in batch:
            raise DatasetError(f"{source}: has no {key!r} entry (keys: "
                               f"{', '.join(sorted(batch)) or 'none'}); {_FIX}")
    images = batch["data"]
    if (not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2
            or images.shape[1] != 3 * 32 * 32):
        what = (f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray)
                else type(images).__name__)
        raise DatasetError(f"{source}: 'data' is {what}, not uint8 (N, 3072); {_FIX}")
    try:
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        labels = np.zeros((0, 0))
    if labels.ndim != 1 or len(labels) != len(images):
        raise DatasetError(f"{source}: {len(images)} images but {label_key!r} is not a list of "
                           f"{len(images)} integers; {_FIX}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{source}: label {int(labels.max())} is out of range for "
                           f"{num_classes} classes; {_FIX}")
    return images.reshape(-1, 3, 32, 32), labels


def has_files(spec: DatasetSpec, folder: Path) -> bool:
    return all((folder / f).is_file() for s in spec.splits for f in s.files)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None


def _class_names(spec: DatasetSpec, folder: Path) -> tuple[str, ...]:
    if spec.meta is None or not (folder / spec.meta[0]).is_file():
        return spec.classes
    path, key = folder / spec.meta[0], spec.meta[1]
    names = unpickle(_read(path), str(path)).get(key)
    expected = spec.num_classes
    if (not isinstance(names, list) or len(names) != expected
            or not all(isinstance(n, bytes | str) for n in names)):
        raise DatasetError(f"{path}: {key!r} is not a list of {expected} class names; {_FIX}")
    return tuple(n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names)


def load(spec: DatasetSpec, folder: Path) -> ImageDataset:
    if not has_files(spec, folder):
        raise DatasetError(f"{folder}: {spec.name} batch files are missing; {_FIX}")
    classes = _class_names(spec, folder)
    splits = {}
    for split in spec.splits:
        paths = [folder / f for f in split.files]
        parts = [parse_batch(_read(p), str(p), spec.labels_key, len(classes)) for p in paths]
        images = np.concatenate([x for x, _ in parts])
        labels = np.concatenate([y for _, y in parts])
        splits[split.name] = Split(torch.from_numpy(images), torch.from_numpy(labels),
                                   str(folder))
    return dataset_from_spec(spec, splits["train"], splits["test"], str(folder), classes)
