"""How much memory a training step needs: weights, gradients, optimizer state, the
activations autograd saves for the backward pass, the backward's temporaries and the
optimizer step's, all traced on the meta device by running the real step there."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
import torch.optim as optim
from torch import nn

from cnnzoo.analysis.meta import meta_copy
from cnnzoo.analysis.trace import Tracer
from cnnzoo.cost.profile import meta_inputs, run_meta
from cnnzoo.errors import UsageError
from cnnzoo.models.base import loss_of, model_name_of

OPTIMIZERS = ("sgd", "momentum", "rmsprop", "adam", "adamw")


def make_optimizer(
    name: str, params: Iterable[torch.Tensor], foreach: bool | None = None
) -> torch.optim.Optimizer:
    """The optimizers `training_memory` knows, with ordinary settings. `foreach=None` is
    torch's default for the parameters' device: one parameter at a time on the CPU, the
    multi-tensor (foreach) kernels on CUDA."""
    makers = {
        "sgd": lambda p: optim.SGD(p, lr=0.01, foreach=foreach),
        "momentum": lambda p: optim.SGD(p, lr=0.01, momentum=0.9, foreach=foreach),
        "rmsprop": lambda p: optim.RMSprop(p, lr=1e-3, foreach=foreach),
        "adam": lambda p: optim.Adam(p, lr=1e-3, foreach=foreach),
        "adamw": lambda p: optim.AdamW(p, lr=1e-3, foreach=foreach),
    }
    if name not in makers:
        raise UsageError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    return makers[name](params)


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes of a training step (forward, loss, backward, optimizer step) in steady state,
    the second step of a run: the optimizer state made by the first is there.

    `peak` = weights + the larger of
    - backward: optimizer state + `backward_peak` (the batch, the activations autograd
      saved, the gradients as backward makes them, and backward's temporaries);
    - optimizer step: the batch, gradients and state + `step_temporaries` (Adam's
      sqrt(v) and its quotient, one parameter at a time or all at once with foreach).
    Gradients are freed between steps (`zero_grad(set_to_none=True)`, torch's default).
    """

    model: str
    batch_size: int
    optimizer: str
    dtype: str
    foreach: bool
    weights: int  # parameters and buffers
    gradients: int
    optimizer_state: int
    batch: int  # the input images and labels
    saved_activations: int  # held by autograd between forward and backward
    backward_peak: int  # the most forward + backward hold at once, gradients included
    step_temporaries: int  # what the optimizer step allocates and frees again
    peak: int
    peak_in: str  # "backward" or "optimizer step"

    def to_dict(self) -> dict:
        return asdict(self)


def _nbytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def training_memory(
    model: nn.Module,
    input_size: tuple[int, ...],
    batch_size: int = 32,
    optimizer: str = "momentum",
    dtype: torch.dtype | str = torch.float32,
    foreach: bool | None = None,
) -> TrainingMemory:
    """Estimate the peak memory of a training step with `optimizer` (sgd, momentum,
    rmsprop, adam, adamw) at `batch_size`, without running any arithmetic: the real
    forward, loss, backward and torch.optim step run on a meta copy of `model`, and every
    tensor they make is counted while it is alive. `foreach`: as torch.optim's (None:
    torch's default, which on the CPU is one parameter at a time)."""
    if optimizer not in OPTIMIZERS:
        raise UsageError(
            f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
        )
    xs, dt = meta_inputs(tuple(input_size), dtype, batch_size)
    meta = meta_copy(model, dt).train()
    params = [p for p in meta.parameters() if p.requires_grad]
    opt = make_optimizer(optimizer, params, foreach)

    batch_size = xs[0].shape[0]
    target = torch.zeros(batch_size, dtype=torch.long, device="meta")
    tracer = Tracer(record=False)
    tracer.watch_input(xs[0])
    tracer.memory.current += target.untyped_storage().nbytes()
    meter = tracer.memory
    batch = meter.current
    out = run_meta(meta, xs, tracer)
    with tracer:
        loss = loss_of(meta, out, target)
    saved = meter.current - batch
    del out
    with tracer:
        loss.backward()
    del loss
    backward_peak = meter.peak
    gradients = _nbytes(p.grad for p in params if p.grad is not None)
    before = meter.current
    with tracer:
        opt.step()  # the first step makes the state
    state = meter.current - before
    # The second step is the steady one: its temporaries sit on top of the state.
    before = meter.current
    meter.peak = before
    with tracer:
        opt.step()
    temporaries = meter.peak - before
    weights = _nbytes((*meta.parameters(), *meta.buffers()))
    in_backward = backward_peak + state >= before + temporaries
    return TrainingMemory(
        model=model_name_of(model),
        batch_size=batch_size,
        optimizer=optimizer,
        dtype=str(dt).removeprefix("torch."),
        foreach=bool(foreach),  # torch's default on the CPU and meta is False
        weights=weights,
        gradients=gradients,
        optimizer_state=state,
        batch=batch,
        saved_activations=saved,
        backward_peak=backward_peak,
        step_temporaries=temporaries,
        peak=weights + max(backward_peak + state, before + temporaries),
        peak_in="backward" if in_backward else "optimizer step",
    )
