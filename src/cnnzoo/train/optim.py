"""Optimizers (no weight decay on norms and biases) and per-step learning-rate schedules."""

from __future__ import annotations

import math

import torch
from torch import nn

from cnnzoo.train.config import TrainConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: weights of convs and linears decay; norm scales/shifts and biases
    (every parameter of one dimension) do not, since shrinking them only hurts."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.wd)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=cfg.base_lr, momentum=cfg.momentum, nesterov=cfg.nesterov
        )
    return torch.optim.AdamW(groups, lr=cfg.base_lr)


class Schedule:
    """The learning rate as a pure function of the global step, so resuming needs only
    the step count (kept in `state_dict` for the checkpoint)."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int) -> None:
        self.kind = cfg.schedule
        self.peak = cfg.base_lr
        self.steps_per_epoch = steps_per_epoch
        self.total = max(1, cfg.epochs * steps_per_epoch)
        self.warmup = round(cfg.warmup * steps_per_epoch)
        milestones = cfg.milestones or (0.5 * cfg.epochs, 0.75 * cfg.epochs)
        self.milestones = [round(m * steps_per_epoch) for m in milestones]
        self.gamma = cfg.gamma
        self.step = 0

    def lr(self, step: int) -> float:
        if self.kind == "onecycle":
            # Smith's one-cycle: up from peak/25 over the warm-up, then cosine down to ~0.
            start, end = self.peak / 25, self.peak / 1e4
            if step < self.warmup:
                return start + (self.peak - start) * step / self.warmup
            t = (step - self.warmup) / max(1, self.total - self.warmup)
            return end + (self.peak - end) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        if step < self.warmup:
            return self.peak * (step + 1) / self.warmup
        if self.kind == "cosine":
            t = (step - self.warmup) / max(1, self.total - self.warmup)
            return self.peak * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
        if self.kind == "step":
            return self.peak * self.gamma ** sum(step >= m for m in self.milestones)
        return self.peak

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        self.step = step
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict:
        return {"kind": self.kind, "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])
