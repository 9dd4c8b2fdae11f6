"""What the six training studies share: the data they fall back to, the seed statistics,
and the one rule that compares two seeded figures against a margin.

The rule (every training study's tolerance is written with it): for a difference d of
two means with standard error se (from the seed spread of both arms),
    d is "above" m  when d - 2 se > m,
    d is "below" m  when d + 2 se < m,
    otherwise "unclear".
With one seed per arm there is no spread: in quick mode se is taken as 0 and the verdict is
marked as indicative (1 seed); in full mode fewer than 2 seeds an arm is inconclusive.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from cnnzoo.studies.base import (
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    Figure,
    NeedsData,
    RawData,
    StudyContext,
    Verdict,
)

DEFAULT_DATA = "fashion-mnist"
FALLBACK_DATA = "mnist"  # the 10,000 embedded digits: always here
ABOVE, BELOW, UNCLEAR = "above", "below", "unclear"
_ON_THE_MARGIN = 1e-9  # a difference this close to the margin lies on it
LEARNED = 0.5  # below this test accuracy (10 classes) a run has not learned: no verdict
QUICK_TEST_IMAGES = 1000  # +-1.3 points (2 se) at 85% accuracy: quick verdicts are indicative


def quick_run(recipe: dict[str, Any], epochs: int, limit_train: int, batch_size: int = 64
              ) -> dict[str, Any]:
    """A quick mode's run length, to update `recipe` with. Batch 64 (the recipes say 128): on
    2 CPU cores the quick budget is a few thousand images, and twice the steps per image
    train further in it. The lr follows the batch linearly (Goyal et al. 2017): measured
    here, AlexNet-small without LRN died at the batch-128 lr with batch 64."""
    lr = recipe["lr"] * batch_size / recipe["batch_size"]
    return dict(epochs=epochs, limit_train=limit_train, limit_test=QUICK_TEST_IMAGES,
                batch_size=batch_size, lr=lr)


def choose_data(ctx: StudyContext) -> tuple[str, str]:
    """(dataset, note): ctx.data if given (NeedsData when it is not here), else
    Fashion-MNIST, else the embedded MNIST digits with a note saying so."""
    from cnnzoo.data.load import locate
    from cnnzoo.errors import DatasetError

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
    """A study's recipe with the context's forced fields (tests shrink runs this way)."""
    return {**config, **ctx.train_overrides}


def write_meta(ctx: StudyContext, data: str, note: str, **extra: Any) -> None:
    """meta.json: what measure() and verdict() need to know about how the data was made."""
    ctx.write_json("meta", {"mode": ctx.mode, "data": data, "note": note,
                            "seeds": list(ctx.seeds), **extra})


def trained_input(model: str, data: str, recipe: dict[str, Any]) -> list[int]:
    """(C, H, W) that a study's runs of `model` train on: the data's channels at the recipe's
    image size, else at the model's default size (as `cnnzoo train` resolves it)."""
    from cnnzoo.data.specs import SPECS, canonical_name
    from cnnzoo.registry import model_card

    channels = SPECS[canonical_name(data) or data].image_shape[0]
    height, width = recipe.get("image_size") or model_card(model).input_size[1:]
    return [channels, height, width]


def read_meta(raw: RawData) -> dict[str, Any]:
    return raw.json("meta") if raw.has("meta") else {"mode": "full", "data": "", "note": ""}


def train_rows(run: Any, **labels: Any) -> list[dict[str, Any]]:
    """One row per epoch of a CachedRun: the labels, then train and test error."""
    return [{**labels, "epoch": e["epoch"], "train_err": round(e["train_err"], 6),
             "test_err": round(1 - e["test_top1"], 6), "train_loss": round(e["train_loss"], 6),
             "seconds": round(e["seconds"], 2)} for e in run.epochs]


def stats(values: Sequence[float]) -> dict[str, Any]:
    """{"mean", "sd", "n", "values"}: sd is the sample sd (None with one value: no spread)."""
    vals = [float(v) for v in values]
    return {
        "mean": statistics.fmean(vals) if vals else None,
        "sd": statistics.stdev(vals) if len(vals) > 1 else None,
        "n": len(vals),
        "values": vals,
    }


def difference(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """mean(a) - mean(b) and its standard error from the two seed spreads (None below 2
    seeds an arm)."""
    if not a["n"] or not b["n"]:
        return {"diff": None, "se": None, "n": [a["n"], b["n"]]}
    se = None
    if a["n"] > 1 and b["n"] > 1:
        se = math.sqrt(a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"])
    return {"diff": a["mean"] - b["mean"], "se": se, "n": [a["n"], b["n"]]}


def against(d: dict[str, Any], margin: float) -> str:
    """ABOVE, BELOW or UNCLEAR: where the difference lies against `margin`, by 2 se."""
    se = d["se"] or 0.0
    # Accuracies are counts over a test set: 0.70 - 0.69 is 0.0100000000000000009 in floats,
    # which must not "exceed" a 1-point margin (it did, in a quick lrn run).
    if d["diff"] - 2 * se > margin + _ON_THE_MARGIN:
        return ABOVE
    if d["diff"] + 2 * se < margin - _ON_THE_MARGIN:
        return BELOW
    return UNCLEAR


def too_few(measured: dict[str, Any], diffs: Sequence[dict[str, Any]], key: str
            ) -> Verdict | None:
    """The inconclusive verdict when an arm has no runs, or (full mode) fewer than 2 seeds."""
    counts = [n for d in diffs for n in d["n"]]
    if min(counts, default=0) == 0 or any(d["diff"] is None for d in diffs):
        return Verdict(INCONCLUSIVE, key or "no finished runs",
                       "an arm has no finished run yet; rerun to continue")
    if measured.get("mode") != "quick" and min(counts) < 2:
        return Verdict(INCONCLUSIVE, key, f"only {min(counts)} seed(s) finished in an arm; the "
                       "tolerance needs the seed spread (>= 2 seeds): rerun to continue")
    return None


def seeds_note(diffs: Sequence[dict[str, Any]]) -> str:
    n = min(n for d in diffs for n in d["n"])
    return " (1 seed: no seed spread, indicative only)" if n < 2 else f" (n = {n} seeds)"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def pts(d: dict[str, Any]) -> str:
    """A difference of fractions in percentage points, with 2 se where known."""
    if d["diff"] is None:
        return "-"
    se = f" +- {200 * d['se']:.2f}" if d["se"] is not None else ""
    return f"{100 * d['diff']:+.2f}{se} points"


def final_by(rows: list[dict[str, str]], group: str, column: str) -> dict[str, dict]:
    """Per value of `group`, stats of `column` at each (group, seed)'s last epoch."""
    last: dict[tuple[str, str], dict[str, str]] = {}
    for r in rows:
        k = (r[group], r["seed"])
        if k not in last or int(r["epoch"]) > int(last[k]["epoch"]):
            last[k] = r
    out: dict[str, list[float]] = {}
    for (g, _), r in sorted(last.items(), key=lambda kv: int(kv[0][1])):
        out.setdefault(g, []).append(float(r[column]))
    return {g: stats(v) for g, v in out.items()}


EMPTY = {"mean": None, "sd": None, "n": 0, "values": []}


def train_arms(ctx: StudyContext, data: str, arms: dict[str, tuple[str, dict[str, Any]]]
               ) -> None:
    """Train every arm (name -> (model, TrainConfig fields)) for every seed, seed 0 of
    every arm first, and save their per-epoch errors as runs.csv after each run."""
    from cnnzoo.studies.cache import Planned

    assert ctx.runs is not None
    rows: list[dict[str, Any]] = []
    for seed in ctx.seeds:
        ctx.runs.train_all([Planned(model, data, seed, configure(ctx, config))
                            for model, config in arms.values()])
        for arm, (model, config) in arms.items():
            r = ctx.runs.train(model, data, seed=seed, **configure(ctx, config))
            ctx.commands.append(r.command)
            rows += train_rows(r, arm=arm, seed=seed)
            ctx.write_csv("runs", rows)


def arm_accuracy(raw: RawData, arms: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Final-epoch test accuracy per arm over the seeds finished (n may differ by arm)."""
    err = final_by(raw.csv("runs"), "arm", "test_err") if raw.has("runs") else {}
    out = {}
    for arm in arms:
        s = err.get(arm, EMPTY)
        vals = [1 - v for v in s["values"]]
        out[arm] = stats(vals)
    return out


def accuracy_figure(measured: dict[str, Any], title: str, caption: str = "") -> Figure:
    from cnnzoo.studies.svg import bar_chart

    acc = {k: v for k, v in measured["accuracy"].items() if v["n"]}
    svg = bar_chart([f"{k} (n={v['n']})" for k, v in acc.items()],
                    [100 * v["mean"] for v in acc.values()],
                    [100 * (v["sd"] or 0.0) for v in acc.values()],
                    title=title, ylabel="test accuracy, % (mean +- sd over seeds)")
    return Figure(title, svg=svg, caption=caption)


def margin_verdict(measured: dict[str, Any], d: dict[str, Any], margin: float, key: str,
                   confirm: str, what: str, yes: str, no: str) -> Verdict:
    """The two-arm tolerance: `confirm` (ABOVE or BELOW) of the margin confirms the claim,
    the other side refutes it, within 2 se of it is inconclusive."""
    early = too_few(measured, (d,), key)
    if early is not None:
        return early
    # An arm left at chance says its recipe failed (measured: AlexNet-small without LRN died
    # at too high an lr), not how the two designs compare once trained.
    failed = [arm for arm, a in measured["accuracy"].items() if a["n"] and a["mean"] < LEARNED]
    if failed:
        return Verdict(INCONCLUSIVE, key, f"{' and '.join(failed)} did not learn (test "
                       f"accuracy under {pct(LEARNED)}): the runs cannot judge the claim")
    side = against(d, margin)
    why = f"{what} {pts(d)} against a {100 * margin:g}-point margin{seeds_note((d,))}"
    if side == UNCLEAR:
        return Verdict(INCONCLUSIVE, key, f"{why}: within 2 se of the margin")
    ok = side == confirm
    return Verdict(CONFIRMED if ok else REFUTED, key, f"{why}: {yes if ok else no}")
