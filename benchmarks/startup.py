"""Start-up of `cnnzoo summary resnet152` beside `python -c "import torch"`, side by side.

Each command runs in a fresh process, the commands alternating, `--repeats` rounds; the
table gives every wall time and the median. `--src DIR` (repeatable) adds a summary run
with `PYTHONPATH=DIR` per round, to compare source trees (before/after a change) in the
same run. The machine's CPU model and load average are printed with the table, since
these times depend on both.

    .venv/bin/python benchmarks/startup.py [--repeats 7] [--src /path/to/old/src ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def _wall(cmd: list[str], src: str) -> float:
    env = {**os.environ, "PYTHONPATH": src}
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def _cpu() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                  if ln.startswith("Model name")), "?")
    return f"{model}, {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--src", action="append", default=[],
                        help="another source tree to time `summary` from (e.g. main's)")
    args = parser.parse_args()
    summary = [sys.executable, "-m", "cnnzoo", "summary", "resnet152"]
    runs = {'python -c "import torch"': ([sys.executable, "-c", "import torch"], SRC),
            f"cnnzoo summary resnet152 ({SRC})": (summary, SRC)}
    for src in args.src:
        runs[f"cnnzoo summary resnet152 ({src})"] = (summary, src)
    times: dict[str, list[float]] = {k: [] for k in runs}
    load = [os.getloadavg()[0]]
    for _ in range(args.repeats):
        for label, (cmd, src) in runs.items():
            times[label].append(_wall(cmd, src))
        load.append(os.getloadavg()[0])
    print(f"CPU: {_cpu()}; load average (1 min) {min(load):.1f}-{max(load):.1f}; "
          f"{args.repeats} alternating rounds, wall seconds")
    print("| command | runs, in order | median |\n|---|---|---:|")
    for label, ts in times.items():
        print(f"| `{label}` | {', '.join(f'{t:.2f}' for t in ts)} | "
              f"{statistics.median(ts):.2f} |")


if __name__ == "__main__":
    main()
