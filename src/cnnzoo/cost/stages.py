"""Which stage each row belongs to, for subtotals.

- Several top-level sequences of blocks (ResNet's layer1..layer4) are the stages.
- A single one (MobileNet's `features` or `blocks`) is opened: each block is a stage.
- A sequence of plain layers (VGG's and AlexNet's `features`) is cut after each pooling
  layer, which gives VGG's five stages.
- Any other top-level module of units (an Inception module) is a stage; a unit of plain
  layers (ConvBNReLU) counts as a plain layer.
- Runs of the remaining top-level layers are grouped: "stem" before the first stage,
  "head" after the last (ResNet's conv1, bn1, relu, maxpool; avgpool, fc).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from cnnzoo.cost.tracer import LayerCost

_POOLS = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)
_SEQUENCES = (nn.Sequential, nn.ModuleList)


def _is_leaf(m: nn.Module) -> bool:
    return next(m.children(), None) is None


def _holds_blocks(m: nn.Module) -> bool:
    return isinstance(m, _SEQUENCES) and len(m) > 0 and not all(_is_leaf(c) for c in m)


def stage_order(model: nn.Module) -> list[tuple[str, str, bool]]:
    """(module path, stage name, is a real stage) triples, in model order. Paths that are
    not real stages (plain top-level layers) are grouped into stem and head later."""
    out: list[tuple[str, str, bool]] = []
    block_sequences = [n for n, c in model.named_children() if _holds_blocks(c)]
    for name, child in model.named_children():
        if name in block_sequences:
            if len(block_sequences) == 1:
                out += [(f"{name}.{n}", f"{name}.{n}", True) for n, _ in child.named_children()]
            else:
                out.append((name, name, True))
        elif isinstance(child, _SEQUENCES) and any(isinstance(c, _POOLS) for c in child):
            children = list(child.named_children())
            run: list[str] = []
            for i, (n, c) in enumerate(children):
                run.append(n)
                if isinstance(c, _POOLS) or i == len(children) - 1:
                    label = f"{name}.{run[0]}-{run[-1]}"
                    out += [(f"{name}.{m}", label, True) for m in run]
                    run = []
        else:
            # A unit of plain layers (ConvBNReLU) is a layer here; a module of units is not.
            out.append((name, name, not all(_is_leaf(c) for c in child.children())))
    return out


def _stage_of(row_name: str, order: Sequence[tuple[str, str, bool]]) -> tuple[str, bool]:
    base = row_name.split("#")[0]
    best, found = "", (base.split(".")[0], False)  # an operator called by the model itself
    for path, stage, real in order:
        if (base == path or base.startswith(path + ".")) and len(path) > len(best):
            best, found = path, (stage, real)
    return found


def assign_stages(model: nn.Module, rows: list[LayerCost]) -> None:
    """Set `stage` on every row."""
    found = [_stage_of(r.name, stage_order(model)) for r in rows]
    real = [i for i, (_, is_real) in enumerate(found) if is_real]
    i = 0
    while i < len(rows):
        stage, is_real = found[i]
        j = i
        while j + 1 < len(rows) and real and not is_real and not found[j + 1][1]:
            j += 1
        if not is_real and real:
            names = list(dict.fromkeys(s for s, _ in found[i : j + 1]))
            if len(names) > 1:
                before, after = i < real[0], i > real[-1]
                stage = "stem" if before else "head" if after else f"{names[0]}..{names[-1]}"
        for k in range(i, j + 1):
            rows[k].stage = stage
        i = j + 1
