"""Issue 15's targets, side by side in one process: for each model, `cnnzoo deploy`'s paths
(PyTorch eager and TorchScript, ONNX Runtime fp32, OpenVINO fp32, int8 through ORT's
quantize_static and through NNCF) timed in turns at batch 16, with the latency of one image.

    nice -n 19 .venv/bin/python benchmarks/deploy_speed.py --threads 1 \
        [--models resnet18,resnet50,mobilenet_v2,vgg16] [--calibration 100]

Targets: the chosen path >= 1.0x the fastest of ORT fp32 and OpenVINO fp32 (at batch 1 and
16), and int8 >= 2x ORT fp32 on resnet50 and mobilenet_v2. The models have random weights
(no ImageNet here), so top-1 agreement of int8 with fp32 is not a measure of its accuracy:
the chosen path is taken among the fp32 paths that pass, and int8's accuracy is measured on
trained models instead (benchmarks/deploy_accuracy.py). `torch.compile` is left out: its
compilation adds tens of seconds per model (measure it with `cnnzoo deploy NAME`).
Writes benchmarks/results/deploy_speed.jsonl (every path) and deploy_speed.md (the summary).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cnnzoo
from cnnzoo.deploy import deploy
from cnnzoo.fmt import render
from cnnzoo.inference import Trained
from cnnzoo.registry import default_input_size

RESULTS = Path(__file__).parent / "results"
PATHS = ["eager", "torchscript", "ort", "openvino", "ort-int8", "openvino-int8-qdq",
         "openvino-int8-nncf"]
INT8_TARGET = {"resnet50": 2.0, "mobilenet_v2": 2.0}


def summarise(record: dict) -> list[list[str]]:
    """Per batch size (16: images/s at batch 16; 1: 1000 / p50 ms): the chosen fp32 path
    and the best int8 path (passed or not: random weights) against ORT and OpenVINO fp32,
    and what deploy picked at batch 16 among all paths that passed."""
    by = {r["name"]: r for r in record["results"] if r["images_per_s"]}
    fp32 = [r for r in by.values() if r["precision"] == "fp32" and r["status"] == "passed"]
    int8 = [r for r in by.values() if r["precision"] == "int8"]
    torch_fp32 = [r for r in fp32 if r["runtime"] == "pytorch"]
    rows = []
    for batch, speed in ((1, lambda r: 1e3 / r["p50_ms"]), (16, lambda r: r["images_per_s"])):
        ort, ov = by.get("onnxruntime fp32"), by.get("openvino fp32")
        rivals = [r for r in (ort, ov) if r]
        if not rivals or not fp32:
            continue
        rival = max(speed(r) for r in rivals)
        chosen = max(fp32, key=speed)
        best_torch = max(torch_fp32, key=speed) if torch_fp32 else None
        best8 = max(int8, key=speed) if int8 else None
        target8 = INT8_TARGET.get(record["model"])
        rows.append([
            record["model"], batch, f"{chosen['name']} {speed(chosen):.1f}",
            f"{speed(ort):.1f}" if ort else "-", f"{speed(ov):.1f}" if ov else "-",
            f"{speed(chosen) / rival:.2f}x",
            f"{best_torch['name']} {speed(best_torch) / rival:.2f}x" if best_torch else "-",
            f"{best8['name']} {speed(best8):.1f}" if best8 else "-",
            f"{speed(best8) / speed(ort):.2f}x" + (f" (target {target8:g}x)" if target8 else "")
            if best8 and ort else "-",
            record["winner"] if batch == 16 else "-",
            f"{record['load'][0]:.1f} / {record['load_after']:.1f}",
        ])
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,vgg16")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calibration", type=int, default=100,
                        help="int8 calibration images (deploy's default is 300; 100 here to "
                        "keep vgg16's two calibrations under minutes)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--summarise-only", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    log_path = RESULTS / "deploy_speed.jsonl"
    if not args.summarise_only:
        for name in args.models.split(","):
            model = cnnzoo.create_model(name).eval()
            report = deploy(
                Trained(model, {}, default_input_size(model)), batch_size=16,
                threads=args.threads, paths=PATHS, calibration=args.calibration, check=32,
                rounds=args.rounds, repeats=args.repeats,
                progress=lambda line, name=name: print(f"{name}: {line}", file=sys.stderr),
            )
            print(report.header(), file=sys.stderr)
            print(report.table(), file=sys.stderr)
            with open(log_path, "a") as log:
                log.write(json.dumps({**report.record(), "load_after": os.getloadavg()[0]})
                          + "\n")
    latest: dict[str, dict] = {}
    for line in log_path.read_text().splitlines():
        record = json.loads(line)
        latest[record["model"]] = record
    headers = ["model", "batch", "chosen fp32 path, img/s", "ORT fp32", "OpenVINO fp32",
               "chosen / best of ORT, OV", "best PyTorch fp32 / best of ORT, OV",
               "best int8, img/s", "int8 / ORT fp32", "deploy's pick (any precision that "
               "passed)", "load before / after"]
    rows = [row for record in latest.values() for row in summarise(record)]
    threads = {r["threads"] for r in latest.values()}
    text = (f"threads {', '.join(map(str, sorted(threads)))}; images/s (batch 1: 1000 / p50 "
            "ms of one image)\n\n" + render(headers, rows, "md", right=(1, 3, 4, 5, 8)))
    (RESULTS / "deploy_speed.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
