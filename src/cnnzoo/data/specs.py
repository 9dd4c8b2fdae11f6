"""What cnnzoo knows about each dataset: classes, statistics, files, official downloads."""

from __future__ import annotations

from dataclasses import dataclass, field

# ImageNet statistics: the usual choice for photographs in a folder tree.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Download:
    """One file of an official distribution and its published MD5."""

    url: str
    filename: str
    md5: str


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
    downloads: tuple[Download, ...] = ()
    # Folders searched, in order, when no root is given (after ~/.cache/cnnzoo/NAME).
    system_dirs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = field(default=())


_MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx_downloads(url: str, md5s: tuple[str, ...]) -> tuple[Download, ...]:
    return tuple(Download(url + f + ".gz", f + ".gz", md5)
                 for f, md5 in zip(_IDX_FILES, md5s, strict=True))


SPECS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        description="handwritten digits, 28x28 grey; embedded 10k sample, or full 60k/10k IDX",
        classes=tuple(str(d) for d in range(10)),
        mean=(0.1307,), std=(0.3081,),
        augment=("crop",),  # digits are not mirror-symmetric: no flip
        crop_padding=2, fit="pad",
        downloads=_idx_downloads(_MNIST_URL, (
            "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        description="Zalando clothing, 28x28 grey, 60k/10k (IDX files)",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mean=(0.2860,), std=(0.3530,),
        augment=("crop", "flip"), crop_padding=2, fit="pad",
        # MD5s as published in the Fashion-MNIST README (for the .gz files).
        downloads=_idx_downloads(_FASHION_URL, (
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        aliases=("fashion_mnist", "fashionmnist"),
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        description="tiny photos, 32x32 RGB, 10 classes, 50k/10k (python pickle batches)",
        classes=("airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"),
        mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616),
        augment=("crop", "flip"), crop_padding=4,
        downloads=(Download("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                            "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        aliases=("cifar-10",),
    ),
    "cifar100": DatasetSpec(
        name="cifar100",
        description="tiny photos, 32x32 RGB, 100 classes, 50k/10k (python pickle batches)",
        classes=(),  # read from the `meta` file
        mean=(0.5071, 0.4865, 0.4409), std=(0.2673, 0.2564, 0.2762),
        augment=("crop", "flip"), crop_padding=4,
        downloads=(Download("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                            "cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),),
        aliases=("cifar-100",),
    ),
    "imagenet": DatasetSpec(
        name="imagenet",
        description="ImageNet-1k validation, 1000 classes, 50k photos (needs an image-net.org "
                    "account: see docs/weights.md)",
        classes=(),  # the 1,000 names ship in data/imagenet/classes.txt
        mean=IMAGENET_MEAN, std=IMAGENET_STD,
        augment=("crop", "flip"), crop_padding=0, fit="crop",
        aliases=("imagenet-1k", "imagenet1k", "ilsvrc2012"),
    ),
}


def canonical_name(name: str) -> str | None:
    key = name.strip().lower()
    for spec in SPECS.values():
        if key == spec.name or key in spec.aliases:
            return spec.name
    return None
