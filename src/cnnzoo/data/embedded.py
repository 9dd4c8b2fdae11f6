"""The MNIST sample shipped inside the package (see embedded/README.md)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import torch

from cnnzoo.data.dataset import ImageDataset, Split, dataset_from_spec
from cnnzoo.data.specs import SPECS
from cnnzoo.errors import DatasetError

EMBEDDED_MNIST = Path(__file__).parent / "embedded" / "mnist_sample.npz"
# sha256 of x_train, y_train, x_test, y_test bytes, printed by scripts/make_mnist_sample.py:
# it catches a damaged install without depending on how numpy compresses.
CONTENT_SHA256 = "0ca585e1ac8c63646472c378c14af974287b8709e45e041ac3a7d489e9168145"
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_embedded_mnist(path: Path = EMBEDDED_MNIST) -> ImageDataset:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in _KEYS}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DatasetError(f"{path}: the embedded MNIST sample cannot be read ({e}); "
                           "reinstall cnnzoo or run scripts/make_mnist_sample.py") from None
    digest = hashlib.sha256()
    for k in _KEYS:
        digest.update(np.ascontiguousarray(arrays[k]).tobytes())
    if digest.hexdigest() != CONTENT_SHA256:
        raise DatasetError(f"{path}: the embedded MNIST sample is damaged (checksum mismatch); "
                           "reinstall cnnzoo or run scripts/make_mnist_sample.py")
    source = f"embedded sample ({path.name})"
    train = Split(torch.from_numpy(arrays["x_train"]), torch.from_numpy(arrays["y_train"]), source)
    test = Split(torch.from_numpy(arrays["x_test"]), torch.from_numpy(arrays["y_test"]), source)
    return dataset_from_spec(SPECS["mnist"], train, test, source)
