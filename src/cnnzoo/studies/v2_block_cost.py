"""v2-block-cost: an inverted residual block costs more than a depthwise separable block
but less than a normal convolution, at the same input and output shape."""

from __future__ import annotations

from torch import nn

from cnnzoo.blocks import DepthwiseSeparableConv, InvertedResidual
from cnnzoo.factory import create_model
from cnnzoo.studies.base import (
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    Figure,
    RawData,
    Study,
    StudyContext,
    Verdict,
)
from cnnzoo.studies.layers import count
from cnnzoo.studies.svg import grouped_bars

# The stated shape: MobileNetV2's blocks 7-10 (Table 2 row "t=6, c=64, n=4"), stride 1.
PRIMARY = {"c_in": 64, "c_out": 64, "hw": 14, "stride": 1, "t": 6}

STUDY = Study(
    id="v2-block-cost",
    claim="MobileNetV2's inverted residual (bottleneck) block costs more than MobileNet v1's "
          "depthwise separable block but less than a normal 3x3 convolution with the same "
          "input and output shape.",
    source="Sandler et al. 2018, MobileNetV2, sec. 3.3 and Table 1 (cost h*w*d'*t*(d' + "
           "k^2 + d'')); Howard et al. 2017, sec. 3.1",
    experiment="At 14x14x64 -> 14x14x64, stride 1, expansion t = 6 (MobileNetV2's blocks "
               "7-10), count the MACs of the three on real modules; then do the same at the "
               "input and output shape of every one of MobileNetV2's 17 blocks, and for "
               "t = 1..6 at the primary shape, to find where the ordering breaks.",
    tolerance="At the stated shape: confirmed if separable < inverted residual < normal conv "
              "(counted MACs); refuted if the inverted residual costs at least as much as "
              "the normal conv or no more than the separable block. The sweep is reported.",
    quick_cost="~2 s", full_cost="~2 s",
    deviations="Batch-norm and activation FLOPs are not counted (MACs of convolutions only), "
               "as in the papers' mult-add counts.",
)


def _three(c_in: int, c_out: int, stride: int, t: int) -> dict[str, nn.Module]:
    return {
        "normal 3x3 conv": nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        "separable": DepthwiseSeparableConv(c_in, c_out, stride),
        "inverted residual": InvertedResidual(c_in, c_out, stride, t),
    }


def _row(label: str, c_in: int, c_out: int, hw: int, stride: int, t: int) -> dict:
    macs = {k: count(m, (c_in, hw, hw))["macs"] for k, m in _three(c_in, c_out, stride, t).items()}
    return {"case": label, "c_in": c_in, "c_out": c_out, "hw": hw, "stride": stride, "t": t,
            "normal": macs["normal 3x3 conv"], "separable": macs["separable"],
            "inverted_residual": macs["inverted residual"]}


def run(ctx: StudyContext) -> None:
    p = PRIMARY
    rows = [_row("stated", p["c_in"], p["c_out"], p["hw"], p["stride"], p["t"])]
    rows += [_row(f"t={t}", p["c_in"], p["c_out"], p["hw"], p["stride"], t) for t in range(1, 7)]
    # Every real v2 block's shape: the input side from the stride pattern of Table 2.
    model = create_model("mobilenet_v2", device="meta")
    hw = 112
    blocks = [(n, m) for n, m in model.named_modules() if isinstance(m, InvertedResidual)]
    for name, block in blocks:
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
        c_in, c_out = convs[0].in_channels, convs[-1].out_channels
        stride = max(c.stride[0] for c in convs)
        t = convs[0].out_channels // c_in if len(convs) == 3 else 1
        rows.append(_row(name, c_in, c_out, hw, stride, t))
        hw //= stride
    ctx.write_csv("macs", rows)


def measure(raw: RawData) -> dict:
    rows = raw.csv("macs")
    for r in rows:
        for k in ("normal", "separable", "inverted_residual", "t"):
            r[k] = int(r[k])
    stated = rows[0]
    sweep = [r for r in rows if r["case"].startswith("t=")]
    real = [r for r in rows if r["case"].startswith("features")]
    return {
        "stated": {k: stated[k] for k in ("c_in", "c_out", "hw", "stride", "t", "normal",
                                          "separable", "inverted_residual")},
        "cheaper_than_normal_up_to_t": max((r["t"] for r in sweep
                                            if r["inverted_residual"] < r["normal"]), default=0),
        "real_blocks": len(real),
        "real_cheaper_than_normal": sum(r["inverted_residual"] < r["normal"] for r in real),
        "real_dearer_than_separable": sum(r["inverted_residual"] > r["separable"] for r in real),
    }


def verdict(m: dict) -> Verdict:
    s = m["stated"]
    key = (f"at {s['hw']}x{s['hw']}x{s['c_in']} -> {s['c_out']}, t={s['t']}: separable "
           f"{s['separable']:,} < inverted residual {s['inverted_residual']:,} vs normal conv "
           f"{s['normal']:,} MACs")
    sweep = (f"With equal in/out channels the inverted residual undercuts a 3x3 conv only up "
             f"to t = {m['cheaper_than_normal_up_to_t']}; of MobileNetV2's {m['real_blocks']} "
             f"blocks, {m['real_cheaper_than_normal']} cost less than a normal 3x3 conv of the "
             f"same shape and {m['real_dearer_than_separable']} more than a separable block.")
    if s["inverted_residual"] <= s["separable"]:
        return Verdict(REFUTED, key, "the inverted residual is not dearer than the separable "
                       "block. " + sweep)
    if s["inverted_residual"] >= s["normal"]:
        return Verdict(REFUTED, key, f"at the paper's expansion t = {s['t']} the inverted "
                       f"residual costs {s['inverted_residual'] / s['normal']:.2f}x a normal "
                       "3x3 conv of the same in/out shape: the notes' 'less than a normal "
                       "convolution' does not hold. " + sweep)
    if m["real_cheaper_than_normal"] < m["real_blocks"]:
        return Verdict(INCONCLUSIVE, key, "true at the stated shape, not at every block. "
                       + sweep)
    return Verdict(CONFIRMED, key, sweep)


def figures(raw: RawData, m: dict) -> list[Figure]:
    rows = [r for r in raw.csv("macs") if r["case"].startswith("t=")]
    return [Figure("Cost by expansion factor", grouped_bars(
        [r["case"] for r in rows],
        {k: [int(r[col]) / 1e6 for r in rows] for k, col in (
            ("normal 3x3 conv", "normal"), ("separable", "separable"),
            ("inverted residual", "inverted_residual"))},
        title="14x14x64 -> 14x14x64: MACs by expansion t", xlabel="expansion factor",
        ylabel="million MACs"))]
