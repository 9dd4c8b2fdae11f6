"""How long `cnnzoo.profile` takes and how much memory it uses, per model.

Each model is measured in a fresh Python process: build on the meta device, then profile
at the default input (first call, then the median of 3 more). Memory is the rise in the
process's peak resident set size (VmHWM, reset just before) while profiling, and the
process's whole resident size at the end (Python, torch and cnnzoo included), beside
its size just after `import torch`.

    .venv/bin/python benchmarks/profile_speed.py [--models vgg16 resnet152 ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
import torch
rss_torch = status("VmRSS")
import cnnzoo
name = sys.argv[1]
cnnzoo.list_models()  # import every model file once, outside the timing
t = time.perf_counter()
model = cnnzoo.create_model(name, device="meta")
build = time.perf_counter() - t
size = cnnzoo.model_card(name).input_size
rss_before = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current size
t = time.perf_counter()
p = cnnzoo.profile(model, size)
first = time.perf_counter() - t
hwm = status("VmHWM")
warm = []
for _ in range(3):
    t = time.perf_counter()
    cnnzoo.profile(model, size)
    warm.append(time.perf_counter() - t)
print(json.dumps({"model": name, "layers": len(p.layers), "macs": p.macs, "build_s": build,
                  "first_s": first, "warm_s": statistics.median(warm),
                  "rise_mib": (hwm - rss_before) / 2**20, "rss_mib": status("VmRSS") / 2**20,
                  "torch_mib": rss_torch / 2**20}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+",
                        default=["vgg16", "resnet152", "inception_v3", "mobilenet_v2"])
    args = parser.parse_args()
    print("| model | rows | build on meta s | profile s (first) | profile s (warm) "
          "| memory rise MiB | process RSS MiB | RSS after `import torch` MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.models:
        out = subprocess.run([sys.executable, "-c", CHILD, name], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {r['model']} | {r['layers']} | {r['build_s']:.3f} | {r['first_s']:.3f} | "
              f"{r['warm_s']:.3f} | {r['rise_mib']:.1f} | {r['rss_mib']:.0f} | "
              f"{r['torch_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
