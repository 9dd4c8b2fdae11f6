"""AlexNet's Local Response Normalization adds little.

Lab notebook: the AlexNet layer pattern scaled to 28x28 (cnnzoo.models.study_nets.AlexNetSmall)
trained with and without its two LRN layers, one recipe, paired by seed; LRN made active
(its alpha in the paper's units) and its activity measured on the final weights; then the
time LRN costs, forward + backward of a training batch, measured side by side.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from cnnzoo.data import load_dataset
from cnnzoo.data.loader import BatchLoader
from cnnzoo.data.pipeline import build_transform
from cnnzoo.data.specs import SPECS, canonical_name
from cnnzoo.factory import create_model
from cnnzoo.load import snapshot, worse
from cnnzoo.models.study_nets import PAPER_LRN_ALPHA, window_term
from cnnzoo.studies.base import Figure, RawData, Study, StudyContext, Verdict
from cnnzoo.studies.cache import STUDY_THREADS, torch_threads
from cnnzoo.studies.comparisons import (
    AGAINST,
    CONFIDENCE,
    MIN_SEEDS,
    NON_INFERIORITY,
    POWER,
    Comparison,
    describe,
)
from cnnzoo.studies.layers import unreliable
from cnnzoo.studies.stats import ratio_summary, seconds_of, time_side_by_side
from cnnzoo.studies.training import (
    CURVE_TEST_IMAGES,
    LEARNED_FASHION,
    accuracy_figure,
    choose_data,
    configure,
    curve_figures,
    learned,
    lengths_text,
    measure_arms,
    pct,
    read_meta,
    seeded_verdict,
    stats,
    train_arms,
    write_meta,
)
from cnnzoo.train.checkpoint import load_checkpoint
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.loop import LAST
from cnnzoo.train.run import build_model, input_size_for, load_data

MODEL = "study_alexnet_small"
ARMS = ("LRN", "no LRN")
MARGIN = 0.01  # 1 point of test accuracy: "little"
WIDTH = 0.5  # channels 12-32-48-48-32: an eighth of the paper's (see nets.AlexNetSmall)
CHANNELS = "-".join(str(round(c * WIDTH)) for c in (24, 64, 96, 96, 64))
# The paper's optimiser (SGD, momentum 0.9, lr 0.01, weight decay 5e-4); quick and standard
# mode at batch 32 (more steps) with a short warm-up; full mode at the paper's batch 128.
LR, MOMENTUM, WEIGHT_DECAY = 0.01, 0.9, 5e-4
BATCH, WARMUP, FULL_BATCH, FULL_DROPOUT = 32, 0.3, 128, 0.5
# LRN counts as active when the term it adds to k (alpha x the sum of squares over n
# channels) averages at least this fraction of k in each LRN layer: below it LRN is a
# near-constant k^-beta scale, and the runs cannot say what LRN does.
ACTIVE = 0.05
ACTIVITY_IMAGES = 500  # the first test images, through the final (and initial) weights
# Declared before any run, on test accuracy of the final weights, paired by seed: LRN has no
# parameters, so both arms start from the same weights and see the same images in the
# same order. The claim decides; the other side is shown, so a page says when LRN hurt.
ADDS_LITTLE = Comparison("LRN adds little", "test_acc", ("no LRN", "LRN"), MARGIN,
                         NON_INFERIORITY)
COSTS_LITTLE = Comparison("LRN costs little", "test_acc", ("LRN", "no LRN"), MARGIN,
                          NON_INFERIORITY, decides=False)
COMPARISONS = (ADDS_LITTLE, COSTS_LITTLE)
# (training images, epochs) per mode; full: every training image.
LENGTHS: dict[str, tuple[int | None, int]] = {"quick": (4000, 3), "standard": (10000, 8),
                                              "full": (None, 30)}


def _lengths(mode: str) -> str:
    return lengths_text(*LENGTHS[mode])


def _points(x: float) -> str:
    return f"{100 * x:g} point{'s' if 100 * x != 1 else ''}"


def paper_alpha(data: str, data_root: str | None = None) -> float:
    """The paper's alpha in this pipeline's units: 1e-4 x (255 x sd)^2, the sd the data is
    divided by (mean over channels), to 3 significant digits (a clean command line)."""

    spec = SPECS.get(canonical_name(data) or data)
    if spec is not None:
        sd = statistics.fmean(spec.std)
    else:  # a folder dataset: its statistics are computed when it loads

        sd = statistics.fmean(load_dataset(data, root=data_root).std)
    return float(f"{PAPER_LRN_ALPHA * (255 * sd) ** 2:.3g}")


STUDY = Study(
    id="lrn",
    claim="Local Response Normalization, which AlexNet applied after its first two "
          "convolutions, adds little: later networks dropped it.",
    source="Krizhevsky, Sutskever, Hinton 2012, section 3.3 (LRN reported to cut top-1/top-5 "
           "error by 1.4/1.2 points); Simonyan & Zisserman 2015 (VGG), Table 3: A-LRN 29.7% "
           "vs A 29.6% top-1, 'LRN does not improve performance'",
    experiment="AlexNet's pattern at 28x28 (conv-ReLU-LRN-pool x2, three 3x3 convs, pool, "
               "FC-FC-FC, no batch norm), trained with and without LRN from the same initial "
               f"weights on the same images (SGD {MOMENTUM:g}, lr {LR:g}, weight decay "
               f"{WEIGHT_DECAY:g}: the paper's optimiser); LRN with the paper's k, n, beta "
               "and its alpha in the paper's "
               "units, so that LRN acts; test accuracy of the final weights on the whole test "
               f"split per seed; LRN's activity (the term it adds to k, relative to k) on "
               f"{ACTIVITY_IMAGES} test images through the final weights; LRN's share of a "
               "training step's time, measured side by side.",
    tolerance=f"Two comparisons of test accuracy, paired by seed, one-sided 95% t bounds. "
              f"Deciding: {ADDS_LITTLE.statement}: confirmed (adds little) when the upper "
              f"bound of LRN - no LRN is under {_points(MARGIN)}, refuted when the lower "
              f"bound is above it, else inconclusive. Shown, not deciding: "
              f"{COSTS_LITTLE.statement}: a lower bound above {_points(MARGIN)} says LRN "
              f"cost accuracy. Inconclusive whatever the accuracies when LRN was inactive "
              f"(the term it adds to k under {ACTIVE:g} x k on average in either LRN layer, "
              f"mean over seeds, final weights) or when the better arm did not learn "
              f"({100 * LEARNED_FASHION:g}% on Fashion-MNIST); >= {MIN_SEEDS} "
              f"seeds. An inconclusive verdict states the smallest effect the seeds could "
              f"have detected ({100 * CONFIDENCE:g}%, power {100 * POWER:g}%).",
    data=("fashion-mnist",),
    quick_cost="~30 s",
    full_cost="~1 h (standard ~6.5 min)",
    deviations="Fashion-MNIST 28x28 grey, not ImageNet 224x224: conv1 5x5 stride 1 (not "
               f"11x11 stride 4), channels {WIDTH:g}/4 of the paper's ({CHANNELS}), FC 256 "
               "(not 4096), one tower (no two-GPU groups), He-initialised layers (the paper's "
               "N(0, 0.01) does not train this net in a few epochs); LRN's alpha 1e-4 x (255 "
               f"sd)^2 ({paper_alpha('fashion-mnist'):g} on Fashion-MNIST), not 1e-4: the "
               "paper fed pixels 0-255 less the mean, this pipeline divides by the sd too, "
               "which shrinks every activation 255 sd times and left LRN a near-constant "
               "scale (its term ~1e-4 of k); feeding the unnormalised input instead made the "
               "net without LRN diverge (measured at lr 0.025). The window sums are one "
               "matrix product (the same numbers as nn.LocalResponseNorm, ~4x faster on "
               f"CPU). In quick and standard mode: batch {BATCH} (not {FULL_BATCH}) for more "
               f"steps, a {WARMUP:g}-epoch warm-up and cosine decay instead of /10 on "
               "plateaus, no dropout and no augmentation (both slow these short runs; "
               f"neither is the question); {_lengths('standard')} in standard mode. Full "
               f"mode: {_lengths('full')}, batch {FULL_BATCH}, dropout {FULL_DROPOUT:g}, crop "
               "+ flip, a 1-epoch warm-up.",
    quick_deviations=f"{_lengths('quick')}; curves on {CURVE_TEST_IMAGES:,} test images.",
    seeded=True,
)


def recipe(ctx: StudyContext, lrn: bool, alpha: float) -> dict[str, Any]:
    """The run of one arm. Measured here (1 thread, no LRN): at batch 32 lr 0.025 started
    erratically (a seed at 78.5% after 4,000 images x 3 epochs where lr 0.01 reached 81%)
    and lr 0.035 stalled (66% at 3,000 x 3)."""
    images, epochs = LENGTHS[ctx.mode]
    options: dict[str, Any] = {"lrn": lrn, "width": WIDTH}
    if lrn:
        options["lrn_alpha"] = alpha
    cfg: dict[str, Any] = dict(optimizer="sgd", lr=LR, momentum=MOMENTUM,
                               weight_decay=WEIGHT_DECAY, schedule="cosine", precision="fp32",
                               epochs=epochs, limit_train=images, channels_last=True)
    if ctx.mode == "full":
        options["dropout"] = FULL_DROPOUT
        cfg.update(batch_size=FULL_BATCH, warmup_epochs=1)
    else:
        options["dropout"] = 0.0
        cfg.update(batch_size=BATCH, warmup_epochs=WARMUP, augment=False,
                   limit_test=CURVE_TEST_IMAGES)
    cfg["model_options"] = options
    return cfg


def lrn_activity(run: Any, images: int = ACTIVITY_IMAGES) -> list[dict[str, Any]]:
    """The term each LRN layer adds to k (alpha/n x the window's sum of squares), relative to
    k, averaged over every channel and position of the first `images` test images: through
    the run's final weights and through its initial ones (rebuilt from its seed)."""

    cfg = TrainConfig.from_dict(run.config)
    with torch_threads(STUDY_THREADS):  # the figures do not depend on the machine's cores
        dataset = load_data(replace(cfg, limit_test=images))
        nets = {"initial": build_model(cfg, dataset), "final": build_model(cfg, dataset)}
        nets["final"].load_state_dict(load_checkpoint(Path(run.out) / LAST)["model"])
        size = input_size_for(cfg, nets["final"])
        transform = build_transform(dataset, size, train=False,
                                    convert_channels=cfg.channels == "convert")
        x = next(iter(BatchLoader(dataset.test, images, transform=transform)))[0]
        rows = []
        for weights, net in nets.items():
            for layer, (name, value) in enumerate(_activity(net.eval(), x).items(), 1):
                rows.append({"seed": cfg.seed, "weights": weights, "layer": f"after conv{layer}",
                             "module": name, "images": len(x), "threads": STUDY_THREADS,
                             "activity": round(value, 6)})
        return rows


@torch.no_grad()
def _activity(net: torch.nn.Module, x: torch.Tensor) -> dict[str, float]:
    found: dict[str, float] = {}
    hooks = [m.register_forward_hook(
        lambda m, inputs, _out, name=name: found.__setitem__(
            name, float(window_term(m, inputs[0]).mean()) / m.k))
        for name, m in net.named_modules() if isinstance(m, torch.nn.LocalResponseNorm)]
    try:
        net(x)
    finally:
        for h in hooks:
            h.remove()
    return found


def time_lrn(in_chans: int, options: dict[str, Any], batch: int, rounds: int = 5,
             channels_last: bool = False) -> list[dict[str, Any]]:
    """Forward + backward of one training batch (the runs' batch, options and memory
    format), with and without LRN, taking turns."""

    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(batch, in_chans, 28, 28).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (batch,))

    def step_of(lrn: bool):
        torch.manual_seed(0)
        net = create_model(MODEL, num_classes=10, in_chans=in_chans,
                           **{**options, "lrn": lrn}).to(memory_format=layout)

        def step() -> None:
            net.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(x), y).backward()

        return step

    before = snapshot()
    rows = time_side_by_side({"LRN": step_of(True), "no LRN": step_of(False)}, rounds)
    seen = worse(before, snapshot()).as_dict()
    return [{**r, **seen} for r in rows]


def run(ctx: StudyContext) -> None:
    data, note = choose_data(ctx)
    alpha = paper_alpha(data, ctx.data_root)
    arms = {arm: (MODEL, recipe(ctx, arm == "LRN", alpha)) for arm in ARMS}
    write_meta(ctx, data, note, lrn_alpha=alpha, active=ACTIVE,
               activity_images=ACTIVITY_IMAGES)
    train_arms(ctx, data, arms)
    assert ctx.runs is not None
    if ctx.planning:
        return
    activity: list[dict[str, Any]] = []
    for seed in ctx.seeds:  # cached: train() finds each run finished
        activity += lrn_activity(ctx.runs.train(MODEL, data, seed=seed,
                                                **configure(ctx, arms["LRN"][1])))
    ctx.write_csv("lrn_activity", activity)
    lrn_arm = configure(ctx, arms["LRN"][1])
    ctx.write_csv("timing", time_lrn(1, lrn_arm["model_options"], lrn_arm["batch_size"],
                                     rounds=3 if ctx.quick else 7,
                                     channels_last=lrn_arm.get("channels_last", False)))


def measure(raw: RawData) -> dict[str, Any]:
    measured = measure_arms(raw, ARMS, COMPARISONS)
    meta = read_meta(raw)
    rows = raw.csv("lrn_activity") if raw.has("lrn_activity") else []
    per: dict[str, dict[str, list[float]]] = {}
    for r in sorted(rows, key=lambda r: int(r["seed"])):
        per.setdefault(r["weights"], {}).setdefault(r["layer"], []).append(float(r["activity"]))
    final = {layer: stats(v) for layer, v in sorted(per.get("final", {}).items())}
    threshold = float(meta.get("active", ACTIVE))
    measured["lrn_alpha"] = meta.get("lrn_alpha")
    measured["lrn_activity"] = {
        "final": final,
        "initial": {layer: stats(v) for layer, v in sorted(per.get("initial", {}).items())},
        "threshold": threshold,
        # None: nothing saved, so no evidence that LRN acted
        "active": (min(s["mean"] for s in final.values()) >= threshold) if final else None,
    }
    timing = raw.csv("timing") if raw.has("timing") else []
    ratio = ratio_summary(timing, "LRN", "no LRN")
    measured["step_seconds"] = {a: seconds_of(timing, a) for a in ARMS}
    measured["time_ratio"] = ratio  # seconds with LRN / without, per round
    measured["lrn_time_share"] = (1 - 1 / ratio["mean"]) if ratio["mean"] else None
    measured["timing_unreliable"] = unreliable(timing, {"step": {"ratio": ratio}})
    return measured


def _activity_text(activity: dict[str, Any]) -> str:
    final = activity["final"]
    if not final:
        return "LRN activity not saved"
    return "LRN's term / k " + ", ".join(f"{layer} {s['mean']:.3g}" for layer, s in final.items())


def verdict(measured: dict[str, Any]) -> Verdict:
    acc, activity = measured["accuracy"], measured["lrn_activity"]
    share = measured["lrn_time_share"]
    cost = f"; LRN {100 * share:.0f}% of a training step's time" if share is not None else ""
    if share is not None and measured.get("timing_unreliable"):
        cost = f"; LRN's share of a step not judged: timing unreliable here " \
               f"({measured['timing_unreliable']})"
    key = (f"test accuracy with LRN {pct(acc['LRN']['mean'])} vs without "
           f"{pct(acc['no LRN']['mean'])}; {_activity_text(activity)}{cost}")
    guard = None
    if activity["active"] is None:
        guard = ("no LRN activity was saved (lrn_activity.csv): nothing shows that LRN acted "
                 "in these runs")
    elif not activity["active"]:
        guard = (f"LRN was inactive: {_activity_text(activity)} (final weights, mean over "
                 f"seeds), under the {activity['threshold']:g} x k that the study declared "
                 "active; LRN then scales by a near-constant k^-beta and the runs cannot say "
                 "what it does")
    v = seeded_verdict(measured, key, "LRN adds less than a point",
                       "LRN helps by more than a point", guard=guard or learned(measured))
    hurt = next(c for c in measured["comparisons"] if c["name"] == COSTS_LITTLE.name)
    if hurt["leaning"] == AGAINST:
        v = replace(v, reason=f"{v.reason}. LRN cost accuracy (shown, not deciding): "
                              f"{describe(hurt)}")
    return v


def figures(raw: RawData, measured: dict[str, Any]) -> list[Figure]:
    out = [accuracy_figure(measured, "Scaled AlexNet with and without LRN",
                           "Final weights on the whole test split; error bars: sd over "
                           "seeds.")]
    if raw.has("runs"):
        out += curve_figures(raw.csv("runs"), ARMS, "with and without LRN",
                             dashed=("no LRN",))
    return out

