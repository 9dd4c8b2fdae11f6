"""Writing and loading each export format. Every writer takes a model in eval mode and
an example input, and writes `path`; every loader returns a callable on tensors."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from cnnzoo.errors import MissingDependencyError
from cnnzoo.extras import install_command

FORMATS = ("onnx", "torchscript", "exported-program")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "exported-program": ".pt2"}

Runner = Callable[[torch.Tensor], torch.Tensor]


def require(module: str, purpose: str) -> None:
    """Import an optional package, or raise MissingDependencyError naming the fix."""
    try:
        __import__(module)
    except ImportError as e:
        raise MissingDependencyError(
            f"{purpose} needs the optional package {module!r}, which is not installed; "
            f"install it with: {install_command(module)}"
        ) from e


@contextlib.contextmanager
def quiet_export() -> Iterator[None]:
    """Silence the exporters' chatter (deprecation notes, skipped torchvision ops)."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo",
                                               "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _batch_dim(dynamic_batch: bool) -> dict | None:
    if not dynamic_batch:
        return None
    return {"x": {0: torch.export.Dim("batch", min=1, max=65536)}}


def write_onnx(
    model: nn.Module, x: torch.Tensor, path: Path, dynamic_batch: bool, opset: int | None
) -> None:
    for module in ("onnx", "onnxscript"):
        require(module, "ONNX export")
    with quiet_export():
        program = torch.onnx.export(
            model, (x,), dynamo=True, dynamic_shapes=_batch_dim(dynamic_batch),
            input_names=["input"], output_names=["logits"], opset_version=opset,
            external_data=False, verbose=False, optimize=True,
        )
        program.save(str(path), external_data=False)


def set_onnx_metadata(path: Path, props: dict[str, str]) -> None:
    """Write `props` into the ONNX file's metadata_props (what `onnx.load(path)
    .metadata_props` and ONNX Runtime's `get_modelmeta().custom_metadata_map` read)."""
    import onnx

    proto = onnx.load(str(path))
    onnx.helper.set_model_props(proto, props)
    onnx.save(proto, str(path))


def write_torchscript(
    model: nn.Module, x: torch.Tensor, path: Path, dynamic_batch: bool, opset: int | None
) -> None:
    # A trace records the operators run on `x`; our models' shapes do not depend on the
    # batch size, so the traced graph runs any batch (the parity check verifies it).
    with quiet_export(), torch.no_grad():
        traced = torch.jit.trace(model, (x,), check_trace=False)
    torch.jit.save(traced, str(path))


def write_exported_program(
    model: nn.Module, x: torch.Tensor, path: Path, dynamic_batch: bool, opset: int | None
) -> None:
    with quiet_export():
        program = torch.export.export(model, (x,), dynamic_shapes=_batch_dim(dynamic_batch))
    torch.export.save(program, str(path))


WRITERS = {
    "onnx": write_onnx,
    "torchscript": write_torchscript,
    "exported-program": write_exported_program,
}


def onnx_session(path: Path | str, threads: int | None = None) -> object:
    """An ONNX Runtime CPU session on `path`, with all graph optimisations."""
    require("onnxruntime", "Running ONNX models")
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def load_runner(fmt: str, path: Path | str) -> Runner:
    """A function running the exported file at `path` on a float32 CPU tensor."""
    if fmt == "onnx":
        session = onnx_session(path)
        name = session.get_inputs()[0].name  # type: ignore[attr-defined]

        def run_onnx(x: torch.Tensor) -> torch.Tensor:
            out = session.run(None, {name: x.detach().cpu().numpy()})  # type: ignore[attr-defined]
            return torch.from_numpy(out[0])

        return run_onnx
    if fmt == "torchscript":
        module = torch.jit.load(str(path), map_location="cpu")
    else:
        module = torch.export.load(str(path)).module()

    def run_torch(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return module(x)

    return run_torch
