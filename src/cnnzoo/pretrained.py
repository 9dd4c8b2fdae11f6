"""Pretrained ImageNet weights: what a row of the table of every file cnnzoo knows how to
fetch is, and the table itself, gathered from the rows each family registers beside its
models (cnnzoo/models/*.py, `register_model(..., weights=...)`).

Each entry is one torchvision ImageNet-1k file (its exact URL), the SHA-256 it must have,
the accuracy torchvision publishes for it, the evaluation preset it was measured with, and
where each fact comes from. torchvision's file names carry the first 8 hex digits of the
SHA-256; the full digests below were found in public projects that pin these files (named in
`sha256_source`). Where no public full digest was found, `sha256` is None and only the
prefix in the file name is checked: such an entry says so (`cnnzoo weights list`).

The cache and the downloader are in cnnzoo.hub; this module holds only facts.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from cnnzoo.data.specs import IMAGENET_224, IMAGENET_299, Preset, preset_for  # noqa: F401
from cnnzoo.errors import WeightsError

# The row type and its constants sit beside the models that declare rows; read here too.
from cnnzoo.models.rows import (  # noqa: F401
    _TORCHVISION_NAME,
    DEFAULT_TAG,
    INCEPTION_OPTIONS,
    SHA_BUNSEN,
    SHA_D3M,
    SHA_OMZ,
    SHA_PINNED,
    SHA_PREFIX,
    TAGS,
    TORCHVISION_BASE,
    TORCHVISION_DOCS,
    TORCHVISION_LICENCE,
    V2_DEFAULT,
    PretrainedWeights,
    is_tag,
    torchvision_weights,
)
from cnnzoo.registry import registered_weights


class _Table(MutableMapping[str, PretrainedWeights]):
    """Every registered pretrained row by key ('resnet50.imagenet'), read from the registry
    on each use (a family registered later is there too); a row set here (a test's) wins."""

    def __init__(self) -> None:
        self._rows: dict[str, PretrainedWeights] = {}
        self._gone: set[str] = set()

    def _all(self) -> dict[str, PretrainedWeights]:
        for w in registered_weights():
            if w.key not in self._gone:
                self._rows.setdefault(w.key, w)
        return self._rows

    def __getitem__(self, key: str) -> PretrainedWeights:
        return self._all()[key]

    def __setitem__(self, key: str, value: PretrainedWeights) -> None:
        self._gone.discard(key)
        self._all()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._all()[key]
        self._gone.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


PRETRAINED: MutableMapping[str, PretrainedWeights] = _Table()


def pretrained_names() -> list[str]:
    """Models with at least one pretrained entry, in table order."""
    return list(dict.fromkeys(w.model for w in PRETRAINED.values()))


def table_tag(name: str, weights: str) -> str:
    """The table's tag for `weights`: a tag as it is; a torchvision weight name mapped to the
    tag of the file it names for `name`, or WeightsError where that file is not in the
    table (torchvision's DEFAULT for resnet50 is its IMAGENET1K_V2 file, which it is not)."""
    match = _TORCHVISION_NAME.fullmatch(weights)
    if match is None:
        return weights
    wanted = match.group(1)
    files = [w for w in PRETRAINED.values() if w.model == name]
    for w in files:
        target = w.torchvision_default if wanted == "DEFAULT" else wanted
        if target == w.torchvision_name:
            return w.tag
    have = ", ".join(f"{w.torchvision_name} ({w.tag!r})" for w in files)
    if not files:
        return DEFAULT_TAG  # the caller says which models have pretrained weights
    meaning = (f"torchvision's DEFAULT for {name} is its {files[0].torchvision_default} file, "
               "which" if wanted == "DEFAULT" else f"{wanted} of {name}")
    raise WeightsError(f"{meaning} is not in cnnzoo's table; {name} has {have}: pass "
                       f"weights={files[0].torchvision_name!r} for that file")
