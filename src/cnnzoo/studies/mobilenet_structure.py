"""mobilenet-structure: MobileNet v1 is 13 depthwise separable blocks; v2 is 17 inverted
residual blocks. Counted on the module trees, each block's inside checked too."""

from __future__ import annotations

from torch import nn

from cnnzoo.blocks import DepthwiseSeparableConv, InvertedResidual, is_depthwise
from cnnzoo.factory import create_model
from cnnzoo.studies.base import CONFIRMED, REFUTED, RawData, Study, StudyContext, Verdict

EXPECTED = {"mobilenet_v1": 13, "mobilenet_v2": 17}
V2_RESIDUALS = 10  # Table 2: every repeat after a stage's first block (n - 1 summed)

STUDY = Study(
    id="mobilenet-structure",
    claim="MobileNet v1 stacks 13 depthwise separable convolutions (3x3 depthwise then 1x1 "
          "pointwise); MobileNet v2 stacks 17 inverted residual (bottleneck) blocks: 1x1 "
          "expansion, 3x3 depthwise, linear 1x1 projection, with a skip connection where "
          "the shape allows.",
    source="Howard et al. 2017, Table 1; Sandler et al. 2018, Table 2 and Fig. 4(b)",
    experiment="Walk both module trees: count the blocks, and inside each block check the "
               "depthwise conv (groups = channels, 3x3), the 1x1 convs, the projection's lack "
               "of an activation, and where v2 adds the skip connection.",
    tolerance="Exact: 13 and 17 blocks, every block of the described form, and 10 of v2's "
              "blocks residual (stride 1, same channels) as Table 2 implies.",
    quick_cost="< 1 s", full_cost="< 1 s",
    deviations="v2's first block (t = 1) has no expansion conv, as in the paper's Table 2 "
               "and torchvision; it is counted as an inverted residual block.",
)


def _convs(block: nn.Module) -> list[nn.Conv2d]:
    return [m for m in block.modules() if isinstance(m, nn.Conv2d)]


def _describe(name: str, block: nn.Module) -> dict:
    convs = _convs(block)
    dw = [c for c in convs if is_depthwise(c)]
    pw = [c for c in convs if c.kernel_size == (1, 1) and c.groups == 1]
    kind = "separable" if isinstance(block, DepthwiseSeparableConv) else "inverted residual"
    row = {"block": name, "kind": kind, "convs": len(convs), "depthwise_3x3":
           sum(c.kernel_size == (3, 3) for c in dw), "pointwise": len(pw),
           "stride": max(c.stride[0] for c in convs), "in": convs[0].in_channels,
           "out": convs[-1].out_channels, "residual": "", "linear_projection": ""}
    if isinstance(block, InvertedResidual):
        row["residual"] = int(block.use_residual)
        # The projection's Conv2d is followed by BatchNorm2d and nothing else: linear.
        row["linear_projection"] = int(not isinstance(block.conv[-1], (nn.ReLU, nn.ReLU6)))
    return row


def run(ctx: StudyContext) -> None:
    rows = []
    for model_name in EXPECTED:
        model = create_model(model_name, device="meta")
        for name, m in model.named_modules():
            if isinstance(m, (DepthwiseSeparableConv, InvertedResidual)):
                rows.append({"model": model_name, **_describe(name, m)})
    ctx.write_csv("blocks", rows)


def measure(raw: RawData) -> dict:
    rows = raw.csv("blocks")
    out = {}
    for model in EXPECTED:
        mine = [r for r in rows if r["model"] == model]
        well_formed = [r for r in mine if r["depthwise_3x3"] == "1" and (
            r["pointwise"] == "1" if r["kind"] == "separable" else r["pointwise"] in ("1", "2"))]
        out[model] = {
            "blocks": len(mine), "well_formed": len(well_formed),
            "kinds": sorted({r["kind"] for r in mine}),
            "residual": sum(r["residual"] == "1" for r in mine),
            "linear_projection": sum(r["linear_projection"] == "1" for r in mine),
            "strided": sum(r["stride"] == "2" for r in mine),
        }
    return out


def verdict(m: dict) -> Verdict:
    v1, v2 = m["mobilenet_v1"], m["mobilenet_v2"]
    key = (f"v1: {v1['blocks']} separable blocks; v2: {v2['blocks']} inverted residuals "
           f"({v2['residual']} with skip, {v2['strided']} strided)")
    problems = []
    for model, want in EXPECTED.items():
        got = m[model]
        if got["blocks"] != want:
            problems.append(f"{model} has {got['blocks']} blocks, not {want}")
        if got["well_formed"] != got["blocks"]:
            problems.append(f"{got['blocks'] - got['well_formed']} of {model}'s blocks are "
                            "not depthwise 3x3 + pointwise 1x1")
    if v2["residual"] != V2_RESIDUALS:
        problems.append(f"v2 has {v2['residual']} residual blocks, not {V2_RESIDUALS}")
    if v2["linear_projection"] != v2["blocks"]:
        problems.append("some v2 projections have an activation")
    if problems:
        return Verdict(REFUTED, key, "; ".join(problems))
    return Verdict(CONFIRMED, key, "the counts and every block's inside match the papers' "
                   "tables; v2's projections are linear (batch norm, no ReLU6)")
