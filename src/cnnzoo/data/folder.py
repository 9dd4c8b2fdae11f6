"""ImageNet-style folder trees: PATH/train/CLASS/*.jpg and PATH/val/CLASS/*, via Pillow.

Images are decoded to RGB, the shorter side resized to `load_size` (input / 0.875, so 256
for 224, as in the AlexNet and VGG papers) and centre-cropped square; the transform then
takes a random (train) or centre (eval) crop of the input size from that.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from cnnzoo.data.dataset import ImageDataset, Split
from cnnzoo.data.imagefile import open_image
from cnnzoo.data.specs import IMAGENET_MEAN, IMAGENET_STD
from cnnzoo.errors import DatasetError
from cnnzoo.sizes import check_input_size

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
TEST_DIRS = ("val", "test")
# Decoded trees up to this size are held in memory; bigger ones decode per batch.
IN_MEMORY_BYTES = 1 << 30


def decode(path: Path, load_size: int) -> np.ndarray:
    """One image as uint8 (3, S, S): RGB, shorter side resized to S, centre-cropped."""
    from PIL import Image

    with open_image(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        scale = load_size / min(w, h)
        size = (max(load_size, round(w * scale)), max(load_size, round(h * scale)))
        im = im.resize(size, Image.Resampling.BILINEAR)
        left, top = (size[0] - load_size) // 2, (size[1] - load_size) // 2
        im = im.crop((left, top, left + load_size, top + load_size))
        return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1)


class FolderSplit(Split):
    """A folder split decoded per batch (for trees too big to hold in memory)."""

    def __init__(self, paths: list[Path], labels: torch.Tensor, load_size: int,
                 source: str) -> None:
        self.paths = paths
        self.labels = labels.long()
        self.load_size = load_size
        self.source = source
        self._pool = ThreadPoolExecutor(max_workers=2)  # Pillow decodes without the GIL

    @property
    def images(self) -> torch.Tensor:  # type: ignore[override]
        raise DatasetError(f"{self.source}: this folder split is decoded per batch; use "
                           "split.batch(indices)")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.load_size, self.load_size)

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        arrays = self._pool.map(lambda i: decode(self.paths[i], self.load_size),
                                indices.tolist())
        return torch.from_numpy(np.stack(list(arrays)))

    def subset(self, indices: torch.Tensor | list[int]) -> FolderSplit:
        idx = torch.as_tensor(indices, dtype=torch.long).tolist()
        return FolderSplit([self.paths[i] for i in idx], self.labels[idx], self.load_size,
                           self.source)


def _scan(split_dir: Path, classes: list[str] | None) -> tuple[list[str], list[Path], list[int]]:
    class_dirs = sorted(d for d in split_dir.iterdir() if d.is_dir() and not
                        d.name.startswith("."))
    if not class_dirs:
        raise DatasetError(f"{split_dir}: has no class folders; expected "
                           f"{split_dir}/CLASS/IMAGE files")
    names = [d.name for d in class_dirs]
    if classes is None:
        classes = names
    else:
        unknown = sorted(set(names) - set(classes))
        if unknown:
            raise DatasetError(f"{split_dir}: classes {', '.join(unknown[:5])} are not in the "
                               "train folder; the two trees must use the same class names")
    index = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for d in class_dirs:
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in EXTENSIONS
                       and p.is_file() and not p.name.startswith("."))
        if not files:
            raise DatasetError(f"{d}: empty class folder (no {', '.join(sorted(EXTENSIONS))} "
                               "files); add images or remove the folder")
        paths += files
        labels += [index[d.name]] * len(files)
    return classes, paths, labels


def _materialise(split: FolderSplit, progress: bool) -> Split:
    chunks = []
    step = 256
    for start in range(0, len(split), step):
        chunks.append(split.batch(torch.arange(start, min(start + step, len(split)))))
        if progress and sys.stderr.isatty():
            print(f"\rdecoding {split.source}: {start + len(chunks[-1])}/{len(split)}",
                  end="", file=sys.stderr, flush=True)
    if progress and sys.stderr.isatty():
        print(file=sys.stderr)
    return Split(torch.cat(chunks), split.labels, split.source)


def _shuffled(paths: list[Path], labels: list[int], load_size: int, source: str
              ) -> FolderSplit:
    # A fixed shuffle (seed 0) mixes the classes, so a prefix (subset, take) is a fair sample.
    order = np.random.default_rng(0).permutation(len(paths)).tolist()
    return FolderSplit([paths[i] for i in order], torch.tensor([labels[i] for i in order]),
                       load_size, source)


def load_folder(path: str | Path, image_size: int = 224, *, in_memory: bool | None = None,
                progress: bool = True) -> ImageDataset:
    """An ImageNet-style tree. `in_memory` None decodes it all up front when it fits in
    IN_MEMORY_BYTES (undecodable images then fail at load, not mid-training)."""
    check_input_size(image_size, 3, what="image size", error=DatasetError)
    root = Path(path).expanduser()
    train_dir = root / "train"
    test_dir = next((root / d for d in TEST_DIRS if (root / d).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise DatasetError(f"{root}: expected {root}/train/CLASS/* and {root}/val/CLASS/* "
                           "(ImageNet layout)")
    load_size = max(image_size, round(image_size / 0.875))
    classes, train_paths, train_labels = _scan(train_dir, None)
    _, test_paths, test_labels = _scan(test_dir, classes)
    splits = [_shuffled(p, y, load_size, str(d)) for p, y, d in
              ((train_paths, train_labels, train_dir), (test_paths, test_labels, test_dir))]
    total = (len(train_paths) + len(test_paths)) * 3 * load_size * load_size
    if in_memory or (in_memory is None and total <= IN_MEMORY_BYTES):
        splits = [_materialise(s, progress) for s in splits]
    return ImageDataset(name=f"folder:{root}", classes=tuple(classes), train=splits[0],
                        test=splits[1], mean=IMAGENET_MEAN, std=IMAGENET_STD, source=str(root),
                        augment=("crop", "flip"), crop_padding=0, fit="crop")
