"""A deeper plain net reaches a higher training error; a deeper ResNet does not.

Lab notebook: plain-20, plain-56, resnet-20 and resnet-56 (the CIFAR nets of He et al.
section 4.2: 16-32-64 channels, option-A shortcuts; the plain nets are the same nets
without the additions) trained with one recipe; training and test error every epoch.
"""

from __future__ import annotations

from typing import Any

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
from cnnzoo.studies.training import (
    ABOVE,
    BELOW,
    against,
    choose_data,
    configure,
    difference,
    final_by,
    pct,
    pts,
    quick_run,
    read_meta,
    seeds_note,
    too_few,
    train_rows,
    trained_input,
    write_meta,
)

MODELS = ("plain20", "plain56", "resnet20", "resnet56")
MARGIN = 0.005  # 0.5 points of training error
TABLE6 = {"resnet20": 0.0875, "resnet56": 0.0697}  # He et al. Table 6, CIFAR-10 test error
TABLE6_TOLERANCE = 0.015  # our single runs vs the paper's best-of-5 (informative only)

STUDY = Study(
    id="degradation",
    claim="Make a plain network deeper and its training error goes up (degradation, not "
          "overfitting); add shortcut connections and the deeper network trains at least as "
          "well as the shallower one.",
    source="He, Zhang, Ren, Sun 2016, Deep Residual Learning, Fig. 6 (CIFAR-10: plain-56 "
           "trains worse than plain-20; ResNet-56 better than ResNet-20) and Table 6",
    experiment="plain-20, plain-56, resnet-20, resnet-56 trained with one recipe (SGD 0.9, "
               "lr 0.1 divided by 10 at 50% and 75% of the run, weight decay 1e-4, batch 128, "
               "crop + flip); training error (over each epoch's augmented batches, as in "
               "Fig. 6) and test error every epoch, seeds interleaved.",
    tolerance="At the last epoch, with d = mean train error (deeper) - (shallower) and se "
              "from the seed spread: confirmed when plain-56 - plain-20 exceeds 0.5 points by "
              "2 se AND resnet-56 - resnet-20 lies below 0.5 points by 2 se; refuted when the "
              "plain gap lies below 0.5 points by 2 se or the ResNet gap exceeds it by 2 se; "
              "otherwise inconclusive. Full mode needs >= 2 seeds per model. With --data "
              "cifar10 the test errors are set beside Table 6 (resnet-20 8.75%, resnet-56 "
              "6.97%), within 1.5 points.",
    data=("fashion-mnist",),
    quick_cost="~3.2 min (2 idle cores)",
    full_cost="~13.5 h (2 AVX2 cores; 3 seeds)",
    deviations="Fashion-MNIST (28x28 grey, no published figure for these nets) instead of "
               "CIFAR-10, which is not on this machine; 10 epochs instead of 64k iterations "
               "(164 epochs), with the paper's lr drops at the same fractions of the run; "
               "2-pixel pad-and-crop for 28x28 images; fp32. With --data cifar10 the paper's "
               "recipe is used in full mode (164 epochs, drops at 82 and 123, all 50k "
               "training images where the paper held out 5k for validation).",
    quick_deviations="4,000 training images x 4 epochs, halved to 14x14, batch 32 at lr "
                     "0.05 with a quarter-epoch warm-up, no augmentation; 1,000 test images; "
                     "1 seed.",
    seeded=True,
)


def recipe(ctx: StudyContext, data: str) -> dict[str, Any]:
    """The one recipe of every model here; identity reuses it (and so these runs)."""
    common: dict[str, Any] = dict(batch_size=128, optimizer="sgd", lr=0.1, momentum=0.9,
                                  weight_decay=1e-4, schedule="step", precision="fp32")
    cifar = data.startswith("cifar")
    if ctx.quick:
        # Measured here (2 AVX2 cores): 3,000 images x 4 epochs at batch 128 and 28x28 left
        # resnet-56 at 85% training error. Half-size images (3.3x cheaper), batch 32 (4x the
        # steps), a short warm-up and no augmentation (the claim is about training error)
        # bring all four nets to where depth can be judged, in ~3 minutes.
        common.update(quick_run(common, 4, 4000, batch_size=32), lr=0.05, warmup_epochs=0.25,
                      augment=False, image_size=(14, 14))
        return common
    if cifar:
        # 64k iterations at 390 steps an epoch; lr / 10 at 32k and 48k iterations.
        common.update(epochs=164, milestones=(82, 123))
    else:
        common.update(epochs=10)
    if not cifar:
        common["image_size"] = (28, 28)  # the nets are size-agnostic; no 32x32 padding
    return common


def run(ctx: StudyContext) -> None:
    from cnnzoo.studies.cache import Planned

    data, note = choose_data(ctx)
    config = configure(ctx, recipe(ctx, data))
    write_meta(ctx, data, note, models=list(MODELS),
               input_size=trained_input("resnet20", data, config))
    assert ctx.runs is not None
    rows: list[dict[str, Any]] = []
    for seed in ctx.seeds:  # seed 0 of every model first: partial results stay balanced
        ctx.runs.train_all([Planned(model, data, seed, config) for model in MODELS])
        for model in MODELS:
            r = ctx.runs.train(model, data, seed=seed, **config)
            ctx.commands.append(r.command)
            rows += train_rows(r, model=model, seed=seed)
            ctx.write_csv("curves", rows)


def measure(raw: RawData) -> dict[str, Any]:
    meta = read_meta(raw)
    rows = raw.csv("curves")
    train_err = final_by(rows, "model", "train_err")
    test_err = final_by(rows, "model", "test_err")
    empty = {"mean": None, "sd": None, "n": 0, "values": []}
    tr = {m: train_err.get(m, empty) for m in MODELS}
    measured: dict[str, Any] = {
        "mode": meta["mode"], "data": meta["data"], "note": meta["note"],
        "final_train_err": tr,
        "final_test_err": {m: test_err.get(m, empty) for m in MODELS},
        "plain_gap": difference(tr["plain56"], tr["plain20"]),
        "resnet_gap": difference(tr["resnet56"], tr["resnet20"]),
        "epochs": max((int(r["epoch"]) for r in rows), default=0),
    }
    if meta["data"] == "cifar10":
        measured["table6"] = {
            m: {"paper": p, "ours": measured["final_test_err"][m]["mean"]}
            for m, p in TABLE6.items()
        }
    return measured


def verdict(measured: dict[str, Any]) -> Verdict:
    plain, res = measured["plain_gap"], measured["resnet_gap"]
    tr = measured["final_train_err"]
    key = (f"train error plain-56 {pct(tr['plain56']['mean'])} vs plain-20 "
           f"{pct(tr['plain20']['mean'])}; resnet-56 {pct(tr['resnet56']['mean'])} vs "
           f"resnet-20 {pct(tr['resnet20']['mean'])}")
    early = too_few(measured, (plain, res), key)
    if early is not None:
        return early
    if tr["resnet20"]["mean"] > 0.5:
        return Verdict(INCONCLUSIVE, key, "resnet-20 ends above 50% training error: the "
                       "recipe did not learn, so depth cannot be judged")
    note = seeds_note((plain, res))
    p, r = against(plain, MARGIN), against(res, MARGIN)
    gaps = f"plain gap {pts(plain)}, ResNet gap {pts(res)}, margin 0.5 points{note}"
    if p == ABOVE and r == BELOW:
        return Verdict(CONFIRMED, key, f"the deeper plain net trains worse and the deeper "
                       f"ResNet does not: {gaps}")
    if p == BELOW or r == ABOVE:
        what = ("the deeper plain net does not train worse" if p == BELOW
                else "the deeper ResNet trains worse")
        return Verdict(REFUTED, key, f"{what}: {gaps}")
    return Verdict(INCONCLUSIVE, key, f"a gap lies within 2 se of the margin: {gaps}")


def figures(raw: RawData, measured: dict[str, Any]) -> list[Figure]:
    """He et al. Fig. 6 style: training and test error per epoch, mean over seeds."""
    from cnnzoo.studies.svg import line_chart

    rows = raw.csv("curves")
    n = min((s["n"] for s in measured["final_train_err"].values()), default=0)
    out = []
    for column, what in (("train_err", "Training"), ("test_err", "Test")):
        by_model: dict[str, dict[int, list[float]]] = {}
        for r in rows:
            by_model.setdefault(r["model"], {}).setdefault(int(r["epoch"]), []).append(
                100 * float(r[column]))
        points = {m: [(e, sum(v) / len(v)) for e, v in sorted(by_model[m].items())]
                  for m in MODELS if m in by_model}
        svg = line_chart(points, title=f"{what} error per epoch", xlabel="epoch",
                         ylabel="error, % (mean over seeds)",
                         dashed=[m for m in points if m.startswith("plain")])
        out.append(Figure(f"{what} error, plain nets (dashed) vs ResNets", svg=svg,
                          caption=f"He et al. 2016 Fig. 6 style, on {measured['data']}; "
                                  f"{n} seed(s) per model."))
    return out
