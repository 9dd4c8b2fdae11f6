"""Small files in the real dataset formats, written honestly for the data tests."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np

IDX_NAMES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array: 0, 0, type 0x08, ndim, big-endian dims, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_dataset(folder: Path, n_train: int = 30, n_test: int = 10, gz: bool = True,
                      seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """An MNIST-format dataset of random 28x28 images; returns what was written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        for name, arr in zip(IDX_NAMES[split], (x, y), strict=True):
            data = idx_bytes(arr)
            path = folder / (name + ".gz" if gz else name)
            path.write_bytes(gzip.compress(data) if gz else data)
        written[split] = (x, y)
    return written


def cifar_batch_bytes(images: np.ndarray, labels: list[int], label_key: bytes = b"labels",
                      legacy: bool = True) -> bytes:
    """A CIFAR python batch as the official files hold it (protocol 2, bytes keys).

    legacy=True names numpy.core.multiarray, as the official (numpy 1) files do."""
    batch = {b"batch_label": b"testing batch", label_key: list(labels),
             b"data": images.reshape(len(images), -1), b"filenames": [b"x.png"] * len(labels)}
    if label_key == b"fine_labels":
        batch[b"coarse_labels"] = [0] * len(labels)
    data = pickle.dumps(batch, protocol=2)
    return data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray") if legacy else data


def _str2(s: bytes) -> bytes:  # a Python 2 str: SHORT_BINSTRING or BINSTRING
    return b"U" + bytes([len(s)]) + s if len(s) < 256 else b"T" + struct.pack("<i", len(s)) + s


def _int2(n: int) -> bytes:  # BININT1 or BININT
    return b"K" + bytes([n]) if 0 <= n < 256 else b"J" + struct.pack("<i", n)


def cifar_batch_bytes_py2(images: np.ndarray, labels: list[int]) -> bytes:
    """A batch opcode by opcode as Python 2's cPickle wrote the official files: str (not
    unicode) keys and data, numpy.core names, the dtype state with a str byte order."""
    x = np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.uint8)
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + _int2(0) + b"\x85"
             + _str2(b"b") + b"\x87R("  # _reconstruct(ndarray, (0,), 'b'), then its state:
             + _int2(1) + _int2(x.shape[0]) + _int2(x.shape[1]) + b"\x86"
             + b"cnumpy\ndtype\n" + _str2(b"u1") + _int2(0) + _int2(1) + b"\x87R("
             + _int2(3) + _str2(b"|") + b"NNN" + _int2(-1) + _int2(-1) + _int2(0) + b"tb"
             + b"\x89" + _str2(x.tobytes()) + b"tb")
    label_list = b"](" + b"".join(_int2(int(v)) for v in labels) + b"e"
    return (b"\x80\x02}(" + _str2(b"batch_label") + _str2(b"training batch 1 of 5")
            + _str2(b"data") + array + _str2(b"labels") + label_list + b"u.")


def write_cifar10(folder: Path, per_batch: int = 8, seed: int = 0) -> np.ndarray:
    """data_batch_1..5 (Python 2 pickles), test_batch (Python 3) and batches.meta; returns
    all train images in order."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    train = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch).tolist()
        # Both encodings: Python 2's (as downloaded) and a Python 3 re-pickle.
        write = cifar_batch_bytes_py2 if name != "test_batch" else cifar_batch_bytes
        (folder / name).write_bytes(write(x, labels))
        if name != "test_batch":
            train.append(x)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return np.concatenate(train).reshape(-1, 3, 32, 32)
