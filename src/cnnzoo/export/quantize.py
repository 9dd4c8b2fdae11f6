"""int8 post-training static quantization of a cnnzoo model, through two tools.

Both start from the same file: the model with every batch norm folded into its convolution
(cnnzoo.optimize.fold_batchnorm), exported to ONNX in fp32. Weights are quantized per output
channel (symmetric int8), activations per tensor with ranges calibrated on real images.

- `quantize_onnxruntime`: ONNX Runtime's `quantize_static` (QDQ format, min-max calibration);
  the result is an ONNX file that ONNX Runtime (and OpenVINO) run with int8 kernels.
- `quantize_nncf`: OpenVINO's NNCF on the OpenVINO model (its default: min-max ranges with
  bias correction, the "performance" preset's symmetric activations); an OpenVINO IR.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnnzoo.errors import MissingDependencyError
from cnnzoo.export import export_model
from cnnzoo.export.openvino import read_model, require_openvino, save_model
from cnnzoo.extras import install_command
from cnnzoo.optimize import fold_batchnorm

CALIBRATION_BATCH = 1  # one image per calibration step: the tools count steps, not images


def export_folded(model: nn.Module, input_size: tuple[int, int, int], path: Path) -> Path:
    """`model` with batch norm folded, as a dynamic-batch fp32 ONNX file at `path`."""

    m = copy.deepcopy(model).cpu().float().eval()
    fold_batchnorm(m, torch.randn(2, *input_size), inplace=True)
    export_model(m, path, "onnx", input_size, check=False)
    return path


def _batches(images: torch.Tensor) -> list[np.ndarray]:
    arr = images.detach().cpu().float().contiguous().numpy()
    return [arr[i:i + CALIBRATION_BATCH] for i in range(0, len(arr), CALIBRATION_BATCH)]


def quantize_onnxruntime(fp32_onnx: Path, calibration: torch.Tensor, out: Path) -> Path:
    """ONNX Runtime `quantize_static` of `fp32_onnx`: QDQ, per-channel int8 weights, uint8
    activations calibrated (min-max) on `calibration`; written to `out`."""
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:
        raise MissingDependencyError(
            "int8 through ONNX Runtime needs onnxruntime; install it with: "
            + install_command("onnxruntime")) from e

    class Reader(CalibrationDataReader):
        def __init__(self, name: str) -> None:
            self.items = iter([{name: b} for b in _batches(calibration)])

        def get_next(self) -> dict | None:
            return next(self.items, None)

    import onnx

    name = onnx.load(str(fp32_onnx), load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory(prefix="cnnzoo-quant-") as tmp, _quiet():
        pre = Path(tmp) / "pre.onnx"
        # Shape inference and graph clean-up first, as ORT recommends before quantizing.
        quant_pre_process(str(fp32_onnx), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(out), Reader(name), quant_format=QuantFormat.QDQ, per_channel=True,
            weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
            calibrate_method=CalibrationMethod.MinMax,
            # AVX2's u8 x s8 multiply saturates at 16 bits; 7-bit weights keep the sums exact.
            reduce_range=True,
            extra_options={"CalibTensorRangeSymmetric": False},
        )
    return out


def quantize_nncf(fp32_onnx: Path, calibration: torch.Tensor, out_xml: Path) -> list[Path]:
    """NNCF post-training quantization of the OpenVINO model read from `fp32_onnx`, calibrated
    on `calibration`; written as OpenVINO IR (`out_xml` and its .bin). Returns both paths."""

    require_openvino("int8 through NNCF")
    try:
        import nncf
    except ImportError as e:
        raise MissingDependencyError(
            "int8 through NNCF needs nncf; install it with: " + install_command("nncf")) from e
    items = _batches(calibration)
    with _quiet():
        quantized = nncf.quantize(
            read_model(fp32_onnx), nncf.Dataset(items), subset_size=len(items),
            preset=nncf.QuantizationPreset.PERFORMANCE,
        )
    return save_model(quantized, out_xml)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the quantizers' progress bars, INFO logs and warnings (the caller reports
    progress); errors still raise."""
    loggers = [logging.getLogger(n) for n in ("nncf", "onnxruntime", "root")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), \
                contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
