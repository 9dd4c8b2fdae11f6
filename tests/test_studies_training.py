"""The training studies: the run cache, the study nets, measure() on hand-made CSVs and
every verdict reached from hand-made measured dicts; one tiny end-to-end run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from cnnzoo import create_model, list_models
from cnnzoo.studies import degradation, depthwise_accuracy, identity, inception_aux, lrn, v2_vs_v1
from cnnzoo.studies.base import CONFIRMED, INCONCLUSIVE, REFUTED, RawData
from cnnzoo.studies.cache import DONE, RunCache, config_hash, train_command
from cnnzoo.studies.training import difference, stats

TINY = dict(limit_train=64, limit_test=64, epochs=1, batch_size=32)


# ---------------------------------------------------------------- the run cache


def test_hash_ignores_where_and_how_fast_but_not_what(tmp_path: Path) -> None:
    cache = RunCache(tmp_path, threads=1)
    a = cache.config("lenet5", "mnist", seed=0, **TINY)
    assert config_hash(a) == Path(a.out).name
    same = RunCache(tmp_path / "elsewhere", threads=2).config("lenet5", "mnist", seed=0, **TINY)
    assert Path(same.out).name == Path(a.out).name
    for change in ({"seed": 1}, {"lr": 0.05}, {"model_options": {"dropout": 0.1}}):
        kw = {"seed": 0, **TINY, **change}
        other = cache.config("lenet5", "mnist", **kw)
        assert Path(other.out).name != Path(a.out).name, change


def test_train_command_names_every_changed_option(tmp_path: Path) -> None:
    cfg = RunCache(tmp_path, threads=1).config(
        "mobilenet_v2", "fashion-mnist", seed=2, lr=0.1, augment=False, image_size=(32, 32),
        milestones=(2, 3), epochs=4, schedule="step", model_options={"width": 0.5})
    cmd = train_command(cfg)
    for part in ("cnnzoo train mobilenet_v2", "--data fashion-mnist", "--seed 2", "--lr 0.1",
                 "--no-augment", "--image-size 32,32", "--milestones 2,3", "--width 0.5",
                 "--threads 1", f"--out {cfg.out}"):
        assert part in cmd, part
    assert "--momentum" not in cmd  # left at its default


def test_second_call_reuses_the_finished_run(tmp_path: Path) -> None:
    logs: list[str] = []
    cache = RunCache(tmp_path, threads=1, progress=False, log=logs.append)
    first = cache.train("lenet5", "mnist", seed=0, **TINY)
    assert not first.cached and (first.out / DONE).is_file() and len(first.epochs) == 1
    stamp = (first.out / "last.pt").stat().st_mtime_ns
    logs.clear()
    again = cache.train("lenet5", "mnist", seed=0, **TINY)
    assert again.cached and logs == []  # nothing trained, nothing logged
    assert (again.out / "last.pt").stat().st_mtime_ns == stamp
    assert again.final_top1 == first.final_top1 and again.command == first.command
    assert json.loads((again.out / DONE).read_text())["config"]["seed"] == 0


def test_a_killed_run_resumes_from_last_pt(tmp_path: Path) -> None:
    from cnnzoo.train import train

    logs: list[str] = []
    cache = RunCache(tmp_path, threads=1, progress=False, log=logs.append)
    cfg = cache.config("lenet5", "mnist", seed=0, **{**TINY, "epochs": 2})
    # What a kill after epoch 1 leaves: last.pt and one metrics row, no done.json.
    partial = cache.config("lenet5", "mnist", seed=0, **{**TINY, "epochs": 2})
    partial.epochs = 1
    train(partial, log=lambda s: None, progress=False)
    first_epoch = json.loads((Path(cfg.out) / "metrics.jsonl").read_text().splitlines()[0])
    assert not (Path(cfg.out) / DONE).exists()
    run = cache.train("lenet5", "mnist", seed=0, **{**TINY, "epochs": 2})
    assert any(line.startswith("resuming") for line in logs)
    assert [e["epoch"] for e in run.epochs] == [1, 2]
    assert run.epochs[0] == first_epoch  # epoch 1 kept, not trained again


# ---------------------------------------------------------------- the study nets


def test_study_nets_are_hidden_from_the_zoo_but_build_by_name() -> None:
    assert not [n for n in list_models() if n.startswith("study_")]
    assert set(list_models("study_*")) == {"study_alexnet_small", "study_small_convnet",
                                           "study_resnet_inserted"}
    x = torch.randn(2, 1, 28, 28)
    for name, options in (("study_alexnet_small", {"lrn": False}),
                          ("study_small_convnet", {"separable": True, "width": 8})):
        assert create_model(name, num_classes=10, in_chans=1, **options)(x).shape == (2, 10)


def test_zero_init_residual_insertion_is_exactly_the_identity() -> None:
    torch.manual_seed(0)
    net = create_model("resnet20", num_classes=10, in_chans=1).eval()
    for m in net.modules():  # non-trivial BN statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        ref = net(x)
        same = identity.insert_blocks(net, residual=True, zero_init=True).eval()(x)
        zeros = identity.insert_blocks(net, residual=False, zero_init=True).eval()(x)
    assert torch.equal(same, ref)
    assert torch.allclose(zeros, zeros[:1].expand_as(zeros))  # plain: every input alike


# ---------------------------------------------------------------- measure() on CSVs


def _write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _curves(final: dict[str, list[float]], mode: str = "full") -> list[dict]:
    rows = []
    for model, errs in final.items():
        for seed, err in enumerate(errs):
            for epoch, e in ((1, 0.5), (2, err)):
                rows.append({"model": model, "seed": seed, "epoch": epoch, "train_err": e,
                             "test_err": e + 0.02, "train_loss": 1.0, "seconds": 1.0})
    return rows


def _degradation_measured(tmp_path: Path, final: dict[str, list[float]], mode: str = "full"
                          ) -> dict:
    _write_csv(tmp_path / "curves.csv", _curves(final))
    (tmp_path / "meta.json").write_text(json.dumps({"mode": mode, "data": "fashion-mnist",
                                                    "note": ""}))
    return degradation.measure(RawData(tmp_path))


def test_degradation_measure_and_every_verdict(tmp_path: Path) -> None:
    m = _degradation_measured(tmp_path, {"plain20": [0.10, 0.11], "plain56": [0.15, 0.16],
                                         "resnet20": [0.10, 0.11], "resnet56": [0.08, 0.09]})
    assert m["final_train_err"]["plain56"]["mean"] == pytest.approx(0.155)
    assert m["final_train_err"]["plain56"]["n"] == 2
    assert m["plain_gap"]["diff"] == pytest.approx(0.05)
    assert degradation.verdict(m).verdict == CONFIRMED
    m = _degradation_measured(tmp_path, {"plain20": [0.10, 0.11], "plain56": [0.09, 0.10],
                                         "resnet20": [0.10, 0.11], "resnet56": [0.08, 0.09]})
    assert degradation.verdict(m).verdict == REFUTED
    m = _degradation_measured(tmp_path, {"plain20": [0.10, 0.11], "plain56": [0.15, 0.16],
                                         "resnet20": [0.10, 0.11], "resnet56": [0.09, 0.13]})
    assert degradation.verdict(m).verdict == INCONCLUSIVE  # the ResNet gap is within noise


def test_degradation_partial_results_show_n_and_stay_inconclusive(tmp_path: Path) -> None:
    # A full run killed after seed 0: every model has n = 1.
    m = _degradation_measured(tmp_path, {"plain20": [0.10], "plain56": [0.15],
                                         "resnet20": [0.10], "resnet56": [0.08]})
    assert m["final_train_err"]["resnet56"]["n"] == 1
    v = degradation.verdict(m)
    assert v.verdict == INCONCLUSIVE and "1 seed" in v.reason
    # Quick mode with one seed judges by the margin alone and says so.
    m = _degradation_measured(tmp_path, {"plain20": [0.10], "plain56": [0.15],
                                         "resnet20": [0.10], "resnet56": [0.08]}, mode="quick")
    v = degradation.verdict(m)
    assert v.verdict == CONFIRMED and "indicative" in v.reason
    # resnet-56 not finished at all.
    m = _degradation_measured(tmp_path, {"plain20": [0.1], "plain56": [0.2], "resnet20": [0.1]})
    assert m["final_train_err"]["resnet56"]["n"] == 0
    assert degradation.verdict(m).verdict == INCONCLUSIVE


def _arm_measured(tmp_path: Path, arms: dict[str, list[float]], module, **extra) -> dict:
    rows = [{"arm": arm, "seed": s, "epoch": 1, "train_err": 0.1, "test_err": 1 - acc,
             "train_loss": 0.3, "seconds": 1.0}
            for arm, accs in arms.items() for s, acc in enumerate(accs)]
    _write_csv(tmp_path / "runs.csv", rows)
    (tmp_path / "meta.json").write_text(json.dumps({"mode": "full", "data": "fashion-mnist",
                                                    "note": "", "width": 16}))
    for name, obj in extra.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(obj))
    if module is lrn:
        _write_csv(tmp_path / "timing.csv", [
            {"variant": v, "round": r, "seconds": s}
            for r in range(2) for v, s in (("LRN", 0.3), ("no LRN", 0.2))])
    return module.measure(RawData(tmp_path))


def test_lrn_every_verdict_and_the_time_share(tmp_path: Path) -> None:
    m = _arm_measured(tmp_path, {"LRN": [0.900, 0.902], "no LRN": [0.899, 0.901]}, lrn)
    assert m["lrn_time_share"] == pytest.approx(1 / 3)
    assert m["accuracy"]["LRN"]["mean"] == pytest.approx(0.901)
    assert lrn.verdict(m).verdict == CONFIRMED
    m = _arm_measured(tmp_path, {"LRN": [0.93, 0.931], "no LRN": [0.90, 0.901]}, lrn)
    assert lrn.verdict(m).verdict == REFUTED
    m = _arm_measured(tmp_path, {"LRN": [0.90, 0.93], "no LRN": [0.90, 0.901]}, lrn)
    assert lrn.verdict(m).verdict == INCONCLUSIVE
    m = _arm_measured(tmp_path, {"LRN": [0.10, 0.11], "no LRN": [0.09, 0.10]}, lrn)
    assert "LRN and no LRN did not learn" in lrn.verdict(m).reason
    m = _arm_measured(tmp_path, {"LRN": [0.70, 0.71], "no LRN": [0.10, 0.11]}, lrn)
    v = lrn.verdict(m)  # one arm at chance: a failed recipe, not a refutation
    assert v.verdict == INCONCLUSIVE and v.reason.startswith("no LRN did not learn")


def test_inception_aux_verdicts(tmp_path: Path) -> None:
    arms = ("aux heads", "no aux heads")
    for accs, expected in (((0.92, 0.921, 0.90, 0.901), CONFIRMED),
                           ((0.90, 0.901, 0.92, 0.921), REFUTED),
                           ((0.90, 0.93, 0.90, 0.901), INCONCLUSIVE)):
        m = _arm_measured(tmp_path, {arms[0]: list(accs[:2]), arms[1]: list(accs[2:])},
                          inception_aux)
        assert inception_aux.verdict(m).verdict == expected


def test_depthwise_accuracy_needs_the_mac_saving(tmp_path: Path) -> None:
    cheap = {"full conv": {"macs": 800, "params": 80}, "separable": {"macs": 100, "params": 9}}
    dear = {"full conv": {"macs": 300, "params": 80}, "separable": {"macs": 100, "params": 9}}
    arms = {"full conv": [0.91, 0.912], "separable": [0.905, 0.907]}
    m = _arm_measured(tmp_path, arms, depthwise_accuracy, costs=cheap)
    assert m["mac_ratio"] == 8 and depthwise_accuracy.verdict(m).verdict == CONFIRMED
    m = _arm_measured(tmp_path, arms, depthwise_accuracy, costs=dear)
    assert depthwise_accuracy.verdict(m).verdict == REFUTED
    arms = {"full conv": [0.93, 0.931], "separable": [0.88, 0.881]}
    m = _arm_measured(tmp_path, arms, depthwise_accuracy, costs=cheap)
    assert depthwise_accuracy.verdict(m).verdict == REFUTED


def test_v2_vs_v1_verdicts(tmp_path: Path) -> None:
    def cost(v1: int, v2: int) -> dict:
        one = {"paper": {}, "ours_224": {"macs": 1, "params": 1}}
        return {"mobilenet_v1": {**one, "ours_trained": {"macs": v1, "params": 1}},
                "mobilenet_v2": {**one, "ours_trained": {"macs": v2, "params": 1}}}

    better = {"mobilenet_v2": [0.92, 0.921], "mobilenet_v1": [0.90, 0.901]}
    # ours_224 ties at 1: v2 is not cheaper there -> refuted on compute
    m = _arm_measured(tmp_path, better, v2_vs_v1, costs=cost(10, 5))
    assert v2_vs_v1.verdict(m).verdict == REFUTED
    real = v2_vs_v1.costs()
    assert real["mobilenet_v2"]["ours_224"]["macs"] < real["mobilenet_v1"]["ours_224"]["macs"]
    m = _arm_measured(tmp_path, better, v2_vs_v1, costs=real)
    assert v2_vs_v1.verdict(m).verdict == CONFIRMED
    worse = {"mobilenet_v2": [0.89, 0.891], "mobilenet_v1": [0.90, 0.901]}
    m = _arm_measured(tmp_path, worse, v2_vs_v1, costs=real)
    assert v2_vs_v1.verdict(m).verdict == REFUTED


def _identity_measured(residual_diff: float, plain_acc: float, tuned: tuple[list, list]
                       ) -> dict:
    trained, res = stats([0.9, 0.9]), stats([0.9, 0.9])
    plain = stats([plain_acc, plain_acc])
    ctrl, deep = stats(tuned[0]), stats(tuned[1])
    return {
        "mode": "full", "trained_accuracy": trained,
        "inserted_accuracy": {"residual, zero-init": res, "plain, zero-init": stats([0.1]),
                              "plain, He init": plain},
        "max_logit_diff": {"residual, zero-init": residual_diff},
        "fine_tuned_accuracy": {},
        "residual_change": difference(res, trained), "plain_change": difference(plain, trained),
        "tuned_residual_vs_control": difference(deep, ctrl),
    }


def test_identity_verdicts() -> None:
    ok = ([0.91, 0.912], [0.911, 0.913])
    assert identity.verdict(_identity_measured(0.0, 0.3, ok)).verdict == CONFIRMED
    assert identity.verdict(_identity_measured(0.5, 0.3, ok)).verdict == REFUTED
    hurt = ([0.91, 0.912], [0.85, 0.851])
    assert identity.verdict(_identity_measured(0.0, 0.3, hurt)).verdict == REFUTED
    assert identity.verdict(_identity_measured(0.0, 0.89, ok)).verdict == INCONCLUSIVE
    one_seed = ([0.91], [0.911])
    assert identity.verdict(_identity_measured(0.0, 0.3, one_seed)).verdict == INCONCLUSIVE


# ---------------------------------------------------------------- end to end


@pytest.mark.slow
def test_tiny_lrn_study_end_to_end(tmp_path: Path) -> None:
    from cnnzoo.studies.registry import get
    from cnnzoo.studies.runner import run_study

    tiny = {"limit_train": 128, "limit_test": 128, "epochs": 1}
    result = run_study(get("lrn"), mode="quick", data="mnist", out=tmp_path, threads=1,
                       progress=False, log=lambda s: None, train_overrides=tiny)
    folder = tmp_path / "lrn"
    saved = json.loads((folder / "result.json").read_text())
    assert saved["verdict"] == result["verdict"] in (CONFIRMED, REFUTED, INCONCLUSIVE)
    rows = RawData(folder).csv("runs")
    assert sorted(r["arm"] for r in rows) == ["LRN", "no LRN"]
    assert saved["measured"]["accuracy"]["LRN"]["n"] == 1
    assert any(c.startswith("cnnzoo train study_alexnet_small") for c in saved["commands"])
    assert len(list((tmp_path / "_runs").glob(f"*/{DONE}"))) == 2


def _ctx(tmp_path: Path, data: str | None = None, data_root: str | None = None):
    from cnnzoo.studies.base import StudyContext

    return StudyContext(study=lrn.STUDY, mode="quick", seeds=(0,), out=tmp_path, data=data,
                        data_root=data_root, log=lambda s: None)


def test_data_falls_back_to_the_embedded_digits_or_says_what_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnzoo.data import load
    from cnnzoo.studies.base import NeedsData
    from cnnzoo.studies.training import choose_data

    with pytest.raises(NeedsData, match="cifar10"):
        choose_data(_ctx(tmp_path, "cifar10", str(tmp_path)))
    monkeypatch.setattr(load, "locate", lambda name, root=None: None)
    data, note = choose_data(_ctx(tmp_path))
    assert data == "mnist" and "dataset-fashion-mnist" in note


def test_quick_mode_deviations_are_recorded_only_in_quick_mode() -> None:
    from cnnzoo.studies import degradation as deg

    quick, full = deg.STUDY.deviations_in("quick"), deg.STUDY.deviations_in("full")
    assert quick.startswith(full) and "Quick mode: 4,000 training images" in quick
    assert "Quick mode" not in full


def test_a_difference_exactly_on_the_margin_is_not_beyond_it() -> None:
    from cnnzoo.studies.training import UNCLEAR, against, difference, stats

    on = difference(stats([0.70]), stats([0.69]))  # 0.0100000000000000009 in floats
    assert on["diff"] > 0.01 and against(on, 0.01) == UNCLEAR
    assert against(difference(stats([0.702]), stats([0.69])), 0.01) == "above"


def test_the_report_draws_a_block_at_the_input_its_study_trained_on(tmp_path: Path) -> None:
    from cnnzoo.studies.report import _block_diagram
    from cnnzoo.studies.training import trained_input

    # As `cnnzoo train` resolves it: the data's channels, the recipe's size or the model's.
    assert trained_input("resnet20", "fashion-mnist", {"image_size": (14, 14)}) == [1, 14, 14]
    assert trained_input("googlenet", "mnist", {"image_size": None}) == [1, 224, 224]
    assert trained_input("resnet20", "cifar10", {}) == [3, 32, 32]
    (tmp_path / "meta.json").write_text(json.dumps({"mode": "quick", "input_size": [1, 14, 14]}))
    html = _block_diagram("degradation", tmp_path)
    assert "at 1x14x14, the input this study trained it on" in html
    assert "16 × 14 × 14" in html and "32 × 32" not in html
    (tmp_path / "meta.json").unlink()  # a folder from before meta.json said: the default
    assert "at 3x32x32, its default input" in _block_diagram("degradation", tmp_path)
    assert _block_diagram("vgg-uniform", tmp_path) == ""  # a study about no one block


def test_the_report_says_how_training_runs_shared_the_threads() -> None:
    from cnnzoo.studies.report import _jobs

    assert _jobs({"threads": 2}) == ""  # a study that did not train
    assert "one at a time" in _jobs({"training_jobs": 1})
    assert "2 at a time" in _jobs({"training_jobs": 2})


def test_the_report_marks_one_seed_verdicts_as_indicative() -> None:
    from cnnzoo.studies.report import _one_seed_note

    one = {"id": "lrn", "verdict": "refuted", "seeds": [0], "mode": "quick"}
    counted = {"id": "params", "verdict": "confirmed", "seeds": [], "mode": "quick"}
    note = _one_seed_note([one, counted])
    assert "lrn rest on one seed of a quick run" in note and "params" not in note
    assert _one_seed_note([{**one, "seeds": [0, 1, 2], "mode": "full"}, counted]) == ""
    assert _one_seed_note([{**one, "verdict": "inconclusive"}]) == ""  # nothing to temper
