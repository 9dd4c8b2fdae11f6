"""Pretrained weights as the PyTorch ecosystem names and stores them: torchvision's files in
torch's own hub cache, torchvision's weight names, list_models(pretrained=True), options
checked before any download. Nothing is downloaded: the files are written here from our
own models, and the network points at a closed port."""

from __future__ import annotations

import dataclasses
import hashlib
import socket
from pathlib import Path

import pytest
import torch

import cnnzoo
from cnnzoo import ModelOptionError, WeightsError, create_model
from cnnzoo.hub import torch_hub_dir, verify, weights_dir
from cnnzoo.pretrained import PRETRAINED


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty caches under tmp_path (cnnzoo's, and torch's via torch.hub.get_dir) and no
    network; returns torch's hub dir."""
    monkeypatch.setenv("CNNZOO_HOME", str(tmp_path / "cnnzoo"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch" / "hub"))
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", f"http://127.0.0.1:{port}")
    return tmp_path / "torch" / "hub"


def _torchvision_file_in_hub_cache(monkeypatch: pytest.MonkeyPatch, name: str = "resnet18"
                                   ) -> tuple[Path, torch.nn.Module]:
    """A real state_dict of our own `name`, saved as torchvision saves it, named as its URL
    ends (NAME-<first 8 digits of its SHA-256>.pth) in torch's hub cache; the table entry is
    pointed at that file and digest."""
    torch.manual_seed(3)
    source = create_model(name).eval()
    tmp = torch_hub_dir() / "incoming.pth"
    tmp.parent.mkdir(parents=True)
    torch.save(source.state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    key = f"{name}.imagenet"
    entry = dataclasses.replace(PRETRAINED[key], filename=f"{name}-{digest[:8]}.pth",
                                sha256=digest)
    monkeypatch.setitem(PRETRAINED, key, entry)
    path = tmp.rename(torch_hub_dir() / entry.filename)
    return path, source


@pytest.mark.parametrize("weights", ["imagenet", "DEFAULT", "IMAGENET1K_V1",
                                     "ResNet18_Weights.IMAGENET1K_V1"])
def test_a_file_in_torchs_hub_cache_is_found_offline(offline: Path, monkeypatch, weights: str
                                                     ) -> None:
    path, source = _torchvision_file_in_hub_cache(monkeypatch)
    model = create_model("resnet18", weights=weights).eval()
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(model(x), source(x))
    cfg = model.pretrained_cfg
    assert cfg["file"] == str(path) and cfg["source"].endswith("/" + path.name)
    assert cfg["input_size"] == (3, 224, 224) and cfg["crop_pct"] == 0.875
    assert cfg["tag"] == "imagenet" and cfg["torchvision_name"] == "IMAGENET1K_V1"
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # nothing written there
    assert verify(PRETRAINED["resnet18.imagenet"]).path == path


def test_a_corrupt_file_in_torchs_cache_is_left_alone_and_not_used(offline: Path,
                                                                    monkeypatch) -> None:
    path, _ = _torchvision_file_in_hub_cache(monkeypatch)
    good = path.read_bytes()
    path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    assert verify(PRETRAINED["resnet18.imagenet"]).state == "corrupt"
    with pytest.raises(WeightsError, match="could not download") as e:
        create_model("resnet18", weights="imagenet")
    assert f"put it in {weights_dir()} " in str(e.value)
    assert path.is_file() and not path.with_name(path.name + ".bad").exists()  # not ours


def test_options_are_checked_before_any_download(offline: Path, monkeypatch) -> None:
    def no_fetch(*args: object, **kwargs: object) -> None:
        raise AssertionError("fetched before the options were checked")

    monkeypatch.setattr("cnnzoo.hub.fetch_url", no_fetch)
    with pytest.raises(ModelOptionError, match="resnet50 has no option bogus"):
        create_model("resnet50", weights="imagenet", bogus=1)
    with pytest.raises(ModelOptionError, match="zero_init_residual must be true or false"):
        create_model("resnet50", pretrained=True, zero_init_residual="yes")


def test_torchvision_names_that_are_not_in_the_table_are_one_clear_line(offline: Path) -> None:
    # torchvision's DEFAULT for resnet50 is its newer IMAGENET1K_V2 file: never swapped
    # silently for V1.
    with pytest.raises(WeightsError, match="DEFAULT for resnet50 is its IMAGENET1K_V2 file"):
        create_model("resnet50", weights="DEFAULT")
    with pytest.raises(WeightsError, match="IMAGENET1K_V2 of mobilenet_v2 is not in"):
        create_model("mobilenet_v2", weights="IMAGENET1K_V2")
    with pytest.raises(WeightsError, match="no imagenet weights are published for lenet5"):
        create_model("lenet5", weights="DEFAULT")


def test_list_models_pretrained() -> None:
    with_weights = cnnzoo.list_models(pretrained=True)
    assert with_weights == [n for n in cnnzoo.list_models()
                            if n in {w.model for w in PRETRAINED.values()}]
    assert "resnet50" in with_weights and "lenet5" not in with_weights
    assert cnnzoo.list_models("vgg1?", pretrained=True) == ["vgg11", "vgg13", "vgg16", "vgg19"]
