"""depthwise: a depthwise separable convolution costs 1/n_c + 1/f^2 of a normal one.

The notes' example: a 6x6x3 input, 5 filters of 3x3 (output 4x4x5) costs 2,160
multiplications normally and 432 + 240 = 672 separably; at n_c = 512 it is about 10x cheaper.
"""

from __future__ import annotations

from torch import nn

from cnnzoo.cost import depthwise_separable_saving
from cnnzoo.studies.base import (
    CONFIRMED,
    REFUTED,
    Figure,
    RawData,
    Study,
    StudyContext,
    Verdict,
)
from cnnzoo.studies.bottleneck import timing_figures
from cnnzoo.studies.layers import (
    bf16_note,
    count,
    native_bf16,
    ratio_text,
    roofline,
    time_precisions,
    time_reason,
    time_summary,
    timing_precisions,
)

EXAMPLE = (3, 6, 6)  # the notes' input; 3x3 filters, no padding -> 4x4
LAYER = (512, 14, 14)  # MobileNet v1's blocks 7-11: 14x14x512 -> 512, the "n_c = 512" case
CLAIMED = {"normal": 2160, "separable": 672, "saving_at_512": 10.0}
ABOUT = 0.15  # "about 10x": accepted from 8.5x to 11.5x
BATCH = {"quick": 4, "standard": 8, "full": 16}
ROUNDS = {"quick": 4, "standard": 8, "full": 15}

STUDY = Study(
    id="depthwise",
    claim="A depthwise separable convolution (a 3x3 filter per channel, then a 1x1 "
          "pointwise conv) costs 1/n_c + 1/f^2 of a normal convolution: 672 instead of 2,160 "
          "multiplications for a 6x6x3 input and 5 filters of 3x3 (output 4x4x5), and about "
          "10x fewer at n_c = 512 output channels.",
    source="Howard et al. 2017, MobileNets, sec. 3.1 (eq. 5: the reduction 1/N + 1/D_K^2)",
    experiment="Count the notes' example on real modules; check the ratio against the "
               "formula there and at a realistic layer (MobileNet v1's 14x14x512 -> 512); time "
               "that layer normal vs separable, fp32 and bf16 side by side, beside the "
               "roofline bound.",
    tolerance=f"Counts equal 2,160 and 672 exactly; counted ratios equal 1/n_c + 1/f^2 to "
              f"1e-9; 'about 10x' holds if the saving at n_c = 512 is within {ABOUT:.0%} of "
              "10x. The time ratio is reported, not judged.",
    quick_cost="~1 s", full_cost="~1 min",
    deviations="Bare convolutions: no bias, batch norm or ReLU between depthwise and "
               "pointwise (MobileNet has them; they add no multiplications the formula counts).",
)


def example_modules() -> dict[str, nn.Module]:
    return {"normal": nn.Conv2d(3, 5, 3, bias=False),
            "depthwise": nn.Conv2d(3, 3, 3, groups=3, bias=False),
            "pointwise": nn.Conv2d(3, 5, 1, bias=False)}


def layer_modules(c: int = 512) -> dict[str, nn.Module]:
    return {"normal": nn.Conv2d(c, c, 3, padding=1, bias=False),
            "separable": nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
                                       nn.Conv2d(c, c, 1, bias=False))}


def run(ctx: StudyContext) -> None:
    ex = {k: count(m, EXAMPLE if k != "pointwise" else (3, 4, 4))
          for k, m in example_modules().items()}
    layer = {k: count(m, LAYER) for k, m in layer_modules().items()}
    f_ex = depthwise_separable_saving(4, 4, 3, 5, 3)
    f_layer = depthwise_separable_saving(14, 14, 512, 512, 3)
    ctx.write_json("counts", {
        "example": {k: v["macs"] for k, v in ex.items()},
        "layer": {k: v["macs"] for k, v in layer.items()},
        "formula": {"example_ratio": f_ex.formula, "layer_ratio": f_layer.formula,
                    "example_normal": f_ex.normal.multiplications,
                    "example_separable": f_ex.separable},
        "working": str(f_ex), "claimed": CLAIMED, "native_bf16": native_bf16(),
    })
    batch = BATCH[ctx.mode]
    precs = timing_precisions(ctx.quick)
    if "bf16" not in precs:
        ctx.log("  bf16 not timed: this CPU has no native bf16 (PyTorch emulates it); "
                "--full times it anyway")
    ctx.log(f"  timing 14x14x512 normal vs separable, {' and '.join(precs)}, batch {batch}")
    mods = layer_modules()
    ctx.write_csv("times", time_precisions(mods, LAYER, batch, ROUNDS[ctx.mode],
                                                    precs))
    ctx.write_csv("roofline", roofline(mods, LAYER, batch, ctx.quick, precs))


def measure(raw: RawData) -> dict:
    c = raw.json("counts")
    ex, layer = c["example"], c["layer"]
    separable = ex["depthwise"] + ex["pointwise"]
    mac_ratio = layer["separable"] / layer["normal"]
    times = time_summary(raw.csv("times"), "separable", "normal")
    return {
        "example": {"normal": ex["normal"], "separable": separable,
                    "ratio": separable / ex["normal"]},
        "macs": layer, "mac_ratio": mac_ratio, "saving_at_512": 1 / mac_ratio,
        "formula": c["formula"], "claimed": c["claimed"], "time": times,
        "working": c["working"], "native_bf16": c["native_bf16"],
        "roofline": time_reason(raw.csv("times"), raw.csv("roofline"), times, "separable",
                                "normal", mac_ratio),
    }


def verdict(m: dict) -> Verdict:
    ex, f, claimed = m["example"], m["formula"], m["claimed"]
    key = (f"{ex['normal']:,} vs {ex['separable']:,}; at n_c=512 "
           f"{m['saving_at_512']:.2f}x fewer MACs; {ratio_text(m['time'], m['roofline'])}")
    problems = []
    if (ex["normal"], ex["separable"]) != (claimed["normal"], claimed["separable"]):
        problems.append(f"example counts {ex['normal']} / {ex['separable']}, not 2160 / 672")
    if max(abs(ex["ratio"] - f["example_ratio"]), abs(m["mac_ratio"] - f["layer_ratio"])) > 1e-9:
        problems.append("counted ratios differ from 1/n_c + 1/f^2")
    if abs(m["saving_at_512"] / claimed["saving_at_512"] - 1) > ABOUT:
        problems.append(f"{m['saving_at_512']:.2f}x is not about 10x")
    if problems:
        return Verdict(REFUTED, key, "; ".join(problems))
    return Verdict(CONFIRMED, key, f"counts and ratios match the formula exactly; at n_c=512 "
                   f"the saving is {m['saving_at_512']:.2f}x (1/512 + 1/9 = "
                   f"{f['layer_ratio']:.4f}): the notes' '~10x' rounds it up, and 1/f^2 caps "
                   f"it below 9x for any n_c. Time: {m['roofline']}." + bf16_note(m))


def figures(raw: RawData, m: dict) -> list[Figure]:
    return timing_figures(m, ("normal", "separable"), "3x3 conv 14x14x512 -> 512")
