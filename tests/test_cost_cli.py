"""`cnnzoo summary`, `cnnzoo compare` and `cnnzoo cost` as a user runs them."""

import csv
import io
import json

import pytest

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.cost import profile


def test_summary_table_has_layers_stages_and_totals(capsys: pytest.CaptureFixture) -> None:
    assert main(["summary", "resnet50"]) == 0
    out = capsys.readouterr().out
    assert "MACs 4,089,184,256 (4.09G)" in out
    lines = out.splitlines()
    stage = next(line for line in lines if line.startswith("= layer1 (conv2_x)"))
    assert "256x56x56" in stage and "667.94M" in stage
    conv = next(line for line in lines if line.startswith("layer1.0.conv2 "))
    assert "115.61M" in conv.split() and conv.split()[-2:] == ["19", "4"]
    total = next(line for line in lines if line.startswith("total "))
    assert "25.56M" in total and "4.09G" in total
    assert "peak activation memory" in out and "2 x MACs = 8.18G" in out


def test_summary_json_has_the_documented_keys(capsys: pytest.CaptureFixture) -> None:
    assert main(["summary", "mobilenet_v2", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("model", "input_size", "params", "macs", "other_flops",
                "peak_activation_bytes", "layers"):
        assert key in data
    assert data["model"] == "mobilenet_v2" and data["macs"] == 300_774_272
    for key in ("name", "type", "output_shape", "params", "macs", "activation_bytes",
                "receptive_field"):
        assert key in data["layers"][0]
    assert data["layers"][0]["output_shape"] == [32, 112, 112]
    assert sum(layer["macs"] for layer in data["layers"]) == data["macs"]


def test_summary_csv_and_md(capsys: pytest.CaptureFixture) -> None:
    assert main(["summary", "resnet20", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert sum(int(r["macs"]) for r in rows) == 40_551_040
    assert main(["summary", "resnet20", "--format", "md", "--stages"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("| stage ") and "| 40,551,040 |" in md


def test_summary_passes_model_options_through(capsys: pytest.CaptureFixture) -> None:
    args = ["summary", "mobilenet_v1", "--input-size", "3,160,160", "--num-classes", "10",
            "--width", "0.5", "--format", "json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    model = cnnzoo.create_model("mobilenet_v1", num_classes=10, width=0.5, device="meta")
    assert data["input_size"] == [3, 160, 160]
    assert data["layers"][-1]["output_shape"] == [10]
    assert data["macs"] == profile(model, (3, 160, 160)).macs


def test_summary_training_estimate(capsys: pytest.CaptureFixture) -> None:
    assert main(["summary", "resnet20", "--train-batch", "64", "--optimizer", "adam"]) == 0
    out = capsys.readouterr().out
    assert "training step at batch 64 with adam: peak" in out


def test_compare_side_by_side(capsys: pytest.CaptureFixture) -> None:
    assert main(["compare", "resnet18", "mobilenet_v2", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in records] == ["resnet18", "mobilenet_v2"]
    assert records[0]["macs"] == 1_814_073_344 and records[0]["top1_err"] == 27.88
    assert records[1]["macs"] == 300_774_272 and records[1]["top5_err"] == 9.0
    assert records[1]["torchvision_acc1"] == 71.878
    assert all(r["peak_activation_bytes"] > 0 for r in records)
    assert main(["compare", "resnet18", "mobilenet_v2"]) == 0
    assert "peak activations" in capsys.readouterr().out


def test_cost_commands_print_the_worked_examples(capsys: pytest.CaptureFixture) -> None:
    assert main(["cost", "bottleneck"]) == 0
    out = capsys.readouterr().out
    assert "120,422,400" in out and "2,408,448 + 10,035,200 = 12,443,648" in out
    assert main(["cost", "depthwise"]) == 0
    out = capsys.readouterr().out
    assert "2,160" in out and "432 + 240 = 672" in out and "0.311" in out
    assert main(["cost", "depthwise", "--c-out", "512"]) == 0
    assert "1/512 + 1/9" in capsys.readouterr().out
    assert main(["cost", "conv", "--h", "14", "--w", "14"]) == 0
    assert f"{5 * 5 * 192 * 14 * 14 * 32:,}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["summary", "resnet18", "--input-size", "3,x,224"], "is not a size"),
        (["summary", "resnet18", "--input-size", "3,16,16"], "at least 32x32"),
        (["summary", "resnet18", "--depth-mult", "2"], "its options are"),
        (["summary", "resnet18", "--dtype", "float32", "--batch-size", "0"], "batch_size"),
        (["compare", "resnet18", "resnet9000"], "unknown model"),
        (["cost", "conv", "--c-in", "0"], "positive integer"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], needle: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnzoo: error: ") and needle in err
    assert len(err.strip().splitlines()) == 1
