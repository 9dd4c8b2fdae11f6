"""load_dataset: find a dataset's files, read and validate them, return an ImageDataset."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from cnnzoo.data.dataset import ImageDataset, Split, dataset_from_spec
from cnnzoo.data.specs import SPECS, DatasetSpec, canonical_name
from cnnzoo.errors import DatasetError

FOLDER_PREFIX = "folder:"
_IDX_SPLITS = (("train", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               ("test", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
# Where each dataset's files may sit inside a root: itself, ROOT/NAME, and the folders the
# official archives (and torchvision) unpack to.
_SUBDIRS = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST/raw"),
    "cifar10": ("cifar10", "cifar-10-batches-py", "cifar10/cifar-10-batches-py"),
    "cifar100": ("cifar100", "cifar-100-python", "cifar100/cifar-100-python"),
    "imagenet": ("imagenet", "imagenet/val"),
}


def data_home() -> Path:
    """Where downloads go and datasets are looked for: $CNNZOO_DATA or ~/.cache/cnnzoo."""
    env = os.environ.get("CNNZOO_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cnnzoo"


# The full MNIST by name: never the embedded sample, even without a root.
MNIST_FULL = ("mnist-full", "mnist_full")


def dataset_names() -> list[str]:
    return ["mnist", MNIST_FULL[0], *list(SPECS)[1:], FOLDER_PREFIX + "PATH"]


def _spec(name: str) -> DatasetSpec:
    key = "mnist" if name.strip().lower() in MNIST_FULL else canonical_name(name)
    if key is None:
        raise DatasetError(f"unknown dataset {name!r}; choose from "
                           f"{', '.join(dataset_names())} (see `cnnzoo data list`)")
    return SPECS[key]


def candidate_dirs(name: str, root: str | Path | None) -> list[Path]:
    """Folders searched for `name`'s files, in order."""
    spec = _spec(name)
    if root is not None:
        base = Path(root).expanduser()
        return [base, *(base / sub for sub in _SUBDIRS[spec.name])]
    # Not data_home() itself: MNIST and Fashion-MNIST files have the same names.
    base = data_home()
    return [*(base / sub for sub in _SUBDIRS[spec.name]), *map(Path, spec.system_dirs)]


def _has_files(spec: DatasetSpec, folder: Path) -> bool:
    if spec.name == "imagenet":
        return folder.is_dir() and any(folder.iterdir())
    if spec.name.startswith("cifar"):
        from cnnzoo.data.cifar import cifar_files

        return cifar_files(spec.name, folder) is not None
    from cnnzoo.data.idx import find_idx

    return all(find_idx(folder, base) is not None
               for _, images, labels in _IDX_SPLITS for base in (images, labels))


def locate(name: str, root: str | Path | None = None) -> Path | None:
    """The first folder holding all of `name`'s files, or None."""
    spec = _spec(name)
    return next((d for d in candidate_dirs(spec.name, root) if _has_files(spec, d)), None)


_FILES = {
    "cifar10": "data_batch_1..5 and test_batch (from cifar-10-python.tar.gz)",
    "cifar100": "train, test and meta (from cifar-100-python.tar.gz)",
    "imagenet": "the validation images (class folders, or the flat folder with its label file; "
                "see docs/weights.md)",
}
_IDX_FILES = ("train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
              "t10k-labels-idx1-ubyte (.gz or raw)")


def _not_found(spec: DatasetSpec, root: str | Path | None) -> DatasetError:
    dirs = ", ".join(str(d) for d in candidate_dirs(spec.name, root))
    files = _FILES.get(spec.name, _IDX_FILES)
    extra = " or `apt-get install dataset-fashion-mnist`" if spec.system_dirs else ""
    return DatasetError(f"{spec.name}: files not found in {dirs}; put {files} in one of them "
                        f"(or pass --data-root DIR){extra}, or run `cnnzoo data download "
                        f"{spec.name}` where a network is available")


def _load_idx(spec: DatasetSpec, folder: Path) -> ImageDataset:
    from cnnzoo.data.idx import find_idx, read_idx_pair

    splits = {}
    for split, images, labels in _IDX_SPLITS:
        paths = [find_idx(folder, images), find_idx(folder, labels)]
        x, y = read_idx_pair(paths[0], paths[1], len(spec.classes))
        splits[split] = Split(torch.from_numpy(x.copy()), torch.from_numpy(y.astype("int64")),
                              str(paths[0]))
    if splits["train"].image_shape != splits["test"].image_shape:
        raise DatasetError(f"{folder}: train images are {splits['train'].image_shape} but test "
                           f"images are {splits['test'].image_shape}; mixed datasets?")
    return dataset_from_spec(spec, splits["train"], splits["test"], str(folder))


def download_files(name: str, root: str | Path | None = None, progress: bool = True) -> Path:
    """Fetch `name`'s official files (MD5-checked) into root or data_home()/NAME; return the
    folder that holds them."""
    from cnnzoo.data.download import download_dataset

    spec = _spec(name)
    target = Path(root).expanduser() if root is not None else data_home() / spec.name
    download_dataset(spec, target, progress=progress)
    folder = locate(spec.name, target)
    if folder is None:
        raise DatasetError(f"{target}: the download finished but the {spec.name} files are "
                           "not there; delete the folder and try again")
    return folder


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    download: bool = False,
    image_size: int | None = None,
    progress: bool = True,
) -> ImageDataset:
    """Load a dataset into memory as uint8 tensors.

    name: "mnist" (without `root`: the embedded 10k sample; with it: the full IDX files),
    "mnist-full" (always the IDX files: root or data_home()/mnist), "fashion-mnist",
    "cifar10", "cifar100", or "folder:PATH" (PATH/train/CLASS/*.jpg and PATH/val/CLASS/*;
    `image_size` is the model input side, default 224).
    root: a folder holding the files (or ROOT/NAME, or the folder an official archive
    unpacks to). download: fetch the official files (checksummed) into root or
    data_home()/NAME when they are missing.
    """
    if name.startswith(FOLDER_PREFIX):
        from cnnzoo.data.folder import load_folder

        return load_folder(name[len(FOLDER_PREFIX):], image_size=image_size or 224)
    spec = _spec(name)
    full = name.strip().lower() in MNIST_FULL
    if spec.name == "mnist" and root is None and not download and not full:
        from cnnzoo.data.embedded import load_embedded_mnist

        return load_embedded_mnist()
    folder = locate(spec.name, root)
    if folder is None and download:
        folder = download_files(spec.name, root, progress=progress)
    if folder is None:
        raise _not_found(spec, root)
    if spec.name.startswith("cifar"):
        from cnnzoo.data.cifar import load_cifar

        return load_cifar(spec, folder)
    if spec.name == "imagenet":
        from cnnzoo.data.imagenet import load_imagenet_val, preset_for

        return load_imagenet_val(folder, preset_for(image_size))
    return _load_idx(spec, folder)
