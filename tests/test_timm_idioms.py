"""timm's idioms on cnnzoo models: pretrained_cfg / default_cfg, resolve_data_config,
feature_info.channels() / .reduction() / .module_name(), and profile(model) at the card's
input size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import cnnzoo
from cnnzoo import create_model, resolve_data_config, save_weights
from cnnzoo.data import load_dataset
from cnnzoo.data.specs import IMAGENET_MEAN, IMAGENET_STD


def test_a_model_without_weights_resolves_its_cards_data_config() -> None:
    model = create_model("resnet50", device="meta")
    assert model.pretrained_cfg is None and model.default_cfg is None
    assert resolve_data_config(model) == {
        "input_size": (3, 224, 224), "interpolation": "bilinear", "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD, "crop_pct": 0.875, "crop_mode": "center", "fit": "crop"}
    mnist = load_dataset("mnist")
    lenet = resolve_data_config(create_model("lenet5", device="meta"))
    assert lenet["input_size"] == (1, 32, 32) and lenet["fit"] == mnist.fit == "pad"
    assert (lenet["mean"], lenet["std"]) == (mnist.mean, mnist.std)
    with pytest.raises(cnnzoo.CnnzooError, match="needs a model from cnnzoo.create_model"):
        resolve_data_config(torch.nn.Linear(2, 2))


def test_weights_trained_by_cnnzoo_give_their_datas_config(tmp_path: Path) -> None:
    # The metadata `cnnzoo train` writes (train/run.py): data statistics, sizes, fit.
    mnist = load_dataset("mnist")
    model = create_model("resnet20", num_classes=10, in_chans=1, width=2)
    path = save_weights(model, tmp_path / "best.safetensors", dataset="mnist",
                        classes=list(mnist.classes), mean=list(mnist.mean),
                        std=list(mnist.std), input_size=[1, 36, 36], image_size=[28, 28],
                        fit="resize")
    again = create_model("resnet20", weights=path)
    cfg = again.pretrained_cfg
    assert again.default_cfg is cfg and again.model_options == {"width": 2}
    assert cfg["input_size"] == (1, 36, 36) and cfg["mean"] == mnist.mean
    assert (cfg["fit"], cfg["crop_pct"], cfg["num_classes"]) == ("resize", 1.0, 10)
    assert cfg["source"] == str(path) and cfg["dataset"] == "mnist"
    assert resolve_data_config(again) == {k: cfg[k] for k in (
        "input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode", "fit")}
    features = create_model("resnet20", weights=path, features_only=True)
    assert features.pretrained_cfg == cfg and resolve_data_config(features)["mean"] == mnist.mean


def test_damaged_metadata_is_refused_when_the_model_is_built(tmp_path: Path) -> None:
    model = create_model("lenet5")
    path = save_weights(model, tmp_path / "bad.safetensors", input_size=[1, 32, 10**6])
    with pytest.raises(cnnzoo.WeightsError, match="input_size=.* expected 3 sizes"):
        create_model("lenet5", weights=path)


def test_feature_info_has_timms_accessors_beside_the_list() -> None:
    backbone = create_model("resnet50", features_only=True, out_indices=(1, 2, 3, 4),
                            device="meta")
    info = backbone.feature_info
    assert info.channels() == [256, 512, 1024, 2048] == [f.channels for f in info]
    assert info.reduction() == [4, 8, 16, 32]
    assert info.module_name() == ["layer1", "layer2", "layer3", "layer4"]
    assert info.channels(-1) == 2048 and info.reduction([0, 2]) == [4, 16]
    assert len(info) == 4 and info[0].module == "layer1"  # still the list it was
    model = create_model("mobilenet_v2", device="meta")
    assert model.feature_info.channels() == [f.channels for f in model.feature_info]


def test_profile_without_an_input_size_uses_the_cards() -> None:
    model = create_model("mobilenet_v1", width=0.5, in_chans=1)
    p = cnnzoo.profile(model)
    assert p.input_size == (1, 224, 224) and p.batch_size == 1
    assert p.macs == cnnzoo.profile(model, (1, 224, 224)).macs
    with pytest.raises(cnnzoo.CnnzooError, match="not from create_model"):
        cnnzoo.profile(torch.nn.Conv2d(3, 8, 3))
