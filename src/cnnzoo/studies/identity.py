"""A residual block can learn the identity, so adding blocks does not hurt.

Lab notebook: take the trained resnet-20 of the degradation study (same recipe, so the same
cached runs); append 2 blocks to each of its 3 stages (20 -> 32 layers):
  residual blocks whose last BN has gamma = beta = 0 -> the block is exactly the identity,
  plain blocks initialised the same way -> they output zeros,
  plain blocks with the network's own initialisation (He, gamma = 1) -> a random map.
Compare outputs and test accuracy with the trained net, then fine-tune the residual and
the He-initialised plain deeper nets, and resnet-20 itself as the control, equally long.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cnnzoo.studies import degradation
from cnnzoo.studies.base import (
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    Figure,
    RawData,
    Study,
    StudyContext,
    StudyError,
    Verdict,
)
from cnnzoo.studies.training import (
    BELOW,
    LEARNED,
    against,
    choose_data,
    configure,
    difference,
    pct,
    pts,
    read_meta,
    seeds_note,
    stats,
    too_few,
    trained_input,
    write_meta,
)

EXTRA = 2  # blocks inserted per stage
INSERTED = "study_resnet_inserted"
# variant -> (residual_insert, zero_init)
VARIANTS = {"residual, zero-init": (True, True), "plain, zero-init": (False, True),
            "plain, He init": (False, False)}
TUNED = {"resnet-20 (control)": None, "residual, zero-init": (True, True),
         "plain, He init": (False, False)}
IDENTITY_ATOL = 1e-4  # largest |logit difference| allowed, fp32
PLAIN_DROP = 0.05  # plain insertion must cost > 5 points of accuracy
TUNE_MARGIN = -0.005  # deeper residual net after fine-tuning: not worse by 0.5 points

STUDY = Study(
    id="identity",
    claim="A residual block can easily learn the identity function (with W = 0 and b = 0, "
          "a[l+2] = g(a[l]) = a[l]), so adding residual blocks to a network does not hurt "
          "it; plain layers cannot simply be the identity.",
    source="He, Zhang, Ren, Sun 2016, Deep Residual Learning, section 3.1 (the degradation "
           "argument: 'the added layers are identity mappings'); zero-gamma initialisation: "
           "Goyal et al. 2017, section 5.1",
    experiment="Into a trained resnet-20 insert 2 blocks per stage (20 -> 32 layers): "
               "residual blocks with last-BN gamma = beta = 0, plain blocks initialised the "
               "same way, and plain blocks with He init; compare logits and test accuracy; "
               "then fine-tune the residual and He-init plain nets and resnet-20 (control) "
               "for the same epochs at lr 0.01.",
    tolerance="Confirmed when the residual insertion changes no logit by more than 1e-4 and "
              "no accuracy (fp32, every seed), the He-init plain insertion costs more than 5 "
              "points, and after fine-tuning the deeper residual net is not below the "
              "control by 0.5 points (d + 2 se < -0.5 points is a refutation). Refuted when "
              "the residual insertion changes the outputs, or that fine-tuning check fails. "
              "Otherwise inconclusive (full mode: >= 2 seeds for the fine-tuning part).",
    data=("fashion-mnist",),
    quick_cost="~25 s (2 idle cores, after degradation)",
    quick_deviations="fine-tuning: 1 epoch of 2,000 training images.",
    full_cost="~2 h (2 AVX2 cores; 3 seeds; estimated)",
    deviations="Fashion-MNIST and the degradation study's recipe instead of CIFAR-10. The "
               "paper argues from the construction; here it is tested on a trained net. The "
               "zero-init residual block is the identity because its input is a ReLU output "
               "(non-negative), so the closing ReLU changes nothing.",
    seeded=True,
)


def tune_recipe(ctx: StudyContext, data: str) -> dict[str, Any]:
    base = degradation.recipe(ctx, data)
    base.update(lr=0.01, schedule="cosine", epochs=1 if ctx.quick else 3)
    if ctx.quick:
        base["limit_train"] = 2000  # half of degradation's: the demo's 10 minutes
    return base


def _test_loader(cfg: dict[str, Any]):
    from cnnzoo.data.loader import BatchLoader
    from cnnzoo.data.pipeline import build_transform
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.run import load_data

    dataset = load_data(TrainConfig.from_dict(cfg))
    size = (dataset.channels, *(cfg["image_size"] or (32, 32)))
    return BatchLoader(dataset.test, 256, transform=build_transform(dataset, size))


@torch.no_grad()
def _logits(model: torch.nn.Module, loader) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    outs, labels = [], []
    for x, y in loader:
        outs.append(model(x).float())
        labels.append(y)
    return torch.cat(outs), torch.cat(labels)


def insert_blocks(trained: torch.nn.Module, residual: bool, zero_init: bool) -> torch.nn.Module:
    """The deeper net: the trained net's weights, plus the inserted blocks."""
    from cnnzoo.registry import create_model

    torch.manual_seed(0)
    deep = create_model(INSERTED, num_classes=trained.num_classes, in_chans=trained.in_chans,
                        extra=EXTRA, residual_insert=residual, zero_init=zero_init)
    missing, unexpected = deep.load_state_dict(trained.state_dict(), strict=False)
    blocks = len(trained.layer1)  # the inserted blocks come after the trained ones
    if unexpected or any(int(k.split(".")[1]) < blocks for k in missing):
        raise StudyError(f"{INSERTED} does not extend resnet-20: {missing or unexpected}")
    return deep


def run(ctx: StudyContext) -> None:
    from cnnzoo.registry import create_model
    from cnnzoo.studies.cache import Planned
    from cnnzoo.weights import save_weights

    data, note = choose_data(ctx)
    write_meta(ctx, data, note, extra_blocks_per_stage=EXTRA,
               input_size=trained_input("resnet20", data, tune_recipe(ctx, data)))
    assert ctx.runs is not None
    weights_dir = Path(ctx.runs.root) / "identity-inserted"
    weights_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for seed in ctx.seeds:
        base = ctx.runs.train("resnet20", data, seed=seed,
                              **configure(ctx, degradation.recipe(ctx, data)))
        ctx.commands.append(base.command)
        trained = create_model("resnet20", weights=base.weights)
        loader = _test_loader(base.config)
        ref, labels = _logits(trained, loader)
        acc0 = float((ref.argmax(1) == labels).float().mean())
        rows.append({"seed": seed, "stage": "inserted", "variant": "resnet-20 (trained)",
                     "test_acc": acc0, "max_logit_diff": 0.0})
        inits: dict[str, str] = {"resnet-20 (control)": str(base.weights)}
        for name, (residual, zero) in VARIANTS.items():
            deep = insert_blocks(trained, residual, zero)
            out, _ = _logits(deep, loader)
            rows.append({"seed": seed, "stage": "inserted", "variant": name,
                         "test_acc": float((out.argmax(1) == labels).float().mean()),
                         "max_logit_diff": float((out - ref).abs().max())})
            if name in TUNED:
                path = weights_dir / f"{base.hash}-{residual:d}{zero:d}.safetensors"
                if not path.is_file():
                    deep.model_name = INSERTED
                    save_weights(deep, path)
                inits[name] = str(path.resolve())
        tunes = {}
        for name, arch in TUNED.items():
            options = {} if arch is None else dict(extra=EXTRA, residual_insert=arch[0],
                                                   zero_init=arch[1])
            tunes[name] = Planned("resnet20" if arch is None else INSERTED, data, seed,
                                  configure(ctx, {**tune_recipe(ctx, data),
                                                  "init_weights": inits[name],
                                                  "model_options": options}))
        ctx.runs.train_all(list(tunes.values()))
        for name, p in tunes.items():
            r = ctx.runs.train(p.model, p.data, seed=p.seed, **p.fields)
            ctx.commands.append(r.command)
            rows.append({"seed": seed, "stage": "fine-tuned", "variant": name,
                         "test_acc": r.final_top1, "max_logit_diff": ""})
        ctx.write_csv("identity", rows)


def measure(raw: RawData) -> dict[str, Any]:
    meta = read_meta(raw)
    rows = raw.csv("identity")

    def acc(stage: str, variant: str) -> dict[str, Any]:
        return stats([float(r["test_acc"]) for r in rows
                        if r["stage"] == stage and r["variant"] == variant])

    trained = acc("inserted", "resnet-20 (trained)")
    inserted = {v: acc("inserted", v) for v in VARIANTS}
    tuned = {v: acc("fine-tuned", v) for v in TUNED}
    diffs = {v: max((float(r["max_logit_diff"]) for r in rows
                     if r["stage"] == "inserted" and r["variant"] == v), default=None)
             for v in VARIANTS}
    return {
        "mode": meta["mode"], "data": meta["data"], "note": meta["note"],
        "extra_blocks_per_stage": meta.get("extra_blocks_per_stage", EXTRA),
        "trained_accuracy": trained, "inserted_accuracy": inserted,
        "max_logit_diff": diffs, "fine_tuned_accuracy": tuned,
        "residual_change": difference(inserted["residual, zero-init"], trained),
        "plain_change": difference(inserted["plain, He init"], trained),
        "tuned_residual_vs_control": difference(tuned["residual, zero-init"],
                                                tuned["resnet-20 (control)"]),
        "tuned_plain_vs_control": difference(tuned["plain, He init"],
                                             tuned["resnet-20 (control)"]),
    }


def verdict(measured: dict[str, Any]) -> Verdict:
    ins, res_d = measured["inserted_accuracy"], measured["max_logit_diff"]
    res_change, plain_change = measured["residual_change"], measured["plain_change"]
    tuned = measured["tuned_residual_vs_control"]
    key = (f"inserting residual blocks: accuracy {pct(ins['residual, zero-init']['mean'])} "
           f"(was {pct(measured['trained_accuracy']['mean'])}), max logit change "
           f"{res_d['residual, zero-init'] or 0:.1e}; plain blocks: "
           f"{pct(ins['plain, He init']['mean'])}")
    if res_change["diff"] is None:
        return Verdict(INCONCLUSIVE, key, "no seed finished yet; rerun to continue")
    if measured["trained_accuracy"]["mean"] < LEARNED:
        return Verdict(INCONCLUSIVE, key, "the trained resnet-20 did not learn (test accuracy "
                       f"{pct(measured['trained_accuracy']['mean'])}): nothing to keep")
    if res_d["residual, zero-init"] > IDENTITY_ATOL or abs(res_change["diff"]) > 1e-9:
        return Verdict(REFUTED, key, "the zero-initialised residual blocks changed the "
                       f"outputs (max |logit change| {res_d['residual, zero-init']:.2e})")
    early = too_few(measured, (tuned,), key)
    if early is not None:
        return Verdict(INCONCLUSIVE, key, "the identity holds exactly; " + early.reason)
    tuned_why = f"after fine-tuning, deeper residual - control {pts(tuned)}{seeds_note((tuned,))}"
    if against(tuned, TUNE_MARGIN) == BELOW:
        return Verdict(REFUTED, key, f"the identity holds at insertion, but {tuned_why}: the "
                       "added blocks hurt")
    if plain_change["diff"] > -PLAIN_DROP:
        return Verdict(INCONCLUSIVE, key, f"identity holds, but the plain insertion cost only "
                       f"{pts(plain_change)} (contrast needs > 5 points); {tuned_why}")
    return Verdict(CONFIRMED, key, f"identity exact; plain insertion {pts(plain_change)}; "
                   f"{tuned_why}")


def figures(raw: RawData, measured: dict[str, Any]) -> list[Figure]:
    from cnnzoo.studies.svg import grouped_bars

    names = ["resnet-20 (control)", *VARIANTS]
    ins = {"resnet-20 (control)": measured["trained_accuracy"], **measured["inserted_accuracy"]}
    tuned = measured["fine_tuned_accuracy"]

    def mean(s: dict[str, Any] | None) -> float:
        return 100 * (s["mean"] or 0.0) if s else 0.0

    svg = grouped_bars(names, {"at insertion": [mean(ins[n]) for n in names],
                               "after fine-tuning": [mean(tuned.get(n)) for n in names]},
                       title="resnet-20 with 6 blocks inserted",
                       ylabel="test accuracy, %")
    return [Figure("Inserting blocks into a trained resnet-20", svg=svg,
                   caption="Plain zero-init blocks output zeros (not fine-tuned: 0 bar).")]
