"""Using trained weights: rebuild the model, evaluate it on a dataset, classify image files.

Weights written by `cnnzoo train` carry what inference needs in their metadata (class
names, mean/std, input size, model options); other weights fall back to the model card
and to ImageNet statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cnnzoo.data.dataset import ImageDataset, Split
from cnnzoo.data.loader import BatchLoader
from cnnzoo.data.pipeline import build_transform
from cnnzoo.data.specs import IMAGENET_MEAN, IMAGENET_STD
from cnnzoo.errors import UsageError
from cnnzoo.models.base import ZooModel
from cnnzoo.registry import create_model, default_input_size
from cnnzoo.train.evaluate import EvalResult, evaluate
from cnnzoo.weights import read_weights


@dataclass
class Trained:
    model: ZooModel
    meta: dict[str, Any]
    input_size: tuple[int, int, int]

    @property
    def classes(self) -> list[str]:
        names = self.meta.get("classes")
        if isinstance(names, list) and len(names) == self.model.num_classes:
            return [str(c) for c in names]
        return [str(i) for i in range(self.model.num_classes)]


def load_trained(
    name: str,
    weights: str | Path,
    input_size: tuple[int, int, int] | None = None,
    in_chans: int | None = None,
    **options: Any,
) -> Trained:
    """The model with its weights, in eval mode; options saved with the weights (such as
    width) are used unless given again."""
    _, meta = read_weights(weights)
    saved = meta.get("model_options") if isinstance(meta.get("model_options"), dict) else {}
    model = create_model(name, weights=weights, in_chans=in_chans, **{**saved, **options})
    model.eval()
    if input_size is None:
        stored = meta.get("input_size")
        if isinstance(stored, list) and len(stored) == 3:
            input_size = (model.in_chans, int(stored[1]), int(stored[2]))
        else:
            input_size = default_input_size(model)
    return Trained(model, meta, tuple(input_size))


def evaluate_on(
    trained: Trained,
    dataset: ImageDataset,
    batch_size: int = 256,
    precision: str = "fp32",
    convert_channels: bool = False,
) -> EvalResult:
    if dataset.num_classes != trained.model.num_classes:
        raise UsageError(f"{dataset.name} has {dataset.num_classes} classes but the weights "
                         f"predict {trained.model.num_classes}; evaluate on the dataset the "
                         "weights were trained for")
    transform = build_transform(dataset, trained.input_size, train=False,
                                convert_channels=convert_channels)
    loader = BatchLoader(dataset.test, batch_size, transform=transform)
    return evaluate(trained.model, loader, dataset.num_classes, precision=precision)


def _stats_dataset(trained: Trained, image_size: tuple[int, int], channels: int) -> ImageDataset:
    """An empty dataset carrying the statistics and fit the weights were trained with, so
    image files get exactly the test-time transform of the training data."""
    meta = trained.meta
    mean, std = meta.get("mean"), meta.get("std")
    if not (isinstance(mean, list) and isinstance(std, list)):
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else ((0.5,), (0.5,))
    empty = Split(torch.zeros(0, channels, *image_size, dtype=torch.uint8),
                  torch.zeros(0, dtype=torch.long), "image files")
    return ImageDataset(
        name=str(meta.get("dataset", "images")), classes=tuple(trained.classes), train=empty,
        test=empty, mean=tuple(mean), std=tuple(std), source="image files",
        fit=str(meta.get("fit", "resize")),
    )


def read_image(path: str | Path, channels: int, size: tuple[int, int],
               invert: bool = False) -> torch.Tensor:
    """An image file as uint8 (C, H, W), converted to grey or RGB and resized to `size`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            if invert:
                im = ImageOps.invert(im)
            im = im.resize((size[1], size[0]), Image.BILINEAR)
            data = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
    except FileNotFoundError:
        raise UsageError(f"image not found: {path}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise UsageError(f"{path}: not a readable image ({e})") from None
    return data.view(size[0], size[1], channels).permute(2, 0, 1).contiguous()


@torch.no_grad()
def predict_files(
    trained: Trained, paths: Sequence[str | Path], top_k: int = 5, invert: bool = False
) -> list[list[tuple[str, float]]]:
    """For each image, the top-k (class name, probability) pairs."""
    meta_size = trained.meta.get("image_size")
    native = (tuple(int(s) for s in meta_size) if isinstance(meta_size, list)
              else trained.input_size[1:])
    # Weights trained on grey data read files as grey, whatever the model's channels.
    channels = len(trained.meta["mean"]) if isinstance(trained.meta.get("mean"), list) \
        else trained.model.in_chans
    dataset = _stats_dataset(trained, native, channels)
    transform = build_transform(dataset, trained.input_size, train=False,
                                convert_channels=channels != trained.model.in_chans)
    batch = torch.stack([read_image(p, channels, native, invert) for p in paths])
    probs = torch.softmax(trained.model(transform(batch)).float(), dim=1)
    k = min(top_k, probs.shape[1])
    top = probs.topk(k, dim=1)
    names = trained.classes
    return [
        [(names[int(i)], float(p)) for p, i in zip(ps, idx, strict=True)]
        for ps, idx in zip(top.values, top.indices, strict=True)
    ]
