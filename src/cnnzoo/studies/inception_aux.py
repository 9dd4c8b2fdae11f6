"""GoogLeNet's side branches (auxiliary classifiers) help training.

Lab notebook: GoogLeNet (torchvision's layout, batch norm) with and without its two
auxiliary heads, trained with one recipe on a small dataset, seeds interleaved; the aux
losses weighted 0.3 as in the paper; test accuracy of the main head only.
"""

from __future__ import annotations

from typing import Any

from cnnzoo.studies.base import Figure, RawData, Study, StudyContext, Verdict
from cnnzoo.studies.training import (
    ABOVE,
    accuracy_figure,
    arm_accuracy,
    choose_data,
    difference,
    margin_verdict,
    pct,
    quick_run,
    read_meta,
    train_arms,
    trained_input,
    write_meta,
)

ARMS = ("aux heads", "no aux heads")
MARGIN = 0.002  # the heads must add at least 0.2 points of test accuracy

STUDY = Study(
    id="inception-aux",
    claim="GoogLeNet's side branches, softmax classifiers on intermediate layers whose "
          "losses are added to the total, help: they push useful gradient into the middle "
          "of the network and regularise it.",
    source="Szegedy et al. 2014, Going Deeper with Convolutions, section 5 (aux losses "
           "weighted 0.3; 'a relatively minor effect (around 0.5%)'); Szegedy et al. 2015 "
           "(Inception-v3), section 4: they act as regularisers, not as early-training help",
    experiment="googlenet (batch norm, torchvision layout) with and without its two aux "
               "heads on Fashion-MNIST padded to 32x32, one recipe (SGD 0.9, lr 0.05 cosine, "
               "weight decay 5e-4, batch 128, crop + flip); final test accuracy of the main "
               "head per seed.",
    tolerance="d = mean test accuracy with aux heads - without, se from the seed spread: "
              "confirmed (they help) when d - 2 se > 0.2 points; refuted when d + 2 se < 0.2 "
              "points; otherwise inconclusive. Full mode needs >= 2 seeds per arm.",
    data=("fashion-mnist",),
    quick_cost="~1 min (2 idle cores)",
    full_cost="~3.5 h (2 AVX2 cores; 3 seeds)",
    deviations="Fashion-MNIST 28x28 padded to 32x32 (googlenet's minimum; its grid is then "
               "2x2 at inception 4a/4d, so the heads' 4x4 adaptive pool upsamples), not "
               "ImageNet 224x224; torchvision's GoogLeNet with batch norm (the paper's had "
               "none, which is where the heads were meant to help most); 8 epochs; fp32.",
    quick_deviations="2,000 training images x 2 epochs at batch 64 (lr halved with it); "
                     "1,000 test images; 1 seed.",
    seeded=True,
)


def recipe(ctx: StudyContext, aux: bool) -> dict[str, Any]:
    cfg: dict[str, Any] = dict(batch_size=128, optimizer="sgd", lr=0.05, momentum=0.9,
                               weight_decay=5e-4, schedule="cosine", precision="fp32",
                               image_size=(32, 32), aux_weight=0.3,
                               model_options={"aux_logits": aux})
    cfg.update(quick_run(cfg, 2, 2000) if ctx.quick else
               dict(epochs=8))
    return cfg


def run(ctx: StudyContext) -> None:
    data, note = choose_data(ctx)
    write_meta(ctx, data, note,
               input_size=trained_input("googlenet", data, recipe(ctx, aux=True)))
    train_arms(ctx, data, {arm: ("googlenet", recipe(ctx, arm == "aux heads"))
                           for arm in ARMS})


def measure(raw: RawData) -> dict[str, Any]:
    meta = read_meta(raw)
    acc = arm_accuracy(raw, ARMS)
    return {"mode": meta["mode"], "data": meta["data"], "note": meta["note"],
            "accuracy": acc, "aux_gain": difference(acc["aux heads"], acc["no aux heads"])}


def verdict(measured: dict[str, Any]) -> Verdict:
    acc, gain = measured["accuracy"], measured["aux_gain"]
    key = (f"test accuracy with aux heads {pct(acc['aux heads']['mean'])} vs without "
           f"{pct(acc['no aux heads']['mean'])}")
    return margin_verdict(measured, gain, MARGIN, key, ABOVE, "the heads' gain",
                          "the side branches help", "no gain of 0.2 points")


def figures(raw: RawData, measured: dict[str, Any]) -> list[Figure]:
    return [accuracy_figure(measured, "GoogLeNet with and without auxiliary heads",
                            "Final test accuracy of the main head; error bars: sd over seeds.")]
