"""params: LeNet-5 has about 60 thousand parameters, AlexNet about 60 million, VGG-16 about
138 million. Counted exactly on our models, beside the notes and the papers."""

from __future__ import annotations

from torch import nn

from cnnzoo.factory import create_model
from cnnzoo.studies.base import (
    CONFIRMED,
    REFUTED,
    Figure,
    RawData,
    Study,
    StudyContext,
    Verdict,
)
from cnnzoo.studies.svg import grouped_bars

TOLERANCE = 0.05  # relative: "~60k" and "~60M" are rounded figures

# (model, the notes' figure, the paper's figure, where the paper says it)
CLAIMS = (
    ("lenet5", 60e3, 60e3, "LeCun et al. 1998, sec. II.B: about 60,000 trainable parameters"),
    ("alexnet_paper", 60e6, 60e6, "Krizhevsky et al. 2012, abstract: 60 million parameters"),
    ("alexnet", 60e6, 60e6, "torchvision's one-GPU AlexNet (Krizhevsky 2014 variant)"),
    ("vgg16", 138e6, 138e6, "Simonyan & Zisserman 2015, Table 2: 138 million (config D)"),
)

STUDY = Study(
    id="params",
    claim="LeNet-5 has about 60k parameters, AlexNet about 60M and VGG-16 about 138M; most "
          "of AlexNet's and VGG's sit in the fully connected layers.",
    source="LeCun et al. 1998 (sec. II.B); Krizhevsky et al. 2012 (abstract); Simonyan & "
           "Zisserman 2015 (Table 2)",
    experiment="Build each model on the meta device and count its parameters exactly, split "
               "into convolution, fully connected and other (batch-norm) weights.",
    tolerance=f"Each exact count within {TOLERANCE:.0%} of the notes' figure (they are "
              "rounded), and more than half of AlexNet's and VGG-16's weights in fully "
              "connected layers; anything else refutes the claim.",
    quick_cost="~2 s", full_cost="~2 s",
    deviations="Two AlexNets are counted: `alexnet_paper` (the 2012 two-GPU layout, 227x227 "
               "input) and torchvision's one-GPU `alexnet`. LeNet-5 uses the paper's partial "
               "C3 connection table and trainable subsampling layers.",
)


def run(ctx: StudyContext) -> None:
    rows = []
    for name, notes, paper, where in CLAIMS:
        model = create_model(name, device="meta")
        split = {"conv": 0, "fc": 0, "other": 0}
        for module in model.modules():
            own = sum(p.numel() for p in module.parameters(recurse=False))
            kind = ("conv" if isinstance(module, nn.Conv2d)
                    else "fc" if isinstance(module, nn.Linear) else "other")
            split[kind] += own
        rows.append({"model": name, "params": sum(split.values()), "conv": split["conv"],
                     "fc": split["fc"], "other": split["other"], "notes": notes,
                     "paper": paper, "paper_source": where})
    ctx.write_csv("counts", rows)


def measure(raw: RawData) -> dict:
    models = {}
    for r in raw.csv("counts"):
        params = int(r["params"])
        models[r["model"]] = {
            "params": params, "notes": float(r["notes"]), "paper": float(r["paper"]),
            "paper_source": r["paper_source"], "fc_share": int(r["fc"]) / params,
            "rel_to_notes": params / float(r["notes"]) - 1,
        }
    return {"models": models, "tolerance": TOLERANCE}


def verdict(m: dict) -> Verdict:
    models = m["models"]
    key = ", ".join(f"{n} {v['params']:,} ({v['rel_to_notes']:+.1%})" for n, v in models.items())
    off = [n for n, v in models.items() if abs(v["rel_to_notes"]) > m["tolerance"]]
    if off:
        return Verdict(REFUTED, key, f"{', '.join(off)} differ from the notes by more than "
                       f"{m['tolerance']:.0%}")
    small_fc = [n for n in ("alexnet_paper", "alexnet", "vgg16")
                if n in models and models[n]["fc_share"] <= 0.5]
    if small_fc:
        return Verdict(REFUTED, key, f"the fully connected layers hold half or less of "
                       f"{', '.join(small_fc)}'s weights")
    fc = ", ".join(f"{n} {v['fc_share']:.0%}" for n, v in models.items())
    return Verdict(CONFIRMED, key, f"every count is within {m['tolerance']:.0%} of the "
                   f"rounded figure; fully connected share of the weights: {fc}")


def figures(raw: RawData, m: dict) -> list[Figure]:
    rows = raw.csv("counts")
    names = [r["model"] for r in rows]
    share = {k: [100 * int(r[k]) / int(r["params"]) for r in rows] for k in ("conv", "fc")}
    return [Figure("Where the parameters are", grouped_bars(
        names, share, title="Share of parameters by layer kind", ylabel="% of parameters"),
        caption="Convolutions hold few of the weights; the fully connected layers hold most.")]
