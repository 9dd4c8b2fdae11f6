"""The trainer on the embedded MNIST sample (small subsets, one thread: fast and steady)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from cnnzoo import create_model
from cnnzoo.blocks import is_depthwise
from cnnzoo.data import build_transform
from cnnzoo.errors import CheckpointError, ConfigError, TrainingError
from cnnzoo.inference import evaluate_on, load_trained
from cnnzoo.train import TrainConfig, evaluate, prepare, resume_config, train
from cnnzoo.train.checkpoint import load_checkpoint
from cnnzoo.train.distributed import DistContext
from cnnzoo.train.optim import Schedule, param_groups
from cnnzoo.train.precision import autocast, depthwise_in_fp32

# Batch 32 at lr 0.05: 3 epochs of a seeded random 1,024 images reach 86% on seeds 0-2
# (batch 64 at lr 0.1 reached 52-75%, too close to this file's 70% bar).
QUICK = dict(model="lenet5_modern", data="mnist", batch_size=32, lr=0.05, limit_train=1024,
             limit_test=512, threads=1)


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train(TrainConfig(**QUICK, epochs=3, out=str(out)), log=quiet, progress=False)
    return out


def test_training_learns_and_writes_its_artefacts(trained_run: Path) -> None:
    lines = (trained_run / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    for r in records:
        assert {"train_loss", "train_err", "test_top1", "test_top5", "lr", "seconds"} <= set(r)
        assert r["test_count"] == 512
    # Real learning: the loss falls and accuracy is far above chance (10%).
    assert records[-1]["train_loss"] < records[0]["train_loss"]
    assert records[-1]["test_top1"] > 0.7
    assert records[-1]["test_top5"] >= records[-1]["test_top1"]
    assert (trained_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    last = load_checkpoint(trained_run / "last.pt")  # weights_only=True inside
    assert last["epoch"] == 3 and last["batch"] == 0
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "data_order"} <= set(last)


def test_best_weights_rebuild_the_model_and_reproduce_its_accuracy(trained_run: Path) -> None:
    best = load_checkpoint(trained_run / "best.pt")
    records = best["history"]
    best_top1 = max(r["test_top1"] for r in records)
    trained = load_trained("lenet5_modern", trained_run / "best.safetensors")
    assert trained.classes == [str(d) for d in range(10)]
    from cnnzoo.data import load_dataset

    dataset = load_dataset("mnist").subset(test=512)
    result = evaluate_on(trained, dataset)
    assert result.top1 == pytest.approx(best_top1, abs=1e-9)
    assert result.confusion.sum() == 512
    assert result.confusion.diagonal().sum() / 512 == pytest.approx(result.top1)


def test_an_existing_run_is_not_overwritten(trained_run: Path, capsys) -> None:
    from cnnzoo.cli import main

    with pytest.raises(ConfigError, match=r"already holds a run .*continue it \(resume=True\)"):
        train(TrainConfig(**QUICK, epochs=1, out=str(trained_run)), log=quiet, progress=False)
    # The CLI words the same refusal with its own flags.
    assert main(["train", "lenet5", "--data", "mnist", "--out", str(trained_run)]) == 2
    assert f"continue it with --resume {trained_run}" in capsys.readouterr().err


def test_resume_keeps_the_runs_options(trained_run: Path) -> None:
    with pytest.raises(ConfigError, match="batch_size 16 differs") as e:
        resume_config(trained_run, {"batch_size": 16})
    assert e.value.field == "batch_size"
    cfg = resume_config(trained_run, {"epochs": 5, "lr": 0.05, "model": "lenet5_modern"})
    assert cfg.epochs == 5 and cfg.lr == 0.05  # lr may change: a lower rate after a NaN stop
    with pytest.raises(ConfigError, match=r"lr must be in \(0, 10\]"):
        resume_config(trained_run, {"lr": float("nan")})


def test_a_truncated_checkpoint_is_a_clear_error(tmp_path: Path, trained_run: Path) -> None:
    data = (trained_run / "last.pt").read_bytes()
    (tmp_path / "last.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "last.pt")


def test_schedules() -> None:
    def lrs(**kw: object) -> list[float]:
        cfg = TrainConfig(model="lenet5", epochs=4, lr=1.0, **kw)
        s = Schedule(cfg, steps_per_epoch=10)
        return [s.lr(i) for i in range(40)]

    step = lrs(schedule="step")  # ResNet paper: /10 at 50% and 75% of training
    assert step[19] == 1.0 and step[20] == pytest.approx(0.1) and step[30] == pytest.approx(0.01)
    cos = lrs(schedule="cosine")
    assert cos[0] == 1.0 and cos[-1] < 0.01 and cos == sorted(cos, reverse=True)
    one = lrs(schedule="onecycle")  # warm-up over 30%, peak, then down
    peak = one.index(max(one))
    assert peak == 12 and one[0] == pytest.approx(1 / 25) and one[-1] < 0.01
    warm = lrs(schedule="cosine", warmup_epochs=1)
    assert warm[0] == pytest.approx(0.1) and warm[9] == pytest.approx(1.0)


def test_no_weight_decay_on_norms_and_biases() -> None:
    model = create_model("resnet20")
    decay, no_decay = param_groups(model, 5e-4)
    assert no_decay["weight_decay"] == 0 and decay["weight_decay"] == 5e-4
    assert all(p.ndim > 1 for p in decay["params"])
    bn = model.bn1 if hasattr(model, "bn1") else next(
        m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    ids = {id(p) for p in no_decay["params"]}
    assert id(bn.weight) in ids and id(bn.bias) in ids


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(TrainingError, match="epochs must be >= 1"):
        TrainConfig(model="lenet5", epochs=0)
    with pytest.raises(TrainingError, match="optimizer"):
        TrainConfig(model="lenet5", optimizer="lbfgs")
    # The library names the field (the CLI maps it to --image-size).
    with pytest.raises(ConfigError, match="image_size is 28x28, but lenet5 needs images of "
                                          "at least 32x32") as e:
        train(TrainConfig(model="lenet5", image_size=(28, 28), out="/nonexistent/x"),
              log=quiet, progress=False)
    assert e.value.field == "image_size"


class _PoisonAfter(nn.Module):
    """lenet5 whose output turns to NaN from a given forward call on (a divergence)."""

    def __init__(self, inner: nn.Module, after: int) -> None:
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls > self.after:
                return out * float("nan")
        return out


def test_nan_loss_stops_with_epoch_step_and_intact_checkpoint(tmp_path: Path) -> None:
    cfg = TrainConfig(**QUICK, epochs=3, out=str(tmp_path))
    s = prepare(cfg, DistContext(), log=quiet, progress=False)
    steps = len(s.trainer.train_loader)
    # The loop's forward is poisoned; the model (its loss, its checkpoint) stays lenet5.
    s.trainer.net = _PoisonAfter(s.trainer.raw, after=steps + 3)  # step 4 of epoch 2
    with pytest.raises(TrainingError) as err:
        s.trainer.fit()
    message = str(err.value)
    assert "epoch 2, step 4/" in message and str(tmp_path / "last.pt") in message
    last = load_checkpoint(tmp_path / "last.pt")
    assert last["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


def test_freeze_features_trains_only_the_head(tmp_path: Path) -> None:
    cfg = TrainConfig(**{**QUICK, "model": "resnet20", "limit_train": 256, "limit_test": 64},
                      image_size=(16, 16), epochs=1, freeze="features", out=str(tmp_path))
    s = prepare(cfg, DistContext(), log=quiet, progress=False)
    model = s.trainer.raw
    before = {k: v.clone() for k, v in model.state_dict().items()}
    s.trainer.fit()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    head = model.classifier_name + "."
    assert changed and all(k.startswith(head) for k in changed), changed


def test_init_weights_replaces_a_head_of_another_class_count(tmp_path: Path) -> None:
    from cnnzoo import save_weights

    source = create_model("lenet5_modern", num_classes=7)
    save_weights(source, tmp_path / "seven.safetensors")
    cfg = TrainConfig(**{**QUICK, "limit_train": 128, "limit_test": 64}, epochs=1,
                      init_weights=str(tmp_path / "seven.safetensors"), freeze="features",
                      out=str(tmp_path / "r"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = prepare(cfg, DistContext(), log=quiet, progress=False)
    assert any("another class count" in str(w.message) for w in caught)
    assert s.trainer.raw.num_classes == 10
    assert torch.equal(s.trainer.raw.c1.weight, source.c1.weight)


def test_evaluate_counts_a_constant_predictor() -> None:
    class Always3(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.one_hot(torch.full((len(x),), 3), 10).float()

    labels = torch.arange(40) % 10  # four of each class
    loader = [(torch.zeros(20, 1, 4, 4), labels[:20]), (torch.zeros(20, 1, 4, 4), labels[20:])]
    result = evaluate(Always3(), loader, 10)
    assert result.count == 40 and result.top1 == pytest.approx(0.1)
    assert result.confusion[:, 3].tolist() == [4] * 10
    per_class = result.per_class
    assert per_class[3] == 1.0 and sum(per_class) == 1.0
    assert not math.isnan(result.loss)


@pytest.mark.slow  # emulated bf16 on CPUs without bf16 units
def test_bf16_autocast_and_channels_last_train_close_to_fp32(tmp_path: Path) -> None:
    losses = {}
    for name, extra in (("fp32", {}), ("bf16", {"precision": "bf16", "channels_last": True})):
        cfg = TrainConfig(**{**QUICK, "limit_train": 512, "limit_test": 128}, epochs=1,
                          out=str(tmp_path / name), **extra)
        losses[name] = train(cfg, log=quiet, progress=False).history[0]["train_loss"]
    # bf16 really ran (its rounding changes the numbers) and still trains the same way.
    assert losses["bf16"] != losses["fp32"]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)


@pytest.mark.slow
def test_auxiliary_heads_are_trained_by_their_weighted_losses(tmp_path: Path) -> None:
    cfg = TrainConfig(**{**QUICK, "model": "googlenet", "limit_train": 64, "limit_test": 32,
                         "batch_size": 32, "image_size": (32, 32)}, epochs=1,
                      model_options={"aux_logits": True},
                      weight_decay=0.0, out=str(tmp_path))  # decay alone would move them
    s = prepare(cfg, DistContext(), log=quiet, progress=False)
    model = s.trainer.raw
    before = {n: model.get_submodule(n).weight.clone() for n in model.head_names[1:]}
    s.trainer.fit()
    # Only the 0.3-weighted auxiliary losses reach these heads.
    for name, weight in before.items():
        assert not torch.equal(weight, model.get_submodule(name).weight), name


def test_progress_bar_shows_loss_accuracy_rate_and_eta() -> None:
    import io

    from cnnzoo.train.progress import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term, log = Terminal(), io.StringIO()
    for stream in (term, log):
        bar = ProgressBar(4, "epoch 1/2", stream=stream, interval=0)
        for step in range(1, 5):
            bar.update(step, 32 * step, 1.0 / step, 0.2 * step)
        bar.close(0.25, 0.8)
    redraws = term.getvalue().split("\r")[1:]
    assert len(redraws) == 5 and "1/4" in redraws[0] and "ETA" in redraws[0]
    assert "loss 0.2500 acc 80.00%" in redraws[-1] and "img/s" in redraws[-1]
    # Not a terminal (a log file): only the finished line.
    assert log.getvalue().count("\n") == 1 and "\r" not in log.getvalue()


def test_augment_names_choose_the_train_time_augmentation(tmp_path: Path) -> None:
    def train_view(augment: bool | tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        s = prepare(TrainConfig(**QUICK, augment=augment, out=str(tmp_path)), DistContext(),
                    log=quiet, progress=False)
        x = s.dataset.train.images[:256]
        plain = build_transform(s.dataset, s.input_size, train=False)(x, None)
        return s.trainer.train_loader.transform(x, torch.Generator().manual_seed(0)), plain

    flipped, plain = train_view(("flip",))
    same = [torch.equal(a, b) for a, b in zip(flipped, plain, strict=True)]
    mirrored = [torch.equal(a, b.flip(-1)) for a, b in zip(flipped, plain, strict=True)]
    assert all(s or m for s, m in zip(same, mirrored, strict=True))  # flips, no shifts
    assert 0 < sum(mirrored) < len(mirrored)
    cropped, plain = train_view(True)  # MNIST's own: random crops, no flip
    moved = [not torch.equal(a, b) for a, b in zip(cropped, plain, strict=True)]
    assert sum(moved) > len(moved) // 2
    none, plain = train_view(False)
    assert torch.equal(none, plain)
    with pytest.raises(TrainingError, match="unknown augmentation 'rotate'"):
        TrainConfig(model="lenet5", augment=("rotate",))


def test_cpu_bf16_runs_depthwise_convolutions_in_fp32() -> None:
    model = create_model("mobilenet_v2", num_classes=10, in_chans=1, width=0.35)
    keys = list(model.state_dict())
    cpu = torch.device("cpu")
    assert depthwise_in_fp32(model, cpu, "fp32") == 0
    depthwise = [m for m in model.modules() if is_depthwise(m)]
    assert depthwise_in_fp32(model, cpu, "bf16") == len(depthwise) == 17  # one per block
    assert depthwise_in_fp32(model, cpu, "bf16") == 0  # never wrapped twice
    assert list(model.state_dict()) == keys
    dtypes: dict[str, torch.dtype] = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(lambda mod, i, out, name=name: dtypes.update({name: out.dtype}))
    with autocast(cpu, "bf16"):
        model(torch.randn(2, 1, 32, 32)).sum().backward()
    dw_names = {n for n, m in model.named_modules() if is_depthwise(m)}
    assert {dtypes[n] for n in dw_names} == {torch.float32}
    assert {d for n, d in dtypes.items() if n not in dw_names} == {torch.bfloat16}
    assert all(m.weight.grad is not None for m in depthwise)


def test_curves_are_drawn_after_the_first_and_last_epochs_not_every_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cnnzoo.train.loop as loop

    drawn: list[int] = []
    monkeypatch.setattr(loop, "plot_curves", lambda history, path, title: drawn.append(
        len(history)))
    monkeypatch.setattr(loop, "REPLOT_AFTER_S", 3600.0)
    cfg = dict(QUICK, limit_train=128, limit_test=64)
    train(TrainConfig(**cfg, epochs=4, out=str(tmp_path)), log=quiet, progress=False)
    assert drawn == [1, 4]  # ~1 s each: every epoch cost a LeNet-5 run a quarter of its time
