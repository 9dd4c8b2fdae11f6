"""The lrn and inception-aux studies: their constructions (LRN computed as PyTorch computes it
and made active; both arms of a seed starting from the same weights), their declared
comparisons, and every verdict reached from raw files written as run() writes them
(meta.json, final.csv, runs.csv, and lrn's lrn_activity.csv and timing.csv)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from cnnzoo import create_model
from cnnzoo.models.study_nets import ChannelLRN, window_term
from cnnzoo.studies import inception_aux, lrn
from cnnzoo.studies.base import CONFIRMED, INCONCLUSIVE, REFUTED, RawData
from cnnzoo.studies.comparisons import interval
from cnnzoo.studies.inception_aux import AUX, NO_AUX

SEEDS5 = (0, 1, 2, 3, 4)


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _arm_files(folder: Path, test_acc: dict[str, list[float]],
               train_acc: dict[str, list[float]], epochs: int, **meta: object) -> None:
    """meta.json, final.csv and runs.csv as train_arms writes them, from per-seed values."""
    finals, curves = [], []
    for arm, values in test_acc.items():
        for seed, acc in enumerate(values):
            tr = train_acc[arm][seed]
            finals.append({"arm": arm, "seed": seed, "threads": 1, "epochs": epochs,
                           "test_acc": acc, "test_images": 10000, "train_acc": tr,
                           "train_images": 2000, "train_err": round(1 - tr, 6),
                           "gap": round(tr - acc, 6)})
            for e in range(1, epochs + 1):  # a made-up curve ending near the final figures
                curves.append({"arm": arm, "seed": seed, "threads": 1, "epoch": e,
                               "train_err": round((1 - tr) * (1 + (epochs - e)), 6),
                               "test_err": round((1 - acc) * (1 + 0.5 * (epochs - e)), 6),
                               "train_loss": 0.5})
    finals.sort(key=lambda r: (r["seed"], r["arm"]))  # seeds in order, as a run leaves them
    _write_csv(folder / "final.csv", finals)
    _write_csv(folder / "runs.csv", curves)
    seeds = sorted({r["seed"] for r in finals})
    (folder / "meta.json").write_text(json.dumps(
        {"mode": "quick", "data": "fashion-mnist", "note": "", "seeds": seeds, **meta}))


def _shift(base: list[float], by: float, noise: tuple[float, ...]) -> list[float]:
    return [round(b + by + d, 6) for b, d in zip(base, noise, strict=False)]


# ================================================================= lrn: the construction


def test_channel_lrn_computes_pytorchs_local_response_norm() -> None:
    torch.manual_seed(0)
    for c in (3, 12, 32):
        x = torch.relu(torch.randn(4, c, 9, 9)) * 3
        ours = ChannelLRN(5, alpha=5 * 0.81, beta=0.75, k=2.0)
        ref = torch.nn.LocalResponseNorm(5, alpha=5 * 0.81, beta=0.75, k=2.0)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        g = torch.randn_like(x)
        (ours(xa) * g).sum().backward()
        (ref(xb) * g).sum().backward()
        assert torch.allclose(ours(x), ref(x), atol=1e-6, rtol=1e-5)
        assert torch.allclose(xa.grad, xb.grad, atol=1e-5, rtol=1e-4)
        # window_term is exactly what LRN adds to k: out = x / (k + term)^beta
        term = window_term(ref, x)
        pos = x > 0.1
        denominator = (x[pos] / ref(x)[pos]) ** (1 / 0.75)
        assert torch.allclose(denominator, 2.0 + term[pos], rtol=1e-4)


def test_lrn_is_active_at_the_papers_units_and_inactive_at_its_alpha() -> None:
    assert lrn.paper_alpha("fashion-mnist") == 0.81  # 1e-4 x (255 x 0.353)^2
    assert lrn.paper_alpha("mnist") == pytest.approx(1e-4 * (255 * 0.3081) ** 2, rel=1e-3)
    torch.manual_seed(0)
    x = torch.randn(64, 1, 28, 28)  # a normalised input's scale
    for alpha, active in ((1e-4, False), (0.81, True)):
        torch.manual_seed(0)
        net = create_model(lrn.MODEL, num_classes=10, in_chans=1, width=lrn.WIDTH,
                           lrn_alpha=alpha).eval()
        found = lrn._activity(net, x)
        assert list(found) == ["features.2", "features.6"]
        assert (min(found.values()) >= lrn.ACTIVE) is active, found
    assert max(lrn._activity(create_model(lrn.MODEL, num_classes=10, in_chans=1).eval(),
                             x).values()) < 1e-3  # the old study: LRN inactive by construction


def test_lrn_arms_start_from_the_same_weights_and_differ_only_in_lrn() -> None:
    for mode in ("quick", "standard", "full"):
        ctx = type("Ctx", (), {"mode": mode})()
        with_lrn, without = lrn.recipe(ctx, True, 0.81), lrn.recipe(ctx, False, 0.81)
        assert {k: v for k, v in with_lrn.items() if k != "model_options"} == \
            {k: v for k, v in without.items() if k != "model_options"}
        assert with_lrn["model_options"] == {**without["model_options"], "lrn": True,
                                             "lrn_alpha": 0.81}
        assert with_lrn["lr"] == 0.01 and with_lrn["momentum"] == 0.9  # the paper's
        states = []
        for options in (with_lrn["model_options"], without["model_options"]):
            torch.manual_seed(7)  # as train.run.build_model seeds every run
            states.append(create_model(lrn.MODEL, num_classes=10, in_chans=1,
                                       **options).state_dict())
        assert list(states[0]) == list(states[1])
        assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_lrn_declared_comparisons_and_tolerance_come_from_the_constants() -> None:
    deciding = [c for c in lrn.COMPARISONS if c.decides]
    assert deciding == [lrn.ADDS_LITTLE]
    assert lrn.ADDS_LITTLE.arms == ("no LRN", "LRN")  # b - a = LRN - no LRN
    assert lrn.ADDS_LITTLE.hypothesis == "non-inferiority" and lrn.ADDS_LITTLE.paired
    assert lrn.COSTS_LITTLE.arms == ("LRN", "no LRN") and not lrn.COSTS_LITTLE.decides
    for c in lrn.COMPARISONS:
        assert c.margin == lrn.MARGIN and c.statement in lrn.STUDY.tolerance
    assert f"{lrn.ACTIVE:g} x k" in lrn.STUDY.tolerance
    assert f"{lrn.ACTIVITY_IMAGES} test images" in lrn.STUDY.experiment


# ================================================================= lrn: verdicts from raw files


NO_LRN = [0.850, 0.843, 0.861, 0.848, 0.855]
NOISE = (0.001, -0.002, 0.0015, -0.001, 0.0005)


def _lrn_raw(tmp_path: Path, lrn_acc: list[float], no_lrn: list[float] | None = None,
             activity: tuple[float, float] | None = (1.5, 0.15)) -> RawData:
    no_lrn = no_lrn or NO_LRN[:len(lrn_acc)]
    folder = tmp_path / "lrn"
    _arm_files(folder, {"LRN": lrn_acc, "no LRN": no_lrn},
               {"LRN": [a + 0.03 for a in lrn_acc], "no LRN": [a + 0.03 for a in no_lrn]},
               epochs=3, lrn_alpha=0.81, active=lrn.ACTIVE,
               activity_images=lrn.ACTIVITY_IMAGES)
    if activity is not None:
        rows = []
        for seed in range(len(lrn_acc)):
            for weights, scale in (("initial", 1.3), ("final", 1.0)):
                for i, value in enumerate(activity, 1):
                    rows.append({"seed": seed, "weights": weights, "layer": f"after conv{i}",
                                 "module": f"features.{4 * i - 2}", "images": 500,
                                 "threads": 1, "activity": round(scale * value, 6)})
        _write_csv(folder / "lrn_activity.csv", rows)
    _write_csv(folder / "timing.csv", [
        {"variant": v, "round": r, "seconds": s} for r in range(3)
        for v, s in (("LRN", 0.020 + 0.001 * r), ("no LRN", 0.015))])
    return RawData(folder)


def _lrn_verdict(raw: RawData):
    measured = lrn.measure(raw)
    json.dumps(measured)  # result.json holds it
    assert lrn.figures(raw, measured)
    return lrn.verdict(measured)


def test_lrn_confirmed_when_it_adds_under_a_point(tmp_path: Path) -> None:
    v = _lrn_verdict(_lrn_raw(tmp_path, _shift(NO_LRN, 0.002, NOISE)))
    assert v.verdict == CONFIRMED and v.n == 5, v
    assert "LRN cost accuracy" not in v.reason
    assert "after conv1 1.5, after conv2 0.15" in v.key and "% of a training step" in v.key


def test_lrn_confirmed_with_the_cost_shown_when_it_hurt(tmp_path: Path) -> None:
    v = _lrn_verdict(_lrn_raw(tmp_path, _shift(NO_LRN, -0.04, NOISE)))
    assert v.verdict == CONFIRMED, v
    assert "LRN cost accuracy (shown, not deciding): LRN costs little" in v.reason


def test_lrn_refuted_when_it_helps_by_more_than_a_point(tmp_path: Path) -> None:
    v = _lrn_verdict(_lrn_raw(tmp_path, _shift(NO_LRN, 0.03, NOISE)))
    assert v.verdict == REFUTED and "LRN helps by more than a point" in v.reason, v


def test_lrn_inconclusive_when_the_interval_holds_the_margin(tmp_path: Path) -> None:
    v = _lrn_verdict(_lrn_raw(tmp_path, _shift(NO_LRN, 0.01, (0.012, -0.009, 0.006, -0.011,
                                                              0.004))))
    assert v.verdict == INCONCLUSIVE and v.n == 5, v
    assert "beyond the margin to be decided" in v.reason


def test_lrn_two_seeds_are_indicative_only(tmp_path: Path) -> None:
    v = _lrn_verdict(_lrn_raw(tmp_path, _shift(NO_LRN[:2], 0.002, NOISE)))
    assert v.verdict == INCONCLUSIVE and v.n == 2 and "indicative" in v.reason, v


@pytest.mark.parametrize("activity", [(1e-4, 5e-5), (1.5, 0.01)])
def test_lrn_inconclusive_when_lrn_was_inactive(tmp_path: Path, activity) -> None:
    # the accuracies alone would confirm; a layer under the threshold makes it inconclusive
    raw = _lrn_raw(tmp_path, _shift(NO_LRN, 0.002, NOISE), activity=activity)
    m = lrn.measure(raw)
    assert m["lrn_activity"]["active"] is False
    assert m["lrn_activity"]["initial"]["after conv1"]["n"] == 5
    v = lrn.verdict(m)
    assert v.verdict == INCONCLUSIVE and v.reason.startswith("LRN was inactive"), v
    assert v.n == 5


def test_lrn_inconclusive_when_no_activity_was_saved(tmp_path: Path) -> None:
    v = _lrn_verdict(_lrn_raw(tmp_path, _shift(NO_LRN, 0.002, NOISE), activity=None))
    assert v.verdict == INCONCLUSIVE and "no LRN activity was saved" in v.reason, v


def test_lrn_inconclusive_when_no_arm_learned(tmp_path: Path) -> None:
    low = [a - 0.2 for a in NO_LRN]
    v = _lrn_verdict(_lrn_raw(tmp_path, _shift(low, 0.002, NOISE), no_lrn=low))
    assert v.verdict == INCONCLUSIVE and "did not learn" in v.reason, v


def test_lrn_measures_activity_and_the_time_share(tmp_path: Path) -> None:
    m = lrn.measure(_lrn_raw(tmp_path, _shift(NO_LRN[:3], 0.0, NOISE)))
    act = m["lrn_activity"]
    assert act["active"] is True and act["threshold"] == lrn.ACTIVE
    assert act["final"]["after conv2"]["mean"] == pytest.approx(0.15)
    assert act["initial"]["after conv1"]["mean"] == pytest.approx(1.95)
    assert m["lrn_alpha"] == 0.81
    ratios = [0.020 / 0.015, 0.021 / 0.015, 0.022 / 0.015]
    assert m["lrn_time_share"] == pytest.approx(1 - 1 / (sum(ratios) / 3))
    assert [c["name"] for c in m["comparisons"]] == ["LRN adds little", "LRN costs little"]
    assert m["gap"]["LRN"]["mean"] == pytest.approx(0.03)
    assert m["timing_unreliable"] is None  # narrow rounds, no load recorded


def test_lrn_does_not_explain_a_step_time_taken_on_a_busy_machine(tmp_path: Path) -> None:
    raw = _lrn_raw(tmp_path, _shift(NO_LRN, 0.002, NOISE))
    rows = raw.csv("timing")
    _write_csv(tmp_path / "timing.csv", [
        {**r, "load_1min": 3.1, "others_running": 3, "cores": 2} for r in rows])
    v = _lrn_verdict(RawData(tmp_path))
    assert "timing unreliable here (load 3.10, 3 other processes running on 2 cores)" in v.key
    assert "% of a training step" not in v.key


# ================================================================= inception-aux


def test_googlenet_width_keeps_the_published_net_and_narrows_the_heads_too() -> None:
    torch.manual_seed(0)
    full = create_model("googlenet", num_classes=1000, in_chans=3)
    assert sum(p.numel() for p in full.parameters()) == 6_624_904  # torchvision's count
    net = create_model("googlenet", num_classes=10, in_chans=1, aux_logits=True,
                       width=inception_aux.WIDTH)
    assert net.conv1.conv.out_channels == 16 and net.aux1.fc1.out_features == 256
    assert net.fc.in_features == net.num_features == net.inception5b.out_channels
    net.train()
    out = net(torch.randn(2, 1, inception_aux.SIZE, inception_aux.SIZE))
    assert out[0].shape == (2, 10) and [a.shape for a in out[1]] == [(2, 10), (2, 10)]


def test_aux_arms_start_from_the_same_weights_and_differ_only_in_the_aux_weight() -> None:
    for mode in ("quick", "standard", "full"):
        ctx = type("Ctx", (), {"mode": mode})()
        aux, no_aux = inception_aux.recipe(ctx, True), inception_aux.recipe(ctx, False)
        assert aux["aux_weight"] == inception_aux.AUX_WEIGHT and no_aux["aux_weight"] == 0.0
        assert {k: v for k, v in aux.items() if k != "aux_weight"} == \
            {k: v for k, v in no_aux.items() if k != "aux_weight"}
        assert aux["model_options"]["aux_logits"] is True  # both arms build the heads
        assert aux["augment"] is False and aux["weight_decay"] == 0.0  # let it overfit
    states = []
    for _ in range(2):  # one model config for both arms: one seed, one set of weights
        torch.manual_seed(3)
        states.append(create_model("googlenet", num_classes=10, in_chans=1,
                                   **aux["model_options"]).state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_aux_declared_comparisons_and_tolerance_come_from_the_constants() -> None:
    assert [c.decides for c in inception_aux.COMPARISONS] == [True, True]
    helps, shrinks = inception_aux.HELPS, inception_aux.REGULARISES
    assert (helps.metric, helps.arms, helps.margin) == ("test_acc", (NO_AUX, AUX),
                                                        inception_aux.MARGIN)
    assert (shrinks.metric, shrinks.arms) == ("gap", (AUX, NO_AUX))  # no-aux gap - aux gap
    for c in inception_aux.COMPARISONS:
        assert c.paired and c.hypothesis == "superiority"
        assert c.statement in inception_aux.STUDY.tolerance
    assert "smallest effect" in inception_aux.STUDY.tolerance


NO_AUX_ACC = [0.800, 0.795, 0.812, 0.804, 0.808]
NO_AUX_TRAIN = [0.99, 0.985, 0.995, 0.99, 0.992]


def _aux_raw(tmp_path: Path, gain: float, gap_cut: float, n: int = 5,
             noise: tuple[float, ...] = NOISE, base: list[float] = NO_AUX_ACC) -> RawData:
    """The aux arm gains `gain` test accuracy over `base` (the no-aux arm's) and shrinks the
    gap by `gap_cut` (its training accuracy moves by gain - gap_cut), with per-seed noise."""
    folder = tmp_path / "inception-aux"
    acc = _shift(base[:n], gain, noise)
    train = _shift(NO_AUX_TRAIN[:n], gain - gap_cut, tuple(-d for d in noise))
    _arm_files(folder, {AUX: acc, NO_AUX: base[:n]},
               {AUX: train, NO_AUX: NO_AUX_TRAIN[:n]}, epochs=6,
               aux_weight=inception_aux.AUX_WEIGHT, width=inception_aux.WIDTH,
               input_size=[1, 32, 32])
    return RawData(folder)


def _aux_verdict(raw: RawData):
    measured = inception_aux.measure(raw)
    json.dumps(measured)
    assert len(inception_aux.figures(raw, measured)) == 3  # accuracy, training, test curves
    return inception_aux.verdict(measured)


def test_aux_confirmed_when_the_heads_help_and_shrink_the_gap(tmp_path: Path) -> None:
    v = _aux_verdict(_aux_raw(tmp_path, gain=0.015, gap_cut=0.02))
    assert v.verdict == CONFIRMED and v.n == 5, v
    assert "train-test gap" in v.key


def test_aux_refuted_when_the_gap_does_not_shrink(tmp_path: Path) -> None:
    v = _aux_verdict(_aux_raw(tmp_path, gain=0.015, gap_cut=-0.02))  # a larger gap
    assert v.verdict == REFUTED and "a part of the claim is decided against" in v.reason, v


def test_aux_refuted_when_the_heads_add_under_half_a_point(tmp_path: Path) -> None:
    measured = inception_aux.measure(_aux_raw(tmp_path, gain=-0.005, gap_cut=0.02))
    assert [c["leaning"] for c in measured["comparisons"]] == ["against", "for"]
    assert inception_aux.verdict(measured).verdict == REFUTED


def test_aux_inconclusive_states_the_smallest_detectable_effect(tmp_path: Path) -> None:
    v = _aux_verdict(_aux_raw(tmp_path, gain=0.006, gap_cut=0.001,
                              noise=(0.012, -0.009, 0.006, -0.011, 0.004)))
    assert v.verdict == INCONCLUSIVE and v.n == 5, v
    assert "beyond the margin to be decided" in v.reason


def test_aux_two_seeds_are_indicative_only(tmp_path: Path) -> None:
    v = _aux_verdict(_aux_raw(tmp_path, gain=0.015, gap_cut=0.02, n=2))
    assert v.verdict == INCONCLUSIVE and v.n == 2 and "indicative" in v.reason, v


def test_aux_inconclusive_when_no_arm_learned(tmp_path: Path) -> None:
    v = _aux_verdict(_aux_raw(tmp_path, gain=0.015, gap_cut=0.02,
                              base=[a - 0.1 for a in NO_AUX_ACC]))
    assert v.verdict == INCONCLUSIVE and "did not learn" in v.reason, v


def test_quick_deviations_are_the_quick_lengths() -> None:
    for module in (lrn, inception_aux):
        images, epochs = module.LENGTHS["quick"]
        assert f"{images:,} training images x {epochs} epochs" in \
            module.STUDY.deviations_in("quick")
        assert f"{images:,} training images x" not in module.STUDY.deviations_in("standard")


# ================================================================= end to end


@pytest.mark.slow
def test_tiny_lrn_study_end_to_end(tmp_path: Path) -> None:
    from cnnzoo import studies

    tiny = {"limit_train": 128, "limit_test": 64, "epochs": 1}
    result = studies.run("lrn", data="mnist", out=tmp_path, seeds=3, threads=1,
                         progress=False, log=lambda s: None, train_overrides=tiny)
    folder = tmp_path / "lrn"
    saved = json.loads((folder / "result.json").read_text())
    assert saved["verdict"] == result["verdict"] in (CONFIRMED, REFUTED, INCONCLUSIVE)
    assert [c["name"] for c in saved["comparisons"]] == ["LRN adds little", "LRN costs little"]
    for c in saved["comparisons"]:
        assert c["n"] == 3 and c["paired"]
        a, b = c["arms"]
        again = interval(c["values"][a], c["values"][b], c["paired"])
        assert again["lower"] == pytest.approx(c["lower"], abs=1e-6)
        assert again["upper"] == pytest.approx(c["upper"], abs=1e-6)
    rows = RawData(folder).csv("lrn_activity")
    assert sorted({(r["seed"], r["weights"]) for r in rows}) == [
        (str(s), w) for s in range(3) for w in ("final", "initial")]
    assert saved["measured"]["lrn_activity"]["final"]["after conv1"]["n"] == 3
    trains = [c for c in saved["commands"] if c.startswith("cnnzoo train study_alexnet_small")]
    assert len(trains) == 6 and sum("--lrn-alpha 0.617" in c for c in trains) == 3
