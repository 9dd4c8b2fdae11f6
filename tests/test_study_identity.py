"""The identity study: the construction (gamma = beta = 0 residual insertion is the identity,
a random one is not), the fine-tune recipe, and every verdict reached from raw files written
as run() writes them (insertion.csv, final.csv, meta.json)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from cnnzoo import create_model
from cnnzoo.studies import degradation, identity
from cnnzoo.studies.base import CONFIRMED, INCONCLUSIVE, REFUTED, RawData
from cnnzoo.studies.identity import CONTROL, PLAIN, RESIDUAL, TRAINED, ZERO_RESIDUAL
from cnnzoo.studies.plan import make_plan
from cnnzoo.studies.registry import get
from cnnzoo.studies.runner import run_study

# ---------------------------------------------------------------- the construction


def _trained_like(width: int = 8) -> torch.nn.Module:
    torch.manual_seed(0)
    net = create_model("resnet20", num_classes=10, in_chans=1, width=width).eval()
    for m in net.modules():  # non-trivial BN statistics and scales, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net


def test_zero_init_residual_insertion_is_the_identity_and_a_random_one_is_not() -> None:
    net = _trained_like()
    x = torch.randn(16, 1, 14, 14)
    with torch.no_grad():
        ref = net(x)
        zero = identity.insert_blocks(net, residual=True, zero_init=True, seed=3).eval()(x)
        rand = identity.insert_blocks(net, residual=True, zero_init=False, seed=3).eval()(x)
        plain = identity.insert_blocks(net, residual=False, zero_init=False, seed=3).eval()(x)
    assert (zero - ref).abs().max() <= identity.IDENTITY_ATOL
    assert torch.equal(zero, ref)  # exactly: the branch adds 0 to a non-negative input
    assert (rand - ref).abs().max() > 100 * identity.IDENTITY_ATOL
    assert (plain - ref).abs().max() > 100 * identity.IDENTITY_ATOL


def test_inserted_nets_keep_the_base_and_share_their_random_blocks() -> None:
    net = _trained_like()
    base = net.state_dict()
    res = identity.insert_blocks(net, residual=True, zero_init=False, seed=1)
    plain = identity.insert_blocks(net, residual=False, zero_init=False, seed=1)
    again = identity.insert_blocks(net, residual=True, zero_init=False, seed=1)
    other = identity.insert_blocks(net, residual=True, zero_init=False, seed=2)
    rs, ps, ags, os_ = (m.state_dict() for m in (res, plain, again, other))
    assert set(rs) == set(ps) and set(base) < set(rs)
    for k, v in base.items():  # the trained net, unchanged, in both deeper nets
        assert torch.equal(rs[k], v) and torch.equal(ps[k], v), k
    new = [k for k in rs if k not in base]
    assert len(new) == 3 * identity.EXTRA * 12  # per block: 2 convs, 2 BNs (5 entries each)
    assert all(torch.equal(rs[k], ps[k]) and torch.equal(rs[k], ags[k]) for k in new)
    assert any(not torch.equal(rs[k], os_[k]) for k in new)  # another seed, other blocks
    gammas = [rs[k] for k in new if k.endswith("bn2.weight")]
    assert gammas and all(torch.equal(g, torch.ones_like(g)) for g in gammas)  # not zero-init
    assert [b.residual for b in res.layer1] == [True] * 3 + [True] * identity.EXTRA
    assert [b.residual for b in plain.layer1] == [True] * 3 + [False] * identity.EXTRA


def test_fine_tune_recipe_is_degradations_on_the_same_subset() -> None:
    for mode in ("quick", "standard", "full"):
        tune = identity.tune_recipe_for(mode, "fashion-mnist")
        base = degradation.recipe(type("Ctx", (), {"mode": mode})(), "fashion-mnist")
        same = ("batch_size", "optimizer", "momentum", "weight_decay", "image_size",
                "limit_train", "augment", "model_options", "precision")
        assert {k: tune.get(k) for k in same} == {k: base.get(k) for k in same}
        assert tune["lr"] == identity.TUNE_LR and tune["schedule"] == "cosine"
        assert tune["epochs"] == identity.TUNE_EPOCHS[mode] and tune["milestones"] == ()


def test_declared_comparisons_and_tolerance_text_come_from_the_constants() -> None:
    deciding = [c for c in identity.COMPARISONS if c.decides]
    assert [(c.metric, c.arms, c.hypothesis) for c in deciding] == [
        ("train_err", (CONTROL, RESIDUAL), "non-inferiority"),
        ("train_err", (RESIDUAL, PLAIN), "superiority")]
    assert all(c.margin == identity.HURT_MARGIN for c in identity.COMPARISONS)
    for c in deciding:
        assert c.statement in identity.STUDY.tolerance


# ---------------------------------------------------------------- verdicts from raw files


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _raw(tmp_path: Path, train_err: dict[str, list[float]], test_acc: float = 0.85,
         logit_diff: list[float] | None = None) -> RawData:
    """insertion.csv, final.csv and meta.json as run() writes them, from per-seed values."""
    seeds = list(range(len(train_err[CONTROL])))
    logit_diff = logit_diff or [0.0] * len(seeds)
    checks, finals = [], []
    for s in seeds:
        checks.append({"seed": s, "variant": TRAINED, "test_acc": 0.85, "max_logit_diff": 0.0,
                       "test_images": 10000})
        checks.append({"seed": s, "variant": ZERO_RESIDUAL,
                       "test_acc": 0.85 if logit_diff[s] == 0 else 0.80,
                       "max_logit_diff": logit_diff[s], "test_images": 10000})
        for v in (identity.RANDOM_RESIDUAL, identity.RANDOM_PLAIN):
            checks.append({"seed": s, "variant": v, "test_acc": 0.3, "max_logit_diff": 9.0,
                           "test_images": 10000})
        for arm in identity.ARMS:
            err = train_err[arm][s]
            acc = test_acc - (0.02 if arm == PLAIN else 0.0)
            finals.append({"arm": arm, "seed": s, "threads": 1, "epochs": 2,
                           "test_acc": acc, "test_images": 10000,
                           "train_acc": round(1 - err, 6), "train_images": 2000,
                           "train_err": err, "gap": round(1 - err - acc, 6)})
    folder = tmp_path / "identity"
    _write_csv(folder / "insertion.csv", checks)
    _write_csv(folder / "final.csv", finals)
    (folder / "meta.json").write_text(json.dumps(
        {"mode": "quick", "data": "fashion-mnist", "note": "", "seeds": seeds}))
    return RawData(folder)


def _verdict(raw: RawData):
    measured = identity.measure(raw)
    json.dumps(measured)  # result.json holds it
    assert identity.figures(raw, measured)
    return identity.verdict(measured)


CONTROL_ERR = [0.100, 0.110, 0.105, 0.098, 0.112]


def test_confirmed_when_residual_is_no_worse_and_plain_trails(tmp_path: Path) -> None:
    v = _verdict(_raw(tmp_path, {CONTROL: CONTROL_ERR,
                                 RESIDUAL: [e + d for e, d in zip(CONTROL_ERR, (
                                     0.001, -0.002, 0.0, 0.001, -0.001), strict=True)],
                                 PLAIN: [e + 0.03 + d for e, d in zip(CONTROL_ERR, (
                                     0.004, -0.003, 0.0, 0.002, 0.001), strict=True)]}))
    assert v.verdict == CONFIRMED and v.n == 5, v


def test_refuted_when_the_plain_insertion_does_not_trail(tmp_path: Path) -> None:
    same = [e + d for e, d in zip(CONTROL_ERR, (0.001, -0.002, 0.0, 0.001, -0.001),
                                  strict=True)]
    v = _verdict(_raw(tmp_path, {CONTROL: CONTROL_ERR, RESIDUAL: same,
                                 PLAIN: [e - 0.01 for e in same]}))
    assert v.verdict == REFUTED and "plain insertion hurts" in v.reason, v


def test_refuted_when_the_residual_insertion_hurts(tmp_path: Path) -> None:
    worse = [e + 0.03 + d for e, d in zip(CONTROL_ERR, (0.002, -0.001, 0.0, 0.001, 0.0),
                                          strict=True)]
    v = _verdict(_raw(tmp_path, {CONTROL: CONTROL_ERR, RESIDUAL: worse,
                                 PLAIN: [e + 0.03 for e in worse]}))
    assert v.verdict == REFUTED and "residual insertion does not hurt" in v.reason, v


def test_refuted_when_the_construction_check_fails(tmp_path: Path) -> None:
    good = {CONTROL: CONTROL_ERR, RESIDUAL: CONTROL_ERR,
            PLAIN: [e + 0.05 for e in CONTROL_ERR]}
    v = _verdict(_raw(tmp_path, good, logit_diff=[0.0, 0.0, 0.3, 0.0, 0.0]))
    assert v.verdict == REFUTED and "construction check failed" in v.reason, v
    assert "[2]" in v.reason


def test_inconclusive_when_the_interval_holds_the_margin(tmp_path: Path) -> None:
    noisy = [e + d for e, d in zip(CONTROL_ERR, (0.012, -0.006, 0.009, -0.004, 0.011),
                                   strict=True)]
    v = _verdict(_raw(tmp_path, {CONTROL: CONTROL_ERR, RESIDUAL: noisy,
                                 PLAIN: [e + 0.05 for e in noisy]}))
    assert v.verdict == INCONCLUSIVE and "residual insertion does not hurt" in v.reason, v


def test_two_seeds_are_indicative_only(tmp_path: Path) -> None:
    two = CONTROL_ERR[:2]
    v = _verdict(_raw(tmp_path, {CONTROL: two, RESIDUAL: two,
                                 PLAIN: [e + 0.05 for e in two]}))
    assert v.verdict == INCONCLUSIVE and v.n == 2 and "indicative" in v.reason, v


def test_inconclusive_when_no_arm_learned(tmp_path: Path) -> None:
    good = {CONTROL: CONTROL_ERR, RESIDUAL: CONTROL_ERR,
            PLAIN: [e + 0.05 for e in CONTROL_ERR]}
    v = _verdict(_raw(tmp_path, good, test_acc=0.5))
    assert v.verdict == INCONCLUSIVE and "did not learn" in v.reason, v


def test_measured_reports_the_construction_and_both_metrics(tmp_path: Path) -> None:
    raw = _raw(tmp_path, {CONTROL: CONTROL_ERR[:3], RESIDUAL: CONTROL_ERR[:3],
                          PLAIN: [e + 0.05 for e in CONTROL_ERR[:3]]})
    m = identity.measure(raw)
    assert m["construction"]["passed"] and m["construction"]["seeds"] == [0, 1, 2]
    assert m["construction"]["max_logit_diff"] == 0.0
    assert m["train_err"][PLAIN]["mean"] == pytest.approx(sum(CONTROL_ERR[:3]) / 3 + 0.05)
    assert m["accuracy"][CONTROL]["n"] == 3
    assert {c["metric"] for c in m["comparisons"]} == {"train_err", "test_acc"}


@pytest.mark.slow
def test_tiny_identity_study_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    tiny = {"limit_train": 64, "limit_test": 64, "epochs": 1}
    result = run_study(get("identity"), mode="quick", data="mnist", out=tmp_path, threads=1,
                       progress=False, log=lambda s: None, train_overrides=tiny, seeds=1)
    folder = tmp_path / "identity"
    saved = json.loads((folder / "result.json").read_text())
    assert saved["verdict"] == result["verdict"] == INCONCLUSIVE  # one seed: indicative
    assert saved["measured"]["construction"]["passed"]
    checks = RawData(folder).csv("insertion")
    assert [r["variant"] for r in checks] == [TRAINED, *identity.INSERTIONS]
    diff = {r["variant"]: float(r["max_logit_diff"]) for r in checks}
    assert diff[TRAINED] == 0.0 and diff[ZERO_RESIDUAL] < 1e-4 < diff[identity.RANDOM_PLAIN]
    assert sorted(r["arm"] for r in RawData(folder).csv("final")) == sorted(identity.ARMS)
    trains = [c for c in saved["commands"] if c.startswith("cnnzoo train ")]
    assert len(trains) == 4  # the base, then the three fine-tunes
    assert sum(c.startswith("cnnzoo train study_resnet_inserted") for c in trains) == 2
    assert "--init-weights" not in trains[0]
    assert all("--init-weights" in c for c in trains[1:])

    # Planning it again (as `study run --force` does before running it) lists the same four
    # runs, all finished, and leaves the construction check to the study itself.
    def no_check(*args: object) -> None:
        raise AssertionError("the construction check ran while planning")

    monkeypatch.setattr(identity, "_logits", no_check)
    plan = make_plan([get("identity")], tmp_path, "quick", 1, data="mnist",
                     train_overrides=tiny)
    assert len(plan.entries) == 4 and all(e.finished for e in plan.entries)
    assert not plan.waiting

