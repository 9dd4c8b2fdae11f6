"""int8's accuracy, measured: trained models on their full test sets, fp32 against every int8
path `cnnzoo deploy` builds (calibrated on 300 training images, the default).

    .venv/bin/python benchmarks/deploy_accuracy.py lenet5=runs/l5/best.safetensors \
        resnet20=runs/r20/best.safetensors [--threads 1]

Each NAME=WEIGHTS is checked on the whole test split of the dataset its weights were trained
on (embedded MNIST: 2,000 digits; Fashion-MNIST: 10,000). The bound: int8 within 0.5 points
of fp32 top-1. Writes benchmarks/results/deploy_accuracy.md and prints it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cnnzoo.deploy import deploy
from cnnzoo.fmt import render
from cnnzoo.inference import load_trained

RESULTS = Path(__file__).parent / "results"
PATHS = ["eager", "ort", "ort-int8", "openvino-int8-qdq", "openvino-int8-nncf"]
BOUND = 0.5  # points of top-1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", metavar="NAME=WEIGHTS")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--check", type=int, default=10_000, help="test images (at most)")
    args = parser.parse_args()
    rows = []
    for item in args.models:
        name, _, weights = item.partition("=")
        trained = load_trained(name, weights)
        load = os.getloadavg()[0]
        report = deploy(trained, threads=args.threads, paths=PATHS, check=args.check,
                        rounds=1, repeats=3,
                        progress=lambda line, name=name: print(f"{name}: {line}",
                                                               file=sys.stderr))
        eager = report.result("eager fp32")
        for r in report.results:
            within = "-" if r.precision != "int8" or r.accuracy_delta is None else (
                "yes" if r.accuracy_delta >= -BOUND else "NO")
            rows.append([name, report.data.split(" from ")[-1].split(" (")[0], r.name,
                         f"{100 * r.accuracy:.2f}%" if r.accuracy is not None else "-",
                         f"{r.accuracy_delta:+.2f}" if r.accuracy_delta is not None else "-",
                         f"{100 * r.agreement:.2f}%", within,
                         f"{r.p50_ms:.2f}" if r.p50_ms else "-",
                         f"{(eager.p50_ms or 0) / r.p50_ms:.2f}x" if r.p50_ms else "-",
                         f"{load:.1f}"])
        print(report.data, file=sys.stderr)
    headers = ["model", "data", "path", "top-1", "delta (points)", "agreement with fp32",
               f"within {BOUND} points", "p50 ms (batch 1)", "vs eager", "load"]
    text = (f"threads {args.threads}; int8 calibrated on the first 300 training images of "
            "each model's dataset; top-1 on its test split\n\n"
            + render(headers, rows, "md", right=(3, 4, 5, 7, 8, 9)))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "deploy_accuracy.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
