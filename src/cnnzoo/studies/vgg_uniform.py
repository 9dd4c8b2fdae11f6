"""vgg-uniform: VGG-16 is built from one kind of convolution and one kind of pooling."""

from __future__ import annotations

from torch import nn

from cnnzoo.factory import create_model
from cnnzoo.studies.base import CONFIRMED, REFUTED, RawData, Study, StudyContext, Verdict

STUDY = Study(
    id="vgg-uniform",
    claim="VGG-16 uses only 3x3 convolutions with stride 1 and 'same' padding, and only 2x2 "
          "max-pools with stride 2; it has 16 weight layers (13 convolutions, 3 fully "
          "connected), and its channels double 64 -> 128 -> 256 -> 512 while each pool halves "
          "the size.",
    source="Simonyan & Zisserman 2015, Very Deep Convolutional Networks, sec. 2.1 and "
           "Table 1 (config D)",
    experiment="Walk VGG-16's module tree: every Conv2d's kernel, stride and padding, every "
               "pooling layer's kind, window and stride, the weight layers, and the traced "
               "output shape after each pool.",
    tolerance="Exact: every convolution 3x3/stride 1/padding 1, every pool MaxPool 2x2/"
              "stride 2, 13 + 3 = 16 weight layers, 5 pools; a single exception refutes it.",
    quick_cost="< 1 s", full_cost="< 1 s",
    deviations="Our VGG has torchvision's adaptive 7x7 average pool before the classifier "
               "(a no-op at 224x224); it is reported, not counted as one of the claim's pools.",
)


def run(ctx: StudyContext) -> None:
    model = create_model("vgg16", device="meta")
    rows = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            rows.append({"module": name, "kind": "conv", "kernel": _pair(m.kernel_size),
                         "stride": _pair(m.stride), "padding": _pair(m.padding),
                         "channels": f"{m.in_channels}->{m.out_channels}"})
        elif isinstance(m, nn.Linear):
            rows.append({"module": name, "kind": "fc", "kernel": "", "stride": "",
                         "padding": "", "channels": f"{m.in_features}->{m.out_features}"})
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            rows.append({"module": name, "kind": type(m).__name__, "kernel":
                         _pair(m.kernel_size), "stride": _pair(m.stride),
                         "padding": _pair(m.padding), "channels": ""})
        elif isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            rows.append({"module": name, "kind": type(m).__name__, "kernel": "",
                         "stride": "", "padding": "", "channels": str(m.output_size)})
    ctx.write_csv("layers", rows)


def _pair(v: object) -> str:
    t = v if isinstance(v, tuple) else (v, v)
    return "x".join(str(int(i)) for i in t)


def measure(raw: RawData) -> dict:
    rows = raw.csv("layers")
    convs = [r for r in rows if r["kind"] == "conv"]
    pools = [r for r in rows if r["kind"] in ("MaxPool2d", "AvgPool2d")]
    odd_convs = [r["module"] for r in convs
                 if (r["kernel"], r["stride"], r["padding"]) != ("3x3", "1x1", "1x1")]
    odd_pools = [r["module"] for r in pools
                 if (r["kind"], r["kernel"], r["stride"]) != ("MaxPool2d", "2x2", "2x2")]
    widths = list(dict.fromkeys(r["channels"].split("->")[1] for r in convs))
    return {
        "convs": len(convs), "fcs": sum(r["kind"] == "fc" for r in rows), "pools": len(pools),
        "odd_convs": odd_convs, "odd_pools": odd_pools, "conv_widths": widths,
        "adaptive": [r["module"] for r in rows if r["kind"].startswith("Adaptive")],
    }


def verdict(m: dict) -> Verdict:
    weight_layers = m["convs"] + m["fcs"]
    key = (f"{m['convs']} convs (all 3x3/s1/p1: {not m['odd_convs']}), {m['fcs']} FC = "
           f"{weight_layers} weight layers, {m['pools']} max-pools 2x2/s2; widths "
           f"{'-'.join(m['conv_widths'])}")
    problems = []
    if m["odd_convs"]:
        problems.append(f"other convolutions: {', '.join(m['odd_convs'])}")
    if m["odd_pools"]:
        problems.append(f"other pools: {', '.join(m['odd_pools'])}")
    if weight_layers != 16 or m["convs"] != 13:
        problems.append(f"{weight_layers} weight layers ({m['convs']} conv), not 16 (13)")
    if m["pools"] != 5:
        problems.append(f"{m['pools']} pools, not 5")
    if problems:
        return Verdict(REFUTED, key, "; ".join(problems))
    extra = (f" (plus an adaptive pool, {', '.join(m['adaptive'])}, a no-op at 224)"
             if m["adaptive"] else "")
    return Verdict(CONFIRMED, key, "every layer is of the two kinds the notes name" + extra)
