"""Real images for deployment: a calibration set for int8 and a held-out set on which every
path is checked against eager fp32 (and scored, when the labels fit the model).

The images come from the dataset the weights were trained on (their metadata names it), or
from `data` when given; without either, from the embedded MNIST test digits fitted to the
model's input: real images, though not of the model's own dataset, and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cnnzoo.data.pipeline import build_transform
from cnnzoo.errors import UsageError
from cnnzoo.inference import Trained, dataset_for

# A few hundred images calibrate activation ranges well for CNNs: ORT's and NNCF's docs
# suggest 100-300; more only slows calibration (each image is one forward pass).
CALIBRATION_IMAGES = 300
CHECK_IMAGES = 500


@dataclass
class DeployData:
    calibration: torch.Tensor  # float32 model inputs (N, C, H, W)
    check: torch.Tensor  # float32 model inputs, disjoint from the calibration images
    labels: torch.Tensor | None  # the check images' labels, when they are the model's classes
    source: str  # where the images came from, for the report

    def describe(self) -> str:
        scored = "labelled" if self.labels is not None else "unlabelled"
        return (f"{len(self.calibration)} calibration and {len(self.check)} check images "
                f"({scored}) from {self.source}")


def deploy_data(trained: Trained, data: str | None = None, root: str | None = None,
                calibration: int = CALIBRATION_IMAGES, check: int = CHECK_IMAGES) -> DeployData:
    """Calibration images from the training split (the check images from the test split);
    for a dataset with no training split here (ImageNet validation), both from the test
    split, disjoint."""
    if calibration < 1 or check < 1:
        raise UsageError("calibration and check image counts must be >= 1")
    name = data or trained.meta.get("dataset")
    own = name is not None
    ds = dataset_for(trained, str(name) if own else "mnist", root)
    size = trained.input_size
    transform = build_transform(ds, size, train=False, convert_channels=ds.channels != size[0])
    n_test = min(check, len(ds.test))
    test_idx = torch.arange(n_test)
    if len(ds.train) > 0:
        calib_split, calib_idx = ds.train, torch.arange(min(calibration, len(ds.train)))
    else:
        calib_split = ds.test
        calib_idx = torch.arange(n_test, min(n_test + calibration, len(ds.test)))
    if len(calib_idx) == 0:
        raise UsageError(f"{ds.name} has too few images to calibrate on; give a larger --data")
    labels = ds.test.labels[test_idx] if ds.num_classes == trained.model.num_classes else None
    source = f"{ds.name} ({ds.source})"
    if not own:
        source += ", not the model's own dataset: pass --data for it"
    return DeployData(transform(calib_split.batch(calib_idx)).float().contiguous(),
                      transform(ds.test.batch(test_idx)).float().contiguous(),
                      labels if own else None, source)
