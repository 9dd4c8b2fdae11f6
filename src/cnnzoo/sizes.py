"""The one check of a model input size: (C, H, W) from one side, (H, W) or (C, H, W),
positive and within bounds. The CLI, the data pipeline, the folder reader and the registry's
default_input_size all come here."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

from cnnzoo.errors import CnnzooError, UsageError

# The largest model input cnnzoo accepts: sides up to 16x ImageNet's 224 (7x Inception-v3's
# 600) and as many values as a 3x4096x4096 image (192 MiB as floats); anything larger is
# a typo, and is refused before anything is allocated for it.
MAX_INPUT_SIDE = 4096
MAX_INPUT_VALUES = 3 * MAX_INPUT_SIDE**2


def check_input_size(size: int | Sequence[int], channels: int | None = None, *,
                     what: str = "input_size", error: type[CnnzooError] = UsageError
                     ) -> tuple[int, int, int]:
    """A model input size as (C, H, W): from one side, (H, W) (with `channels`) or
    (C, H, W); positive and within MAX_INPUT_SIDE and MAX_INPUT_VALUES, else `error` naming
    `what`. The one place a model input size is checked (the CLI, the data pipeline,
    default_input_size and the folder reader all come here)."""
    sides = (size,) if isinstance(size, int) else tuple(size)
    if len(sides) == 1:
        sides = (sides[0], sides[0])
    if len(sides) == 2 and channels is not None:
        sides = (channels, *sides)
    try:  # ints only (numpy's too): 2.5 is a typo, not a side
        sides = tuple(operator.index(s) for s in sides)
    except TypeError:
        sides = ()
    if len(sides) != 3 or min(sides) < 1:
        raise error(f"{what} {size!r} is not a size: give (C, H, W), (H, W) or one side, as "
                    "positive integers")
    if max(sides[1:]) > MAX_INPUT_SIDE or math.prod(sides) > MAX_INPUT_VALUES:
        raise error(f"{what} {'x'.join(map(str, sides))} is too large: cnnzoo takes sides up "
                    f"to {MAX_INPUT_SIDE} and up to {MAX_INPUT_VALUES:,} values "
                    f"(3x{MAX_INPUT_SIDE}x{MAX_INPUT_SIDE}); give a smaller size")
    return sides  # type: ignore[return-value]
