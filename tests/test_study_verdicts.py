"""degradation, depthwise-accuracy and v2-vs-v1: every verdict reached from hand-made raw
files, as measure() reads them; and the same study run with --jobs 1 and --jobs 2 writes
the same bytes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cnnzoo.studies import degradation, depthwise_accuracy, v2_vs_v1
from cnnzoo.studies.base import CONFIRMED, INCONCLUSIVE, REFUTED, RawData
from cnnzoo.studies.comparisons import interval


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    with (folder / f"{name}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _folder(tmp_path: Path, metric: str, arms: dict[str, list[float]], **extra_json) -> Path:
    folder = tmp_path / "study"
    folder.mkdir(exist_ok=True)
    (folder / "meta.json").write_text(json.dumps({"mode": "quick", "data": "fashion-mnist",
                                                  "note": "", "seeds": [0, 1, 2]}))
    rows = []
    for arm, values in arms.items():
        for seed, v in enumerate(values):
            test_acc = v if metric == "test_acc" else 0.85
            train_err = v if metric == "train_err" else 0.05
            rows.append({"arm": arm, "seed": seed, "threads": 1, "epochs": 3,
                         "test_acc": test_acc, "test_images": 10000, "train_acc": 1 - train_err,
                         "train_images": 2000, "train_err": train_err,
                         "gap": 1 - train_err - test_acc})
    _write(folder, "final", rows)
    for name, obj in extra_json.items():
        (folder / f"{name}.json").write_text(json.dumps(obj))
    return folder


def _verdict(module, folder: Path):
    measured = module.measure(RawData(folder))
    return module.verdict(measured), measured


# ---------------------------------------------------------------- degradation

DEEPER_PLAIN_WORSE = {"plain20": [0.10, 0.12, 0.11], "plain56": [0.20, 0.23, 0.21]}


@pytest.mark.parametrize(("resnet56", "expected"), [
    ([0.050, 0.052, 0.049], CONFIRMED),  # resnet-56 no worse than resnet-20
    ([0.120, 0.130, 0.125], REFUTED),  # the deeper ResNet trains worse
    ([0.030, 0.110, 0.070], INCONCLUSIVE),  # too spread to tell
])
def test_degradation_residual_half(tmp_path: Path, resnet56: list[float], expected: str) -> None:
    arms = {**DEEPER_PLAIN_WORSE, "resnet20": [0.05, 0.051, 0.05], "resnet56": resnet56}
    v, measured = _verdict(degradation, _folder(tmp_path, "train_err", arms))
    assert v.verdict == expected and v.n == 3
    plain, residual = measured["comparisons"]
    assert plain["leaning"] == "for" and plain["paired"]
    assert residual["arms"] == ["resnet20", "resnet56"]


def test_degradation_refuted_when_the_deeper_plain_net_is_not_worse(tmp_path: Path) -> None:
    arms = {"plain20": [0.10, 0.12, 0.11], "plain56": [0.10, 0.119, 0.11],
            "resnet20": [0.05] * 3, "resnet56": [0.05] * 3}
    v, measured = _verdict(degradation, _folder(tmp_path, "train_err", arms))
    assert v.verdict == REFUTED and "plain half" in v.reason


def test_degradation_one_seed_is_indicative_only(tmp_path: Path) -> None:
    arms = {m: vals[:1] for m, vals in {**DEEPER_PLAIN_WORSE, "resnet20": [0.05],
                                       "resnet56": [0.04]}.items()}
    v, _ = _verdict(degradation, _folder(tmp_path, "train_err", arms))
    assert (v.verdict, v.n) == (INCONCLUSIVE, 1) and "indicative" in v.reason


# ---------------------------------------------------------------- depthwise-accuracy

COSTS = {"full conv": {"macs": 9_000_000, "params": 100_000},
         "separable": {"macs": 1_500_000, "params": 20_000}}


@pytest.mark.parametrize(("separable", "expected"), [
    ([0.895, 0.90, 0.893], CONFIRMED),  # within a point of the full net
    ([0.85, 0.86, 0.855], REFUTED),  # four points worse
    ([0.80, 0.90, 0.86], INCONCLUSIVE),
])
def test_depthwise_accuracy_verdicts(tmp_path: Path, separable: list[float], expected: str
                                     ) -> None:
    arms = {"full conv": [0.90, 0.905, 0.90], "separable": separable}
    v, _ = _verdict(depthwise_accuracy, _folder(tmp_path, "test_acc", arms, costs=COSTS))
    assert v.verdict == expected


def test_depthwise_accuracy_needs_the_mac_saving(tmp_path: Path) -> None:
    costs = {**COSTS, "separable": {"macs": 4_000_000, "params": 20_000}}
    arms = {"full conv": [0.90] * 3, "separable": [0.90] * 3}
    v, _ = _verdict(depthwise_accuracy, _folder(tmp_path, "test_acc", arms, costs=costs))
    assert v.verdict == REFUTED and "2.2x" in v.reason


def test_a_run_that_did_not_learn_judges_nothing(tmp_path: Path) -> None:
    arms = {"full conv": [0.50, 0.52, 0.51], "separable": [0.30, 0.31, 0.29]}
    v, _ = _verdict(depthwise_accuracy, _folder(tmp_path, "test_acc", arms, costs=COSTS))
    assert v.verdict == INCONCLUSIVE and "did not learn" in v.reason


# ---------------------------------------------------------------- v2-vs-v1


def _v2_costs(v2_macs_224: int) -> dict:
    def entry(acc: float, macs: int, params: int, small: int) -> dict:
        return {"paper": {"acc1": acc, "macs": macs, "params": params},
                "ours_224": {"macs": macs, "params": params},
                "ours_trained": {"macs": small, "params": params}}

    return {"mobilenet_v1": entry(70.6, 569_000_000, 4_200_000, 9_000_000),
            "mobilenet_v2": entry(72.0, v2_macs_224, 3_400_000, 6_000_000)}


def test_v2_vs_v1_rests_on_compute_and_shows_the_proxy(tmp_path: Path) -> None:
    # the proxy says v1 is better: shown, but the verdict rests on compute
    arms = {"mobilenet_v1": [0.88, 0.89, 0.885], "mobilenet_v2": [0.85, 0.86, 0.855]}
    v, measured = _verdict(v2_vs_v1, _folder(tmp_path, "test_acc", arms,
                                             costs=_v2_costs(300_000_000)))
    assert v.verdict == CONFIRMED and "not deciding" in v.reason
    (proxy,) = measured["comparisons"]
    assert proxy["leaning"] == "against" and proxy["decides"] is False
    v, _ = _verdict(v2_vs_v1, _folder(tmp_path, "test_acc", arms, costs=_v2_costs(600_000_000)))
    assert v.verdict == REFUTED and "MACs at 224" in v.reason


# ---------------------------------------------------------------- one run, any --jobs


@pytest.mark.slow
def test_jobs_1_and_jobs_2_write_the_same_raw_files_and_verdict(tmp_path: Path) -> None:
    from cnnzoo.studies import run

    tiny = {"limit_train": 256, "limit_test": 64, "epochs": 1}
    results = {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}"
        results[jobs] = run("depthwise-accuracy", data="mnist", out=out, jobs=jobs,
                            progress=False, log=lambda s: None, train_overrides=tiny)
    one, two = (tmp_path / f"jobs{j}" / "depthwise-accuracy" for j in (1, 2))
    for name in ("final.csv", "runs.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert results[1]["verdict"] == results[2]["verdict"]
    assert results[1]["comparisons"] == results[2]["comparisons"]
    (c,) = results[1]["comparisons"]
    assert c["n"] == 3 and len(c["values"]["separable"]) == 3
    again = interval(c["values"]["separable"], c["values"]["full conv"], c["paired"])
    assert abs(again["lower"] - c["lower"]) < 1e-6 and abs(again["upper"] - c["upper"]) < 1e-6
    rows = RawData(one).csv("final")
    # the whole test split of the embedded digits (2,000), not limit_test's 64
    assert {r["threads"] for r in rows} == {"1"} and {r["test_images"] for r in rows} == {"2000"}
