"""`profile(model, input_size)`: every layer's cost, stage subtotals and totals."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from cnnzoo.cost.meta import meta_copy
from cnnzoo.cost.ops import KINDS
from cnnzoo.cost.stages import assign_stages
from cnnzoo.cost.tracer import LayerCost, Tracer
from cnnzoo.errors import CnnzooError, InputShapeError, UsageError
from cnnzoo.models.base import ZooModel
from cnnzoo.precision import ANALYSIS, dtype_of


@dataclass
class StageCost:
    """Subtotal of the rows of one stage (a ResNet layerN, a MobileNet block)."""

    name: str
    layers: int
    output_shape: tuple[int, ...]
    params: int
    macs: int
    other_flops: int
    activation_bytes: int
    receptive_field: tuple[int, int] | None
    jump: tuple[int, int] | None


@dataclass
class Profile:
    """The cost of one forward pass at `batch_size` (1 by default: costs per image)."""

    model: str
    input_size: tuple[int, int, int]
    batch_size: int
    dtype: str
    params: int
    layers: list[LayerCost]
    peak_activation_bytes: int  # tensors alive at once, input included
    peak_at: str  # the layer during which the peak was reached
    input_bytes: int
    uncounted_ops: tuple[str, ...] = ()
    stage_labels: dict[str, str] = field(default_factory=dict)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def other_flops_by_kind(self) -> dict[str, int]:
        total: Counter = Counter()
        for r in self.layers:
            total.update(r.other_flops)
        return {k: total[k] for k in KINDS if total[k]}

    @property
    def other_flops(self) -> int:
        return sum(self.other_flops_by_kind.values())

    @property
    def activation_bytes(self) -> int:
        """Sum of every layer's output: what memory would be if nothing were ever freed."""
        return sum(r.activation_bytes for r in self.layers)

    def stages(self) -> list[StageCost]:
        groups: list[tuple[str, list[LayerCost]]] = []
        for r in self.layers:  # consecutive rows of the same stage
            if groups and groups[-1][0] == r.stage:
                groups[-1][1].append(r)
            else:
                groups.append((r.stage, [r]))
        return [
            StageCost(
                name=self.stage_labels.get(name, name), layers=len(rows),
                output_shape=rows[-1].output_shape, params=sum(r.params for r in rows),
                macs=sum(r.macs for r in rows),
                other_flops=sum(r.total_other_flops for r in rows),
                activation_bytes=sum(r.activation_bytes for r in rows),
                receptive_field=rows[-1].receptive_field, jump=rows[-1].jump,
            )
            for name, rows in groups
        ]

    def to_dict(self) -> dict:
        """The JSON form: totals at the top, then one object per layer."""
        layers = []
        for r in self.layers:
            d = asdict(r)
            d["other_flops_by_kind"] = d.pop("other_flops")
            d["other_flops"] = r.total_other_flops
            for key in ("input_shape", "output_shape", "receptive_field", "jump"):
                d[key] = list(d[key]) if d[key] is not None else None
            layers.append(d)
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "params": self.params,
            "macs": self.macs,
            "other_flops": self.other_flops,
            "other_flops_by_kind": self.other_flops_by_kind,
            "peak_activation_bytes": self.peak_activation_bytes,
            "peak_at": self.peak_at,
            "activation_bytes_sum": self.activation_bytes,
            "uncounted_ops": list(self.uncounted_ops),
            "stages": [
                {**asdict(s), "output_shape": list(s.output_shape)} for s in self.stages()
            ],
            "layers": layers,
        }


def resolve_dtype(dtype: torch.dtype | str) -> torch.dtype:
    return dtype_of(dtype, ANALYSIS, what="dtype")


def check_size(input_size: tuple[int, ...], batch_size: int) -> tuple[int, int, int]:
    if len(input_size) != 3 or any(int(v) <= 0 for v in input_size):
        raise UsageError(
            f"input_size must be (C, H, W) with positive sides, got {tuple(input_size)}"
        )
    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")
    return (int(input_size[0]), int(input_size[1]), int(input_size[2]))


def run_meta(model: nn.Module, x: torch.Tensor, tracer: Tracer) -> object:
    """A forward pass under `tracer`; a size the model cannot take becomes InputShapeError."""
    try:
        with tracer, tracer.hooks(model):
            return model(x)
    except CnnzooError:
        raise
    except RuntimeError as e:
        name = getattr(model, "model_name", "") or type(model).__name__
        low = getattr(model, "min_input_size", None)
        hint = f"; it needs at least {low}x{low}" if low and low > 1 else ""
        reason = str(e).strip().splitlines()[0]
        raise InputShapeError(
            f"{name} cannot take input {tuple(x.shape[1:])}{hint} ({reason})"
        ) from None


def profile(
    model: nn.Module,
    input_size: tuple[int, int, int],
    dtype: torch.dtype | str = torch.float32,
    batch_size: int = 1,
) -> Profile:
    """Every leaf layer's cost for one forward pass in eval mode, traced on the meta device.

    No arithmetic is done and no activation memory is used, whatever the model's size;
    `model` itself is not changed (a meta copy is traced). MACs count the multiply-adds of
    convolutions and linear layers; other FLOPs (batch norm, activations, pooling,
    additions, biases) are counted separately by kind. Batch size 1 gives costs per image.
    """
    size = check_size(tuple(input_size), batch_size)
    dt = resolve_dtype(dtype)
    meta = meta_copy(model, dt).eval()
    x = torch.empty((batch_size, *size), dtype=dt, device="meta")
    tracer = Tracer()
    tracer.watch_input(x)
    with torch.no_grad():
        run_meta(meta, x, tracer)
    assign_stages(meta, tracer.layers)
    return Profile(
        model=getattr(model, "model_name", "") or type(model).__name__,
        input_size=size,
        batch_size=batch_size,
        dtype=str(dt).removeprefix("torch."),
        params=sum(p.numel() for p in model.parameters()),
        layers=tracer.layers,
        peak_activation_bytes=tracer.memory.peak,
        peak_at=tracer.memory.peak_at,
        input_bytes=x.numel() * x.element_size(),
        uncounted_ops=tuple(sorted(tracer.uncounted)),
        stage_labels=stage_labels(model),
    )


def stage_labels(model: nn.Module) -> dict[str, str]:
    """The case studies' names where they differ from the module names."""
    if isinstance(model, ZooModel) and type(model).__name__ == "ResNet":
        return {f"layer{i}": f"layer{i} (conv{i + 1}_x)" for i in range(1, 5)}
    return {}
