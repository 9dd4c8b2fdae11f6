"""A residual block can learn the identity, so adding blocks does not hurt.

Lab notebook, per seed: take the trained resnet-20 of the degradation study (its recipe, so
its cached run; the final weights) and append 2 blocks to each of its 3 stages (20 -> 32
layers).

Construction check (not the evidence): residual blocks whose last BN has gamma = beta = 0
add exactly nothing, so the deeper net must give the same logits on the whole test split.

The learnability test: insert randomly initialised blocks (the net's own init: He-normal
convs, BN gamma = 1), residual into one copy and plain into another (the same random
weights: only the shortcut differs), and fine-tune both, and resnet-20 itself as the
control, with one recipe on the seed's training subset in the same order. The claim holds
when the deeper residual net ends no worse than the control and the deeper plain net worse
than the residual one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

from cnnzoo.data.loader import BatchLoader
from cnnzoo.data.pipeline import build_transform
from cnnzoo.factory import create_model
from cnnzoo.studies import degradation
from cnnzoo.studies.base import (
    INCONCLUSIVE,
    REFUTED,
    Figure,
    RawData,
    Study,
    StudyContext,
    StudyError,
    Verdict,
)
from cnnzoo.studies.cache import STUDY_THREADS, Planned, torch_threads
from cnnzoo.studies.comparisons import (
    AGAINST,
    CONFIDENCE,
    MIN_SEEDS,
    NON_INFERIORITY,
    SUPERIORITY,
    Comparison,
)
from cnnzoo.studies.svg import grouped_bars
from cnnzoo.studies.training import (
    LEARNED_FASHION,
    arm_stats,
    choose_data,
    configure,
    curve_figures,
    final_row,
    final_table,
    lengths_text,
    measure_arms,
    pct,
    seeded_verdict,
    stats,
    train_rows,
    trained_input,
    write_meta,
)
from cnnzoo.train.checkpoint import load_checkpoint
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.loop import LAST
from cnnzoo.train.run import load_data
from cnnzoo.weights import save_weights

EXTRA = 2  # blocks inserted per stage
INSERTED = "study_resnet_inserted"
BASE = "resnet20"
IDENTITY_ATOL = 1e-4  # construction check: largest |logit change| allowed, fp32
# "Does not hurt": a deeper net's training error at most this much above another's.
HURT_MARGIN = 0.005  # 0.5 points
TUNE_LR = 0.02  # peak lr of the fine-tune (the base trained at 0.05 and ended at 0.0005)
TUNE_EPOCHS = {"quick": 2, "standard": 4, "full": 10}

CONTROL = "control"  # resnet-20 itself, fine-tuned
RESIDUAL = "residual-inserted"
PLAIN = "plain-inserted"
ARMS = (CONTROL, RESIDUAL, PLAIN)
# arm -> (model, residual_insert); the inserted blocks are randomly initialised (gamma = 1)
TUNED = {CONTROL: (BASE, None), RESIDUAL: (INSERTED, True), PLAIN: (INSERTED, False)}

# The construction check's table (insertion.csv): test accuracy and the largest |logit
# change| against the trained net, before any fine-tuning.
TRAINED = "resnet20 (trained)"
ZERO_RESIDUAL = "residual, gamma = beta = 0 (construction check)"
RANDOM_RESIDUAL = "residual, random init"
RANDOM_PLAIN = "plain, random init"
INSERTIONS = {ZERO_RESIDUAL: (True, True), RANDOM_RESIDUAL: (True, False),
              RANDOM_PLAIN: (False, False)}  # variant -> (residual, zero_init)

# Declared before any run. The metric is training error (final weights, eval mode, a fixed
# part of the seed's training images): "adding blocks does not hurt" is the degradation
# argument, a claim about what the optimiser reaches, as in degradation; test error is
# shown beside it. Paired by seed: the arms of a seed share the trained base, the training
# subset and its order.
COMPARISONS = (
    Comparison("residual insertion does not hurt", "train_err", (CONTROL, RESIDUAL),
               HURT_MARGIN, NON_INFERIORITY),
    Comparison("plain insertion hurts", "train_err", (RESIDUAL, PLAIN), HURT_MARGIN,
               SUPERIORITY),
    Comparison("test: residual insertion does not hurt", "test_acc", (RESIDUAL, CONTROL),
               HURT_MARGIN, NON_INFERIORITY, decides=False),
    Comparison("test: plain insertion hurts", "test_acc", (PLAIN, RESIDUAL), HURT_MARGIN,
               SUPERIORITY, decides=False),
)


def tune_recipe_for(mode: str, data: str) -> dict[str, Any]:
    """The fine-tune of every arm: degradation's recipe (batch, optimiser, weight decay,
    image size, training subset and warm-up), at TUNE_LR with a cosine schedule."""
    recipe = degradation.recipe(SimpleNamespace(mode=mode), data)  # type: ignore[arg-type]
    recipe.update(lr=TUNE_LR, schedule="cosine", milestones=(), epochs=TUNE_EPOCHS[mode])
    return recipe


def tune_recipe(ctx: StudyContext, data: str) -> dict[str, Any]:
    return tune_recipe_for(ctx.mode, data)


def _mode_text(mode: str) -> str:
    r = tune_recipe_for(mode, "fashion-mnist")
    return lengths_text(r.get("limit_train"), r["epochs"])


_DECIDING = [c for c in COMPARISONS if c.decides]
STUDY = Study(
    id="identity",
    claim="A residual block can easily learn the identity function (with W = 0 and b = 0, "
          "a[l+2] = g(a[l]) = a[l]), so adding residual blocks to a network does not hurt "
          "it; plain layers cannot simply learn the identity, so adding them can.",
    source="He, Zhang, Ren, Sun 2016, Deep Residual Learning, section 3.1 (the degradation "
           "argument: 'the added layers are identity mappings'); zero-gamma initialisation: "
           "Goyal et al. 2017, section 5.1",
    experiment=f"Per seed, into degradation's trained resnet-20 (final weights) insert "
               f"{EXTRA} blocks per stage (20 -> {20 + 6 * EXTRA} layers). Construction "
               f"check: residual blocks with last-BN gamma = beta = 0 must leave every logit "
               f"of the test split unchanged. Learnability test: randomly initialised blocks "
               f"(He-normal convs, gamma = 1; the same random weights for both), residual in "
               f"one copy, plain in another; fine-tune both and resnet-20 itself (the "
               f"control) with one recipe: degradation's, at lr {TUNE_LR:g} with a cosine "
               f"schedule, on the seed's training subset in the same order. Metric: the "
               f"final weights' training error (eval mode, a fixed part of the training "
               f"images; the claim is about optimisation, as in degradation); test accuracy "
               f"on the whole test split beside it.",
    tolerance=f"Construction check (a check of the code, not evidence for the claim): max "
              f"|logit change| <= {IDENTITY_ATOL:g} and equal test accuracy, every seed; if "
              f"it fails the verdict is refuted. Then, declared comparisons, one-sided "
              f"{100 * CONFIDENCE:g}% t bounds over seeds: "
              + "; ".join(c.statement for c in _DECIDING)
              + ". Confirmed when both are decided for the claim, refuted when either is "
              f"decided against it, else inconclusive; >= {MIN_SEEDS} seeds, and the best "
              f"arm must reach the dataset's 'did it learn' test accuracy "
              f"({pct(LEARNED_FASHION)} on Fashion-MNIST). Test-accuracy "
              "comparisons are shown, not deciding.",
    data=("fashion-mnist",),
    quick_cost="~1 min after degradation's runs",
    quick_deviations=f"fine-tuning: {_mode_text('quick')} (standard: "
                     f"{_mode_text('standard')}).",
    full_cost="~45 min after degradation's runs",
    deviations=f"Fashion-MNIST at 14x14 and degradation's width-{degradation.WIDTH} "
               "resnet-20 instead of CIFAR-10. The paper argues from the construction; here "
               "the construction is only checked, and the learnability is tested by "
               "fine-tuning randomly initialised blocks. The zero-init residual block is "
               "the identity because its input is a ReLU output (non-negative), so the "
               "closing ReLU changes nothing. The new blocks' BN layers start with running "
               "statistics 0 and 1, so the accuracy at insertion of the random ones "
               "(insertion.csv) is that of an untuned net, for the record only. The "
               "fine-tune is short: the verdict is about what equal, short training "
               "reaches, not about the best either deeper net could reach.",
    seeded=True,
    planned_later="3 fine-tunes a seed, which start from its trained resnet-20",
)


def _test_loader(cfg: dict[str, Any]) -> tuple[Any, int, int]:
    """The whole test split at the run's input size, as evaluate_final reads it; with the
    data's classes and channels."""

    dataset = load_data(TrainConfig.from_dict({**cfg, "limit_test": None,
                                               "limit_train": None, "init_weights": None}))
    size = (dataset.channels, *(cfg["image_size"] or (32, 32)))
    loader = BatchLoader(dataset.test, 500, transform=build_transform(dataset, size,
                                                                        train=False))
    return loader, dataset.num_classes, dataset.channels


@torch.no_grad()
def _logits(model: torch.nn.Module, loader: Any) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    outs, labels = [], []
    for x, y in loader:
        outs.append(model(x).float())
        labels.append(y)
    return torch.cat(outs), torch.cat(labels)


class _Check:
    """The construction check of one seed: each net's test accuracy and how far its logits
    are from the trained net's (its sums on STUDY_THREADS, whatever the cores)."""

    def __init__(self, trained: torch.nn.Module, loader: Any, seed: int) -> None:
        self.trained, self.loader, self.seed = trained, loader, seed
        with torch_threads(STUDY_THREADS):
            self.ref, self.labels = _logits(trained, loader)

    def row(self, variant: str, model: torch.nn.Module) -> dict[str, Any]:
        if model is self.trained:
            out, diff = self.ref, 0.0
        else:
            with torch_threads(STUDY_THREADS):
                out, _ = _logits(model, self.loader)
            diff = float((out - self.ref).abs().max())
        return {"seed": self.seed, "variant": variant,
                "test_acc": float((out.argmax(1) == self.labels).float().mean()),
                "max_logit_diff": diff, "test_images": len(self.labels)}


def insert_blocks(trained: torch.nn.Module, residual: bool, zero_init: bool, seed: int = 0
                  ) -> torch.nn.Module:
    """The deeper net: the trained resnet-20's weights, plus EXTRA blocks per stage drawn
    from `seed` (residual and plain get the same weights from one seed; the global RNG is
    left as it was)."""

    width = trained.conv1.out_channels
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        deep = create_model(INSERTED, num_classes=trained.num_classes,
                            in_chans=trained.in_chans, extra=EXTRA, residual_insert=residual,
                            zero_init=zero_init, width=width)
    missing, unexpected = deep.load_state_dict(trained.state_dict(), strict=False)
    blocks = len(trained.layer1)  # the inserted blocks come after the trained ones
    if unexpected or any(int(k.split(".")[1]) < blocks for k in missing):
        raise StudyError(f"{INSERTED} does not extend resnet-20: {missing or unexpected}")
    return deep


def _save_init(model: torch.nn.Module, folder: Path, label: str) -> str:
    """Save `model` as a fine-tune's init_weights; the name holds a digest of the weights,
    so a run's config (hence its cache entry) changes whenever its starting weights do."""

    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    path = folder / f"{label}-{digest.hexdigest()[:16]}.safetensors"
    if not path.is_file():
        save_weights(model, path)
    return str(path.resolve())


def run(ctx: StudyContext) -> None:
    data, note = choose_data(ctx)
    base_recipe = configure(ctx, degradation.recipe(ctx, data))
    tune = configure(ctx, tune_recipe(ctx, data))
    options = dict(base_recipe.get("model_options") or {})
    write_meta(ctx, data, note, extra_blocks_per_stage=EXTRA, model_options=options,
               input_size=trained_input(BASE, data, base_recipe))
    assert ctx.runs is not None
    inits = Path(ctx.runs.root) / "identity-inits"
    inits.mkdir(parents=True, exist_ok=True)
    checks: list[dict[str, Any]] = []
    curves: list[dict[str, Any]] = []
    finals: list[dict[str, Any]] = []
    # Every seed's base first (at once, `--jobs` at a time), then every seed's fine-tunes,
    # which start from the bases' weights: a plan lists them once the bases have finished.
    ctx.runs.train_all([Planned(BASE, data, seed, base_recipe) for seed in ctx.seeds])
    plans: dict[int, dict[str, Planned]] = {}
    for seed in ctx.seeds:
        base = ctx.runs.train(BASE, data, seed=seed, **base_recipe)
        ctx.commands.append(base.command)
        loader, classes, channels = _test_loader(base.config)
        trained = create_model(BASE, num_classes=classes, in_chans=channels, **options)
        trained.load_state_dict(load_checkpoint(base.out / LAST)["model"])  # final weights
        # A plan needs the fine-tunes' starting weights, not the check (the run does it).
        check = None if ctx.planning else _Check(trained, loader, seed)
        if check is not None:
            checks.append(check.row(TRAINED, trained))
        starts = {CONTROL: _save_init(trained, inits, f"{base.hash}-base")}
        for variant, (residual, zero) in INSERTIONS.items():
            deep = insert_blocks(trained, residual, zero, seed=seed)
            if check is not None:
                checks.append(check.row(variant, deep))
            if not zero:
                arm = RESIDUAL if residual else PLAIN
                label = f"{base.hash}-{'residual' if residual else 'plain'}"
                starts[arm] = _save_init(deep, inits, label)
        if not ctx.planning:
            ctx.write_csv("insertion", checks)
        plans[seed] = {}
        for arm, (model, residual) in TUNED.items():
            opts = dict(options) if residual is None else {
                **options, "extra": EXTRA, "residual_insert": residual, "zero_init": False}
            plans[seed][arm] = Planned(model, data, seed, {**tune, "init_weights": starts[arm],
                                                           "model_options": opts})
    ctx.runs.train_all([p for plan in plans.values() for p in plan.values()])
    for seed, plan in plans.items():
        for arm, p in plan.items():
            r = ctx.runs.train(p.model, p.data, seed=p.seed, **p.fields)
            ctx.commands.append(r.command)
            curves += train_rows(r, arm=arm, seed=seed)
            finals.append(final_row(r, arm=arm, seed=seed))
    ctx.write_csv("curves", curves)
    ctx.write_csv("final", finals)


def _construction(raw: RawData) -> dict[str, Any]:
    """The construction check over the seeds: passed when on every seed the zero-init
    residual insertion changed no logit by more than IDENTITY_ATOL nor the test accuracy."""
    rows = raw.csv("insertion") if raw.has("insertion") else []
    by_seed: dict[int, dict[str, dict[str, str]]] = {}
    for r in rows:
        by_seed.setdefault(int(r["seed"]), {})[r["variant"]] = r
    failed, diffs = [], []
    for seed, v in sorted(by_seed.items()):
        if ZERO_RESIDUAL not in v or TRAINED not in v:
            continue
        diff = float(v[ZERO_RESIDUAL]["max_logit_diff"])
        diffs.append(diff)
        same_acc = float(v[ZERO_RESIDUAL]["test_acc"]) == float(v[TRAINED]["test_acc"])
        if not diff <= IDENTITY_ATOL or not same_acc:  # NaN fails too
            failed.append(seed)
    seeds = sorted(s for s, v in by_seed.items() if ZERO_RESIDUAL in v and TRAINED in v)

    def acc(variant: str) -> dict[str, Any]:
        return stats([float(v[variant]["test_acc"]) for v in by_seed.values() if variant in v])

    return {"seeds": seeds, "failed_seeds": failed, "passed": bool(seeds) and not failed,
            "max_logit_diff": max(diffs) if diffs else None, "atol": IDENTITY_ATOL,
            "accuracy_at_insertion": {v: acc(v) for v in (TRAINED, *INSERTIONS)}}


def measure(raw: RawData) -> dict[str, Any]:
    measured = measure_arms(raw, ARMS, COMPARISONS)
    measured["train_err"] = arm_stats(final_table(raw), ARMS, "train_err")
    measured["construction"] = _construction(raw)
    measured["extra_blocks_per_stage"] = EXTRA
    return measured


def verdict(measured: dict[str, Any]) -> Verdict:
    c = measured["construction"]
    err = measured["train_err"]
    diff = "-" if c["max_logit_diff"] is None else f"{c['max_logit_diff']:.1e}"
    key = (f"train error after fine-tuning: control {pct(err[CONTROL]['mean'])}, "
           f"+residual {pct(err[RESIDUAL]['mean'])}, +plain {pct(err[PLAIN]['mean'])}; "
           f"construction check max |logit change| {diff}")
    if c["failed_seeds"]:
        return Verdict(REFUTED, key, f"construction check failed on seed(s) "
                       f"{c['failed_seeds']}: residual blocks with gamma = beta = 0 changed "
                       f"the outputs (max |logit change| {diff}, allowed {IDENTITY_ATOL:g})",
                       n=len(c["seeds"]))
    tuned = {int(s) for r in measured["comparisons"] if r["decides"] for s in r["seeds"]}
    unchecked = sorted(tuned - set(c["seeds"]))
    if unchecked or not c["seeds"]:
        return Verdict(INCONCLUSIVE, key, "the construction check is missing for seed(s) "
                       f"{unchecked or 'all'}; rerun to continue", n=0)
    against = [r["name"] for r in measured["comparisons"]
               if r["decides"] and r["leaning"] == AGAINST]
    return seeded_verdict(
        measured, key,
        "construction check exact; after equal fine-tuning the deeper residual net is no "
        "worse than the control and the deeper plain net is worse",
        f"construction check exact, but decided against the claim: {', '.join(against)}")


def figures(raw: RawData, measured: dict[str, Any]) -> list[Figure]:
    def mean(s: dict[str, Any]) -> float:
        return 100 * (s["mean"] or 0.0)

    def sd(s: dict[str, Any]) -> float:
        return 100 * (s["sd"] or 0.0)

    tr = measured["train_err"]
    te = {a: {**s, "mean": None if s["mean"] is None else 1 - s["mean"]}
          for a, s in measured["accuracy"].items()}
    n = min((s["n"] for s in tr.values()), default=0)
    tuned = grouped_bars(list(ARMS), {"training error": [mean(tr[a]) for a in ARMS],
                                      "test error": [mean(te[a]) for a in ARMS]},
                         errors={"training error": [sd(tr[a]) for a in ARMS],
                                 "test error": [sd(te[a]) for a in ARMS]},
                         title=f"After equal fine-tuning ({EXTRA} random blocks per stage)",
                         ylabel="error, % (mean +- sd over seeds)")
    ins = measured["construction"]["accuracy_at_insertion"]
    names = [v for v in ins if ins[v]["n"]]
    at = grouped_bars(names, {"test accuracy": [mean(ins[v]) for v in names]},
                      errors={"test accuracy": [sd(ins[v]) for v in names]},
                      title="At insertion, before fine-tuning",
                      ylabel="test accuracy, % (mean +- sd over seeds)")
    curves = curve_figures(raw.csv("curves"), ARMS, "the fine-tunes", dashed=(PLAIN,)) \
        if raw.has("curves") else []
    return [
        *curves,
        Figure("Fine-tuned: resnet-20, with residual blocks, with plain blocks", svg=tuned,
               caption=f"{n} seed(s); training error on a fixed part of each seed's "
                       "training images (eval mode), test error on the whole test split."),
        Figure("Inserting blocks into the trained resnet-20", svg=at,
               caption="gamma = beta = 0 residual blocks: the construction check (the same "
                       "function). Random blocks: before any fine-tuning, new BN layers "
                       "with initial running statistics."),
    ]
