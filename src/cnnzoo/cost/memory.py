"""How much memory a training step needs: weights, gradients, optimizer state and the
activations autograd saves for the backward pass, traced on the meta device."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.cost.meta import meta_copy
from cnnzoo.cost.profile import check_size, resolve_dtype, run_meta
from cnnzoo.cost.tracer import Tracer
from cnnzoo.errors import UsageError
from cnnzoo.models.base import model_name_of

# Copies of the parameters each optimizer keeps between steps.
OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "rmsprop": 1, "adam": 2, "adamw": 2}


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes at the peak of one training step (forward, loss, backward) in steady state.

    `peak` = weights + optimizer state + the most that forward and backward hold at once
    (the batch, saved activations, gradients, and backward's temporaries). Gradients are
    assumed freed between steps (`zero_grad(set_to_none=True)`, PyTorch's default).
    """

    model: str
    batch_size: int
    optimizer: str
    dtype: str
    weights: int  # parameters and buffers
    gradients: int
    optimizer_state: int
    batch: int  # the input images and labels
    saved_activations: int  # held by autograd between forward and backward
    step_peak: int  # the most forward + backward hold at once, gradients included
    peak: int

    def to_dict(self) -> dict:
        return asdict(self)


def loss_of(out: object, target: torch.Tensor) -> torch.Tensor:
    # Models with auxiliary classifiers return (logits, aux); every head gets a loss.
    if isinstance(out, tuple) and hasattr(out, "logits"):
        loss = F.cross_entropy(out.logits, target)
        for aux in out.aux:
            loss = loss + F.cross_entropy(aux, target)
        return loss
    return F.cross_entropy(out, target)


def training_memory(
    model: nn.Module,
    input_size: tuple[int, int, int],
    batch_size: int = 32,
    optimizer: str = "momentum",
    dtype: torch.dtype | str = torch.float32,
) -> TrainingMemory:
    """Estimate the peak memory of a training step with `optimizer` (sgd, momentum,
    rmsprop, adam, adamw) at `batch_size`, without running any arithmetic."""
    if optimizer not in OPTIMIZER_STATE:
        raise UsageError(
            f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATE)}"
        )
    size = check_size(tuple(input_size), batch_size)
    dt = resolve_dtype(dtype)
    meta = meta_copy(model, dt).train()
    params = [p for p in meta.parameters() if p.requires_grad]
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    buffer_bytes = sum(b.numel() * b.element_size() for b in meta.buffers())
    frozen = sum(p.numel() * p.element_size() for p in meta.parameters() if not p.requires_grad)

    x = torch.empty((batch_size, *size), dtype=dt, device="meta")
    target = torch.zeros(batch_size, dtype=torch.long, device="meta")
    tracer = Tracer(record=False)
    tracer.watch_input(x)
    tracer.memory.current += target.untyped_storage().nbytes()
    batch = tracer.memory.current
    out = run_meta(meta, x, tracer)
    with tracer:
        loss = loss_of(out, target)
    saved = tracer.memory.current - batch
    del out
    with tracer:
        loss.backward()
    del loss
    return TrainingMemory(
        model=model_name_of(model),
        batch_size=batch_size,
        optimizer=optimizer,
        dtype=str(dt).removeprefix("torch."),
        weights=param_bytes + buffer_bytes + frozen,
        gradients=param_bytes,
        optimizer_state=OPTIMIZER_STATE[optimizer] * param_bytes,
        batch=batch,
        saved_activations=saved,
        step_peak=tracer.memory.peak,
        peak=param_bytes + buffer_bytes + frozen + OPTIMIZER_STATE[optimizer] * param_bytes
        + tracer.memory.peak,
    )
