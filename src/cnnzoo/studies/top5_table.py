"""top5-table: the notes' ImageNet top-5 errors, beside each paper's own figures (single
model or ensemble, single or multi-crop) and torchvision's published single-crop acc@5.
Measured on ImageNet validation when the user passes it and pretrained weights."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

from cnnzoo.registry import model_card
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
from cnnzoo.studies.svg import grouped_bars

MATCH = 1.0  # percentage points: the notes round ("~17%", "~7%")

# model, the notes' figure, and ("<" for a bound); the notes' wording
NOTES = (
    ("alexnet", 17.0, "=", "~17%"), ("inception_v3", 3.46, "=", "3.46%"),
    ("resnet50", 7.8, "=", "7.8%"), ("resnet152", 5.0, "<", "< 5%"),
    ("vgg16", 7.0, "=", "~7%"), ("mobilenet_v1", 10.5, "=", "10.5%"),
    ("mobilenet_v2", 9.0, "=", "~9%"),
)
# Published top-5 errors beyond the model cards: (model, value, kind, where). kind is
# "single" (one model, one crop), "single, multi-crop" or "ensemble".
EXTRA = (
    ("alexnet", 17.0, "single", "Krizhevsky 2012, Table 1: 1 CNN on ILSVRC-2010 test"),
    ("resnet50", 7.13, "single, multi-crop", "He 2016, Table 3: 10-crop, validation"),
)

STUDY = Study(
    id="top5-table",
    claim="The notes' ImageNet top-5 errors: AlexNet ~17%, Inception-v3 3.46%, ResNet-50 "
          "7.8%, ResNet-152 < 5%, VGG-16 ~7%, MobileNet v1 10.5%, MobileNet v2 ~9%.",
    source="Krizhevsky 2012 (Tables 1-2); Szegedy 2016 (Tables 3, 5); He 2016 (Tables 3-4); "
           "Simonyan 2015 (Table 5); Howard 2017 (Table 8); Sandler 2018 (Table 4); "
           "torchvision's published weights (acc@5, one 224 crop)",
    experiment="Each notes' figure beside every published top-5 error of that model, each "
               "marked single model / multi-crop / ensemble; with --data imagenet "
               "--data-root DIR --weights-dir DIR, each model is also evaluated on the 50,000 "
               "validation images with its torchvision weights (`cnnzoo eval`).",
    tolerance=f"A notes' figure matches a published one within {MATCH:g} percentage point "
              "(a bound '< x' matches a figure below x). Per row: 'single model' if it "
              "matches a single-model figure, 'ensemble/multi-crop only' if it matches only "
              "those, 'no match', or 'no published top-5'. Study: refuted if any row has no "
              "match; inconclusive if any row matches only an ensemble/multi-crop figure or "
              "has nothing to compare with; confirmed otherwise.",
    data=("imagenet (optional)",),
    quick_cost="< 1 s", full_cost="< 1 s; ImageNet: ~1 h/model",
    deviations="Our measurement (when run) uses torchvision's weights and one 224 crop "
               "(299 for Inception-v3), not the papers' multi-crop protocols. He 2016's "
               "Table 4 'single model' figures use multi-scale dense testing; the model "
               "cards call them single model, and so does this table.",
)


def published(model: str) -> list[dict]:
    """Every top-5 error the model card and EXTRA hold for `model`, with its kind."""

    card = model_card(model)
    rows = []
    for f in card.figures:
        if f.source == "case studies":
            continue
        if f.metric == "top5_err":
            value = f.value
        elif f.metric == "acc5":
            value = round(100 - f.value, 3)
        else:
            continue
        note = f.note.lower()
        kind = ("ensemble" if any(w in note for w in ("models", "cnns", "ensemble"))
                else "single, multi-crop" if any(w in note for w in ("crop", "dense", "multi"))
                and "single crop" not in note else "single")
        where = "torchvision acc@5, 1 crop" if f.source == "torchvision" else f.note
        rows.append({"model": model, "value": value, "kind": kind, "source": f.source,
                     "where": where})
    for m, value, kind, where in EXTRA:
        if m == model:
            rows.append({"model": model, "value": value, "kind": kind, "source": "paper",
                         "where": where})
    return rows


def _matches(notes: float, relation: str, value: float) -> bool:
    return value < notes if relation == "<" else abs(value - notes) <= MATCH


def run(ctx: StudyContext) -> None:
    figures = [row for model, *_ in NOTES for row in published(model)]
    ctx.write_csv("published", figures)
    ctx.write_csv("notes", [{"model": m, "value": v, "relation": r, "wording": w}
                            for m, v, r, w in NOTES])
    measured = _measure_on_imagenet(ctx)
    ctx.write_json("measured", measured)


def _measure_on_imagenet(ctx: StudyContext) -> dict:
    weights_dir = ctx.weights_dir
    how = ("pass `cnnzoo study run top5-table --data imagenet --data-root DIR "
           "--weights-dir WDIR`, where DIR holds the ILSVRC-2012 validation set (as `cnnzoo "
           "eval --data imagenet` reads it) and WDIR holds torchvision's weight files named "
           "MODEL.pth (e.g. resnet50.pth)")
    if ctx.data != "imagenet" or not ctx.data_root or not weights_dir:
        return {"status": "needs-data", "how": how, "rows": {}}
    rows = {}
    for model, *_ in NOTES:
        w = Path(weights_dir) / f"{model}.pth"
        if not w.is_file():
            rows[model] = {"error": f"{w} is missing"}
            continue
        cmd = [sys.executable, "-m", "cnnzoo", "eval", model, "--weights", str(w), "--data",
               "imagenet", "--data-root", ctx.data_root, "--format", "json"]
        ctx.commands.append(shlex.join(["cnnzoo", *cmd[3:]]))
        ctx.log(f"  evaluating {model} on ImageNet validation")
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            rows[model] = {"error": (done.stderr.strip().splitlines() or ["failed"])[-1]}
            continue
        result = json.loads(done.stdout)
        rows[model] = {"top5_err": round(100 * (1 - result["top5"]), 3),
                       "count": result["count"]}
    return {"status": "measured", "how": how, "rows": rows}


def measure(raw: RawData) -> dict:
    published_rows = raw.csv("published")
    measured = raw.json("measured")
    rows = {}
    for n in raw.csv("notes"):
        model, notes, relation = n["model"], float(n["value"]), n["relation"]
        pubs = [p for p in published_rows if p["model"] == model]
        hits = [p for p in pubs if _matches(notes, relation, float(p["value"]))]
        single = [p for p in hits if p["kind"] == "single"]
        if not pubs:
            outcome = "no published top-5"
        elif single:
            outcome = "single model"
        elif hits:
            outcome = "ensemble/multi-crop only"
        else:
            outcome = "no match"
        nearest = min(pubs, key=lambda p: abs(float(p["value"]) - notes), default=None)
        rows[model] = {
            "notes": n["wording"], "outcome": outcome,
            "matched": [f"{p['value']}% ({p['kind']}: {p['where']})" for p in hits],
            "nearest": (f"{nearest['value']}% ({nearest['kind']}: {nearest['where']})"
                        if nearest else ""),
            "measured": measured["rows"].get(model) or (
                "needs data (see how)" if measured["status"] == "needs-data" else "not run"),
        }
    return {"rows": rows, "measured_status": measured["status"], "how": measured["how"]}


def verdict(m: dict) -> Verdict:
    rows = m["rows"]
    by = {o: [k for k, r in rows.items() if r["outcome"] == o]
          for o in ("single model", "ensemble/multi-crop only", "no match",
                    "no published top-5")}
    key = (f"{len(by['single model'])}/{len(rows)} match a single-model figure; ensemble or "
           f"multi-crop only: {', '.join(by['ensemble/multi-crop only']) or 'none'}; no "
           f"match: {', '.join(by['no match']) or 'none'}"
           + (f"; no published top-5: {', '.join(by['no published top-5'])}"
              if by["no published top-5"] else ""))  # every row counted somewhere
    detail = "; ".join(f"{k}: notes {r['notes']}, " + (
        f"nearest published {r['nearest']}" if r["nearest"] else
        "no published top-5 to compare (the paper gives top-1 only; torchvision has none)")
        for k, r in rows.items() if r["outcome"] != "single model")
    data = ("" if m["measured_status"] == "measured"
            else f" Measured column: needs data ({m['how']}).")
    if by["no match"]:
        return Verdict(REFUTED, key, f"{detail}.{data}")
    if by["ensemble/multi-crop only"] or by["no published top-5"]:
        return Verdict(INCONCLUSIVE, key, "the notes' table mixes kinds of figure: "
                       f"{detail}.{data}")
    return Verdict(CONFIRMED, key, f"every figure matches a single-model result.{data}")


def figures(raw: RawData, m: dict) -> list[Figure]:
    pubs = raw.csv("published")
    notes = raw.csv("notes")
    models = [n["model"] for n in notes]

    def best(model: str, kinds: tuple[str, ...]) -> float:
        vals = [float(p["value"]) for p in pubs if p["model"] == model and p["kind"] in kinds
                and p["source"] == "paper"]
        return min(vals) if vals else 0.0

    tv = {p["model"]: float(p["value"]) for p in pubs if p["source"] == "torchvision"}
    series = {"notes": [float(n["value"]) for n in notes],
              "paper, single model": [best(x, ("single", "single, multi-crop")) for x in models],
              "paper, ensemble": [best(x, ("ensemble",)) for x in models],
              "torchvision 1 crop": [tv.get(x, 0.0) for x in models]}
    return [Figure("Top-5 error, the notes vs the sources", grouped_bars(
        models, series, title="ImageNet top-5 error (%)", ylabel="top-5 error %", width=820),
        caption="A missing bar: no such published figure (MobileNet papers give top-1 only; "
                "torchvision has no MobileNet v1).")]
