"""Write docs/cost.md: the counting rules, with every example produced by its command.

    .venv/bin/python benchmarks/make_cost_doc.py            # rewrite it
    .venv/bin/python benchmarks/make_cost_doc.py --check    # exit 1 if it is stale
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import cnnzoo
from cnnzoo.blocks import DepthwiseSeparableConv, InceptionBlock
from cnnzoo.cli import main as cli

DOC = Path(__file__).resolve().parent.parent / "docs" / "cost.md"
COST_VS_TOOLS = Path(__file__).resolve().parent / "results" / "cost_vs_tools.md"


def run(command: str, head: int | None = None) -> str:
    """A fenced block: the command, then what it printed; with `head`, the command shown
    is piped through `head -n`, so the block is exactly what a reader's shell prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(command.split()[1:])
    assert code == 0, command
    lines = out.getvalue().rstrip("\n").splitlines()
    if head is not None:
        command, lines = f"{command} | head -n {head}", lines[:head]
    return "```\n$ " + command + "\n" + "\n".join(lines) + "\n```"


def real_layers() -> str:
    inception = cnnzoo.profile(InceptionBlock(192, 64, 96, 128, 16, 32, 32, branch3_kernel=5),
                               (192, 28, 28))
    separable = cnnzoo.profile(DepthwiseSeparableConv(3, 5), (3, 4, 4))
    shown = ("branch3.0.conv", "branch3.1.conv", "depthwise.0", "pointwise.0")
    rows = [f"{r.name} {r.type} {r.output_shape} {r.macs:,}"
            for r in (*inception.layers, *separable.layers) if r.name in shown]
    code = (
        ">>> from cnnzoo.blocks import InceptionBlock, DepthwiseSeparableConv\n"
        ">>> p = cnnzoo.profile(InceptionBlock(192, 64, 96, 128, 16, 32, 32, "
        "branch3_kernel=5), (192, 28, 28))\n"
        ">>> q = cnnzoo.profile(DepthwiseSeparableConv(3, 5), (3, 4, 4))\n"
        f">>> shown = {shown}\n"
        ">>> for r in p.layers + q.layers:\n"
        "...     if r.name in shown: print(r.name, r.type, r.output_shape, f\"{r.macs:,}\")\n"
        "..."
    )
    return "```\n" + code + "\n" + "\n".join(rows) + "\n```"


def mobilenet_memory() -> str:
    p = cnnzoo.profile(cnnzoo.create_model("mobilenet_v2", device="meta"), (3, 224, 224))
    lines = ["| block | between blocks (output) | largest tensor inside |", "|---|---:|---:|"]
    for block in (f"features.{i}" for i in range(1, 18)):  # the 17 inverted residual blocks
        rows = [r for r in p.layers if r.name.startswith(block + ".")]
        inside = max(rows, key=lambda r: r.activation_bytes)
        out_kib = rows[-1].activation_bytes / 1024
        lines.append(f"| {block} | {'x'.join(map(str, rows[-1].output_shape))}: "
                     f"{out_kib:,.0f} KiB | {'x'.join(map(str, inside.output_shape))}: "
                     f"{inside.activation_bytes / 1024:,.0f} KiB |")
    return "\n".join(lines)


def reference_table() -> str:
    cases = [("alexnet", {}, None), ("vgg11", {}, None), ("vgg13", {}, None),
             ("vgg16", {}, None), ("vgg19", {}, None)]
    cases += [(f"resnet{d}", {}, None) for d in (18, 34, 50, 101, 152)]
    cases += [("resnet50", {"stride_in_1x1": True}, None), ("googlenet", {}, None),
              ("inception_v3", {}, None), ("mobilenet_v2", {}, None)]
    cases += [("mobilenet_v1", {"width": a} if a != 1.0 else {}, None)
              for a in (1.0, 0.75, 0.5, 0.25)]
    cases += [("mobilenet_v1", {}, r) for r in (192, 160, 128)]
    cases += [(f"resnet{d}", {}, None) for d in (20, 32, 44, 56, 110)]
    lines = ["| model | options | input | MACs | params |", "|---|---|---|---:|---:|"]
    for name, options, side in cases:
        c, h, w = cnnzoo.model_card(name).input_size
        size = (c, side or h, side or w)
        p = cnnzoo.profile(cnnzoo.create_model(name, device="meta", **options), size)
        opts = ", ".join(f"{k}={v}" for k, v in options.items()) or "-"
        lines.append(f"| {name} | {opts} | {'x'.join(map(str, size))} | {p.macs:,} | "
                     f"{p.params:,} |")
    return "\n".join(lines)


def build() -> str:
    template = (Path(__file__).resolve().parent / "cost_doc_template.md").read_text()
    parts = {
        "COST_BOTTLENECK": run("cnnzoo cost bottleneck"),
        "COST_DEPTHWISE": run("cnnzoo cost depthwise"),
        "COST_DEPTHWISE_512": run("cnnzoo cost depthwise --c-out 512"),
        "REAL_LAYERS": real_layers(),
        "SUMMARY_STAGES": run("cnnzoo summary resnet50 --stages"),
        "SUMMARY_HEAD": run("cnnzoo summary resnet50", head=32),
        "SUMMARY_V1": run("cnnzoo summary resnet50 --stride-in-1x1 --stages"),
        "SUMMARY_OPTIONS": run("cnnzoo summary mobilenet_v1 --input-size 3,160,160 "
                               "--num-classes 10 --width 0.5 --stages"),
        "MOBILENET_MEMORY": mobilenet_memory(),
        "SUMMARY_TRAIN": run("cnnzoo summary mobilenet_v2 --stages --train-batch 32 "
                             "--optimizer adam"),
        "SUMMARY_LENET": run("cnnzoo summary lenet5"),
        "REFERENCE": reference_table(),
        "COMPARE": run("cnnzoo compare alexnet vgg16 resnet18 resnet50 resnet152 googlenet "
                       "inception_v3 mobilenet_v1 mobilenet_v2"),
        # The other tools are the benchmark's, not the library's: their table is read as
        # benchmarks/cost_vs_tools.py last wrote it.
        "COST_VS_TOOLS": COST_VS_TOOLS.read_text().rstrip("\n"),
    }
    for key, value in parts.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def main(argv: list[str]) -> int:
    text = build()
    if "--check" in argv:
        if DOC.read_text() == text:
            print(f"{DOC} is current")
            return 0
        print(f"{DOC} is stale: run .venv/bin/python benchmarks/make_cost_doc.py", file=sys.stderr)
        return 1
    fd, tmp = tempfile.mkstemp(dir=DOC.parent, prefix=".cost.md.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, DOC)
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
