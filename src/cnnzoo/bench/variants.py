"""The ways one model can be run: precision x memory format x execution backend.

`prepare(model, variant, device)` returns a `Prepared`: a function on an input batch
and the conversion that input needs (dtype, memory format), done outside the timing.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnzoo.bench.machine import precisions_for
from cnnzoo.errors import MissingDependencyError, UsageError
from cnnzoo.export import export_model, onnx_session
from cnnzoo.export.calibration import deploy_data
from cnnzoo.export.openvino import openvino_runner, read_model, require_openvino
from cnnzoo.export.quantize import export_folded, quantize_onnxruntime
from cnnzoo.extras import install_command
from cnnzoo.inference import Trained
from cnnzoo.optimize import example_input, fold_batchnorm
from cnnzoo.precision import (
    PRECISIONS,
    QUANTIZED,
    bf16_emulated,
    dtype_of,
    lookup,
    precision_name,
)

BACKENDS = ("eager", "folded", "compile", "torchscript", "onnxruntime", "openvino")
MEMORY_FORMATS = ("contiguous", "channels_last")
BENCH_CALIBRATION = 100  # int8 calibration images: speed does not depend on the ranges
_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


@dataclass(frozen=True)
class Variant:
    backend: str = "eager"
    precision: str = "fp32"
    memory_format: str = "contiguous"

    def __post_init__(self) -> None:
        # Any precision word or dtype, kept by its canonical name (check_variant rejects
        # the unknown ones).
        object.__setattr__(self, "precision", lookup(self.precision) or self.precision)

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision} {self.memory_format}"


def check_device(device: torch.device | str) -> torch.device:
    """The torch.device for `device`, or UsageError if it is unknown or absent here."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {device!r}; use cpu or cuda") from None
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"device {dev.type} is not supported by the benchmark; use cpu or cuda")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("device cuda asked for, but PyTorch sees no CUDA GPU; use cpu")
    return dev


def check_variant(variant: Variant, device: torch.device | str) -> None:
    """Raise UsageError (or MissingDependencyError) for a combination that cannot run."""
    dev = check_device(device)
    if variant.backend not in BACKENDS:
        raise UsageError(
            f"unknown backend {variant.backend!r}; choose from {', '.join(BACKENDS)}"
        )
    precision_name(variant.precision, (*PRECISIONS, *QUANTIZED))
    if variant.precision in QUANTIZED:
        if variant.backend not in ("onnxruntime", "openvino"):
            raise UsageError(
                f"precision {variant.precision} runs on the onnxruntime and openvino backends "
                "(quantized by ONNX Runtime's quantize_static); use --backend onnxruntime or "
                "openvino for it"
            )
    elif variant.precision not in precisions_for(dev):
        raise UsageError(
            f"precision {variant.precision} is offered on CUDA only (CPUs have no fast fp16 "
            "matrix units); use bf16 on CPU"
        )
    if variant.memory_format not in MEMORY_FORMATS:
        raise UsageError(
            f"unknown memory format {variant.memory_format!r}; choose from "
            f"{', '.join(MEMORY_FORMATS)}"
        )
    if variant.backend == "onnxruntime":
        if dev.type != "cpu" or variant.precision not in ("fp32", "int8"):
            raise UsageError(
                "the onnxruntime backend runs fp32 or int8 on CPU here (its CPU execution "
                "provider); use device cpu and precision fp32 or int8 for it"
            )
        try:
            import onnxruntime  # noqa: F401
        except ImportError as e:
            raise MissingDependencyError(
                "the onnxruntime backend needs onnxruntime, onnx and onnxscript; install them "
                "with: " + install_command("onnxruntime", "onnx", "onnxscript")
            ) from e
    if variant.backend == "openvino":
        if dev.type != "cpu" or variant.precision not in ("fp32", "int8"):
            raise UsageError(
                "the openvino backend runs fp32 or int8 on CPU here; use device cpu and "
                "precision fp32 or int8 for it (bf16 where the CPU has it: `cnnzoo deploy`)"
            )

        require_openvino()
        check_variant(Variant("onnxruntime"), dev)  # it runs the ONNX export


def useful_variants(device: torch.device | str, onnx: bool = True) -> list[Variant]:
    """What `--all` runs: each backend in its best layout, every precision this device
    runs natively (not bf16 on a CPU that emulates it), plus the plain contiguous eager
    baseline and ONNX Runtime (when installed). OpenVINO and int8 are asked for by name
    (`--backend openvino`, `--precision int8`): each adds an ONNX export (and int8 a
    calibration) per model, and `cnnzoo deploy` compares them all."""
    out = []
    for p in precisions_for(device):
        if p == "bf16" and bf16_emulated(device):
            continue
        out.append(Variant("eager", p, "contiguous"))
        for backend in ("eager", "folded", "torchscript", "compile"):
            out.append(Variant(backend, p, "channels_last"))
    if onnx and torch.device(device).type == "cpu":
        try:
            import onnxruntime  # noqa: F401

            out.append(Variant("onnxruntime", "fp32", "contiguous"))
        except ImportError:
            pass
    return out


@dataclass
class Prepared:
    run: Callable[[torch.Tensor], object]
    convert: Callable[[torch.Tensor], object]
    cleanup: Callable[[], None] = lambda: None


@contextlib.contextmanager
def _inductor_freezing(device: torch.device) -> Iterator[None]:
    # Freezing lets inductor treat weights as constants on CPU: batch norm folds away and
    # convolution weights are pre-packed for oneDNN once, not reordered on every call.
    if device.type != "cpu":
        yield
        return
    import torch._inductor.config as inductor_config

    with inductor_config.patch(freezing=True):
        yield


def prepare(model: nn.Module, variant: Variant, device: torch.device | str,
            input_size: tuple[int, int, int]) -> Prepared:
    """A copy of `model` set up to run as `variant` describes; `model` is not changed."""
    dev = torch.device(device)
    check_variant(variant, dev)
    if variant.backend in ("onnxruntime", "openvino"):
        return _prepare_onnx(model, input_size, variant.backend, variant.precision)
    dtype = dtype_of(variant.precision)
    fmt = _FORMATS[variant.memory_format]

    def convert(x: torch.Tensor) -> torch.Tensor:
        return x.to(device=dev, dtype=dtype).contiguous(memory_format=fmt)

    m = copy.deepcopy(model).eval()
    if variant.backend == "folded":
        m = fold_batchnorm(m, example_input(m), inplace=True)
    m = m.to(device=dev, dtype=dtype, memory_format=fmt)
    if variant.backend == "torchscript":
        example = convert(torch.randn(2, *input_size))
        # TorchScript is deprecated in favour of torch.compile, but on CPU its frozen,
        # oneDNN-fused graphs are still among the fastest fp32 paths, so we keep measuring it.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.freeze(torch.jit.trace(m, (example,), check_trace=False))
            if dev.type == "cpu":
                traced = torch.jit.optimize_for_inference(traced)
        return Prepared(_no_grad(traced), convert)
    if variant.backend == "compile":
        compiled = torch.compile(m, dynamic=False)

        def run_compiled(x: torch.Tensor) -> object:
            with torch.no_grad(), _inductor_freezing(dev):
                return compiled(x)

        return Prepared(run_compiled, convert, torch._dynamo.reset)
    return Prepared(_no_grad(m), convert)


def _no_grad(fn: Callable[[torch.Tensor], object]) -> Callable[[torch.Tensor], object]:
    def run(x: torch.Tensor) -> object:
        with torch.no_grad():
            return fn(x)

    return run


def _int8_onnx(model: nn.Module, input_size: tuple[int, int, int], folder: Path) -> Path:
    """The int8 file `cnnzoo deploy` builds, calibrated on the real images it would use
    (a model without weights metadata: the embedded MNIST digits fitted to its input)."""

    images = deploy_data(Trained(model, {}, input_size), calibration=BENCH_CALIBRATION, check=1)
    fp32 = export_folded(model, input_size, folder / "fp32.onnx")
    return quantize_onnxruntime(fp32, images.calibration, folder / "int8.onnx")


def _prepare_onnx(model: nn.Module, input_size: tuple[int, int, int], backend: str,
                  precision: str = "fp32") -> Prepared:
    """ONNX Runtime or OpenVINO on the same ONNX export of `model`; for int8, that export
    with batch norm folded, quantized by ONNX Runtime's quantize_static (cnnzoo.deploy)."""

    folder = tempfile.TemporaryDirectory(prefix="cnnzoo-bench-")
    path = Path(folder.name) / "model.onnx"
    if precision == "int8":
        path = _int8_onnx(model, input_size, Path(folder.name))
    else:
        export_model(copy.deepcopy(model).cpu().float(), path, "onnx", input_size, check=False)
    if backend == "openvino":
        run = openvino_runner(read_model(path), torch.get_num_threads(), precision)
    else:
        session = onnx_session(path)
        name = session.get_inputs()[0].name  # type: ignore[attr-defined]

        def run(x: object) -> object:
            return session.run(None, {name: x})  # type: ignore[attr-defined]

    def convert(x: torch.Tensor) -> object:
        return x.detach().cpu().float().contiguous().numpy()

    return Prepared(run, convert, folder.cleanup)
