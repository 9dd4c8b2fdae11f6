"""What `cnnzoo data list` shows: each dataset, where it was found, sizes and classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cnnzoo.data.dataset import ImageDataset
from cnnzoo.data.load import FOLDER_PREFIX, MNIST_FULL, data_home, load_dataset, locate
from cnnzoo.data.specs import SPECS
from cnnzoo.errors import DatasetError


def _record(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "status": "missing", "source": None, "train": None, "test": None,
            "image_shape": None, "classes": None, "class_names": None,
            "description": description, "problem": None}


def _fill(record: dict[str, Any], ds: ImageDataset) -> dict[str, Any]:
    record.update(status="ok", source=ds.source, train=len(ds.train), test=len(ds.test),
                  image_shape=list(ds.train.image_shape), classes=ds.num_classes,
                  class_names=list(ds.classes))
    return record


def dataset_table(root: str | Path | None = None) -> list[dict[str, Any]]:
    """One record per dataset: found and read (status ok), missing, or unreadable (error,
    with the problem). Found datasets are read in full, so the sizes are real."""
    records = [_fill(_record("mnist", "embedded sample of real MNIST digits"),
                     load_dataset("mnist"))]
    for spec in SPECS.values():
        name = spec.name if spec.name != "mnist" else MNIST_FULL[0]
        record = _record(name, spec.description)
        folder = locate(spec.name, root)
        if folder is None:
            bases = [str(Path(root).expanduser() if root is not None else data_home()),
                     *(spec.system_dirs if root is None else ())]
            record["problem"] = f"not found under {', '.join(bases)}"
        else:
            try:
                _fill(record, load_dataset(spec.name, folder))
            except DatasetError as e:
                record.update(status="error", source=str(folder), problem=str(e))
        records.append(record)
    folder = _record(FOLDER_PREFIX + "PATH", "ImageNet-style tree PATH/train/CLASS/*, "
                     "PATH/val/CLASS/* (Pillow)")
    folder.update(status="-", problem="give a path: --data folder:PATH")
    records.append(folder)
    return records
