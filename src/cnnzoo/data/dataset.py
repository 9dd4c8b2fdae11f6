"""Datasets held as uint8 tensors: a train and a test split plus what the transforms need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from cnnzoo.errors import DatasetError

if TYPE_CHECKING:
    from cnnzoo.data.specs import DatasetSpec


class Split:
    """One split in memory: images uint8 (N, C, H, W) and labels int64 (N,).

    Batches are gathered by index (`batch`), so augmentation runs per batch, not per image.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, source: str = "") -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise DatasetError(f"{source}: images must be uint8 (N, C, H, W), got "
                               f"{images.dtype} {tuple(images.shape)}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DatasetError(f"{source}: {len(images)} images but {labels.numel()} labels; "
                               "the image and label files do not belong together")
        self.images = images
        self.labels = labels.long()
        self.source = source

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return (int(c), int(h), int(w))

    def batch(self, indices: torch.Tensor) -> torch.Tensor:
        """The uint8 images at `indices`, stacked (B, C, H, W)."""
        return self.images[indices]

    def subset(self, indices: torch.Tensor | Sequence[int]) -> Split:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return Split(self.images[idx], self.labels[idx], self.source)

    def take(self, n: int) -> Split:
        """The first n examples (every split here is stored in shuffled order)."""
        return self.subset(torch.arange(min(int(n), len(self))))

    def class_counts(self, num_classes: int) -> list[int]:
        return torch.bincount(self.labels, minlength=num_classes).tolist()


@dataclass(frozen=True)
class ImageDataset:
    """A dataset ready for training: splits, class names, statistics, default augmentation.

    `augment` names the train-time augmentations that suit the data ("crop": random crop
    after `crop_padding` zero pixels per side; "flip": horizontal flip). `fit` says how a
    different model input size is met: "pad" (centre on a black field, as LeNet-5 does with
    28x28 digits in 32x32) when the input is larger, else "resize".
    """

    name: str
    classes: tuple[str, ...]
    train: Split
    test: Split
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    augment: tuple[str, ...] = ("crop", "flip")
    crop_padding: int = 4
    fit: str = "resize"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return self.train.image_shape[0]

    @property
    def image_size(self) -> tuple[int, int]:
        return self.train.image_shape[1:]

    def subset(self, train: int | None = None, test: int | None = None,
               seed: int | None = None) -> ImageDataset:
        """`train` training examples (a random subset drawn with `seed`, in stored order;
        the first ones where seed is None) and the first `test` test examples."""
        if train is None or train >= len(self.train):
            picked = self.train
        elif seed is None:
            picked = self.train.take(train)
        else:
            order = torch.randperm(len(self.train), generator=torch.Generator().manual_seed(seed))
            picked = self.train.subset(order[:train].sort().values)
        return replace(self, train=picked,
                       test=self.test if test is None else self.test.take(test))


def dataset_from_spec(spec: DatasetSpec, train: Split, test: Split, source: str,
                      classes: tuple[str, ...] | None = None) -> ImageDataset:
    """An ImageDataset with the spec's classes, statistics and augmentation."""
    return ImageDataset(name=spec.name, classes=spec.classes if classes is None else classes,
                        train=train, test=test, mean=spec.mean, std=spec.std, source=source,
                        augment=spec.augment, crop_padding=spec.crop_padding, fit=spec.fit)
