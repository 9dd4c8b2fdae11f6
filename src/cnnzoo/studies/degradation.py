"""A deeper plain net reaches a higher training error; a deeper ResNet does not.

Lab notebook: plain-20, plain-56, resnet-20 and resnet-56 (the CIFAR nets of He et al.
section 4.2: 16-32-64 channels, option-A shortcuts; the plain nets are the same nets
without the additions) trained with one recipe; training and test error every epoch.
"""

from __future__ import annotations

from typing import Any

from cnnzoo.studies.base import Figure, RawData, Study, StudyContext, Verdict
from cnnzoo.studies.comparisons import NON_INFERIORITY, SUPERIORITY, Comparison, compare_all
from cnnzoo.studies.training import (
    CURVE_TEST_IMAGES,
    arm_stats,
    choose_data,
    configure,
    curve_figures,
    final_table,
    lengths_text,
    pct,
    read_meta,
    seeded_verdict,
    train_arms,
    trained_input,
    write_meta,
)

MODELS = ("plain20", "plain56", "resnet20", "resnet56")
WIDTH = 8  # first stage's channels (the paper's 16): depth is the claim, width is not
# Training images (None: all) and epochs a run trains, per mode, at 14x14 on Fashion-MNIST.
LENGTHS: dict[str, tuple[int | None, int]] = {"quick": (4000, 8), "standard": (10000, 12),
                                              "full": (None, 30)}
MARGIN = 0.005  # 0.5 points of training error
# Declared before any run: each half of the claim is its own comparison of training error
# (final weights, eval mode, a fixed part of the training images), paired by seed (the
# nets of one seed share the training subset and its order).
COMPARISONS = (
    Comparison("plain half: plain-56 trains worse", "train_err", ("plain20", "plain56"),
               MARGIN, SUPERIORITY),
    Comparison("residual half: resnet-56 no worse", "train_err", ("resnet20", "resnet56"),
               MARGIN, NON_INFERIORITY),
)
TABLE6 = {"resnet20": 0.0875, "resnet56": 0.0697}  # He et al. Table 6, CIFAR-10 test error
STUDY = Study(
    id="degradation",
    claim="Make a plain network deeper and its training error goes up (degradation, not "
          "overfitting); add shortcut connections and the deeper network trains at least as "
          "well as the shallower one.",
    source="He, Zhang, Ren, Sun 2016, Deep Residual Learning, Fig. 6 (CIFAR-10: plain-56 "
           "trains worse than plain-20; ResNet-56 better than ResNet-20) and Table 6",
    experiment="plain-20, plain-56, resnet-20, resnet-56 (the CIFAR nets of section 4.2 at "
               "width 8-16-32) trained with one recipe (SGD 0.9, lr divided by 10 at 50% and "
               "75% of the run, weight decay 1e-4; cosine decay in the short runs); the "
               "training error of the final weights, "
               "in eval mode, on a fixed part of each seed's training images; curves of "
               "training and test error every epoch.",
    tolerance=f"Two comparisons of final training error, paired by seed, one-sided 95% t "
              f"bounds: the plain half is decided for the claim when plain-56 - plain-20 > "
              f"{100 * MARGIN:g} points (lower bound above), the residual half when resnet-56 "
              f"- resnet-20 < {100 * MARGIN:g} points (upper bound below). Confirmed when both "
              "halves are decided for the claim, refuted when either is decided against it, "
              "else inconclusive; >= 3 seeds.",
    data=("fashion-mnist",),
    quick_cost="~3.5 min",
    full_cost="~5 h (standard ~25 min)",
    deviations="Fashion-MNIST (28x28 grey, no published figure for these nets) instead of "
               "CIFAR-10, which is not on this machine; width 8-16-32 instead of 16-32-64 "
               "(depth is the claim: halving the width makes each run ~3x cheaper); a "
               "random training subset per seed, no augmentation, at 14x14 (quick and "
               "standard), batch 32 and cosine decay instead of the paper's lr drops in a "
               "much shorter run; the metric is the final weights' training error in eval "
               "mode, where Fig. 6 plots the running error of each epoch's batches; fp32. "
               f"Standard mode: {lengths_text(*LENGTHS['standard'])}; full mode on "
               f"Fashion-MNIST: {lengths_text(*LENGTHS['full'])} at 14x14. "
               "With --data cifar10 in full mode: the paper's recipe (164 epochs, drops at "
               "82 and 123, crop + flip, all 50k training images where the paper held out "
               "5k).",
    quick_deviations=f"{lengths_text(*LENGTHS['quick'])} (standard: "
                     f"{lengths_text(*LENGTHS['standard'])}); curves on "
                     f"{CURVE_TEST_IMAGES:,} test images.",
    seeded=True,
)


def recipe(ctx: StudyContext, data: str) -> dict[str, Any]:
    """The one recipe of every model here; identity reuses it (and so these runs)."""
    common: dict[str, Any] = dict(batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9,
                                  weight_decay=1e-4, schedule="step", precision="fp32",
                                  model_options={"width": WIDTH})
    if data.startswith("cifar") and ctx.mode == "full":
        # 64k iterations at 390 steps an epoch; lr / 10 at 32k and 48k iterations.
        common.update(epochs=164, milestones=(82, 123), model_options={})
        return common
    # Measured here (2 cores): 3,000 images x 4 epochs at batch 128 and 28x28 left resnet-56
    # at 85% training error. Half-size images (3.3x cheaper), batch 32 (4x the steps), a
    # short warm-up and cosine decay (4,000 images x 8 epochs: resnet-56 10.5% training
    # error, against 12-19% after 6 epochs of step decay at lr 0.05) train much further in
    # the same time.
    images, epochs = LENGTHS.get(ctx.mode, LENGTHS["full"])
    common.update(batch_size=32, lr=0.1, schedule="cosine", warmup_epochs=0.25,
                  augment=False, image_size=(14, 14), epochs=epochs, limit_train=images,
                  limit_test=CURVE_TEST_IMAGES)
    return common


def run(ctx: StudyContext) -> None:
    data, note = choose_data(ctx)
    config = recipe(ctx, data)
    write_meta(ctx, data, note, models=list(MODELS), width=WIDTH,
               input_size=trained_input("resnet20", data, configure(ctx, config)))
    # Every model of a seed first: partial results stay paired. curves.csv: the name the
    # committed evidence and the figure read.
    train_arms(ctx, data, {model: (model, config) for model in MODELS}, curves_name="curves")


def measure(raw: RawData) -> dict[str, Any]:
    meta = read_meta(raw)
    rows = final_table(raw)
    measured: dict[str, Any] = {
        "mode": meta["mode"], "data": meta["data"], "note": meta["note"],
        "final_train_err": arm_stats(rows, MODELS, "train_err"),
        "final_test_err": {m: _err(s) for m, s in arm_stats(rows, MODELS, "test_acc").items()},
        "accuracy": arm_stats(rows, MODELS, "test_acc"),
        "comparisons": compare_all(COMPARISONS, rows),
    }
    if meta["data"] == "cifar10":
        measured["table6"] = {
            m: {"paper": p, "ours": measured["final_test_err"][m]["mean"]}
            for m, p in TABLE6.items()
        }
    return measured


def _err(acc: dict[str, Any]) -> dict[str, Any]:
    """Error statistics from accuracy statistics (the sd is the same)."""
    vals = [1 - v for v in acc["values"]]
    return {**acc, "values": vals, "mean": None if acc["mean"] is None else 1 - acc["mean"]}


def verdict(measured: dict[str, Any]) -> Verdict:
    tr = measured["final_train_err"]
    key = (f"train error plain-56 {pct(tr['plain56']['mean'])} vs plain-20 "
           f"{pct(tr['plain20']['mean'])}; resnet-56 {pct(tr['resnet56']['mean'])} vs "
           f"resnet-20 {pct(tr['resnet20']['mean'])}")
    return seeded_verdict(measured, key, "the deeper plain net trains worse and the deeper "
                          "ResNet does not", "a half of the claim is decided against it")


def figures(raw: RawData, measured: dict[str, Any]) -> list[Figure]:
    """He et al. Fig. 6 style: training and test error per epoch, plain nets dashed."""
    return curve_figures(raw.csv("curves"), MODELS, "plain nets dashed, ResNets solid",
                         dashed=("plain20", "plain56"),
                         caption=f"He et al. 2016 Fig. 6 style, on {measured['data']}.")
