"""Parity of an exported file with eager PyTorch on random and real inputs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cnnzoo.data import build_transform, load_dataset
from cnnzoo.export.formats import Runner


@dataclass(frozen=True)
class ParityCheck:
    """One comparison: which inputs, the largest absolute and relative errors."""

    inputs: str  # e.g. "random, batch 1" or "real (mnist), batch 4"
    max_abs: float
    max_rel: float  # max |exported - eager| / max |eager|
    tolerance: float
    skipped: str = ""  # why the check did not run, if it did not

    @property
    def ok(self) -> bool:
        return bool(self.skipped) or self.max_rel <= self.tolerance


def compare(run: Runner, model: nn.Module, x: torch.Tensor, label: str,
            tolerance: float) -> ParityCheck:
    with torch.no_grad():
        expected = model(x).double()
    got = run(x).double()
    if got.shape != expected.shape:
        return ParityCheck(f"{label} (shape {tuple(got.shape)} != {tuple(expected.shape)})",
                           float("inf"), float("inf"), tolerance)
    diff = (got - expected).abs().max().item()
    scale = max(expected.abs().max().item(), 1e-12)
    return ParityCheck(label, diff, diff / scale, tolerance)


def real_inputs(input_size: tuple[int, int, int], n: int = 4) -> tuple[torch.Tensor, str] | None:
    """`n` real test images (the embedded MNIST digits) fitted to `input_size`, or None
    when the data module cannot provide them."""
    try:
        ds = load_dataset("mnist")
        transform = build_transform(ds, input_size, convert_channels=True)
        images = ds.test.batch(torch.arange(n))
        return transform(images).float().contiguous(), "mnist test digits"
    except Exception:  # noqa: BLE001 - real inputs are a bonus check, never a crash
        return None


def parity_checks(
    run: Runner,
    model: nn.Module,
    input_size: tuple[int, int, int],
    batch_sizes: tuple[int, ...],
    tolerance: float,
    seed: int = 0,
    real_count: int = 4,
) -> list[ParityCheck]:
    """Random inputs at each batch size (other than the export batch, so a dynamic batch is
    exercised), then `real_count` real images."""
    gen = torch.Generator().manual_seed(seed)
    checks = []
    for b in batch_sizes:
        x = torch.randn((b, *input_size), generator=gen)
        checks.append(compare(run, model, x, f"random, batch {b}", tolerance))
    real = real_inputs(input_size, real_count)
    if real is None:
        checks.append(ParityCheck("real images", 0.0, 0.0, tolerance,
                                  skipped="no real images available (cnnzoo.data)"))
    else:
        x, label = real
        checks.append(compare(run, model, x, f"real ({label}), batch {len(x)}", tolerance))
    return checks
