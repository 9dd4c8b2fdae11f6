"""The training studies: the run cache, the study nets, measure() on hand-made CSVs and
every verdict reached from hand-made measured dicts; one tiny end-to-end run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cnnzoo import create_model, list_models
from cnnzoo.studies import degradation, identity
from cnnzoo.studies.cache import DONE, FINAL, RunCache, config_hash, train_command

TINY = dict(limit_train=64, limit_test=64, epochs=1, batch_size=32)


# ---------------------------------------------------------------- the run cache


def test_hash_ignores_where_and_how_fast_but_not_what(tmp_path: Path) -> None:
    cache = RunCache(tmp_path)
    a = cache.config("lenet5", "mnist", seed=0, **TINY)
    assert config_hash(a) == Path(a.out).name
    same = RunCache(tmp_path / "elsewhere").config("lenet5", "mnist", seed=0, **TINY)
    assert Path(same.out).name == Path(a.out).name and a.threads == 1
    for change in ({"seed": 1}, {"lr": 0.05}, {"model_options": {"dropout": 0.1}}):
        kw = {"seed": 0, **TINY, **change}
        other = cache.config("lenet5", "mnist", **kw)
        assert Path(other.out).name != Path(a.out).name, change
    # the thread count changes the sums, so it is part of what a run computes
    assert config_hash(replace(a, threads=2)) != config_hash(a)
    # where the data is read from does not (moving it keeps the cache)
    assert config_hash(replace(a, data_root="/elsewhere")) == config_hash(a)


def test_the_studies_data_root_reaches_every_training_run(tmp_path: Path) -> None:
    """--data cifar10 --data-root DIR: found by choose_data, then every run must read it
    from DIR too (the runs used to look only in the usual places)."""
    from cnnzoo.studies.training import configure

    ctx = _ctx(tmp_path, "cifar10", str(tmp_path / "cifar"))
    assert configure(ctx, {"epochs": 1})["data_root"] == str(tmp_path / "cifar")
    assert "data_root" not in configure(_ctx(tmp_path), {"epochs": 1})


def test_train_command_names_every_changed_option(tmp_path: Path) -> None:
    cfg = RunCache(tmp_path).config(
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
    cache = RunCache(tmp_path, progress=False, log=logs.append)
    first = cache.train("lenet5", "mnist", seed=0, **TINY)
    assert not first.cached and (first.out / DONE).is_file() and len(first.epochs) == 1
    stamp = (first.out / "last.pt").stat().st_mtime_ns
    logs.clear()
    again = cache.train("lenet5", "mnist", seed=0, **TINY)
    assert again.cached and logs == []  # nothing trained, nothing logged
    assert (again.out / "last.pt").stat().st_mtime_ns == stamp
    assert again.final_top1 == first.final_top1 and again.command == first.command
    # the verdict's figures: the final weights on the whole test split (not limit_test's 64)
    assert (first.out / FINAL).is_file() and again.final == first.final
    assert first.final["test_images"] == 2000 and first.final["train_images"] == 64
    assert first.final["epoch"] == 1 and not (first.out / "curves.png").exists()
    assert json.loads((again.out / DONE).read_text())["config"]["seed"] == 0


def test_a_killed_run_resumes_from_last_pt(tmp_path: Path) -> None:
    from cnnzoo.train import train

    logs: list[str] = []
    cache = RunCache(tmp_path, progress=False, log=logs.append)
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


def _ctx(tmp_path: Path, data: str | None = None, data_root: str | None = None):
    from cnnzoo.studies.base import StudyContext

    return StudyContext(study=degradation.STUDY, mode="quick", seeds=(0,), out=tmp_path, data=data,
                        data_root=data_root, log=lambda s: None)


def test_data_falls_back_to_the_embedded_digits_or_says_what_is_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnzoo.studies import training
    from cnnzoo.studies.base import NeedsData
    from cnnzoo.studies.training import choose_data

    with pytest.raises(NeedsData, match="cifar10"):
        choose_data(_ctx(tmp_path, "cifar10", str(tmp_path)))
    monkeypatch.setattr(training, "locate", lambda name, root=None: None)
    data, note = choose_data(_ctx(tmp_path))
    assert data == "mnist" and "dataset-fashion-mnist" in note


def test_quick_mode_deviations_are_recorded_only_in_quick_mode() -> None:
    from cnnzoo.studies import degradation as deg

    quick, full = deg.STUDY.deviations_in("quick"), deg.STUDY.deviations_in("full")
    assert quick.startswith(full) and "Quick mode: 4,000 training images" in quick
    assert "Quick mode" not in full


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
