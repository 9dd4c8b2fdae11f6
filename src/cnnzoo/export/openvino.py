"""OpenVINO, Intel's CPU inference runtime, on cnnzoo's ONNX files: load, compile, run.

OpenVINO reads the ONNX file `cnnzoo export` writes (the same graph ONNX Runtime runs), so
both runtimes are measured on one export. `openvino` is the optional extra `cnnzoo[openvino]`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnnzoo.errors import MissingDependencyError
from cnnzoo.extras import install_command


def require_openvino(purpose: str = "the openvino backend") -> object:
    """The `openvino` module, or MissingDependencyError naming the pip command."""
    try:
        import openvino
    except ImportError as e:
        raise MissingDependencyError(
            f"{purpose} needs OpenVINO, which is not installed; install it with: "
            f"{install_command('openvino')}"
        ) from e
    return openvino


def read_model(path: str | Path) -> object:
    """An OpenVINO model from an ONNX file or an OpenVINO IR (.xml beside its .bin)."""
    ov = require_openvino()
    return ov.Core().read_model(str(path))  # type: ignore[attr-defined]


def save_model(model: object, path: str | Path) -> list[Path]:
    """Write `model` as OpenVINO IR: `path` (.xml) and its weights (.bin); returns both.
    Weights stay in their precision (no fp16 compression), so the file runs what was timed."""
    ov = require_openvino()
    path = Path(path)
    ov.save_model(model, str(path), compress_to_fp16=False)  # type: ignore[attr-defined]
    return [path, path.with_suffix(".bin")]


Runner = Callable[[np.ndarray], np.ndarray]


def openvino_runner(model: object, threads: int, precision: str = "fp32") -> Runner:
    """A function from a float32 NCHW array to the logits, compiled for the CPU.

    Each new input shape is compiled once with a static shape (OpenVINO picks its kernels per
    shape); `precision` is the inference precision hint: OpenVINO would otherwise run fp32
    models in bf16 on CPUs that have it, which is not what a fp32 path promises.
    """
    ov = require_openvino()
    core = ov.Core()  # type: ignore[attr-defined]
    config = {
        "INFERENCE_NUM_THREADS": int(threads),
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": {"fp32": "f32", "bf16": "bf16", "int8": "f32"}[precision],
    }
    compiled: dict[tuple[int, ...], object] = {}

    def run(x: np.ndarray) -> np.ndarray:
        shape = tuple(x.shape)
        if shape not in compiled:
            m = model.clone()  # type: ignore[attr-defined]
            m.reshape(list(shape))
            compiled[shape] = core.compile_model(m, "CPU", config)
        request = compiled[shape]
        # The output array is the request's own buffer, which the next call overwrites.
        return np.array(request(x)[0], copy=True)  # type: ignore[operator]

    return run
