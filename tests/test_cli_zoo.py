"""`cnnzoo list` and `cnnzoo show` as a user runs them."""

import json
import subprocess
import sys

import pytest

from cnnzoo import list_models
from cnnzoo.cli import main


def test_list_shows_every_model_with_figures(capsys: pytest.CaptureFixture) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in list_models():
        assert f"\n{name} " in out
    resnet50 = next(line for line in out.splitlines() if line.startswith("resnet50 "))
    assert "25,557,032" in resnet50 and "20.74" in resnet50 and "5.25" in resnet50
    assert "76.13 / 92.862" in resnet50


def test_list_pattern_and_json(capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "mobilenet*", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == ["mobilenet_v1", "mobilenet_v2"]
    assert records[1]["params"] == 3_504_872 and records[1]["torchvision_acc1"] == 71.878


def test_show_prints_stages_with_output_shapes(capsys: pytest.CaptureFixture) -> None:
    assert main(["show", "resnet50"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert rows["layer1.0"][2] == "256x56x56"
    assert rows["layer4.2"][2] == "2048x7x7"
    assert rows["total"][-1] == "25,557,032"


def test_show_passes_model_options_through(capsys: pytest.CaptureFixture) -> None:
    args = ["show", "mobilenet_v1", "--width", "0.5", "--input-size", "3,160,160",
            "--num-classes", "10", "--format", "json"]
    assert main(args) == 0
    stages = json.loads(capsys.readouterr().out)
    assert stages[-1] == {"name": "fc", "type": "Linear", "output_shape": [10], "params": 5_130}
    assert stages[-3]["output_shape"] == [512, 5, 5]


@pytest.mark.slow  # four fresh interpreters importing torch
@pytest.mark.parametrize(
    "argv, message",
    [
        (["show", "resnet5"], "did you mean resnet56, resnet50"),
        (["show", "resnet50", "--input-size", "3,16,16"], "at least 32x32, got 16x16"),
        (["show", "resnet50", "--input-size", "3,abc"], "is not a size"),
        (["show", "resnet50", "--bogus", "1"], "has no option bogus"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv: list, message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "cnnzoo", *argv], capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def test_list_prints_exact_counts_as_the_readme_does(capsys: pytest.CaptureFixture) -> None:
    assert main(["list", "lenet5"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("lenet5"))
    assert "60,850" in row.split()


def test_show_prints_the_options_it_built_with(capsys: pytest.CaptureFixture) -> None:
    assert main(["show", "mobilenet_v1", "--width", "0.5"]) == 0
    out = capsys.readouterr().out
    options = next(line for line in out.splitlines() if line.startswith("options:"))
    assert "width=0.5" in options and "width=1.0" not in options
