"""Every fact cnnzoo knows about each dataset, in one spec per dataset.

A spec says what the data is (classes, image shape, statistics, augmentation), which files
hold it and how many images each split has, which reader parses them, where the files sit
and where to get them, and under what licence. Adding a dataset in a format cnnzoo reads
(IDX, CIFAR batches) is one new entry in SPECS; see docs/data.md for a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass

# ImageNet statistics: the usual choice for photographs in a folder tree.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preset:
    """The evaluation transform published with the weights: resize the shorter side to
    `resize` (bilinear), centre-crop `crop` x `crop`, scale to [0, 1], normalise."""

    resize: int
    crop: int
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __str__(self) -> str:
        return f"resize {self.resize}, centre crop {self.crop}, {self.interpolation}, " \
               "ImageNet mean/std"


def preset_for(crop: int | None) -> Preset:
    """The usual preset for a crop: resize to crop / 0.875 first (256 for 224, 342 for 299)."""
    crop = crop or 224
    return Preset(round(crop / 0.875), crop)


IMAGENET_224 = preset_for(224)
IMAGENET_299 = preset_for(299)  # Inception-v3: 342 then 299, as torchvision evaluates it


@dataclass(frozen=True)
class Download:
    """One file of an official distribution and its published MD5."""

    url: str
    filename: str
    md5: str


@dataclass(frozen=True)
class SplitFiles:
    """The files of one split and its size in the official release.

    `files` is what the reader needs, in its order (IDX: images then labels; CIFAR: the
    batches). `size` bounds what a reader accepts: a file declaring more images than the
    official split holds is refused before anything is allocated."""

    name: str
    files: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: tuple[str, ...]
    crop_padding: int
    fit: str = "resize"
    # (channels, height, width) of every image in the files.
    image_shape: tuple[int, int, int] = (3, 32, 32)
    # The module of cnnzoo.data that parses the files ("idx", "cifar"): see load.READERS.
    reader: str = ""
    splits: tuple[SplitFiles, ...] = ()
    # CIFAR layout: the labels entry of a batch, and (file, entry) of the class names.
    labels_key: str = "labels"
    meta: tuple[str, str] | None = None
    # What to put where, when the files are not a fixed list (error messages say it).
    files_hint: str = ""
    downloads: tuple[Download, ...] = ()
    homepage: str = ""
    licence: str = ""
    # Sub-folders of a root the files may sit in (what archives and torchvision unpack to).
    subdirs: tuple[str, ...] = ()
    # Folders searched, in order, when no root is given (after ~/.cache/cnnzoo/NAME).
    system_dirs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    # Where a model has no recipe for this dataset, the datasets whose recipe it borrows,
    # nearest first (same image shape and class count first).
    nearest: tuple[str, ...] = ()
    # "Did it learn": the test top-1 a converged small net clears here; a study whose best
    # arm ends below it says its recipe failed, not how the designs compare.
    learned: float = 0.5

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> SplitFiles:
        return next(s for s in self.splits if s.name == name)

    def file_list(self) -> str:
        """The files, as an error message names them."""
        return ", ".join(f for s in self.splits for f in s.files)


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_downloads(url: str, md5s: tuple[str, ...]) -> tuple[Download, ...]:
    return tuple(Download(url + f + ".gz", f + ".gz", md5)
                 for f, md5 in zip(_IDX_FILES, md5s, strict=True))


def _idx_splits(train: int, test: int) -> tuple[SplitFiles, ...]:
    return (SplitFiles("train", _IDX_FILES[:2], train), SplitFiles("test", _IDX_FILES[2:], test))


_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/"
_CIFAR_LICENCE = ("no licence published; cite Krizhevsky, 'Learning Multiple Layers of "
                  "Features from Tiny Images', 2009")

SPECS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        description="handwritten digits, 28x28 grey; embedded 10k sample, or full 60k/10k IDX",
        classes=tuple(str(d) for d in range(10)),
        mean=(0.1307,), std=(0.3081,),
        augment=("crop",),  # digits are not mirror-symmetric: no flip
        crop_padding=2, fit="pad",
        image_shape=(1, 28, 28), reader="idx", splits=_idx_splits(60000, 10000),
        downloads=_idx_downloads(_MNIST_URL, (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
        homepage="http://yann.lecun.com/exdb/mnist/",
        licence="CC BY-SA 3.0 (LeCun, Cortes and Burges)",
        subdirs=("mnist", "MNIST/raw"),
        nearest=("mnist-full", "fashion-mnist"),
        learned=0.95,
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        description="Zalando clothing, 28x28 grey, 60k/10k (IDX files)",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mean=(0.2860,), std=(0.3530,),
        augment=("crop", "flip"), crop_padding=2, fit="pad",
        image_shape=(1, 28, 28), reader="idx", splits=_idx_splits(60000, 10000),
        # MD5s as published in the Fashion-MNIST README (for the .gz files).
        downloads=_idx_downloads(_FASHION_URL, (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        licence="MIT (Zalando SE)",
        subdirs=("fashion-mnist", "FashionMNIST/raw"),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        aliases=("fashion_mnist", "fashionmnist"),
        nearest=("mnist-full", "mnist"),
        learned=0.80,
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        description="tiny photos, 32x32 RGB, 10 classes, 50k/10k (python pickle batches)",
        classes=("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"),
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        augment=("crop", "flip"), crop_padding=4,
        image_shape=(3, 32, 32), reader="cifar",
        # Each of the six batches holds 10,000 images.
        splits=(SplitFiles("train", tuple(f"data_batch_{i}" for i in range(1, 6)), 50000),
                SplitFiles("test", ("test_batch",), 10000)),
        labels_key="labels", meta=("batches.meta", "label_names"),
        downloads=(Download(_CIFAR_URL + "cifar-10-python.tar.gz",
                            "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html", licence=_CIFAR_LICENCE,
        subdirs=("cifar10", "cifar-10-batches-py", "cifar10/cifar-10-batches-py"),
        aliases=("cifar-10",),
        nearest=("cifar100",),
        learned=0.60,
    ),
    "cifar100": DatasetSpec(
        name="cifar100",
        description="tiny photos, 32x32 RGB, 100 classes, 50k/10k (python pickle batches)",
        classes=tuple(str(i) for i in range(100)),  # stand-ins: the `meta` file names them
        mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
        augment=("crop", "flip"), crop_padding=4,
        image_shape=(3, 32, 32), reader="cifar",
        splits=(SplitFiles("train", ("train",), 50000), SplitFiles("test", ("test",), 10000)),
        labels_key="fine_labels", meta=("meta", "fine_label_names"),
        downloads=(Download(_CIFAR_URL + "cifar-100-python.tar.gz",
                            "cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),),
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html", licence=_CIFAR_LICENCE,
        subdirs=("cifar100", "cifar-100-python", "cifar100/cifar-100-python"),
        aliases=("cifar-100",),
        nearest=("cifar10",),
        learned=0.30,
    ),
    "imagenet": DatasetSpec(
        name="imagenet",
        description="ImageNet-1k validation, 1000 classes, 50k photos (needs an image-net.org "
                    "account: see docs/weights.md)",
        classes=(),  # the 1,000 names ship in data/imagenet/classes.txt
        mean=IMAGENET_MEAN, std=IMAGENET_STD,
        augment=("crop", "flip"), crop_padding=0, fit="crop",
        image_shape=(3, 224, 224), reader="imagenet",
        # Validation only: the 50,000 images of the ILSVRC2012 release.
        splits=(SplitFiles("test", (), 50000),),
        files_hint=("the validation images (class folders, or the flat folder with its label "
                    "file; see docs/weights.md)"),
        homepage="https://image-net.org/download.php",
        licence="image-net.org terms of access: non-commercial research and education only",
        subdirs=("imagenet", "imagenet/val"),
        aliases=("imagenet-1k", "imagenet1k", "ilsvrc2012"),
    ),
}


def canonical_name(name: str) -> str | None:
    key = name.strip().lower()
    for spec in SPECS.values():
        if key == spec.name or key in spec.aliases:
            return spec.name
    return None
