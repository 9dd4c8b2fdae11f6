"""Writing the chosen path to a folder (its file, README.md with the table, deploy.json) and
loading such a folder again."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from cnnzoo.atomic import atomic_path, write_text_atomic
from cnnzoo.deploy.paths import DeployPath
from cnnzoo.deploy.report import DeployReport
from cnnzoo.errors import UsageError
from cnnzoo.export import onnx_session
from cnnzoo.export.openvino import openvino_runner, read_model
from cnnzoo.inference import load_trained

RECORD = "deploy.json"


def check_out_dir(out: str | Path) -> Path:
    """The output folder, created (with its parents) if need be; UsageError if it cannot be."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"-o {path} is a file; give a folder for the deployed model")
    if not path.exists():
        try:
            path.mkdir(parents=True)
        except OSError as e:
            raise UsageError(f"-o {path}: cannot create the folder ({e.strerror}); choose "
                             "another") from None
    if not os.access(path, os.W_OK):
        raise UsageError(f"-o {path}: the folder is not writable; choose another")
    return path


def _copy_atomic(src: Path, dst: Path) -> None:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def write_deployment(out: Path, report: DeployReport, path: DeployPath,
                     files: list[Path]) -> list[str]:
    """Copy the winner's files into `out` (model.onnx, model.xml + model.bin, model.pt or
    model.safetensors), then its README.md and deploy.json last: a folder with a record
    always has its model. Returns the names written."""
    names = []
    for f in files:
        name = f.name if not path.suffix else Path(path.suffix).stem + f.suffix
        _copy_atomic(f, out / name)
        names.append(name)
    report.written = [*names, "README.md", RECORD]
    record = {**report.record(), "runtime": path.runtime, "precision": path.precision,
              "file": names[0], "load": path.load}
    write_text_atomic(out / "README.md", readme(report, path, names[0]))
    write_text_atomic(out / RECORD, json.dumps(record, indent=2) + "\n")
    return report.written


def readme(report: DeployReport, path: DeployPath, file: str) -> str:
    return (f"# {report.model}: deployed as {report.winner}\n\n{report.reason}\n\n"
            f"File: `{file}`; load it with `{path.load}`.\n\n"
            f"Measured {report.when}: {report.header()}\n\n{report.table('md')}\n\n"
            "p50/p99: latency of one image; images/s at the batch size above; top-1 agree "
            "and max logit err: against eager fp32 on the check images; acc delta: top-1 "
            "points against eager fp32 where the images have the model's labels.\n")


Runner = Callable[[torch.Tensor], torch.Tensor]


def load_deployed(folder: str | Path) -> tuple[Runner, dict]:
    """A function from a float32 NCHW batch to float32 logits running the file `deploy`
    wrote to `folder`, and the folder's record."""
    folder = Path(folder)
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"{folder} holds no readable {RECORD}: not a `cnnzoo deploy` "
                         "folder") from e
    file, runtime = folder / record["file"], record["runtime"]
    if runtime == "onnxruntime":
        session = onnx_session(file)
        name = session.get_inputs()[0].name  # type: ignore[attr-defined]
        return (lambda x: torch.from_numpy(session.run(None, {name: _np(x)})[0]),  # type: ignore[attr-defined]
                record)
    if runtime == "openvino":
        run = openvino_runner(read_model(file), torch.get_num_threads(), record["precision"])
        return (lambda x: torch.from_numpy(run(_np(x)))), record
    if file.suffix == ".pt":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.optimize_for_inference(torch.jit.load(str(file),
                                                                     map_location="cpu"))
        fmt = torch.channels_last
    else:
        module = load_trained(record["model"], file).model
        fmt = torch.contiguous_format
    dtype = torch.bfloat16 if record["precision"] == "bf16" else torch.float32
    module = module.to(dtype=dtype)

    def run_torch(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return module(x.to(dtype).contiguous(memory_format=fmt)).float()

    return run_torch, record


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().cpu().float().contiguous().numpy()
