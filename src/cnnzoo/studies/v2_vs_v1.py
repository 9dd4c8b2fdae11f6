"""MobileNetV2 is more accurate than MobileNetV1 with less compute.

Lab notebook: the papers' ImageNet figures beside our counts of both nets at 224x224; then
both nets at width 0.5 trained on 32x32 Fashion-MNIST with one recipe, seeds interleaved,
and their MACs and parameters counted at that size.
"""

from __future__ import annotations

from typing import Any

from cnnzoo.studies.base import Figure, RawData, Study, StudyContext, Verdict
from cnnzoo.studies.training import (
    ABOVE,
    REFUTED,
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

ARMS = ("mobilenet_v2", "mobilenet_v1")
WIDTH, SIZE = 0.5, 32

STUDY = Study(
    id="v2-vs-v1",
    claim="MobileNetV2 is more accurate than MobileNetV1 while needing less compute "
          "(ImageNet: 72.0% at 300M multiply-adds and 3.4M parameters, vs 70.6% at 569M "
          "and 4.2M).",
    source="Sandler et al. 2018, MobileNetV2, Table 4; Howard et al. 2017, MobileNets, "
           "Table 8",
    experiment="The papers' ImageNet top-1, MACs and parameters beside ours counted on the "
               "modules at 224x224 (width 1.0); then mobilenet_v1 and mobilenet_v2 at width "
               "0.5 trained on Fashion-MNIST padded to 32x32 with one recipe (SGD 0.9, lr 0.1 "
               "cosine, weight decay 4e-5, batch 128, crop + flip), MACs and parameters at "
               "that size, final test accuracy per seed.",
    tolerance="Compute: v2's MACs below v1's at the trained size and at 224 (else refuted). "
              "Accuracy: d = mean test accuracy v2 - v1, se from the seed spread: confirmed "
              "when d - 2 se > 0; refuted when d + 2 se < 0; otherwise inconclusive. Full "
              "mode needs >= 2 seeds per arm.",
    data=("fashion-mnist",),
    quick_cost="~40 s (2 idle cores)",
    full_cost="~2.3 h (2 AVX2 cores; 3 seeds)",
    deviations="Fashion-MNIST 28x28 padded to 32x32 (the nets' minimum) and width 0.5, not "
               "ImageNet 224x224 at width 1.0: at 32x32 the last stages run on 1x1 grids, so "
               "the small-data accuracy tests the block design far from where the papers "
               "measured it; 10 epochs; one recipe for both (the papers trained v1 with "
               "RMSprop and v2 with RMSprop at different schedules); fp32.",
    quick_deviations="2,000 training images x 3 epochs at batch 64 (lr halved with it); "
                     "1,000 test images; 1 seed.",
    seeded=True,
)


def recipe(ctx: StudyContext) -> dict[str, Any]:
    cfg: dict[str, Any] = dict(batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9,
                               weight_decay=4e-5, schedule="cosine", precision="fp32",
                               image_size=(SIZE, SIZE), model_options={"width": WIDTH})
    cfg.update(quick_run(cfg, 3, 2000) if ctx.quick else
               dict(epochs=10))
    return cfg


def costs(in_chans: int = 1) -> dict[str, Any]:
    """Counted on the meta device: at 224 width 1.0 (3 channels, 1000 classes), and at the
    trained size; with each model card's paper figures."""
    from cnnzoo.cost.profile import profile
    from cnnzoo.registry import create_model, model_card

    out: dict[str, Any] = {}
    for name in ARMS:
        card = model_card(name)
        big = profile(create_model(name, device="meta"), (3, 224, 224))
        small = profile(create_model(name, num_classes=10, in_chans=in_chans, device="meta",
                                     width=WIDTH), (in_chans, SIZE, SIZE))
        out[name] = {
            "paper": {m: card.figure(m, "paper").value for m in ("acc1", "macs", "params")},
            "ours_224": {"macs": big.macs, "params": big.params},
            "ours_trained": {"macs": small.macs, "params": small.params},
        }
    return out


def run(ctx: StudyContext) -> None:
    data, note = choose_data(ctx)
    write_meta(ctx, data, note, width=WIDTH, image_size=SIZE)
    ctx.write_json("costs", costs())
    train_arms(ctx, data, {arm: (arm, recipe(ctx)) for arm in ARMS})


def measure(raw: RawData) -> dict[str, Any]:
    meta = read_meta(raw)
    acc = arm_accuracy(raw, ARMS)
    return {"mode": meta["mode"], "data": meta["data"], "note": meta["note"],
            "width": WIDTH, "image_size": SIZE, "accuracy": acc,
            "v2_gain": difference(acc["mobilenet_v2"], acc["mobilenet_v1"]),
            "costs": raw.json("costs")}


def verdict(measured: dict[str, Any]) -> Verdict:
    acc, c = measured["accuracy"], measured["costs"]
    v1, v2 = c["mobilenet_v1"], c["mobilenet_v2"]
    key = (f"test accuracy v2 {pct(acc['mobilenet_v2']['mean'])} vs v1 "
           f"{pct(acc['mobilenet_v1']['mean'])}; MACs v2/v1 "
           f"{v2['ours_trained']['macs'] / v1['ours_trained']['macs']:.2f} here, "
           f"{v2['ours_224']['macs'] / v1['ours_224']['macs']:.2f} at 224")
    for where in ("ours_trained", "ours_224"):
        if v2[where]["macs"] >= v1[where]["macs"]:
            return Verdict(REFUTED, key, f"v2 needs more MACs than v1 ({where})")
    return margin_verdict(measured, measured["v2_gain"], 0.0, key, ABOVE, "v2's gain",
                          "v2 is more accurate with less compute", "v2 is less accurate")


def figures(raw: RawData, measured: dict[str, Any]) -> list[Figure]:
    return [accuracy_figure(measured, "MobileNet v2 vs v1 (width 0.5, 32x32)",
                            "Final test accuracy; error bars: sd over seeds.")]
