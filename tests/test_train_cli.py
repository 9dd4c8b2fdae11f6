"""`cnnzoo train`, `eval` and `predict` as a user runs them (in-process, tiny runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cnnzoo.cli import main
from cnnzoo.data import build_transform, load_dataset

TRAIN = ["train", "lenet5_modern", "--data", "mnist", "--limit-train", "512", "--limit-test",
         "200", "--epochs", "2", "--batch-size", "32", "--lr", "0.1", "--threads", "1",
         "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main([*TRAIN, "--out", str(out)]) == 0
    return out


def test_train_prints_the_result_and_artefacts(run: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([*TRAIN, "--out", str(run)]) == 2  # never overwrites a run
    err = capsys.readouterr().err
    assert err.startswith("cnnzoo: error:") and f"--resume {run}" in err
    assert main(["train", "--resume", str(run), "--epochs", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "best test top-1" in out and str(run) in out
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3


def test_eval_reports_the_accuracy_training_measured(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    capsys.readouterr()
    png = tmp_path / "confusion.png"
    assert main(["eval", "lenet5_modern", "--weights", str(run / "best.safetensors"),
                 "--data", "mnist", "--limit-test", "200", "--format", "json",
                 "--confusion-png", str(png)]) == 0
    report = json.loads(capsys.readouterr().out)
    best = max(json.loads(line)["test_top1"]
               for line in (run / "metrics.jsonl").read_text().splitlines())
    assert report["count"] == 200 and report["top1"] == pytest.approx(best)
    assert sum(map(sum, report["confusion"])) == 200
    assert set(report["per_class"]) == {str(d) for d in range(10)}
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_predict_agrees_with_the_evaluation_pipeline(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from PIL import Image

    from cnnzoo.inference import load_trained

    test = load_dataset("mnist").test
    files = []
    for i in range(8):
        files.append(tmp_path / f"digit{i}.png")
        Image.fromarray(test.images[i, 0].numpy()).save(files[-1])
    capsys.readouterr()
    weights = str(run / "best.safetensors")
    assert main(["predict", "lenet5_modern", "--weights", weights, "--top-k", "3",
                 "--format", "json", *map(str, files)]) == 0
    predicted = [r["top"][0]["class"] for r in json.loads(capsys.readouterr().out)]
    trained = load_trained("lenet5_modern", weights)
    dataset = load_dataset("mnist")
    transform = build_transform(dataset, trained.input_size, train=False)
    with torch.no_grad():
        expected = trained.model(transform(test.images[:8])).argmax(1).tolist()
    assert predicted == [str(c) for c in expected]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "mnist"], "name a model"),
        (["train", "lenet5", "--data", "mnist", "--lr", "-1"], "--lr must be in (0, 10]"),
        (["train", "lenet5", "--data", "nosuchdata", "--out", "/tmp/x-cnnzoo-none"], "nosuchdata"),
        (["eval", "lenet5", "--data", "mnist"], "--weights FILE"),
        (["train", "--resume", "/nonexistent/run"], "no checkpoint"),
        (["train", "lenet5", "--data", "mnist", "--augment", "rotate"], "unknown augmentation"),
    ],
)
def test_bad_input_is_one_clear_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnzoo: error:") and message in err and "Traceback" not in err


def test_predict_refuses_a_file_that_is_not_an_image(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_text("not an image")
    assert main(["predict", "lenet5_modern", "--weights", str(run / "best.safetensors"),
                 str(bogus)]) == 2
    assert "notes.png: cannot decode the image" in capsys.readouterr().err


def test_resume_refuses_changed_options(run: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--resume", str(run), "--batch-size", "16"]) == 2
    err = capsys.readouterr().err
    assert "--batch-size 16 differs" in err and "only out, epochs, lr," in err


def test_a_stop_in_the_first_epoch_reports_no_accuracy_and_only_real_files(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C before the first epoch ends (issue 23: "best test top-1 -100.00% (epoch 0),
    final nan%", and a list of files that did not exist)."""
    import cnnzoo.train.loop as loop

    class StopAtOnce(loop.StopFlag):
        def __enter__(self) -> loop.StopFlag:
            super().__enter__()
            self.requested = True  # as if Ctrl-C came before the first step
            return self

    monkeypatch.setattr(loop, "StopFlag", StopAtOnce)
    out = tmp_path / "stopped"
    assert main([*TRAIN, "--out", str(out)]) == 130
    printed = capsys.readouterr().out
    assert "stopped before the first epoch ended" in printed and f"--resume {out}" in printed
    assert "nan" not in printed and "-100.00%" not in printed
    assert "last.pt" in printed and "best.safetensors" not in printed
    assert (out / "last.pt").is_file() and not (out / "best.safetensors").exists()


def test_a_model_options_value_is_not_taken_for_an_image(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`predict mobilenet_v1 --width 0.5 --weights W IMG` (issue 23: 0.5 was read as an image
    file, "image not found: 0.5")."""
    from cnnzoo.cli import _model_option_tokens

    argv = ["predict", "mobilenet_v1", "--width", "0.5", "--weights", "w.safetensors", "a.png"]
    assert _model_option_tokens(argv) == (
        ["predict", "mobilenet_v1", "--weights", "w.safetensors", "a.png"], ["--width", "0.5"])
    flags = ["show", "googlenet", "--aux-logits", "--num-classes", "10", "--no-transform-input"]
    assert _model_option_tokens(flags)[1] == ["--aux-logits", "--no-transform-input"]
    image = Path(__file__).resolve().parents[1] / "examples" / "seven_on_paper.png"
    code = main(["predict", "mobilenet_v1", "--width", "0.5", "--weights",
                 str(tmp_path / "missing.safetensors"), str(image)])
    err = capsys.readouterr().err
    assert code == 2 and "0.5" not in err and "missing.safetensors" in err


@pytest.mark.data
def test_eval_warns_when_the_weights_were_trained_on_other_data(
        run: Path, capsys: pytest.CaptureFixture) -> None:
    """MNIST weights on Fashion-MNIST (issue 23: 5.43% with no word of warning)."""
    from cnnzoo.data.load import locate

    if locate("fashion-mnist") is None:
        pytest.skip("Fashion-MNIST is not installed")
    args = ["eval", "lenet5_modern", "--weights", str(run / "best.safetensors"),
            "--limit-test", "64"]
    assert main([*args, "--data", "fashion-mnist"]) == 0
    err = capsys.readouterr().err
    assert "trained on mnist, not fashion-mnist" in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--data", "mnist"]) == 0
    assert "warning" not in capsys.readouterr().err
