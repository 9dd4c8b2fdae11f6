"""ImageNet-1k: the 1,000 class names, the evaluation preset, and the validation-set reader.

The validation images cannot be downloaded without an ImageNet account (image-net.org);
the reader takes the layouts people have after unpacking them:
- class folders DIR/CLASS/*.JPEG (or DIR/val/CLASS/*), CLASS a class index 0..999 or a
  WordNet id (n01440764 ...), in torchvision's order: the sorted WordNet ids, or the order
  of a LOC_synset_mapping.txt / synset_words.txt beside the folders;
- the flat folder of ILSVRC2012_val_*.JPEG with a label file: LOC_val_solution.csv
  (Kaggle), a CSV or text file of `image label` pairs (label an index or a WordNet id), or
  the devkit's ILSVRC2012_validation_ground_truth.txt (devkit ids, which need the
  devkit-id -> WordNet-id table ILSVRC2012_mapping.txt, `1 n02119789` per line).
Images are decoded with the preset of the weights (torchvision's: shorter side resized with
bilinear filtering, centre crop), per batch.
"""

from __future__ import annotations

import csv
import re
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np
import torch

from cnnzoo.data.dataset import ImageDataset, Split
from cnnzoo.data.folder import EXTENSIONS
from cnnzoo.data.imagefile import open_image
from cnnzoo.data.load import locate
from cnnzoo.data.specs import IMAGENET_224, DatasetSpec, Preset, preset_for
from cnnzoo.errors import DatasetError

CLASSES_FILE = Path(__file__).parent / "imagenet" / "classes.txt"
NUM_CLASSES = 1000
__all__ = ["imagenet_classes", "imagenet_root", "load_imagenet_val", "preset_decode",
           "preset_for"]
_WNID = re.compile(r"^n\d{8}$")
_SYNSET_FILES = ("LOC_synset_mapping.txt", "synset_words.txt", "synsets.txt")
_LABEL_FILES = ("LOC_val_solution.csv", "ILSVRC2012_validation_ground_truth.txt",
                "val.txt", "labels.txt", "labels.csv", "val.csv", "val_labels.csv")


@cache
def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 class names in torchvision's index order (torchvision/models/_meta.py)."""
    names = tuple(CLASSES_FILE.read_text(encoding="utf-8").splitlines())
    if len(names) != NUM_CLASSES:
        raise DatasetError(f"{CLASSES_FILE}: {len(names)} class names, expected 1000; "
                           "reinstall cnnzoo")
    return names


def preset_decode(path: str | Path, preset: Preset) -> np.ndarray:
    """One image as uint8 (3, crop, crop), as torchvision evaluates: the shorter side resized
    to preset.resize (bilinear, antialiased), the longer one in proportion (truncated), then
    the centre crop (offsets rounded)."""
    from PIL import Image

    with open_image(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        if w <= h:
            size = (preset.resize, int(preset.resize * h / w))
        else:
            size = (int(preset.resize * w / h), preset.resize)
        im = im.resize(size, Image.Resampling.BILINEAR)
        left = int(round((size[0] - preset.crop) / 2.0))
        top = int(round((size[1] - preset.crop) / 2.0))
        im = im.crop((left, top, left + preset.crop, top + preset.crop))
        return np.array(im, dtype=np.uint8).transpose(2, 0, 1)


class PresetSplit(Split):
    """Image files decoded per batch with an evaluation preset."""

    def __init__(self, paths: list[Path], labels: list[int], preset: Preset, source: str):
        self.paths = paths
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.preset = preset
        self.source = source
        self._pool = ThreadPoolExecutor(max_workers=2)  # Pillow decodes without the GIL

    @property
    def images(self) -> torch.Tensor:  # type: ignore[override]
        raise DatasetError(f"{self.source}: decoded per batch; use split.batch(indices)")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.preset.crop, self.preset.crop)

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        arrays = self._pool.map(lambda i: preset_decode(self.paths[i], self.preset),
                                indices.tolist())
        return torch.from_numpy(np.stack(list(arrays)))

    def subset(self, indices: torch.Tensor | list[int]) -> PresetSplit:
        idx = torch.as_tensor(indices, dtype=torch.long).tolist()
        return PresetSplit([self.paths[i] for i in idx], self.labels[idx].tolist(),
                           self.preset, self.source)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS
                  and not p.name.startswith("."))


def _find(root: Path, names: tuple[str, ...]) -> Path | None:
    for folder in (root, root.parent):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    return None


def _wnid_order(root: Path, wnids: set[str]) -> dict[str, int]:
    """WordNet id -> class index: a synset file's line order, else the sorted ids when all
    1,000 are present (the ILSVRC convention torchvision follows)."""
    synsets = _find(root, _SYNSET_FILES)
    if synsets is not None:
        order = [line.split()[0] for line in synsets.read_text().splitlines() if line.strip()]
        if len(order) != NUM_CLASSES or not all(_WNID.match(w) for w in order):
            raise DatasetError(f"{synsets}: expected 1000 lines starting with a WordNet id")
        return {w: i for i, w in enumerate(order)}
    if len(wnids) == NUM_CLASSES:
        return {w: i for i, w in enumerate(sorted(wnids))}
    raise DatasetError(f"{root}: {len(wnids)} WordNet-id classes, not all 1000, so their "
                       "indices are unknown; put LOC_synset_mapping.txt (from the ImageNet "
                       "download) beside them, or name the folders by index 0..999")


def _label_index(labels: list[str], root: Path) -> list[int]:
    if all(_WNID.match(x) for x in labels):
        order = _wnid_order(root, set(labels))
        unknown = sorted(set(labels) - set(order))
        if unknown:
            raise DatasetError(f"{root}: {unknown[0]} is not an ImageNet-1k class")
        return [order[x] for x in labels]
    try:
        index = [int(x) for x in labels]
    except ValueError:
        bad = next(x for x in labels if not x.lstrip("-").isdigit())
        raise DatasetError(f"{root}: label {bad!r} is neither a class index 0..999 nor a "
                           "WordNet id") from None
    if min(index) < 0 or max(index) >= NUM_CLASSES:
        raise DatasetError(f"{root}: class index {max(index)} outside 0..999")
    return index


def _class_folders(root: Path) -> tuple[list[Path], list[int]] | None:
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not dirs:
        return None
    index = _label_index([d.name for d in dirs], root)
    paths, labels = [], []
    for d, i in zip(dirs, index, strict=True):
        files = _images(d)
        paths += files
        labels += [i] * len(files)
    return paths, labels


def _pairs(label_file: Path) -> list[tuple[str, str]]:
    """(image, label) rows of a CSV (header optional) or whitespace-separated text file."""
    text = label_file.read_text().splitlines()
    if label_file.suffix == ".csv":
        rows = [r for r in csv.reader(text) if r]
        if rows and not rows[0][0].lower().endswith(tuple(EXTENSIONS)) and \
                not rows[0][0].startswith("ILSVRC"):
            rows = rows[1:]  # a header such as ImageId,PredictionString
        # Kaggle's PredictionString is "wnid x0 y0 x1 y1 ..."; the class is its first word.
        return [(r[0], r[1].split()[0]) for r in rows if len(r) >= 2 and r[1].strip()]
    return [tuple(line.split()[:2]) for line in text if len(line.split()) >= 2]  # type: ignore


def _flat(root: Path, label_file: Path) -> tuple[list[Path], list[int]]:
    images = _images(root)
    if label_file.name == "ILSVRC2012_validation_ground_truth.txt":
        return images, _devkit_labels(root, label_file, images)
    by_name = {p.name: p for p in images} | {p.stem: p for p in images}
    paths, raw = [], []
    for name, label in _pairs(label_file):
        path = by_name.get(name) or by_name.get(Path(name).name)
        if path is not None:
            paths.append(path)
            raw.append(label)
    if not paths:
        raise DatasetError(f"{label_file}: names no image in {root}")
    return paths, _label_index(raw, root)


def _devkit_labels(root: Path, label_file: Path, images: list[Path]) -> list[int]:
    # Devkit ids (1..1000) follow the devkit's own synset order, not torchvision's.
    ids = [int(x) for x in label_file.read_text().split()]
    if len(ids) != len(images):
        raise DatasetError(f"{label_file}: {len(ids)} labels for {len(images)} images; the "
                           "ground truth lists all 50,000 validation images in name order")
    mapping_file = _find(root, ("ILSVRC2012_mapping.txt",))
    if mapping_file is None:
        raise DatasetError(f"{label_file}: its labels are devkit ids, in another order than "
                           "torchvision's; put ILSVRC2012_mapping.txt (lines `1 n02119789`, "
                           "from the devkit's meta.mat) beside it, or use LOC_val_solution.csv")
    to_wnid = dict(line.split()[:2] for line in mapping_file.read_text().splitlines()
                   if line.strip())
    return _label_index([to_wnid[str(i)] for i in ids], root)


def imagenet_root(root: str | Path | None) -> Path:
    """The folder holding the validation images (root, or the cache's imagenet/), or one line
    saying what to pass."""

    folder = locate("imagenet", root)
    if folder is None:
        where = f"in {root}" if root is not None else "(no root given)"
        raise DatasetError(f"imagenet: no validation images found {where}; pass root=DIR (the "
                           "CLI's --data-root) with the ImageNet validation images "
                           "(docs/weights.md says what to download)")
    return folder


def load_imagenet_val(root: str | Path, preset: Preset = IMAGENET_224) -> ImageDataset:
    """The ImageNet validation images under `root` (see the module docstring for layouts),
    decoded per batch with `preset`; the train split is empty."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder; pass root=DIR (the CLI's --data-root) with "
                           "the ImageNet validation images (see docs/weights.md)")
    if (root / "val").is_dir():
        root = root / "val"
    label_file = _find(root, _LABEL_FILES)
    found = _flat(root, label_file) if label_file and _images(root) else _class_folders(root)
    if not found or not found[0]:
        raise DatasetError(f"{root}: no ImageNet validation images; expected DIR/CLASS/*.JPEG "
                           "or DIR/*.JPEG with a label file (LOC_val_solution.csv, ...)")
    # A fixed shuffle (seed 0) mixes the classes, so a prefix (--limit-test) is a fair sample.
    order = np.random.default_rng(0).permutation(len(found[0])).tolist()
    paths, labels = [found[0][i] for i in order], [found[1][i] for i in order]
    empty = Split(torch.zeros(0, 3, preset.crop, preset.crop, dtype=torch.uint8),
                  torch.zeros(0, dtype=torch.long), "none")
    return ImageDataset(name="imagenet", classes=imagenet_classes(), train=empty,
                        test=PresetSplit(paths, labels, preset, str(root)), mean=preset.mean,
                        std=preset.std, source=str(root), augment=(), crop_padding=0,
                        fit="crop")


# The reader protocol of cnnzoo.data.load (the spec names this module as its reader).

def has_files(spec: DatasetSpec, folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def load(spec: DatasetSpec, folder: Path, image_size: int | None = None) -> ImageDataset:
    return load_imagenet_val(folder, preset_for(image_size))
