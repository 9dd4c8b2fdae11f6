"""bottleneck: a 1x1 reduction to 16 channels cuts the 5x5 convolution 28x28x192 -> 32
from about 120M to about 12.4M multiplications. Counted, by formula, and timed."""

from __future__ import annotations

from torch import nn

from cnnzoo.cost import bottleneck_saving
from cnnzoo.studies.base import (
    CONFIRMED,
    REFUTED,
    Figure,
    RawData,
    Study,
    StudyContext,
    Verdict,
)
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
from cnnzoo.studies.svg import grouped_bars

SHAPE = (192, 28, 28)
CLAIMED = {"direct": 120e6, "bottleneck": 12.4e6}
ROUNDING = 0.01  # the notes round 120,422,400 and 12,443,648 to 3 significant figures
BATCH = {"quick": 4, "standard": 8, "full": 16}
ROUNDS = {"quick": 4, "standard": 8, "full": 15}

STUDY = Study(
    id="bottleneck",
    claim="Putting a 1x1 convolution that reduces 192 channels to 16 before the 5x5 "
          "convolution (28x28x192 -> 28x28x32) cuts its cost from about 120 million to about "
          "12.4 million multiplications, about a tenth.",
    source="Szegedy et al. 2015, Going Deeper with Convolutions, sec. 4 and Fig. 2(b) "
           "(the 1x1 reductions of the Inception module)",
    experiment="Build the direct 5x5 conv and the 1x1 (16) -> 5x5 pair, trace their MACs, "
               "compare with the formula, and time both side by side in fp32 and bf16 "
               "(interleaved rounds, channels-last, batch 4 quick / 8 standard / 16 full), "
               "beside each one's roofline bound at this machine's measured peaks.",
    tolerance=f"Counted MACs equal the formula exactly and the notes' ~120M and ~12.4M "
              f"within {ROUNDING:.0%}. The time ratio is reported, not judged (the claim is "
              "about multiplications); where it differs from the MAC ratio by more than 2x "
              "the reason names the roofline limit.",
    quick_cost="~1 s", full_cost="~1 min",
    deviations="No bias, batch norm or ReLU (the claim counts the convolutions' "
               "multiplications only); the 16-channel reduction is the notes' figure (the "
               "paper's 5x5 branches reduce to 16 in inception (3a) too).",
)


def modules() -> dict[str, nn.Module]:
    return {
        "direct": nn.Conv2d(192, 32, 5, padding=2, bias=False),
        "bottleneck": nn.Sequential(nn.Conv2d(192, 16, 1, bias=False),
                                    nn.Conv2d(16, 32, 5, padding=2, bias=False)),
    }


def run(ctx: StudyContext) -> None:
    mods = modules()
    saving = bottleneck_saving(28, 28, 192, 16, 32, 5)
    ctx.write_json("counts", {
        "counted": {name: count(m, SHAPE) for name, m in mods.items()},
        "formula": {"direct": saving.direct.multiplications, "bottleneck": saving.bottleneck},
        "working": str(saving), "claimed": CLAIMED, "native_bf16": native_bf16(),
    })
    batch = BATCH[ctx.mode]
    precs = timing_precisions(ctx.quick)
    if "bf16" not in precs:
        ctx.log("  bf16 not timed: this CPU has no native bf16 (PyTorch emulates it); "
                "--full times it anyway")
    ctx.log(f"  timing direct vs bottleneck, {' and '.join(precs)}, batch {batch}")
    ctx.write_csv("times", time_precisions(mods, SHAPE, batch, ROUNDS[ctx.mode],
                                                    precs))
    ctx.write_csv("roofline", roofline(mods, SHAPE, batch, ctx.quick, precs))


def measure(raw: RawData) -> dict:
    c = raw.json("counts")
    macs = {k: v["macs"] for k, v in c["counted"].items()}
    times = time_summary(raw.csv("times"), "bottleneck", "direct")
    mac_ratio = macs["bottleneck"] / macs["direct"]
    return {"macs": macs, "formula": c["formula"], "claimed": c["claimed"],
            "mac_ratio": mac_ratio, "time": times, "working": c["working"],
            "native_bf16": c["native_bf16"],
            "roofline": time_reason(raw.csv("times"), raw.csv("roofline"), times,
                                    "bottleneck", "direct", mac_ratio)}


def verdict(m: dict) -> Verdict:
    key = (f"{m['macs']['direct']:,} -> {m['macs']['bottleneck']:,} MACs (ratio "
           f"{m['mac_ratio']:.3f}); {ratio_text(m['time'], m['roofline'])}")
    if m["macs"] != m["formula"]:
        return Verdict(REFUTED, key, f"traced MACs {m['macs']} differ from the formula "
                       f"{m['formula']}")
    off = [k for k, v in m["claimed"].items() if abs(m["macs"][k] / v - 1) > ROUNDING]
    if off:
        return Verdict(REFUTED, key, f"{', '.join(off)} is not within {ROUNDING:.0%} of the "
                       "notes' figure")
    return Verdict(CONFIRMED, key, f"counted = formula, {m['mac_ratio']:.3f} of the "
                   f"multiplications (1/{1 / m['mac_ratio']:.1f}). Time: {m['roofline']}."
                   + bf16_note(m))


def figures(raw: RawData, m: dict) -> list[Figure]:
    return timing_figures(m, ("direct", "bottleneck"), "5x5 conv 28x28x192 -> 32")


def timing_figures(m: dict, names: tuple[str, str], what: str) -> list[Figure]:
    """MACs and measured milliseconds of two variants, fp32 and bf16, with sd bars."""

    precs = list(m["time"])
    ms = {n: [1e3 * m["time"][p][n]["mean"] for p in precs] for n in names}
    sd = {n: [1e3 * (m["time"][p][n]["sd"] or 0.0) for p in precs] for n in names}
    macs = {n: [m["macs"][n] / 1e6] for n in names}
    return [
        Figure("MACs", grouped_bars(["per image"], macs, title=f"{what}: multiply-adds",
                                    ylabel="million MACs", width=440)),
        Figure("Time", grouped_bars(precs, ms, sd, title=f"{what}: forward time per batch",
                                    ylabel="ms (mean +- sd over rounds)", width=440),
               caption="Interleaved rounds, each the median of 3 calls."),
    ]
