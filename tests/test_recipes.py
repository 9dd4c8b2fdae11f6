"""Training recipes: declared per model and dataset, applied with no flags, overridden by one,
recorded in the checkpoint, listed by `show`; and resume at a lower lr after a NaN stop."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from cnnzoo.cli import main
from cnnzoo.errors import ConfigError, TrainingError
from cnnzoo.precision import native_bf16
from cnnzoo.train import TrainConfig, prepare
from cnnzoo.train.checkpoint import load_checkpoint
from cnnzoo.train.distributed import DistContext
from cnnzoo.train.recipes import RECIPES, Recipe, configure, find_recipe, recipes_for

TINY = ["--limit-train", "256", "--limit-test", "128", "--epochs", "1", "--threads", "1",
        "--no-progress"]


def test_every_declared_recipe_is_a_valid_partial_config() -> None:
    assert len({r.name for r in RECIPES}) == len(RECIPES)
    for r in RECIPES:
        assert r.source.startswith(("paper:", "measured here:", "measured elsewhere")), r.name
        cfg = TrainConfig(model="x", data=r.data, **r.settings)
        assert all(getattr(cfg, k) == v for k, v in r.settings.items())


def test_a_recipe_only_sets_existing_training_fields() -> None:
    with pytest.raises(ConfigError, match="epochz cannot be set by a recipe"):
        Recipe("bad", ("lenet",), "mnist", "measured here: -", {"epochz": 3})
    with pytest.raises(ConfigError, match="threads cannot be set"):
        Recipe("bad", ("lenet",), "mnist", "measured here: -", {"threads": 2})
    with pytest.raises(ConfigError, match=r"lr must be in \(0, 10\]"):
        Recipe("bad", ("lenet",), "mnist", "measured here: -", {"lr": -1.0})


def test_the_models_recipe_or_the_nearest_one() -> None:
    assert find_recipe("lenet5", "mnist").name == "lenet/mnist"
    assert find_recipe("lenet5_modern", "MNIST").name == "lenet/mnist"  # by family
    assert find_recipe("lenet5", "fashion_mnist").name == "lenet/fashion-mnist"  # an alias
    assert find_recipe("lenet5", "mnist-full").name == "lenet/fashion-mnist"  # nearest
    assert find_recipe("resnet56", "mnist").name == "resnet-cifar/fashion-mnist"
    assert find_recipe("plain20", "cifar100").name == "resnet-cifar/cifar10"
    assert find_recipe("vgg16", "fashion-mnist") is None
    assert [r.name for r in recipes_for("googlenet")] == ["googlenet/fashion-mnist"]
    assert recipes_for("inception_v3") == ()  # 32x32 is below its minimum


def test_configure_recipe_then_fields() -> None:
    cfg, r = configure("resnet20", "fashion-mnist", epochs=2)
    assert r is not None and cfg.recipe == r.name
    assert cfg.epochs == 2 and cfg.lr == 0.2
    assert cfg.precision == ("bf16" if native_bf16() else "fp32")  # emulated bf16 is slower
    forced, _ = configure("resnet20", "fashion-mnist", precision="bf16", device="cpu")
    assert forced.precision == "bf16"  # a flag always wins
    assert configure("resnet20", "fashion-mnist", device="cuda")[0].precision == "bf16"
    bare, none = configure("resnet20", "fashion-mnist", recipe="none")
    assert none is None and bare.recipe is None and bare == TrainConfig(
        model="resnet20", data="fashion-mnist")
    chosen, r = configure("lenet5", "mnist-full", recipe="lenet/mnist")
    assert chosen.epochs == 30 and chosen.recipe == "lenet/mnist"


def _config(out: Path) -> dict:
    return load_checkpoint(out / "last.pt")["config"]


@pytest.mark.slow  # three tiny runs: a few seconds idle, minutes on a loaded machine
def test_train_uses_the_recipe_and_each_flag_overrides_one_field(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    plain = tmp_path / "plain"
    assert main(["train", "lenet5", "--data", "mnist", *TINY, "--out", str(plain)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("recipe lenet/mnist (measured here:")
    assert "--batch-size 64 --lr 0.1" in line and "overridden: --epochs" in line
    stored = _config(plain)
    assert stored["recipe"] == "lenet/mnist"
    assert (stored["batch_size"], stored["lr"], stored["epochs"]) == (64, 0.1, 1)

    one = tmp_path / "one"
    assert main(["train", "lenet5", "--data", "mnist", *TINY, "--batch-size", "32",
                 "--out", str(one)]) == 0
    changed = {k for k, v in _config(one).items() if stored[k] != v}
    assert changed == {"batch_size", "out"} and _config(one)["lr"] == 0.1

    capsys.readouterr()
    bare = tmp_path / "bare"
    assert main(["train", "lenet5", "--data", "mnist", *TINY, "--recipe", "none",
                 "--out", str(bare)]) == 0
    assert capsys.readouterr().out.startswith("recipe: none")
    assert (_config(bare)["recipe"], _config(bare)["batch_size"]) == (None, 128)


def test_show_lists_the_models_recipes(capsys: pytest.CaptureFixture) -> None:
    assert main(["show", "lenet5"]) == 0
    out = capsys.readouterr().out
    assert "recipe lenet/mnist: --epochs 30 --batch-size 64 --lr 0.1 (measured here" in out
    assert "recipe lenet/fashion-mnist: " in out and "--no-augment" in out


def test_resume_after_a_nan_stop_at_a_lower_lr(tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    cfg = TrainConfig(model="lenet5", data="mnist", epochs=2, batch_size=64, lr=0.1,
                      limit_train=256, limit_test=128, threads=1, out=str(tmp_path))
    s = prepare(cfg, DistContext(), log=lambda _: None, progress=False)
    steps, calls = len(s.trainer.train_loader), []

    def diverge(module: torch.nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor | None:
        calls.append(module.training)  # a hook keeps the state_dict's keys as they are
        return out * float("nan") if module.training and sum(calls) > steps else None

    s.trainer.raw.register_forward_hook(diverge)
    with pytest.raises(TrainingError, match="lower lr"):
        s.trainer.fit()  # NaN in epoch 2; last.pt is epoch 1's
    assert main(["train", "--resume", str(tmp_path), "--lr", "inf"]) == 2
    assert capsys.readouterr().err.startswith("cnnzoo: error: --lr must be in (0, 10], got inf")
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.02", "--no-progress"]) == 0
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["epoch"] == 2 and state["config"]["lr"] == 0.02
    assert all(torch.isfinite(v).all() for v in state["model"].values()
               if v.is_floating_point())
    lrs = [r["lr"] for r in state["history"]]
    assert len(lrs) == 2 and math.isfinite(lrs[1]) and lrs[1] <= 0.02
