"""`predict` compares an image with the training data (polarity, channels, size) and says
what it changed; weights metadata is checked before anything is built from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo import WeightsError, create_model, save_weights
from cnnzoo.cli import main
from cnnzoo.data import build_transform, load_dataset
from tests.test_train_cli import TRAIN


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A short real training run on the embedded digits (twice test_train_cli's images, so
    enough digits are recognised with confidence)."""
    out = tmp_path_factory.mktemp("predict") / "run"
    argv = [*TRAIN, "--out", str(out)]
    argv[argv.index("--limit-train") + 1] = "1024"
    assert main(argv) == 0
    return str(out / "best.safetensors")


def _confident_digits(weights: str, n: int = 3) -> list[tuple[np.ndarray, int]]:
    """Real test digits (light on dark, as MNIST stores them) the model gets right with
    probability above 0.9."""
    from cnnzoo.inference import load_trained

    trained = load_trained("lenet5_modern", weights)
    test = load_dataset("mnist").test
    transform = build_transform(load_dataset("mnist"), trained.input_size)
    with torch.no_grad():
        probs = torch.softmax(trained.model(transform(test.images[:200])), 1)
    picked = [i for i in range(200) if probs[i].max() > 0.9 and
              probs[i].argmax() == test.labels[i]][:n]
    assert len(picked) == n
    return [(test.images[i, 0].numpy(), int(test.labels[i])) for i in picked]


def test_a_dark_digit_on_white_paper_is_inverted_with_a_note(weights: str, tmp_path: Path,
                                                             capsys) -> None:
    files, labels = [], []
    for k, (digit, label) in enumerate(_confident_digits(weights)):
        paper = Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.BILINEAR)
        files.append(tmp_path / f"paper{k}.png")
        paper.convert("RGB").save(files[-1])  # as a phone photo would be: RGB, bigger
        labels.append(str(label))
    capsys.readouterr()
    argv = ["predict", "lenet5_modern", "--weights", weights, "--format", "json",
            *map(str, files)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    results = json.loads(captured.out)
    assert [r["top"][0]["class"] for r in results] == labels
    notes = captured.err.splitlines()
    assert len(notes) == 3 * len(files) and all(n.startswith("note: ") for n in notes)
    first = [n for n in notes if str(files[0]) in n]
    assert "converted RGB to grey" in first[0]
    assert "dark on light, but mnist images are light on dark: inverted it" in first[1]
    assert "resized 112x112 to 28x28" in first[2]

    assert main([*argv, "--no-invert"]) == 0
    err = capsys.readouterr().err
    assert "kept as it is (--no-invert), expect poor predictions" in err
    assert "inverted it" not in err


def test_a_digit_as_mnist_stores_it_gets_no_notes(weights: str, tmp_path: Path,
                                                  capsys) -> None:
    digit, label = _confident_digits(weights, 1)[0]
    Image.fromarray(digit).save(tmp_path / "digit.png")
    capsys.readouterr()
    assert main(["predict", "lenet5_modern", "--weights", weights, str(tmp_path / "digit.png")
                 ]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.split(": ")[1].startswith(f"{label} ")


@pytest.mark.parametrize(("meta", "message"), [
    ({"num_classes": [10]}, "metadata num_classes=\\[10\\] is not a count"),
    ({"num_classes": 10_000_000}, "is not a count between 1 and 1,000,000"),
    ({"num_classes": 500_000}, "num_classes=500000 but no tensor in the file has 500000 outputs"),
    ({"in_chans": "3"}, "metadata in_chans='3' is not a count"),
    ({"in_chans": 0}, "in_chans=0 is not a count"),
    ({"in_chans": 2}, "in_chans=2 but no tensor in the file has 2 input channels"),
    ({"num_classes": True}, "num_classes=True is not a count"),
])
def test_safetensors_metadata_is_checked_before_building(tmp_path: Path, meta: dict,
                                                         message: str) -> None:
    path = save_weights(create_model("lenet5"), tmp_path / "w.safetensors", **meta)
    with pytest.raises(WeightsError, match=message):
        create_model("lenet5", weights=path)


@pytest.mark.parametrize(("key", "value"), [("input_size", [1, 30000, 30000]),
                                            ("image_size", "28"), ("input_size", [1, 32])])
def test_sizes_in_metadata_are_checked(tmp_path: Path, key: str, value: object) -> None:
    from cnnzoo.inference import load_trained

    path = save_weights(create_model("lenet5"), tmp_path / "w.safetensors", **{key: value})
    with pytest.raises(WeightsError, match=f"metadata has {key}="):
        load_trained("lenet5", path)
