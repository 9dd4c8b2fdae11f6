"""`profile(model, inputs)`: every layer's cost, stage subtotals and totals."""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
from torch import nn

from cnnzoo.analysis.meta import meta_copy
from cnnzoo.analysis.ops import KINDS
from cnnzoo.analysis.trace import Tracer
from cnnzoo.cost.report import footer, headline, profile_html, profile_repr, summary_table
from cnnzoo.cost.rows import LayerCost, layer_rows
from cnnzoo.cost.stages import assign_stages, unique_params
from cnnzoo.errors import CnnzooError, InputShapeError, UsageError
from cnnzoo.fmt import shape_str
from cnnzoo.models.base import ZooModel, model_name_of
from cnnzoo.precision import ANALYSIS, dtype_of
from cnnzoo.registry import default_input_size


@dataclass
class StageCost:
    """Subtotal of the rows of one stage (a ResNet layerN, a MobileNet block)."""

    name: str
    layers: int
    input_shape: tuple[int, ...]  # what its first layer takes
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
    input_size: tuple[int, ...]  # the first input, without the batch dimension
    batch_size: int
    dtype: str
    params: int
    layers: list[LayerCost]
    peak_activation_bytes: int  # tensors alive at once, input included
    peak_at: str  # the layer during which the peak was reached
    input_bytes: int
    uncounted_ops: tuple[str, ...] = ()
    input_shapes: tuple[tuple[int, ...], ...] = ()  # every input, batch included

    def __str__(self) -> str:
        """The summary table with the totals above it and the notes below."""
        return f"{headline(self)}\n\n{summary_table(self)}\n\n{footer(self)}"

    def __repr__(self) -> str:
        return profile_repr(self)

    def _repr_html_(self) -> str:
        """Jupyter's view: the totals, the per-layer table and its notes."""
        return profile_html(self)

    @property
    def macs(self) -> int:
        """Real multiply-adds: those on structural zeros are left out (`zero_macs`)."""
        return sum(r.macs for r in self.layers)

    @property
    def zero_macs(self) -> int:
        """Multiply-adds a dense kernel spends on weights that are zero by construction."""
        return sum(r.zero_macs for r in self.layers)

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
        counted: set[str] = set()  # a shared module's parameters count in one stage only
        return [
            StageCost(
                name=name, layers=len(rows), input_shape=rows[0].input_shape,
                output_shape=rows[-1].output_shape, params=unique_params(rows, counted),
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
                d[key] = _numbers(d[key])
            layers.append(d)
        return {
            "model": self.model,
            "input_size": list(self.input_size),
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "params": self.params,
            "macs": self.macs,
            "zero_macs": self.zero_macs,
            "other_flops": self.other_flops,
            "other_flops_by_kind": self.other_flops_by_kind,
            "peak_activation_bytes": self.peak_activation_bytes,
            "peak_at": self.peak_at,
            "activation_bytes_sum": self.activation_bytes,
            "uncounted_ops": list(self.uncounted_ops),
            "stages": [
                {**asdict(s), "input_shape": list(s.input_shape),
                 "output_shape": list(s.output_shape),
                 "receptive_field": _numbers(s.receptive_field), "jump": _numbers(s.jump)}
                for s in self.stages()
            ],
            "layers": layers,
        }


def _numbers(values: tuple | None) -> list[int | float] | None:
    """Sizes for JSON; a Fraction (a jump below 1 after upsampling) as an int when whole."""
    if values is None:
        return None
    return [int(v) if v == int(v) else float(v) for v in values]


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


# What RuntimeErrors say when an input does not fit a layer (as opposed to a bug, or an
# operator the meta device lacks, which are reported as what they are).
_SHAPE_ERRORS = re.compile(
    r"size|shape|expected input|channels|cannot be multiplied|must match|dimension|"
    r"reduction dim|kernel size can't be greater|output size is too small|expected \d+d",
    re.IGNORECASE)


def run_meta(model: nn.Module, inputs: tuple[torch.Tensor, ...], tracer: Tracer) -> object:
    """A forward pass under `tracer`. An input the model cannot take becomes
    InputShapeError; any other error a CnnzooError naming the module that raised it."""
    tracer.failed_in = None
    try:
        with tracer, tracer.hooks(model):
            return model(*inputs)
    except CnnzooError:
        raise
    except Exception as e:  # noqa: BLE001 - every failure becomes one line saying where
        name = model_name_of(model)
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        where = ""
        if tracer.failed_in is not None and tracer.failed_in[2] is e and tracer.failed_in[0]:
            where = f" in {tracer.failed_in[0]} ({type(tracer.failed_in[1]).__name__})"
        shapes = ", ".join(shape_str(tuple(x.shape[1:])) for x in inputs)
        if isinstance(e, RuntimeError) and _SHAPE_ERRORS.search(reason):
            low = model.min_input_size if isinstance(model, ZooModel) else None
            hint = f"; it needs at least {low}x{low}" if low and low > 1 else ""
            raise InputShapeError(
                f"{name} cannot take input {shapes}{hint}: {reason}{where}") from e
        raise CnnzooError(
            f"{name} failed{where} on input {shapes}: {type(e).__name__}: {reason}") from e


def meta_inputs(
    inputs: object, dtype: torch.dtype | str | None, batch_size: int
) -> tuple[tuple[torch.Tensor, ...], torch.dtype]:
    """Meta tensors for `inputs`: a (C, H, W) shape (`batch_size` is put in front), a
    batched (N, C, H, W) shape, a tensor (its shape; its dtype unless `dtype` is given),
    or a list or tuple of tensors and batched shapes, one per argument of forward."""
    if isinstance(inputs, torch.Tensor) or _is_shape(inputs):
        items, single = [inputs], True
    elif isinstance(inputs, (list, tuple)) and inputs and all(
            isinstance(x, torch.Tensor) or _is_shape(x) for x in inputs):
        items, single = list(inputs), False
    else:
        raise UsageError(f"inputs must be a (C, H, W) or (N, C, H, W) shape, a tensor, or a "
                         f"list of tensors and shapes, got {inputs!r}")
    first = next((x for x in items if isinstance(x, torch.Tensor)), None)
    if dtype is None:
        dtype = first.dtype if first is not None and first.is_floating_point() else "float32"
    dt = resolve_dtype(dtype)
    out = []
    for x in items:
        if isinstance(x, torch.Tensor):
            keep = not x.is_floating_point()  # token ids, masks: their own dtype
            out.append(torch.empty(x.shape, dtype=x.dtype if keep else dt, device="meta"))
            continue
        shape = tuple(int(v) for v in x)
        if single and len(shape) == 3:
            shape = (batch_size, *check_size(shape, batch_size))
        elif single and len(shape) != 4:
            raise UsageError(f"input_size must be (C, H, W) with positive sides, got {shape}")
        if any(v <= 0 for v in shape):
            raise UsageError(f"input shapes must have positive sides, got {shape}")
        out.append(torch.empty(shape, dtype=dt, device="meta"))
    if batch_size != 1 and out[0].shape[0] != batch_size:
        raise UsageError(f"batch_size {batch_size} disagrees with the input's batch "
                         f"{out[0].shape[0]}: give the batch once")
    return tuple(out), dt


def _is_shape(x: object) -> bool:
    return isinstance(x, (tuple, list, torch.Size)) and len(x) > 0 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in x)


@contextlib.contextmanager
def _traced_copy(model: nn.Module, dtype: torch.dtype) -> Iterator[nn.Module]:
    """What to trace, in eval mode: a meta copy of `model`; or, when it is on the meta
    device in `dtype` already (what `cnnzoo summary` builds), the model itself, its
    train/eval flags put back afterwards (deep-copying resnet152 took a fifth of the run)."""
    tensors = [*model.parameters(), *model.buffers()]
    if not all(t.is_meta and (t.dtype == dtype or not t.is_floating_point()) for t in tensors):
        yield meta_copy(model, dtype).eval()
        return
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield model.eval()
    finally:
        for m, training in modes:
            m.training = training


def profile(
    model: nn.Module,
    inputs: object = None,
    dtype: torch.dtype | str | None = None,
    batch_size: int = 1,
) -> Profile:
    """Every leaf layer's cost for one forward pass in eval mode, traced on the meta device.

    `inputs`: a (C, H, W) shape (at `batch_size`, 1 by default: costs per image), a batched
    (N, C, H, W) shape, a tensor, or a list of tensors and batched shapes, one per argument
    of `forward`; None (the default) for a model from create_model is its card's input
    size at the model's channels. `dtype`: float32 unless a tensor says otherwise. No
    arithmetic is done and no activation memory is used, whatever the model's size;
    `model` itself is not changed (a meta copy is traced). MACs count the multiply-adds of
    convolutions and linear layers (less those on structural zeros, see `zero_macs`); other
    FLOPs (batch norm, activations, pooling, additions, biases) are counted separately by
    kind. `print(profile(...))` prints the table.
    """
    if batch_size < 1:
        raise UsageError(f"batch_size must be >= 1, got {batch_size}")
    if inputs is None:
        inputs = default_input_size(model)
    xs, dt = meta_inputs(inputs, dtype, batch_size)
    tracer = Tracer()
    for x in xs:
        tracer.watch_input(x)
    with _traced_copy(model, dt) as meta, torch.no_grad():
        run_meta(meta, xs, tracer)
        layers = layer_rows(tracer)
        assign_stages(meta, layers)
    return Profile(
        model=model_name_of(model),
        input_size=tuple(xs[0].shape[1:]),
        batch_size=int(xs[0].shape[0]) if xs[0].ndim else 1,
        dtype=str(dt).removeprefix("torch."),
        params=sum(p.numel() for p in model.parameters()),
        layers=layers,
        peak_activation_bytes=tracer.memory.peak,
        peak_at=tracer.memory.peak_at,
        input_bytes=sum(x.numel() * x.element_size() for x in xs),
        uncounted_ops=tuple(sorted(tracer.uncounted)),
        input_shapes=tuple(tuple(x.shape) for x in xs),
    )

