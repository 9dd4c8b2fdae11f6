"""Which stage each row belongs to, for subtotals: read from the model's `feature_info`.

A row inside a declared stage's module belongs to that stage; a row between two stages
(ResNet's max-pool) to the stage that follows, as the papers' tables count it; rows after
the last stage are the "head". A module with no declaration (a block profiled on its own)
has one stage per top-level child. See `cnnzoo.models.features.assign_to_stages`.
"""

from __future__ import annotations

from torch import nn

from cnnzoo.cost.rows import LayerCost
from cnnzoo.models.base import ZooModel
from cnnzoo.models.features import assign_to_stages


def module_path(row_name: str) -> str:
    """The module a row was measured in: a second call of a module is named `path#2`."""
    return row_name.split("#")[0]


def assign_stages(model: nn.Module, rows: list[LayerCost]) -> None:
    """Set `stage` on every row (rows are in the order the forward pass ran them)."""
    info = model.feature_info if isinstance(model, ZooModel) else []
    for row, stage in zip(rows, assign_to_stages(info, [module_path(r.name) for r in rows]),
                          strict=True):
        row.stage = stage


def unique_params(rows: list[LayerCost], seen: set[str]) -> int:
    """Parameters of these rows, each module counted once: a module used twice (shared)
    has its parameters in its first row only. `seen` carries the modules counted in
    earlier stages, so stage subtotals add up to the model's total."""
    total = 0
    for r in rows:
        path = module_path(r.name)
        if path not in seen:
            seen.add(path)
            total += r.params
    return total
