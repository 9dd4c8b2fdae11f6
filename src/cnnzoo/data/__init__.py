"""Datasets, batch transforms and the batch loader, written for small in-memory data.

    from cnnzoo.data import load_dataset, build_transform, BatchLoader
    ds = load_dataset("mnist")                      # embedded 8,000/2,000 real digits
    tf = build_transform(ds, (1, 32, 32), train=True)
    for x, y in BatchLoader(ds.train, 128, transform=tf, shuffle=True, seed=0): ...
"""

from cnnzoo.data.dataset import ImageDataset, Split
from cnnzoo.data.load import data_home, dataset_names, download_files, load_dataset, locate
from cnnzoo.data.loader import BatchLoader
from cnnzoo.data.pipeline import AUGMENTATIONS, build_transform
from cnnzoo.data.specs import SPECS, DatasetSpec
from cnnzoo.data.transforms import Transform

__all__ = [
    "AUGMENTATIONS",
    "SPECS",
    "BatchLoader",
    "DatasetSpec",
    "ImageDataset",
    "Split",
    "Transform",
    "build_transform",
    "data_home",
    "dataset_names",
    "download_files",
    "load_dataset",
    "locate",
]
