"""The deployment paths `cnnzoo deploy` measures: a runtime, a precision, how to build it,
the file it deploys as and how that file is loaded again.

Every path is built from the same model (eval mode, fp32, CPU): PyTorch paths through the
bench's variants (cnnzoo.bench.variants.prepare), ONNX Runtime and OpenVINO on one ONNX
export with batch norm folded, int8 through the quantizers of cnnzoo.export.quantize.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cnnzoo.bench.variants import Prepared, Variant, prepare
from cnnzoo.export import onnx_session
from cnnzoo.export.calibration import DeployData
from cnnzoo.export.openvino import openvino_runner, read_model, save_model
from cnnzoo.export.quantize import export_folded, quantize_nncf, quantize_onnxruntime
from cnnzoo.models.base import ZooModel
from cnnzoo.weights import save_weights


@dataclass
class Context:
    """What every path is built from; the fp32 ONNX export is made once, on first use."""

    model: ZooModel
    input_size: tuple[int, int, int]
    threads: int
    folder: Path  # scratch folder for the paths' files
    data: DeployData
    meta: dict = field(default_factory=dict)  # the weights' metadata, kept in written files
    _onnx: Path | None = None
    _int8_onnx: Path | None = None

    def onnx(self) -> Path:
        if self._onnx is None:
            self._onnx = export_folded(self.model, self.input_size, self.folder / "fp32.onnx")
        return self._onnx

    def int8_onnx(self) -> Path:
        if self._int8_onnx is None:
            self._int8_onnx = quantize_onnxruntime(self.onnx(), self.data.calibration,
                                                   self.folder / "int8-ort.onnx")
        return self._int8_onnx


@dataclass
class Built:
    """A path ready to run: `prepared.run(prepared.convert(x))` on a float32 NCHW batch."""

    prepared: Prepared
    files: list[Path]  # what deploying this path means shipping
    build_s: float

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.prepared.run(self.prepared.convert(x))
        if isinstance(out, list | tuple):
            out = out[0]
        return torch.as_tensor(np.asarray(out) if not isinstance(out, torch.Tensor) else out
                               ).float()

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)


@dataclass(frozen=True)
class DeployPath:
    key: str  # what --paths takes, e.g. "openvino-int8-nncf"
    name: str  # what the table shows, e.g. "openvino int8 (nncf)"
    runtime: str  # pytorch, onnxruntime or openvino
    precision: str  # fp32, bf16 or int8
    build: Callable[[Context], tuple[Prepared, list[Path]]]
    load: str  # how the written file is used, for the report
    suffix: str  # the written file's name ("model.onnx"), or "" for several

    def make(self, ctx: Context) -> Built:
        t0 = time.perf_counter()
        prepared, files = self.build(ctx)
        return Built(prepared, files, time.perf_counter() - t0)


def _weights_file(ctx: Context) -> Path:
    path = ctx.folder / "model.safetensors"
    if not path.exists():
        keep = {k: v for k, v in ctx.meta.items()
                if k not in ("format", "model", "num_classes", "in_chans")}
        save_weights(ctx.model, path, **keep)
    return path


def _torchscript_file(ctx: Context) -> Path:
    """The frozen channels_last trace, saved before `optimize_for_inference`: its pre-packed
    oneDNN weights do not survive torch.jit.save (the file loads with an error), so the
    loader applies that step again (cnnzoo.deploy.write.load_deployed)."""
    path = ctx.folder / "model.pt"
    m = copy.deepcopy(ctx.model).to(memory_format=torch.channels_last)
    x = torch.randn(2, *ctx.input_size).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.freeze(torch.jit.trace(m, (x,), check_trace=False)), str(path))
    return path


def _torch_path(variant: Variant) -> Callable[[Context], tuple[Prepared, list[Path]]]:
    def build(ctx: Context) -> tuple[Prepared, list[Path]]:
        prepared = prepare(ctx.model, variant, "cpu", ctx.input_size)
        if variant.backend != "torchscript":
            return prepared, [_weights_file(ctx)]
        return prepared, [_torchscript_file(ctx)]

    return build


def _as_numpy(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().float().contiguous().numpy()


def _ort(file: Callable[[Context], Path]) -> Callable[[Context], tuple[Prepared, list[Path]]]:
    def build(ctx: Context) -> tuple[Prepared, list[Path]]:
        path = file(ctx)
        session = onnx_session(path, ctx.threads)
        name = session.get_inputs()[0].name  # type: ignore[attr-defined]
        return Prepared(lambda x: session.run(None, {name: x}), _as_numpy), [path]  # type: ignore[attr-defined]

    return build


def _openvino(precision: str, quantize: bool) -> Callable[[Context], tuple[Prepared, list[Path]]]:
    def build(ctx: Context) -> tuple[Prepared, list[Path]]:
        if quantize:
            files = quantize_nncf(ctx.onnx(), ctx.data.calibration, ctx.folder / "int8.xml")
        else:
            files = save_model(read_model(ctx.onnx()), ctx.folder / f"{precision}.xml")
        run = openvino_runner(read_model(files[0]), ctx.threads, precision)
        return Prepared(run, _as_numpy), files

    return build


TORCH_LOAD = ("cnnzoo.create_model(NAME, weights='model.safetensors').eval()")
PATHS: tuple[DeployPath, ...] = (
    DeployPath("eager", "eager fp32", "pytorch", "fp32", _torch_path(Variant("eager")),
               TORCH_LOAD, "model.safetensors"),
    DeployPath("torchscript", "torchscript fp32", "pytorch", "fp32",
               _torch_path(Variant("torchscript", "fp32", "channels_last")),
               "torch.jit.optimize_for_inference(torch.jit.load('model.pt')) on channels_last "
               "float32 input", "model.pt"),
    DeployPath("compile", "compile fp32", "pytorch", "fp32",
               _torch_path(Variant("compile", "fp32", "channels_last")),
               f"torch.compile({TORCH_LOAD}.to(memory_format=torch.channels_last)) with "
               "torch._inductor.config.freezing = True", "model.safetensors"),
    DeployPath("ort", "onnxruntime fp32", "onnxruntime", "fp32", _ort(Context.onnx),
               "onnxruntime.InferenceSession('model.onnx')", "model.onnx"),
    DeployPath("openvino", "openvino fp32", "openvino", "fp32", _openvino("fp32", False),
               "openvino.Core().compile_model('model.xml', 'CPU', "
               "{'INFERENCE_PRECISION_HINT': 'f32'})", "model.xml"),
    DeployPath("eager-bf16", "eager bf16", "pytorch", "bf16",
               _torch_path(Variant("eager", "bf16", "channels_last")),
               f"{TORCH_LOAD}.to(torch.bfloat16, memory_format=torch.channels_last)",
               "model.safetensors"),
    DeployPath("openvino-bf16", "openvino bf16", "openvino", "bf16",
               _openvino("bf16", False),
               "openvino.Core().compile_model('model.xml', 'CPU', "
               "{'INFERENCE_PRECISION_HINT': 'bf16'})", "model.xml"),
    DeployPath("ort-int8", "onnxruntime int8 (ort quantize_static)", "onnxruntime", "int8",
               _ort(Context.int8_onnx), "onnxruntime.InferenceSession('model.onnx')",
               "model.onnx"),
    DeployPath("openvino-int8-qdq", "openvino int8 (ort quantize_static)", "openvino", "int8",
               lambda ctx: _openvino_file(ctx, ctx.int8_onnx()),
               "openvino.Core().compile_model('model.onnx', 'CPU')", "model.onnx"),
    DeployPath("openvino-int8-nncf", "openvino int8 (nncf)", "openvino", "int8",
               _openvino("int8", True),
               "openvino.Core().compile_model('model.xml', 'CPU')", "model.xml"),
)


def _openvino_file(ctx: Context, path: Path) -> tuple[Prepared, list[Path]]:
    return Prepared(openvino_runner(read_model(path), ctx.threads, "int8"), _as_numpy), [path]


def path_keys() -> list[str]:
    return [p.key for p in PATHS]
