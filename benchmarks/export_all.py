"""Export every registered model in every format at its card's input size, with the
parity check (random batches 1 and 3, real MNIST digits), and record the errors.

    .venv/bin/python benchmarks/export_all.py [--formats onnx,torchscript,exported-program]
                                              [--models 'resnet*']

Files go to a temporary folder and are deleted after their check. Writes
benchmarks/results/export_all.md and prints it. Exit status 1 if any model failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cnnzoo
from cnnzoo.errors import CnnzooError
from cnnzoo.export import FORMATS, export_model
from cnnzoo.export.formats import SUFFIXES

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--models", default="*")
    args = parser.parse_args()
    names = cnnzoo.list_models(args.models)
    formats = args.formats.split(",")
    rows = ["| model | format | seconds | max abs err | max rel err | checks | result |",
            "|---|---|--:|--:|--:|---|---|"]
    failed = 0
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / ("export_all.md" if args.models == "*" else "export_some.md")
    with tempfile.TemporaryDirectory() as folder:
        for i, name in enumerate(names, 1):
            model = cnnzoo.create_model(name)
            for fmt in formats:
                print(f"[{i}/{len(names)}] {name} -> {fmt}", file=sys.stderr, flush=True)
                path = Path(folder) / f"{name}{SUFFIXES[fmt]}"
                t0 = time.perf_counter()
                try:
                    result = export_model(model, path, fmt)
                except CnnzooError as e:
                    failed += 1
                    rows.append(f"| {name} | {fmt} | {time.perf_counter() - t0:.1f} | | | | "
                                f"FAILED: {e} |")
                    out.write_text("\n".join(rows) + "\n\n(incomplete: still running)\n")
                    continue
                path.unlink()
                worst_abs = max(c.max_abs for c in result.checks)
                worst_rel = max(c.max_rel for c in result.checks)
                checks = ", ".join(c.inputs for c in result.checks if not c.skipped)
                rows.append(f"| {name} | {fmt} | {time.perf_counter() - t0:.1f} | "
                            f"{worst_abs:.2g} | {worst_rel:.2g} | {checks} | ok |")
                # Written as it goes, so a long run interrupted still leaves its results.
                out.write_text("\n".join(rows) + "\n\n(incomplete: still running)\n")
    text = "\n".join(rows) + f"\n\n{len(names) * len(formats) - failed} of " \
        f"{len(names) * len(formats)} exports passed parity (tolerance: relative 1e-4).\n"
    out.write_text(text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
