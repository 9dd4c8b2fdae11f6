"""A new family is one file plus one line: examples/tiny_squeezenet.py, copied into a
temporary package and named in cnnzoo.models.FAMILIES, works in every command that reads
the registry, with nothing else touched."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import cnnzoo.models
from cnnzoo import InputShapeError, create_model, model_options, registry
from cnnzoo.cli import main
from tests.zoo import every_model

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "tiny_squeezenet.py"
MODULE = "zoo_extra.tiny_squeezenet"


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example as a module of a temporary package, in FAMILIES (the one line); the
    registry as it was before, afterwards."""
    root = tmp_path_factory.mktemp("family")
    (root / "zoo_extra").mkdir()
    (root / "zoo_extra" / "__init__.py").write_text("")
    shutil.copy(EXAMPLE, root / "zoo_extra" / "tiny_squeezenet.py")
    registry.load_families()
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(root))
        mp.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
        mp.setattr(cnnzoo.models, "FAMILIES", (*cnnzoo.models.FAMILIES, MODULE))
        yield root
    for name in (MODULE, "zoo_extra"):
        sys.modules.pop(name, None)


def test_list_and_show(family: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "tiny*"]) == 0
    row = capsys.readouterr().out.splitlines()[-1].split()
    assert row[:4] == ["tiny_squeezenet", "squeezenet", "9,950", "1x28x28"]
    assert main(["show", "tiny_squeezenet", "--width", "4"]) == 0
    out = capsys.readouterr().out
    assert "options: width=4, dropout=0.0" in out and "(min 8x8)" in out
    assert "fire4" in out and "Iandola" in out
    assert model_options("tiny_squeezenet") == {"width": 8, "dropout": 0.0}  # the class's


def test_summary_and_draw(family: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["summary", "tiny_squeezenet"]) == 0
    assert "9,950" in capsys.readouterr().out
    svg = tmp_path / "tiny.svg"
    assert main(["draw", "tiny_squeezenet", "-o", str(svg)]) == 0
    text = svg.read_text()
    assert "<svg" in text and "fire" in text


def test_features_only_and_the_input_rule(family: Path) -> None:
    features = create_model("tiny_squeezenet", features_only=True)
    maps = features(torch.randn(2, 1, 28, 28))
    assert [tuple(m.shape) for m in maps] == [(2, 16, 14, 14), (2, 32, 14, 14), (2, 64, 7, 7)]
    # The class built directly applies its own minimum, as create_model's does.
    direct = sys.modules[MODULE].TinySqueezeNet()
    with pytest.raises(InputShapeError, match="at least 8x8"):
        direct(torch.randn(1, 1, 7, 7))


def test_one_epoch_of_training_without_a_recipe(family: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert main(["train", "tiny_squeezenet", "--data", "mnist", "--limit-train", "256",
                 "--limit-test", "128", "--epochs", "1", "--batch-size", "64", "--threads",
                 "1", "--no-progress", "--out", str(out)]) == 0
    assert "recipe: none for tiny_squeezenet" in capsys.readouterr().out
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


def test_the_sweeps_of_every_model_include_it(family: Path) -> None:
    assert "tiny_squeezenet" in every_model()  # in the fast tier: first of its family
