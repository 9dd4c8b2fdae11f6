"""Using trained weights: rebuild the model, evaluate it on a dataset, classify image files.

Weights written by `cnnzoo train` carry what inference needs in their metadata (class
names, mean/std, input size, model options); pretrained tags ("imagenet") carry it in their
table entry (class names, evaluation preset); other weights fall back to the model card (its
input size, its dataset's statistics). The model is built by create_model, which reads all
of that into `model.pretrained_cfg` (cnnzoo.data_config): the API and the CLI are one path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cnnzoo.data import load_dataset
from cnnzoo.data.dataset import ImageDataset, Split
from cnnzoo.data.imagenet import imagenet_classes, imagenet_root, load_imagenet_val
from cnnzoo.data.loader import BatchLoader
from cnnzoo.data.pipeline import build_transform
from cnnzoo.data.specs import canonical_name
from cnnzoo.data_config import meta_size
from cnnzoo.errors import UsageError
from cnnzoo.factory import create_model
from cnnzoo.hub import pretrained_entry
from cnnzoo.models.base import ZooModel
from cnnzoo.pretrained import PretrainedWeights, is_tag
from cnnzoo.train.evaluate import EvalResult, evaluate
from cnnzoo.train.images import Expected, read_for_training_data, read_with_preset
from cnnzoo.weights import read_metadata


@dataclass
class Trained:
    model: ZooModel
    meta: dict[str, Any]
    input_size: tuple[int, int, int]
    pretrained: PretrainedWeights | None = None  # a table entry: its preset and figures

    @property
    def classes(self) -> list[str]:
        names = self.meta.get("classes")
        if isinstance(names, list) and len(names) == self.model.num_classes:
            return [str(c) for c in names]
        return [str(i) for i in range(self.model.num_classes)]


def pretrained_meta(entry: PretrainedWeights) -> dict[str, Any]:
    """What a pretrained tag's table entry says in place of a file's metadata: its classes
    and its evaluation preset."""

    preset = entry.preset
    return {"dataset": entry.dataset, "classes": list(imagenet_classes()),
            "mean": list(preset.mean), "std": list(preset.std), "fit": "crop",
            "input_size": [3, preset.crop, preset.crop], "resize": preset.resize,
            "crop": preset.crop, "interpolation": preset.interpolation}


def weights_meta(name: str, weights: str | Path) -> dict[str, Any]:
    """The metadata of `weights` for model `name`: a file's (empty for a torchvision .pth),
    or a pretrained tag's table entry."""

    if is_tag(weights):
        return pretrained_meta(pretrained_entry(name, str(weights)))
    return read_metadata(weights)


def _load_pretrained(name: str, tag: str, in_chans: int | None, **options: Any) -> Trained:
    entry = pretrained_entry(name, tag)
    model = create_model(name, weights=tag, in_chans=in_chans, **options).eval()
    preset = entry.preset
    return Trained(model, pretrained_meta(entry), (model.in_chans, preset.crop, preset.crop),
                   entry)


def load_trained(
    name: str,
    weights: str | Path,
    input_size: tuple[int, int, int] | None = None,
    in_chans: int | None = None,
    **options: Any,
) -> Trained:
    """The model with its weights, in eval mode, built by create_model exactly as
    `create_model(name, weights=weights, ...)` builds it (options saved with the weights,
    such as width, unless given again). `weights` is a file or pretrained weights by name."""
    if is_tag(weights):
        trained = _load_pretrained(name, str(weights), in_chans, **options)
        if input_size is not None:
            trained.input_size = tuple(input_size)
        return trained
    model = create_model(name, weights=weights, in_chans=in_chans, **options).eval()
    meta = read_metadata(weights)
    if input_size is None:
        input_size = model.pretrained_cfg["input_size"]
    return Trained(model, meta, tuple(input_size))


def dataset_for(trained: Trained, data: str, root: str | Path | None = None) -> ImageDataset:
    """The dataset `data` as `trained` must be evaluated on it: pretrained weights on ImageNet
    get the validation images decoded with the weights' own preset (342/299 for
    Inception-v3); others are read at the model's input size."""

    if trained.pretrained is not None and canonical_name(data) == "imagenet":
        return load_imagenet_val(imagenet_root(root), trained.pretrained.preset)
    return load_dataset(data, root=root, image_size=trained.input_size[-1])


def evaluate_pretrained(name: str, root: str | Path, tag: str = "imagenet",
                        limit_test: int | None = None, batch_size: int = 64,
                        precision: str = "fp32") -> tuple[EvalResult, PretrainedWeights]:
    """Measure `name`'s pretrained weights on the ImageNet validation images under `root`;
    returns the result and the table entry holding the published figures."""

    entry = pretrained_entry(name, tag)
    imagenet_root(root)  # before fetching hundreds of MB of weights
    trained = load_trained(name, tag)
    dataset = dataset_for(trained, "imagenet", root)
    if limit_test:
        dataset = dataset.subset(test=limit_test)
    return evaluate_on(trained, dataset, batch_size, precision), entry


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
    meta, cfg = trained.meta, trained.model.pretrained_cfg
    mean, std = meta.get("mean"), meta.get("std")  # the data's own, before any conversion
    if not (isinstance(mean, list) and isinstance(std, list)):
        mean, std = cfg["mean"], cfg["std"]
    empty = Split(torch.zeros(0, channels, *image_size, dtype=torch.uint8),
                  torch.zeros(0, dtype=torch.long), "image files")
    return ImageDataset(
        name=str(meta.get("dataset", "images")), classes=tuple(trained.classes), train=empty,
        test=empty, mean=tuple(mean), std=tuple(std), source="image files",
        fit=cfg["fit"],
    )


@dataclass
class Prediction:
    image: str
    top: list[tuple[str, float]]  # (class name, probability), most likely first
    notes: list[str] = field(default_factory=list)  # what was done to the image, one line each


def expected_input(trained: Trained) -> Expected:
    """The channels, size and polarity of the data the weights were trained on."""
    meta = trained.meta
    mean = meta.get("mean")
    # Weights trained on grey data read files as grey, whatever the model's channels.
    channels = len(mean) if isinstance(mean, list) and len(mean) in (1, 3) \
        else trained.model.in_chans
    size = meta_size(meta, "image_size", 2) or list(trained.input_size[1:])
    dark = (float(mean[0]) < 0.5) if channels == 1 and isinstance(mean, list) else None
    return Expected(channels, (size[0], size[1]), str(meta.get("dataset", "training")), dark)


@torch.no_grad()
def predict_files(
    trained: Trained, paths: Sequence[str | Path], top_k: int = 5, invert: bool | None = None
) -> list[Prediction]:
    """For each image, the top-k (class name, probability) pairs and the notes on how the
    image was made to match the training data (`invert`: None checks the polarity)."""
    if trained.pretrained is not None:
        preset = trained.pretrained.preset
        read = [read_with_preset(p, preset) for p in paths]
        expected = Expected(3, (preset.crop, preset.crop), trained.pretrained.dataset)
    else:
        expected = expected_input(trained)
        read = [read_for_training_data(p, expected, invert) for p in paths]
    dataset = _stats_dataset(trained, expected.size, expected.channels)
    transform = build_transform(dataset, trained.input_size, train=False,
                                convert_channels=expected.channels != trained.model.in_chans)
    batch = torch.stack([image for image, _ in read])
    probs = torch.softmax(trained.model(transform(batch)).float(), dim=1)
    top = probs.topk(min(top_k, probs.shape[1]), dim=1)
    names = trained.classes
    return [
        Prediction(str(path), [(names[int(i)], float(p)) for p, i in zip(ps, idx, strict=True)],
                   notes)
        for path, (_, notes), ps, idx in zip(paths, read, top.values, top.indices, strict=True)
    ]
