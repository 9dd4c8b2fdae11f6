"""load_dataset: find a dataset's files, read and validate them, return an ImageDataset."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from cnnzoo.data.dataset import ImageDataset
from cnnzoo.data.download import download_dataset
from cnnzoo.data.embedded import load_embedded_mnist
from cnnzoo.data.folder import load_folder
from cnnzoo.data.specs import SPECS, DatasetSpec, canonical_name
from cnnzoo.errors import DatasetError
from cnnzoo.home import cnnzoo_home

FOLDER_PREFIX = "folder:"
# The readers a spec may name: each module has has_files(spec, folder) and
# load(spec, folder, image_size) (image_size: the model input side, for readers that decode).
READERS = ("idx", "cifar", "imagenet")


def data_home() -> Path:
    """Where downloads go and datasets are looked for: $CNNZOO_HOME/data (the one cache
    root, home.py), or $CNNZOO_DATA where set (the older variable, still honoured)."""
    env = os.environ.get("CNNZOO_DATA")
    return Path(env).expanduser() if env else cnnzoo_home() / "data"


def _legacy_home() -> Path | None:
    """Where downloads went before HOME/data (straight under the cache root): still
    searched, so a dataset fetched then is found without moving it."""
    return None if os.environ.get("CNNZOO_DATA") else cnnzoo_home()


# The full MNIST by name: never the embedded sample, even without a root.
MNIST_FULL = ("mnist-full", "mnist_full")


def dataset_names(folder: bool = True) -> list[str]:
    """Every name load_dataset takes (with folder=False, only those of specs)."""
    return ["mnist", MNIST_FULL[0], *list(SPECS)[1:], *[FOLDER_PREFIX + "PATH"][:folder]]


def dataset_key(name: str) -> str:
    """What a dataset name stands for, where its facts are looked up: a spec's name,
    "mnist-full" (the full MNIST by name), "folder" (any folder:PATH), else the name as
    given."""
    key = name.strip().lower()
    if key.startswith(FOLDER_PREFIX):
        return "folder"
    if key in MNIST_FULL:
        return MNIST_FULL[0]
    return canonical_name(key) or key


def _facts(key: str) -> DatasetSpec | None:
    """The spec that holds `key`'s facts: the full MNIST shares MNIST's."""
    return SPECS.get("mnist" if key == MNIST_FULL[0] else key)


def nearest_datasets(name: str) -> tuple[str, ...]:
    """The datasets whose recipes `name` borrows where a model has none for it, nearest
    first (the spec's `nearest`; the full MNIST: MNIST's, then the sample)."""
    key = dataset_key(name)
    spec = _facts(key)
    if spec is None:
        return ()
    if key == MNIST_FULL[0]:
        return (*(d for d in spec.nearest if d != key), spec.name)
    return spec.nearest


def learned_floor(name: str) -> float:
    """The test top-1 a converged small net clears on `name` (its spec's `learned`; 0.5
    for data cnnzoo knows nothing of)."""
    spec = _facts(dataset_key(name))
    return spec.learned if spec is not None else 0.5


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
        return [base, *(base / sub for sub in spec.subdirs)]
    # Not data_home() itself: MNIST and Fashion-MNIST files have the same names.
    bases = [data_home(), *filter(None, [_legacy_home()])]
    return [*(base / sub for base in bases for sub in spec.subdirs),
            *map(Path, spec.system_dirs)]


def reader(spec: DatasetSpec) -> ModuleType:
    """The module that parses `spec`'s files (the one place a reader is chosen)."""
    if spec.reader not in READERS:
        raise DatasetError(f"{spec.name}: its spec names reader {spec.reader!r}; cnnzoo has "
                           f"{', '.join(READERS)}")
    return importlib.import_module(f"cnnzoo.data.{spec.reader}")


def locate(name: str, root: str | Path | None = None) -> Path | None:
    """The first folder holding all of `name`'s files, or None."""
    spec = _spec(name)
    found = reader(spec).has_files
    return next((d for d in candidate_dirs(spec.name, root) if found(spec, d)), None)


def _not_found(spec: DatasetSpec, root: str | Path | None) -> DatasetError:
    dirs = ", ".join(str(d) for d in candidate_dirs(spec.name, root))
    files = spec.files_hint or (spec.file_list() + (" (.gz or raw)" if spec.reader == "idx"
                                                    else ""))
    if spec.downloads:
        files += f" (from {', '.join(d.filename for d in spec.downloads)})"
    extra = " or `apt-get install dataset-fashion-mnist`" if spec.system_dirs else ""
    return DatasetError(f"{spec.name}: files not found in {dirs}; put {files} in one of them "
                        f"(or pass root=DIR, the CLI's --data-root){extra}, or run `cnnzoo "
                        f"data download {spec.name}` where a network is available")


def download_files(name: str, root: str | Path | None = None, progress: bool = True) -> Path:
    """Fetch `name`'s official files (MD5-checked) into root or data_home()/NAME; return the
    folder that holds them. Without `root`, files already in one of the usual places (a
    system package's folder included) are used as they are."""

    spec = _spec(name)
    if root is None:
        installed = locate(spec.name)  # e.g. Debian's dataset-fashion-mnist: nothing to fetch
        if installed is not None:
            return installed
    target = Path(root).expanduser() if root is not None else data_home() / spec.name
    created = not target.exists()
    try:
        download_dataset(spec, target, progress=progress)
    except BaseException:
        if created and target.is_dir() and not any(target.iterdir()):
            target.rmdir()  # a failed fetch leaves no empty folder behind
        raise
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
    "cifar10", "cifar100", "imagenet" (the validation images, decoded at `image_size`'s
    preset), or "folder:PATH" (PATH/train/CLASS/*.jpg and PATH/val/CLASS/*; `image_size` is
    the model input side, default 224).
    root: a folder holding the files (or ROOT/NAME, or the folder an official archive
    unpacks to). download: fetch the official files (checksummed) into root or
    data_home()/NAME when they are missing.
    """
    if name.startswith(FOLDER_PREFIX):
        return load_folder(name[len(FOLDER_PREFIX):], image_size=image_size or 224)
    spec = _spec(name)
    full = name.strip().lower() in MNIST_FULL
    if spec.name == "mnist" and root is None and not download and not full:
        return load_embedded_mnist()
    folder = locate(spec.name, root)
    if folder is None and download:
        folder = download_files(spec.name, root, progress=progress)
    if folder is None:
        raise _not_found(spec, root)
    return reader(spec).load(spec, folder, image_size)
