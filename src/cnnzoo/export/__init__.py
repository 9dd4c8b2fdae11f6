"""Export a model to ONNX, TorchScript or a torch.export program, then check that the
exported file computes what eager PyTorch computes.

    from cnnzoo.export import export_model
    result = export_model(create_model("resnet18"), "resnet18.onnx", "onnx")
    print(result.summary())
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnzoo.atomic import umask_mode
from cnnzoo.errors import CnnzooError, ExportError, UsageError
from cnnzoo.export.formats import (
    FORMATS,
    SUFFIXES,
    WRITERS,
    load_runner,
    onnx_session,
    set_onnx_metadata,
)
from cnnzoo.export.parity import ParityCheck, parity_checks
from cnnzoo.models.base import model_name_of
from cnnzoo.registry import default_input_size
from cnnzoo.train.rundir import check_writable_file
from cnnzoo.version import __version__

__all__ = [
    "FORMATS", "ExportResult", "ParityCheck", "check_output", "export_model", "onnx_metadata",
    "onnx_session",
]

# Exported graphs fuse and reorder float32 arithmetic; 1e-4 of the output's scale is far
# above that rounding and far below any real disagreement.
DEFAULT_TOLERANCE = 1e-4


@dataclass
class ExportResult:
    path: Path
    format: str
    input_size: tuple[int, int, int]
    dynamic_batch: bool
    checks: list[ParityCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def summary(self) -> str:
        shape = "x".join(map(str, self.input_size))
        batch = "dynamic" if self.dynamic_batch else "fixed"
        n = "N" if self.dynamic_batch else "2"
        lines = [f"exported {self.format} to {self.path} (input {n}x{shape}, {batch} batch)"]
        for c in self.checks:
            if c.skipped:
                lines.append(f"  parity {c.inputs}: skipped ({c.skipped})")
            else:
                verdict = "ok" if c.ok else f"FAILED (tolerance {c.tolerance:g})"
                lines.append(f"  parity {c.inputs}: max abs err {c.max_abs:.3g}, "
                             f"max rel err {c.max_rel:.3g}  {verdict}")
        return "\n".join(lines)


# What an ONNX file carries from its weights' metadata (a cnnzoo-trained file's, or a
# pretrained tag's entry): the classes and the preprocessing of evaluation.
WEIGHTS_KEYS = ("dataset", "classes", "mean", "std", "image_size", "fit", "resize", "crop",
                "interpolation")


def onnx_metadata(model: nn.Module, input_size: tuple[int, int, int],
                  weights_meta: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The metadata_props of an exported ONNX file: model name, classes, input size, the
    evaluation preprocessing (mean/std, resize/crop or fit) where the weights' metadata says
    them, and the cnnzoo version. Values other than text are JSON."""
    props: dict[str, Any] = {"model": model_name_of(model),
                             "num_classes": getattr(model, "num_classes", None),
                             "input_size": list(input_size)}
    props.update({k: v for k, v in (weights_meta or {}).items()
                  if k in WEIGHTS_KEYS and v is not None})
    props["cnnzoo_version"] = __version__
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in props.items()
            if v is not None}


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def check_output(path: str | Path, format: str) -> Path:
    """Raise UsageError for an unknown format or an output path that cannot be written."""
    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")

    path = Path(path)
    if path.is_dir():
        raise UsageError(
            f"{path} is a folder; give a file name, e.g. {path / ('model' + SUFFIXES[format])}"
        )
    return check_writable_file(path, "-o")


def export_model(
    model: nn.Module,
    path: str | Path,
    format: str = "onnx",
    input_size: tuple[int, int, int] | None = None,
    dynamic_batch: bool = True,
    check: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    opset: int | None = None,
    weights_meta: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Export `model` (put in eval mode: auxiliary heads off) to `path`.

    An ONNX file carries `onnx_metadata` in its metadata_props: the classes and evaluation
    preprocessing come from `weights_meta` (what `cnnzoo.inference.weights_meta`
    reads from a weights file or a pretrained tag).

    With `check`, the written file is run (ONNX Runtime for ONNX) against eager PyTorch on
    random inputs of batch 1 and 3 and on real images; above `tolerance` (relative to the
    output's largest magnitude) ExportError is raised. The file appears at `path` only
    when export and checks succeed: it is written beside it under a temporary name first.
    """
    size = default_input_size(model, input_size)
    path = check_output(path, format)
    model.eval()
    # Batch 2 to trace: torch.export would specialise a batch of 1 to the constant 1.
    example = torch.randn(2, *size, device=next(model.parameters()).device)
    # The temporary name keeps the format's suffix: torch.export.save insists on .pt2.
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".partial{SUFFIXES[format]}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    result = ExportResult(path, format, size, dynamic_batch)
    try:
        try:
            WRITERS[format](model, example, tmp, dynamic_batch, opset)
            if format == "onnx":
                set_onnx_metadata(tmp, onnx_metadata(model, size, weights_meta))
        except CnnzooError:
            raise
        except Exception as e:  # noqa: BLE001 - any exporter failure becomes one clear line
            reason = _first_line(e)
            raise ExportError(
                f"exporting {model_name_of(model)} to "
                f"{format} failed: {reason}; try another format, or report it"
            ) from e
        if check:
            # A fixed-batch file only takes the traced batch of 2, real images included.
            batches, real_count = ((1, 3), 4) if dynamic_batch else ((2,), 2)
            try:
                run = load_runner(format, tmp)
                result.checks = parity_checks(run, model.to("cpu"), size, batches, tolerance,
                                              real_count=real_count)
            except CnnzooError:
                raise
            except Exception as e:  # noqa: BLE001 - a file that will not run is a failed export
                raise ExportError(
                    f"the exported {format} file could not be run for the parity check: "
                    f"{_first_line(e)}; nothing was written"
                ) from e
            if not result.ok:
                worst = max(result.checks, key=lambda c: c.max_rel)
                raise ExportError(
                    f"the exported {format} file disagrees with eager PyTorch on "
                    f"{worst.inputs}: max abs err {worst.max_abs:.3g}, max rel err "
                    f"{worst.max_rel:.3g} > tolerance {tolerance:g}; nothing was written "
                    "(`tolerance` sets the limit)"
                )
        umask_mode(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return result
