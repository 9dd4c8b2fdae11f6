"""AlexNet's Local Response Normalization adds little.

Lab notebook: the AlexNet layer pattern scaled to 28x28 (cnnzoo.studies.nets.AlexNetSmall)
trained with and without its two LRN layers, one recipe, seeds interleaved; then the time
LRN costs, forward + backward of a training batch, measured side by side.
"""

from __future__ import annotations

from typing import Any

import torch

from cnnzoo.studies.base import Figure, RawData, Study, StudyContext, Verdict
from cnnzoo.studies.training import (
    BELOW,
    accuracy_figure,
    arm_accuracy,
    choose_data,
    difference,
    margin_verdict,
    pct,
    quick_run,
    read_meta,
    train_arms,
    write_meta,
)

ARMS = ("LRN", "no LRN")
MARGIN = 0.01  # 1 point of test accuracy: "little"

STUDY = Study(
    id="lrn",
    claim="Local Response Normalization, which AlexNet applied after its first two "
          "convolutions, adds little: later networks dropped it.",
    source="Krizhevsky, Sutskever, Hinton 2012, section 3.3 (LRN reported to cut top-1/top-5 "
           "error by 1.4/1.2 points); Simonyan & Zisserman 2015 (VGG), Table 3: A-LRN 29.7% "
           "vs A 29.6% top-1, 'LRN does not improve performance'",
    experiment="AlexNet's pattern at 28x28 (conv-ReLU-LRN-pool x2, three 3x3 convs, pool, "
               "FC-FC-FC with dropout, no batch norm), trained with and without LRN (SGD 0.9, "
               "lr 0.05, weight decay 5e-4, batch 128, crop + flip); final "
               "test accuracy per seed; LRN's share of a training step's time, measured side "
               "by side.",
    tolerance="d = mean test accuracy with LRN - without, se from the seed spread: confirmed "
              "(adds little) when d + 2 se < 1 point; refuted when d - 2 se > 1 point; "
              "otherwise inconclusive. Full mode needs >= 2 seeds per arm.",
    data=("fashion-mnist",),
    quick_cost="~1 min (2 idle cores)",
    full_cost="~2.5 h (2 AVX2 cores; 3 seeds)",
    deviations="Fashion-MNIST 28x28 grey, not ImageNet 224x224: conv1 5x5 stride 1 (not "
               "11x11 stride 4), channels a quarter of the paper's (24-64-96-96-64), FC 256 "
               "(not 4096), one tower (no two-GPU groups), He-initialised FC layers (the "
               "paper's N(0, 0.01) does not train this small head in a few epochs), lr 0.05 "
               "with "
               "a 1-epoch warm-up and cosine decay instead of 0.01 divided by 10 on plateaus, "
               "no PCA colour augmentation; LRN exactly as the paper's (k=2, n=5, alpha=1e-4, "
               "beta=0.75).",
    quick_deviations="2,500 training images x 4 epochs at batch 64 (lr halved with it); "
                     "1,000 test images; 1 seed.",
    seeded=True,
)


def recipe(ctx: StudyContext, lrn: bool) -> dict[str, Any]:
    # The paper's optimiser (SGD, momentum 0.9, weight decay 5e-4) at lr 0.05 with a
    # 1-epoch warm-up and cosine decay: at the paper's 0.01 this net barely moves in the
    # few hundred steps of a quick run.
    cfg: dict[str, Any] = dict(batch_size=128, optimizer="sgd", lr=0.05, momentum=0.9,
                               weight_decay=5e-4, schedule="cosine", warmup_epochs=1,
                               precision="fp32", model_options={"lrn": lrn})
    cfg.update(quick_run(cfg, 4, 2500) if ctx.quick else
               dict(epochs=15))
    return cfg


def time_lrn(in_chans: int, batch: int = 64, rounds: int = 5) -> list[dict[str, Any]]:
    """Forward + backward of one training batch, with and without LRN, taking turns."""
    from cnnzoo.registry import create_model
    from cnnzoo.studies.stats import time_side_by_side

    x = torch.randn(batch, in_chans, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step_of(lrn: bool):
        torch.manual_seed(0)
        net = create_model("study_alexnet_small", num_classes=10, in_chans=in_chans, lrn=lrn)

        def step() -> None:
            net.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(x), y).backward()

        return step

    return time_side_by_side({"LRN": step_of(True), "no LRN": step_of(False)}, rounds)


def run(ctx: StudyContext) -> None:
    data, note = choose_data(ctx)
    write_meta(ctx, data, note)
    train_arms(ctx, data, {arm: ("study_alexnet_small", recipe(ctx, arm == "LRN"))
                           for arm in ARMS})
    ctx.write_csv("timing", time_lrn(in_chans=1, rounds=3 if ctx.quick else 7))


def measure(raw: RawData) -> dict[str, Any]:
    from cnnzoo.studies.stats import ratio_summary, seconds_of

    meta = read_meta(raw)
    acc = arm_accuracy(raw, ARMS)
    timing = raw.csv("timing") if raw.has("timing") else []
    ratio = ratio_summary(timing, "LRN", "no LRN")
    return {
        "mode": meta["mode"], "data": meta["data"], "note": meta["note"],
        "accuracy": acc, "lrn_gain": difference(acc["LRN"], acc["no LRN"]),
        "step_seconds": {a: seconds_of(timing, a) for a in ARMS},
        "time_ratio": ratio,  # seconds with LRN / without, per round
        "lrn_time_share": (1 - 1 / ratio["mean"]) if ratio["mean"] else None,
    }


def verdict(measured: dict[str, Any]) -> Verdict:
    acc, gain = measured["accuracy"], measured["lrn_gain"]
    share = measured["lrn_time_share"]
    cost = f", LRN {100 * share:.0f}% of a training step's time" if share is not None else ""
    key = f"test accuracy with LRN {pct(acc['LRN']['mean'])} vs without " \
          f"{pct(acc['no LRN']['mean'])}{cost}"
    return margin_verdict(measured, gain, MARGIN, key, BELOW, "LRN's gain",
                          "LRN adds less than a point", "LRN helps by more than a point")


def figures(raw: RawData, measured: dict[str, Any]) -> list[Figure]:
    return [accuracy_figure(measured, "Scaled AlexNet with and without LRN",
                            "Final test accuracy; error bars: sd over seeds.")]
