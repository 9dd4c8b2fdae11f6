"""build_transform: the batch transform that turns a dataset's uint8 images into model input."""

from __future__ import annotations

from collections.abc import Sequence

from cnnzoo.data.dataset import ImageDataset
from cnnzoo.data.transforms import (
    CenterCrop,
    CenterPad,
    Compose,
    GreyToRGB,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    RGBToGrey,
    ToFloat,
    Transform,
    convert_stats,
)
from cnnzoo.errors import CnnzooError, DatasetError
from cnnzoo.sizes import check_input_size

AUGMENTATIONS = ("crop", "flip")
# (The model-input caps, MAX_INPUT_SIDE and MAX_INPUT_VALUES, are registry.py's.)
# The largest image file cnnzoo decodes (folder trees, predict): 8192x8192 pixels, 192 MiB
# as RGB, more than a 48-megapixel camera gives and under Pillow's own warning (89M). A
# header declaring more is refused before a pixel is decoded (data/imagefile.py).
MAX_IMAGE_PIXELS = 8192 * 8192
FITS = ("pad", "resize", "crop")


def _target(dataset: ImageDataset, input_size: int | Sequence[int] | None) -> tuple[int, int, int]:
    c0, (h0, w0) = dataset.channels, dataset.image_size
    if input_size is None:
        return (c0, h0, w0)
    return check_input_size(input_size, c0, what="input size", error=DatasetError)


def _augmentations(dataset: ImageDataset, train: bool,
                   augment: bool | Sequence[str] | None) -> tuple[str, ...]:
    if not train or augment is False:
        return ()
    if augment is None or augment is True:
        return tuple(dataset.augment)
    return check_augmentations(augment)


def check_augmentations(names: Sequence[str],
                        error: type[CnnzooError] = DatasetError) -> tuple[str, ...]:
    """`names` as a tuple, or `error` naming the unknown ones and the choices."""
    names = tuple(names)
    unknown = [a for a in names if a not in AUGMENTATIONS]
    if unknown:
        raise error(f"unknown augmentation {', '.join(map(repr, unknown))}; "
                    f"choose from {', '.join(AUGMENTATIONS)}")
    return names


def build_transform(
    dataset: ImageDataset,
    input_size: int | Sequence[int] | None = None,
    train: bool = False,
    *,
    augment: bool | Sequence[str] | None = None,
    convert_channels: bool = False,
    fit: str | None = None,
) -> Transform:
    """The transform for `dataset` into a model of `input_size` (C, H, W), e.g. the model
    card's or (model.in_chans, H, W); (H, W) or one side keep the dataset's channels.

    Train transforms add the dataset's augmentation (or `augment`: names from
    AUGMENTATIONS, or False). A model with a different channel count needs
    `convert_channels=True` (grey images repeated to RGB, RGB reduced to luma): never silent.
    `fit` overrides how a different size is met: "pad", "resize" or "crop".
    """
    c, h, w = _target(dataset, input_size)
    c0, (h0, w0) = dataset.channels, dataset.image_size
    if c != c0 and not convert_channels:
        raise DatasetError(
            f"{dataset.name} images have {c0} channel(s) but the model takes {c}; build the "
            f"model with in_chans={c0} (--in-chans {c0}) or convert the images explicitly "
            "(convert_channels=True, --convert-channels)"
        )
    fit = fit or dataset.fit
    if fit not in FITS:
        raise DatasetError(f"unknown fit {fit!r}; choose from {', '.join(FITS)}")
    augs = _augmentations(dataset, train, augment)
    ops: list[Transform] = []
    flip = 0.5 if "flip" in augs else 0.0  # folded into the random crop's gather
    random_crop_done = False
    if (h, w) != (h0, w0):
        # Padding suits a small step up (LeNet-5's 28 -> 32); a big one would leave a speck.
        if fit == "pad" and h0 <= h <= 1.25 * h0 and w0 <= w <= 1.25 * w0:
            ops.append(CenterPad((h, w)))
        elif fit == "crop":
            # Crop the input from images 1/0.875 its size (256 for 224), resizing to that
            # first when they were decoded for another input size.
            load = (max(h, round(h / 0.875)), max(w, round(w / 0.875)))
            if (h0, w0) != load:
                ops.append(Resize(load))
            ops.append(RandomCrop((h, w), flip=flip) if "crop" in augs else CenterCrop((h, w)))
            random_crop_done = "crop" in augs
        else:
            ops.append(Resize((h, w)))
    if "crop" in augs and not random_crop_done:
        # Padding is set for the native size; scale it with the image.
        padding = max(1, round(dataset.crop_padding * h / h0)) if dataset.crop_padding else 0
        ops.append(RandomCrop((h, w), padding=padding, flip=flip))
    if flip and "crop" not in augs:
        ops.append(RandomHorizontalFlip(flip))
    if c != c0 and (c0, c) not in ((1, 3), (3, 1)):
        raise DatasetError(f"cannot convert {c0}-channel images to {c} channels")
    if (c0, c) == (3, 1):
        ops.append(RGBToGrey())
    mean, std = convert_stats(dataset.mean, dataset.std, min(c, c0))
    ops.append(Normalize(mean, std))
    if (c0, c) == (1, 3):  # after normalising: one channel of work, then a view
        ops.append(GreyToRGB())
    # Pads, crops and flips move uint8 (a quarter of the bytes); convert only when needed.
    # Normalize converts uint8 itself, in the same pass.
    first_float = next(i for i, op in enumerate(ops) if op.needs_float)
    if not isinstance(ops[first_float], Normalize):
        ops.insert(first_float, ToFloat())
    return Compose(ops)
