"""What the training studies share: the data they fall back to, the run lengths of each
mode, the per-seed table their verdicts rest on, and the verdict from their declared
comparisons (cnnzoo.studies.comparisons: the one rule).

Each training run saves two tables: runs.csv, one row per epoch (the curves, test error on
a subset where the mode says so), and final.csv, one row per arm and seed with the final
weights' figures on the whole test split and on a fixed part of the training images.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from cnnzoo.data.load import learned_floor, locate
from cnnzoo.data.specs import SPECS, canonical_name
from cnnzoo.errors import DatasetError
from cnnzoo.registry import model_card
from cnnzoo.studies.base import (
    CONFIRMED,
    INCONCLUSIVE,
    Figure,
    NeedsData,
    RawData,
    StudyContext,
    Verdict,
)
from cnnzoo.studies.cache import Planned
from cnnzoo.studies.comparisons import FOR, Comparison, compare_all, decide, describe
from cnnzoo.studies.svg import bar_chart, line_chart

DEFAULT_DATA = "fashion-mnist"
FALLBACK_DATA = "mnist"  # the 10,000 embedded digits: always here
# "Did it learn": the best arm's test top-1 that a converged net clears, a fact of each
# dataset (its spec's `learned`); below it the runs say their recipe failed, not how the
# designs compare. The prose of the studies quotes Fashion-MNIST's.
LEARNED_FASHION = learned_floor(DEFAULT_DATA)
CURVE_TEST_IMAGES = 1000  # per-epoch curves only; verdicts use the whole test split


def lengths_text(images: int | None, epochs: int) -> str:
    """How long a run trains, as a study's prose says it: '4,000 training images x 8
    epochs' (None: 'all training images'). The prose is written from the study's own
    constants, so it cannot drift from what runs."""
    return f"{'all' if images is None else f'{images:,}'} training images x {epochs} epochs"


def choose_data(ctx: StudyContext) -> tuple[str, str]:
    """(dataset, note): ctx.data if given (NeedsData when it is not here), else
    Fashion-MNIST, else the embedded MNIST digits with a note saying so."""

    name = ctx.data or DEFAULT_DATA
    try:
        found = name == FALLBACK_DATA or locate(name, ctx.data_root) is not None
    except DatasetError as e:
        raise NeedsData(str(e)) from None
    if found:
        return name, ""
    if ctx.data:
        raise NeedsData(f"{name} is not here; put its files under --data-root DIR (see "
                        f"`cnnzoo data list`), or run without --data to use Fashion-MNIST")
    note = ("Fashion-MNIST is not installed (`apt-get install dataset-fashion-mnist`): "
            "ran on the 10,000 embedded MNIST digits instead")
    ctx.log(f"note: {note}")
    return FALLBACK_DATA, note


def configure(ctx: StudyContext, config: dict[str, Any]) -> dict[str, Any]:
    """A study's recipe with where its data is (--data-root), its device (--device) and the
    context's forced fields (tests shrink runs this way)."""
    where = {"data_root": ctx.data_root} if ctx.data_root else {}
    return {**config, **where, **device_fields(ctx.device), **ctx.train_overrides}


def device_fields(device: str | None) -> dict[str, Any]:
    """The TrainConfig fields of a study run on `device`: a GPU trains in bf16 autocast
    where it has bf16 (precision is hashed: it changes the figures; the device is not).
    Where no GPU is visible (a plan made on a cluster's login node) bf16 is assumed."""
    if not device or device == "cpu":
        return {"device": device} if device else {}
    bf16 = not torch.cuda.is_available() or torch.cuda.is_bf16_supported()
    return {"device": device, "precision": "bf16" if bf16 else "fp32"}


def write_meta(ctx: StudyContext, data: str, note: str, **extra: Any) -> None:
    """meta.json: what measure() and verdict() need to know about how the data was made."""
    ctx.write_json("meta", {"mode": ctx.mode, "data": data, "note": note,
                            "seeds": list(ctx.seeds), **extra})


def trained_input(model: str, data: str, recipe: dict[str, Any]) -> list[int]:
    """(C, H, W) that a study's runs of `model` train on: the data's channels at the recipe's
    image size, else at the model's default size (as `cnnzoo train` resolves it)."""

    channels = SPECS[canonical_name(data) or data].image_shape[0]
    height, width = recipe.get("image_size") or model_card(model).input_size[1:]
    return [channels, height, width]


def read_meta(raw: RawData) -> dict[str, Any]:
    return raw.json("meta") if raw.has("meta") else {"mode": "full", "data": "", "note": ""}


def train_rows(run: Any, **labels: Any) -> list[dict[str, Any]]:
    """One row per epoch of a CachedRun: the labels, then train and test error (test error
    on the run's per-epoch test images: a subset where the mode says so)."""
    threads = run.config.get("threads")
    return [{**labels, "threads": threads, "epoch": e["epoch"],
             "train_err": round(e["train_err"], 6), "test_err": round(1 - e["test_top1"], 6),
             "train_loss": round(e["train_loss"], 6)} for e in run.epochs]


def final_row(run: Any, **labels: Any) -> dict[str, Any]:
    """The row of final.csv for one run: the final weights on the whole test split and on a
    fixed part of the training images (eval mode), with the generalisation gap."""
    f = run.final
    return {**labels, "threads": run.config.get("threads"), "epochs": f["epoch"],
            "test_acc": round(f["test_top1"], 6), "test_images": f["test_images"],
            "train_acc": round(f["train_top1"], 6), "train_images": f["train_images"],
            "train_err": round(1 - f["train_top1"], 6),
            "gap": round(f["train_top1"] - f["test_top1"], 6)}


def stats(values: Sequence[float]) -> dict[str, Any]:
    """{"mean", "sd", "n", "values"}: sd is the sample sd (None with one value: no spread)."""
    vals = [float(v) for v in values]
    return {
        "mean": statistics.fmean(vals) if vals else None,
        "sd": statistics.stdev(vals) if len(vals) > 1 else None,
        "n": len(vals),
        "values": vals,
    }


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


EMPTY = {"mean": None, "sd": None, "n": 0, "values": []}


def train_arms(ctx: StudyContext, data: str, arms: dict[str, tuple[str, dict[str, Any]]],
               curves_name: str = "runs") -> None:
    """Train every arm (name -> (model, TrainConfig fields)) for every seed (all at once,
    `--jobs` at a time; a plan lists them all), and save the per-epoch curves
    (CURVES_NAME.csv) and final.csv."""
    assert ctx.runs is not None
    curves: list[dict[str, Any]] = []
    finals: list[dict[str, Any]] = []
    ctx.runs.train_all([Planned(model, data, seed, configure(ctx, config))
                        for seed in ctx.seeds for model, config in arms.values()])
    for seed in ctx.seeds:
        for arm, (model, config) in arms.items():
            r = ctx.runs.train(model, data, seed=seed, **configure(ctx, config))
            ctx.commands.append(r.command)
            curves += train_rows(r, arm=arm, seed=seed)
            finals.append(final_row(r, arm=arm, seed=seed))
        ctx.write_csv(curves_name, curves)
        ctx.write_csv("final", finals)


def final_table(raw: RawData) -> list[dict[str, str]]:
    return raw.csv("final") if raw.has("final") else []


def arm_stats(rows: Sequence[Mapping[str, Any]], arms: Sequence[str], metric: str = "test_acc"
              ) -> dict[str, dict[str, Any]]:
    """Mean +- sd over seeds of one final.csv metric, per arm (n may differ by arm)."""
    out = {}
    for arm in arms:
        vals = [float(r[metric]) for r in sorted(rows, key=lambda r: int(r["seed"]))
                if r["arm"] == arm and r.get(metric) not in (None, "")]
        out[arm] = stats(vals)
    return out


def measure_arms(raw: RawData, arms: Sequence[str], comparisons: Sequence[Comparison]
                 ) -> dict[str, Any]:
    """What every arm-against-arm study measures: its meta, test accuracy (whole test split),
    training accuracy and the train-test gap per arm, and its comparisons."""
    meta = read_meta(raw)
    rows = final_table(raw)
    return {"mode": meta["mode"], "data": meta["data"], "note": meta["note"],
            "accuracy": arm_stats(rows, arms, "test_acc"),
            "train_accuracy": arm_stats(rows, arms, "train_acc"),
            "gap": arm_stats(rows, arms, "gap"),
            "test_images": max((int(r["test_images"]) for r in rows), default=0),
            "comparisons": compare_all(comparisons, rows)}


def learned(measured: Mapping[str, Any], accuracy: Mapping[str, Mapping[str, Any]] | None = None
            ) -> str | None:
    """None when the best arm cleared the dataset's "did it learn" bar, else why not."""
    acc = accuracy if accuracy is not None else measured["accuracy"]
    bar = learned_floor(str(measured.get("data")))
    best = max((a["mean"] for a in acc.values() if a["n"]), default=None)
    if best is None or best >= bar:
        return None
    return (f"the best arm reached {pct(best)} test top-1, under the {pct(bar)} a converged "
            f"net clears on {measured.get('data')}: the runs did not learn enough to judge "
            "the claim")


def seeded_verdict(measured: Mapping[str, Any], key: str, confirmed: str, refuted: str,
                   guard: str | None = None) -> Verdict:
    """The verdict of measured["comparisons"] by the one rule, with a sentence for each
    outcome; `guard` (a reason) makes it inconclusive whatever the comparisons say."""
    results = measured["comparisons"]
    decision = decide(results)
    shown = "; ".join(describe(r) for r in results if r["decides"])
    if guard is None:
        guard = learned(measured)
    if guard is not None:
        return Verdict(INCONCLUSIVE, key, f"{guard} ({shown})", n=decision.n)
    if decision.verdict == INCONCLUSIVE:
        # How far beyond the margin a true difference must lie for this n to decide the
        # undecided comparisons.
        mde = [r["scale"] * r["detectable"] for r in results if r["decides"]
               and r["leaning"] != FOR and r["detectable"] is not None]
        smallest = (f"; at this n a true difference must lie {max(mde):.2f} points beyond "
                    "the margin to be decided" if mde else "")
        return Verdict(INCONCLUSIVE, key, f"{decision.why}{smallest} ({shown})", n=decision.n)
    why = confirmed if decision.verdict == CONFIRMED else refuted
    return Verdict(decision.verdict, key, f"{why}: {shown}", n=decision.n)


def curve_figures(rows: Sequence[Mapping[str, str]], arms: Sequence[str], what: str,
                  dashed: Sequence[str] = (), caption: str = "") -> list[Figure]:
    """Training and test error per epoch of each arm: the mean over seeds, a band over their
    range, both panels on one error scale (the per-epoch curves of runs.csv/curves.csv)."""

    per: dict[str, dict[str, dict[int, list[float]]]] = {}
    for r in rows:
        for column in ("train_err", "test_err"):
            per.setdefault(column, {}).setdefault(r["arm"], {}).setdefault(
                int(r["epoch"]), []).append(100 * float(r[column]))
    top = max((max(v) for c in per.values() for m in c.values() for v in m.values()),
              default=100.0)
    seeds = len({r["seed"] for r in rows})
    out = []
    for column, label in (("train_err", "Training"), ("test_err", "Test")):
        by_arm = per.get(column, {})
        shown = [a for a in arms if a in by_arm]
        points = {a: [(e, statistics.fmean(v)) for e, v in sorted(by_arm[a].items())]
                  for a in shown}
        bands = {a: [(e, min(v), max(v)) for e, v in sorted(by_arm[a].items())] for a in shown}
        svg = line_chart(points, title=f"{label} error per epoch", xlabel="epoch",
                         ylabel="error, % (mean; band: range over seeds)",
                         dashed=[a for a in shown if a in dashed], bands=bands,
                         y_range=(0.0, top))
        where = ("the running error of each epoch's batches" if column == "train_err"
                 else "1,000 test images per epoch")
        out.append(Figure(f"{label} error per epoch: {what}", svg=svg,
                          caption=f"{seeds} seed(s) per arm; {where}. {caption}".strip()))
    return out


def accuracy_figure(measured: dict[str, Any], title: str, caption: str = "") -> Figure:
    acc = {k: v for k, v in measured["accuracy"].items() if v["n"]}
    svg = bar_chart([f"{k} (n={v['n']})" for k, v in acc.items()],
                    [100 * v["mean"] for v in acc.values()],
                    [100 * (v["sd"] or 0.0) for v in acc.values()],
                    title=title, ylabel="test accuracy, % (mean +- sd over seeds)")
    return Figure(title, svg=svg, caption=caption)
