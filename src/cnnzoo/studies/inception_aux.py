"""GoogLeNet's side branches (auxiliary classifiers) fight overfitting.

Lab notebook: GoogLeNet (torchvision's layout, batch norm, a quarter of its width) trained
where it overfits (a small training subset, many passes, no augmentation, no weight decay)
with its two auxiliary heads' losses weighted 0.3, as in the paper, and weighted 0; both
arms build the heads, so they start from the same weights; test accuracy of the main head
and the train-test gap of the final weights.
"""

from __future__ import annotations

from typing import Any

from cnnzoo.studies.base import Figure, RawData, Study, StudyContext, Verdict
from cnnzoo.studies.comparisons import CONFIDENCE, MIN_SEEDS, POWER, SUPERIORITY, Comparison
from cnnzoo.studies.training import (
    CURVE_TEST_IMAGES,
    LEARNED_FASHION,
    accuracy_figure,
    choose_data,
    curve_figures,
    lengths_text,
    measure_arms,
    pct,
    seeded_verdict,
    train_arms,
    trained_input,
    write_meta,
)

MODEL = "googlenet"
AUX, NO_AUX = "aux heads", "no aux heads"
ARMS = (AUX, NO_AUX)
AUX_WEIGHT = 0.3  # the paper's weight of each side branch's loss
WIDTH = 0.25  # every channel count a quarter of GoogLeNet's (the heads' too)
SIZE = 32  # googlenet's smallest input: Fashion-MNIST's 28x28 padded
MARGIN = 0.005  # the heads must add half a point of test accuracy: the paper's "around 0.5%"
GAP_MARGIN = 0.0  # and must shrink the train-test gap at all
# AdamW without weight decay, no augmentation: the net should overfit its few images.
LR, BATCH, WARMUP = 2e-3, 64, 0.5
# Declared before any run. Paired by seed: both arms build the same net (heads included) from
# the same seed, so every shared weight starts equal, and see the same images in the same
# order; the arms differ only in the weight of the heads' losses. The claim has two parts,
# and each decides: the heads regularise (a smaller gap) and that helps (higher test
# accuracy).
HELPS = Comparison("the heads raise test accuracy", "test_acc", (NO_AUX, AUX), MARGIN,
                   SUPERIORITY)
REGULARISES = Comparison("the heads shrink the train-test gap", "gap", (AUX, NO_AUX),
                         GAP_MARGIN, SUPERIORITY)
COMPARISONS = (HELPS, REGULARISES)
# (training images, epochs) per mode: few images, many passes, so that the net overfits.
LENGTHS = {"quick": (4000, 6), "standard": (5000, 15), "full": (10000, 30)}


def _lengths(mode: str) -> str:
    return lengths_text(*LENGTHS[mode])


STUDY = Study(
    id="inception-aux",
    claim="GoogLeNet's side branches, softmax classifiers on intermediate layers whose "
          "losses are added to the total, help fight overfitting: they regularise the "
          "network.",
    source="Szegedy et al. 2014, Going Deeper with Convolutions, section 5 (aux losses "
           "weighted 0.3; 'a relatively minor effect (around 0.5%)'); Szegedy et al. 2015 "
           "(Inception-v3), section 4: they act as regularisers, not as early-training help",
    experiment=f"googlenet (batch norm, torchvision layout, width {WIDTH:g}) on Fashion-MNIST "
               f"padded to {SIZE}x{SIZE}, in a regime where it overfits (a small random "
               "training subset per seed, many epochs, no augmentation, no weight decay), "
               f"with its two side branches' losses weighted {AUX_WEIGHT:g} and weighted 0 "
               "(the heads built in both arms: the same initial weights); test accuracy of "
               "the main head's final weights on the whole test split, and the gap between "
               "training accuracy (eval mode, the first 2,000 training images of the subset) "
               "and test accuracy, per seed.",
    tolerance=f"Two comparisons, paired by seed, one-sided {100 * CONFIDENCE:g}% t bounds, "
              f"both deciding. "
              f"{HELPS.statement}: for the claim when the lower bound of aux - no aux test "
              f"accuracy is above {100 * MARGIN:g} points, against it when the upper bound "
              f"is below. {REGULARISES.statement}: for when the lower bound of no aux gap - "
              f"aux gap is above {100 * GAP_MARGIN:g} points, against when the upper bound "
              f"is below. Confirmed when both are for the claim, refuted when either is "
              f"against it, else inconclusive, and then the verdict states the smallest "
              f"effect the seeds could have detected (power {100 * POWER:g}%); >= "
              f"{MIN_SEEDS} seeds, and the better arm must learn "
              f"({100 * LEARNED_FASHION:g}% on Fashion-MNIST).",
    data=("fashion-mnist",),
    quick_cost="~70 s",
    full_cost="~20 min (standard ~6 min)",
    deviations=f"Fashion-MNIST 28x28 padded to {SIZE}x{SIZE}, not ImageNet 224x224 (the "
               "grid is then 2x2 at inception 4a/4d, so the heads' 4x4 adaptive pool "
               f"upsamples); every channel count x {WIDTH:g} (the full net costs ~6 ms an "
               "image to train on one core); torchvision's GoogLeNet with batch norm (the "
               "paper's had none); the no-aux arm keeps the heads and weights their losses 0 "
               "(they never send a gradient into the net, and both arms start from the same "
               "weights); a small subset, no augmentation and no weight decay, so that the "
               "net overfits, where the paper trained on all of ImageNet with crops; AdamW "
               f"(lr {LR:g}, batch {BATCH}, {WARMUP:g}-epoch warm-up, cosine) instead of SGD "
               "with a 4% decay every 8 epochs: it fits these few images in fewer steps; "
               f"{_lengths('standard')} in standard mode, {_lengths('full')} in full mode; "
               "fp32.",
    quick_deviations=f"{_lengths('quick')}: in this budget the net fits its images only "
                     f"partly (measured: training accuracy 89-92%, a gap of ~10 points); "
                     f"curves on {CURVE_TEST_IMAGES:,} test images.",
    seeded=True,
)


def recipe(ctx: StudyContext, aux: bool) -> dict[str, Any]:
    """One arm's run. Measured here (1 thread): SGD lr 0.05 fitted 3,000 images x 6 epochs
    to 86% training accuracy (gap 5 points), AdamW lr 2e-3 to 89% (gap 10)."""
    images, epochs = LENGTHS[ctx.mode]
    return dict(batch_size=BATCH, optimizer="adamw", lr=LR, weight_decay=0.0,
                schedule="cosine", warmup_epochs=WARMUP, precision="fp32", augment=False,
                image_size=(SIZE, SIZE), channels_last=True, epochs=epochs,
                limit_train=images, limit_test=CURVE_TEST_IMAGES,
                aux_weight=AUX_WEIGHT if aux else 0.0,
                model_options={"aux_logits": True, "width": WIDTH})


def run(ctx: StudyContext) -> None:
    data, note = choose_data(ctx)
    write_meta(ctx, data, note, aux_weight=AUX_WEIGHT, width=WIDTH,
               input_size=trained_input(MODEL, data, recipe(ctx, aux=True)))
    train_arms(ctx, data, {arm: (MODEL, recipe(ctx, arm == AUX)) for arm in ARMS})


def measure(raw: RawData) -> dict[str, Any]:
    return measure_arms(raw, ARMS, COMPARISONS)


def verdict(measured: dict[str, Any]) -> Verdict:
    acc, gap = measured["accuracy"], measured["gap"]
    train = measured["train_accuracy"]
    key = (f"test accuracy with aux heads {pct(acc[AUX]['mean'])} vs without "
           f"{pct(acc[NO_AUX]['mean'])}; train-test gap {pct(gap[AUX]['mean'])} vs "
           f"{pct(gap[NO_AUX]['mean'])} (training accuracy {pct(train[AUX]['mean'])} vs "
           f"{pct(train[NO_AUX]['mean'])})")
    return seeded_verdict(measured, key, "the side branches raise test accuracy and shrink "
                          "the gap", "a part of the claim is decided against it")


def figures(raw: RawData, measured: dict[str, Any]) -> list[Figure]:
    out = [accuracy_figure(measured, "GoogLeNet with and without auxiliary losses",
                           "Final test accuracy of the main head on the whole test split; "
                           "error bars: sd over seeds.")]
    if raw.has("runs"):
        out += curve_figures(raw.csv("runs"), ARMS, "with and without the heads' losses",
                             dashed=(NO_AUX,), caption="The gap between the panels is the "
                             "overfitting the heads are said to fight.")
    return out
