"""cnnzoo's MACs against the counters users know: torch's FlopCounterMode, fvcore, ptflops and
torchinfo, on five models; every difference taken apart into what each tool counts.

    .venv/bin/pip install fvcore ptflops torchinfo    # the script's, not the library's
    .venv/bin/python benchmarks/cost_vs_tools.py      # writes the table, rebuilds docs/cost.md

Each tool runs on the real model (eval mode, one random image at the card's input size). Each
difference from cnnzoo's MACs is rebuilt from cnnzoo's own per-layer profile as a sum of named
parts (what that tool counts beside, or instead of, the multiply-adds of convolutions and
linear layers); the script fails when a sum does not give the tool's figure exactly. The
table goes to benchmarks/results/cost_vs_tools.md, which docs/cost.md includes
(make_cost_doc.py).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

import cnnzoo
from cnnzoo.cost import Profile

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "cost_vs_tools.md"
MODELS = ("lenet5", "alexnet", "resnet50", "mobilenet_v2", "googlenet")
TOOLS = ("FlopCounterMode", "fvcore", "ptflops", "torchinfo")


# -- the tools' figures ----------------------------------------------------------------------

def flop_counter_mode(model: torch.nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


def fvcore_count(model: torch.nn.Module, x: torch.Tensor) -> int:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


def ptflops_count(model: torch.nn.Module, x: torch.Tensor) -> int:
    from ptflops import get_model_complexity_info

    with contextlib.redirect_stdout(io.StringIO()):
        macs, _ = get_model_complexity_info(model, tuple(x.shape[1:]), as_strings=False,
                                            print_per_layer_stat=False)
    return int(macs)


def torchinfo_count(model: torch.nn.Module, x: torch.Tensor) -> int:
    import torchinfo

    return int(torchinfo.summary(model, input_data=x, verbose=0).total_mult_adds)


COUNTERS: dict[str, Callable[[torch.nn.Module, torch.Tensor], int]] = {
    "FlopCounterMode": flop_counter_mode, "fvcore": fvcore_count, "ptflops": ptflops_count,
    "torchinfo": torchinfo_count,
}


# -- the parts, from cnnzoo's profile ------------------------------------------------------

def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _sum(p: Profile, types: tuple[str, ...], value: Callable) -> int:
    return sum(value(r) for r in p.layers if r.type in types)


def parts(p: Profile) -> dict[str, int]:
    """Named quantities of one image's forward pass, read from cnnzoo's rows."""
    flops = lambda kind: lambda r: r.other_flops.get(kind, 0)  # noqa: E731
    return {
        "zero_macs": p.zero_macs,
        "bias": sum(r.other_flops.get("bias", 0) for r in p.layers),
        "bn": _sum(p, ("BatchNorm2d",), flops("norm")),  # 2 per element
        "bn_params": _sum(p, ("BatchNorm2d",), lambda r: r.params),
        "relu_modules": _sum(p, ("ReLU",), flops("activation")),
        "relu_functional": _sum(p, ("relu",), flops("activation")),
        "relu6": _sum(p, ("ReLU6",), flops("activation")),
        "maxpool_in": _sum(p, ("MaxPool2d",), lambda r: _numel(r.input_shape)),
        "adaptive_in": _sum(p, ("AdaptiveAvgPool2d",), lambda r: _numel(r.input_shape)),
        # F.adaptive_avg_pool2d(x, 1) in a forward: ATen runs it as a mean (cnnzoo's row).
        "global_mean_in": _sum(p, ("mean",), lambda r: _numel(r.input_shape)),
        "subsampling_in": _sum(p, ("Subsampling",), lambda r: _numel(r.input_shape)),
        "subsampling_params": _sum(p, ("Subsampling",), lambda r: r.params),
        "c3_macs": _sum(p, ("PartialConv2d",), lambda r: r.macs),
        "c3_bias": _sum(p, ("PartialConv2d",), flops("bias")),
    }


# What each tool adds to cnnzoo's MACs: (coefficient, part, why), in the tool's own rules
# (read from its source: fvcore's _DEFAULT_SUPPORTED_OPS and _IGNORED_OPS, ptflops'
# MODULES_MAPPING and patch_functional, torchinfo's LayerInfo.calculate_macs).
RULES: dict[str, list[tuple[int, str, str]]] = {
    "FlopCounterMode": [
        (1, "macs", "2 FLOPs per multiply-add: the MACs once more"),
        (2, "zero_macs", "the dense kernel's multiply-adds on C3's structural zeros, x2"),
    ],
    "fvcore": [
        (1, "zero_macs", "C3's structural zeros: fvcore counts the dense `aten::_convolution`"
                         " it traces"),
        (1, "bn", "batch norm, 2 per element (its `aten::batch_norm` handle, eval mode)"),
        (1, "adaptive_in", "adaptive average pooling, 1 per input element"),
        (1, "global_mean_in", "the F.adaptive_avg_pool2d the forward calls (cnnzoo's `mean` row:"
                              " ATen runs a 1x1 adaptive pool as a mean), 1 per input element"),
    ],
    "ptflops": [
        (-1, "c3_macs", "C3's multiply-adds are missed: a custom module (PartialConv2d) whose"
                        " F.conv2d ptflops neither hooks nor patches"),
        (1, "bias", "conv and linear biases, 1 per output element"),
        (-1, "c3_bias", "C3's bias, missed with it"),
        (1, "bn", "batch norm, 2 per element"),
        (2, "relu_modules", "nn.ReLU twice, 1 per element each: its module hook, and again the"
                            " patched F.relu that nn.ReLU calls"),
        (1, "relu_functional", "F.relu called by the model itself, 1 per element"),
        (1, "relu6", "nn.ReLU6 once (it calls F.hardtanh, which is not patched)"),
        (2, "maxpool_in", "nn.MaxPool2d twice, 1 per input element each: the module hook and"
                          " the patched F.max_pool2d"),
        (2, "adaptive_in", "nn.AdaptiveAvgPool2d twice, likewise (F.adaptive_avg_pool2d)"),
        (1, "global_mean_in", "F.adaptive_avg_pool2d called by the model itself, once"),
        (1, "subsampling_in", "LeNet-5's sub-sampling: its F.avg_pool2d, 1 per input element"),
    ],
    "torchinfo": [
        (1, "bias", "biases: a layer's parameters times its output positions"),
        (1, "bn_params", "batch norm: its parameter count (2 per channel), not its elements"),
        (1, "subsampling_params", "LeNet-5's sub-sampling: its parameter count (2 per map)"),
    ],
}
# What a tool leaves out that cnnzoo counts as other FLOPs: named where the tool adds nothing
# else, so that a reader sees why a figure is not larger.
LEFT_OUT = {
    "FlopCounterMode": "only matrix products and convolutions (no bias, norm, activation, "
                       "pooling, addition)",
    "fvcore": "no ReLU (ignored op), no max pool, no tanh or LeNet's scaling, no residual "
              "addition (unsupported ops, skipped)",
    "ptflops": "no tanh or LeNet's scaling, no residual addition (`x + y` is not patched)",
    "torchinfo": "no activation, pooling or addition: it counts parameters times positions",
}


def explain(tool: str, figure: int, p: Profile, named: dict[str, int]) -> tuple[str, int]:
    """The line saying why `tool` differs from cnnzoo's MACs, and what is left unexplained."""
    values = {"macs": p.macs, **named}
    terms = [(c * values[part], why) for c, part, why in RULES[tool] if values[part]]
    residual = figure - p.macs - sum(v for v, _ in terms)
    said = "; ".join(f"{v:+,} {why}" for v, why in terms) or "nothing added"
    return said, residual


def pct(figure: int, macs: int) -> str:
    change = 100 * (figure - macs) / macs
    return "=" if figure == macs else f"{change:+.2f}%"


def measure(name: str) -> tuple[Profile, dict[str, int]]:
    torch.manual_seed(0)
    model = cnnzoo.create_model(name).eval()
    size = cnnzoo.model_card(name).input_size
    x = torch.randn(1, *size)
    figures = {tool: count(model, x) for tool, count in COUNTERS.items()}
    return cnnzoo.profile(model, size), figures


def _version(package: str) -> str:
    return f"{package} {importlib.metadata.version(package)}"


def report() -> tuple[str, list[str]]:
    """The markdown, and the differences the rules could not rebuild exactly."""
    rows, lines, failures = [], [], []
    for name in MODELS:
        p, figures = measure(name)
        named = parts(p)
        cells = [f"{figures['FlopCounterMode']:,} ({pct(figures['FlopCounterMode'] // 2, p.macs)}"
                 " as /2)"]
        cells += [f"{figures[t]:,} ({pct(figures[t], p.macs)})" for t in TOOLS[1:]]
        rows.append(f"| {name} | {p.macs:,} | " + " | ".join(cells) + " |")
        for tool in TOOLS:
            said, residual = explain(tool, figures[tool], p, named)
            if residual:
                failures.append(f"{tool} on {name}: {residual:+,} not explained")
            check = "exact" if not residual else f"**{residual:+,} not explained**"
            change = pct(figures[tool] // (2 if tool == "FlopCounterMode" else 1), p.macs)
            lines.append(f"- {tool}, {name} ({change}): {said} ({check}).")
    versions = ", ".join([f"torch {torch.__version__.split('+')[0]}",
                          *(_version(t) for t in ("fvcore", "ptflops", "torchinfo"))])
    head = ("| model | cnnzoo MACs | FlopCounterMode FLOPs | fvcore | ptflops | torchinfo "
            "mult-adds |\n|---|---:|---:|---:|---:|---:|")
    left_out = "\n".join(f"- {tool}: {what}." for tool, what in LEFT_OUT.items())
    text = (f"Measured with {versions}; one image at each card's input size "
            "(`.venv/bin/python benchmarks/cost_vs_tools.py`). Percentages are against "
            "cnnzoo's MACs (FlopCounterMode's halved).\n\n"
            f"{head}\n" + "\n".join(rows) + "\n\n"
            "Each difference, rebuilt from cnnzoo's per-layer rows by the tool's own rules "
            "(\"exact\": the parts sum to the tool's figure):\n\n" + "\n".join(lines)
            + "\n\nWhat each leaves out of what cnnzoo counts as other FLOPs:\n\n" + left_out)
    return text, failures


def main() -> int:
    warnings.filterwarnings("ignore")  # the tools' tracer and deprecation chatter
    torch.set_num_threads(1)
    text, failures = report()
    RESULT.write_text(text + "\n")
    print(text)
    if failures:
        print("\n".join(["not explained:", *failures]), file=sys.stderr)
        return 1
    sys.path.insert(0, str(HERE))
    import make_cost_doc  # benchmarks/make_cost_doc.py: docs/cost.md includes the table

    return make_cost_doc.main([])


if __name__ == "__main__":
    sys.exit(main())
