"""Why PyTorch fp32 trails ONNX Runtime: time per layer kind, PyTorch (cnnzoo per_layer,
batch norm folded, channels_last) against ONNX Runtime's own profiler on the same folded
model, 1 thread.

    .venv/bin/python benchmarks/deploy_why_fp32.py mobilenet_v2 16
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from cnnzoo.bench import MachinePeaks, Variant, per_layer
from cnnzoo.export.quantize import export_folded
from cnnzoo.factory import create_model
from cnnzoo.registry import default_input_size

RUNS = 4  # ORT runs profiled; the first (allocations, kernel selection) is dropped


def conv_kind(input_shape: list[int], weight_shape: list[int]) -> str:
    """The roofline's kinds, from an ONNX Conv's input (N, C, H, W) and weight shapes (out,
    in/groups, kh, kw); channels may be blocked (ORT's NCHWc), so C counts only when > 1."""
    if weight_shape[1] == 1 and input_shape[1] > 1 and weight_shape[2] > 1:
        return "depthwise conv"
    return "1x1 conv" if weight_shape[2] == 1 else "conv"


def ort_profile(path: Path, x: np.ndarray) -> tuple[float, dict[str, float]]:
    """Median ms of a run and ms per node kind per run, from ORT's profiler."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.enable_profiling = True
    so.profile_file_prefix = str(path.parent / "ort_profile")  # beside the model: a temp dir
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    for _ in range(RUNS):
        session.run(None, {session.get_inputs()[0].name: x})
    with open(session.end_profiling()) as f:
        events = json.load(f)
    runs = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"]
    first_end = runs[0]["ts"] + runs[0]["dur"]
    kinds: dict[str, float] = collections.defaultdict(float)
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        if e["ts"] <= first_end:
            continue
        op = e["args"].get("op_name", "?")
        shapes = e["args"].get("input_type_shape", [])
        weight = list(shapes[1].values())[0] if len(shapes) > 1 else []
        if op in ("Conv", "FusedConv") and len(weight) == 4:
            op = conv_kind(list(shapes[0].values())[0], weight)
        kinds[op] += e["dur"] / 1e3 / (len(runs) - 1)
    return float(np.median([e["dur"] for e in runs[1:]])) / 1e3, kinds


def main() -> int:
    name, batch = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(1)
    model = create_model(name).eval()
    size = default_input_size(model)
    peaks = MachinePeaks("unused", "cpu", 1, {"fp32": 1e11, "bf16": 1e11}, 1e10)
    report = per_layer(model, size, Variant("folded", "fp32", "channels_last"), batch, "cpu",
                       3, 1, peaks=peaks)
    print(f"PyTorch folded channels_last: pass {1e3 * report.total_s:.1f} ms")
    for kind, v in sorted(report.by_kind().items(), key=lambda kv: -kv[1]["time_s"]):
        print(f"  {kind:16s} {1e3 * v['time_s']:8.1f} ms  layers {v['layers']}")
    with tempfile.TemporaryDirectory() as tmp:
        path = export_folded(model, size, Path(tmp) / "model.onnx")
        x = np.random.default_rng(0).standard_normal((batch, *size), dtype=np.float32)
        run_ms, kinds = ort_profile(path, x)
    print(f"ONNX Runtime: run {run_ms:.1f} ms")
    for kind, ms in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:16s} {ms:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
