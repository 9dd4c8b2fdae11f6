"""Loading torchvision-format .pth files and cnnzoo safetensors, and refusing bad ones."""

import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch

from cnnzoo import WeightsError, create_model, save_weights


def _torchvision_file(tmp_path: Path, name: str, **options) -> tuple[Path, dict]:
    """A file laid out as torchvision saves its weights: a plain state_dict pickle."""
    torch.manual_seed(1)
    state = create_model(name, **options).state_dict()
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    return path, state


def test_torchvision_pth_loads_with_the_same_outputs(tmp_path: Path) -> None:
    path, state = _torchvision_file(tmp_path, "mobilenet_v2")
    model = create_model("mobilenet_v2", weights=path).eval()
    reference = create_model("mobilenet_v2").eval()
    reference.load_state_dict(state)
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(model(x), reference(x))


def test_aux_keys_optional_in_both_directions(tmp_path: Path) -> None:
    with_aux, _ = _torchvision_file(tmp_path, "googlenet", aux_logits=True)
    model = create_model("googlenet", weights=with_aux)  # aux keys in the file are dropped
    assert model.aux1 is None
    without_aux = tmp_path / "plain.pth"
    torch.save(create_model("googlenet").state_dict(), without_aux)
    with pytest.warns(UserWarning, match="auxiliary-head"):
        model = create_model("googlenet", aux_logits=True, weights=without_aux)
    assert model.aux1 is not None


def test_safetensors_round_trip_keeps_classes_and_channels(tmp_path: Path) -> None:
    model = create_model("resnet20", num_classes=7, in_chans=1).eval()
    path = save_weights(model, tmp_path / "r20.safetensors")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    again = create_model("resnet20", weights=path).eval()  # 7 classes, 1 channel from the file
    assert (again.num_classes, again.in_chans) == (7, 1)
    x = torch.randn(3, 1, 32, 32)
    assert torch.equal(model(x), again(x))


def test_class_count_inferred_from_a_pth_and_head_replaced_on_request(tmp_path: Path) -> None:
    path = tmp_path / "r20.pth"
    torch.save(create_model("resnet20", num_classes=4).state_dict(), path)
    assert create_model("resnet20", weights=path).num_classes == 4
    with pytest.warns(UserWarning, match="freshly initialised head for 12 classes"):
        model = create_model("resnet20", num_classes=12, weights=path)
    assert model.fc.out_features == 12


def test_first_conv_adapted_to_grey_input(tmp_path: Path) -> None:
    path, state = _torchvision_file(tmp_path, "resnet18")
    grey = create_model("resnet18", in_chans=1, weights=path)
    torch.testing.assert_close(grey.conv1.weight, state["conv1.weight"].sum(1, keepdim=True))


def test_mismatched_file_gets_a_summary(tmp_path: Path) -> None:
    path, _ = _torchvision_file(tmp_path, "resnet18")
    with pytest.raises(WeightsError) as info:
        create_model("resnet34", weights=path)
    message = str(info.value)
    assert "does not fit resnet34" in message and "missing in the file" in message
    assert "layer1.2.conv1.weight" in message
    wide, _ = _torchvision_file(tmp_path, "mobilenet_v2")
    expected = r"shape mismatches \(\d+\): features\.0\.0\.weight: file \(32, 3, 3, 3\) vs model"
    with pytest.raises(WeightsError, match=expected):
        create_model("mobilenet_v2", width=0.5, weights=wide)


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    evil.write_bytes(pickle.dumps({"conv1.weight": _RunsCode(str(marker))}, protocol=2))
    with pytest.raises(WeightsError, match="refused to load"):
        create_model("resnet18", weights=evil)
    assert not marker.exists()


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        create_model("resnet18", weights=tmp_path / "nope.pth")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        create_model("resnet18", weights=bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a pytorch file")
    with pytest.raises(WeightsError):
        create_model("resnet18", weights=junk)


def test_checkpoint_wrappers_and_ddp_prefixes_are_unwrapped(tmp_path: Path) -> None:
    state = create_model("lenet5").state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = create_model("lenet5", weights=path)
    assert torch.equal(model.c1.weight, state["c1.weight"])


def test_saved_options_rebuild_the_model_in_the_api_as_in_predict(tmp_path: Path) -> None:
    from cnnzoo.inference import load_trained

    model = create_model("mobilenet_v1", width=0.5, num_classes=10, in_chans=1).eval()
    path = save_weights(model, tmp_path / "half.safetensors")
    again = create_model("mobilenet_v1", weights=path).eval()  # width 0.5 from the file
    trained = load_trained("mobilenet_v1", path)  # what `cnnzoo predict` builds
    assert again.model_options == trained.model.model_options == {"width": 0.5}
    assert (again.num_classes, again.in_chans) == (10, 1)
    x = torch.randn(2, 1, 64, 64)
    assert torch.equal(again(x), model(x)) and torch.equal(trained.model(x), model(x))
    with pytest.raises(WeightsError, match="shape mismatches"):  # an option given wins
        create_model("mobilenet_v1", weights=path, width=1.0)


def test_options_a_file_records_are_checked(tmp_path: Path) -> None:
    from cnnzoo import ModelOptionError

    model = create_model("mobilenet_v1", width=0.5)
    wrong = save_weights(model, tmp_path / "wrong.safetensors", model_options={"depth": 3})
    with pytest.raises(ModelOptionError, match="wrong.safetensors records the option depth"):
        create_model("mobilenet_v1", weights=wrong)
    bad = save_weights(model, tmp_path / "bad.safetensors", model_options=[0.5])
    with pytest.raises(WeightsError, match="model_options=\\[0.5\\] is not a mapping"):
        create_model("mobilenet_v1", weights=bad)


def test_a_file_that_is_not_weights_is_named_so(tmp_path) -> None:
    from cnnzoo.errors import WeightsError
    from cnnzoo.weights import read_weights

    notes = tmp_path / "notes.pt"
    notes.write_text("not weights at all\n")
    with pytest.raises(WeightsError, match="not a weights file .neither safetensors nor"):
        read_weights(notes)
