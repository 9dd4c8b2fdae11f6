"""Test-set evaluation: loss, top-1, top-5, per-class accuracy and the confusion matrix,
summed over the ranks and over real samples only (shard padding is left out)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from cnnzoo.models.base import loss_of
from cnnzoo.train.distributed import DistContext, all_reduce_sum
from cnnzoo.train.precision import autocast


@dataclass
class EvalResult:
    loss: float
    top1: float  # fractions in [0, 1]
    top5: float
    count: int
    confusion: torch.Tensor  # [true class, predicted class] counts

    @property
    def per_class(self) -> list[float]:
        """Accuracy of each true class (nan for a class with no test sample)."""
        totals = self.confusion.sum(1).double()
        return (self.confusion.diagonal().double() / totals).tolist()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    channels_last: bool = False,
    ctx: DistContext | None = None,
    limit: int | None = None,
) -> EvalResult:
    """Evaluate in eval mode (restoring the previous mode). `limit` is how many of this
    rank's samples are real; the loader's `num_samples_unpadded` is used when it has one."""
    ctx = ctx or DistContext()
    device = torch.device(device)
    if limit is None:
        limit = getattr(loader, "num_samples_unpadded", None)
    was_training = model.training
    model.eval()
    k = min(5, num_classes)
    loss_sum = torch.zeros((), dtype=torch.float64)
    top1 = torch.zeros((), dtype=torch.int64)
    top5 = torch.zeros((), dtype=torch.int64)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    seen = 0
    try:
        for images, labels in loader:
            if limit is not None and seen >= limit:
                break
            if limit is not None and seen + len(labels) > limit:
                images, labels = images[: limit - seen], labels[: limit - seen]
            seen += len(labels)
            images = images.to(device, non_blocking=True)
            if channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                logits = model(images)  # in eval mode: the main head's logits alone
            logits = logits.float().cpu()
            loss_sum += loss_of(model, logits, labels, reduction="sum").double()
            best = logits.topk(k, dim=1).indices
            hit = best == labels[:, None]
            top1 += hit[:, 0].sum()
            top5 += hit.any(1).sum()
            confusion += torch.bincount(
                labels * num_classes + best[:, 0], minlength=num_classes * num_classes
            ).view(num_classes, num_classes)
    finally:
        model.train(was_training)
    totals = torch.cat([loss_sum.reshape(1), top1.double().reshape(1), top5.double().reshape(1),
                        torch.tensor([float(seen)], dtype=torch.float64)])
    all_reduce_sum(ctx, totals)
    all_reduce_sum(ctx, confusion)
    n = max(1, int(totals[3].item()))
    return EvalResult(
        loss=float(totals[0]) / n,
        top1=float(totals[1]) / n,
        top5=float(totals[2]) / n,
        count=int(totals[3].item()),
        confusion=confusion,
    )
