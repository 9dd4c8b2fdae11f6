"""A run's record for other tools: TensorBoard events beside metrics.jsonl (--tensorboard),
and config.json, which `cnnzoo train --config FILE` reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnzoo.cli import main
from cnnzoo.train import tensorboard as tb
from cnnzoo.train.checkpoint import load_checkpoint
from cnnzoo.train.metrics import read_metrics

TRAIN = ["train", "lenet5_modern", "--data", "mnist", "--limit-train", "256", "--limit-test",
         "100", "--epochs", "2", "--batch-size", "32", "--lr", "0.1", "--threads", "1",
         "--no-progress"]


def _events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the run's event files, read by TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)]
            for tag in acc.Tags()["scalars"]}


def _as_events(records: list[dict]) -> dict[str, list[tuple[int, float]]]:
    return {key: [(r["epoch"], pytest.approx(float(r[key]), rel=1e-6)) for r in records]
            for key in records[0] if key != "epoch"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("tensorboard")
    out = tmp_path_factory.mktemp("tracking") / "run"
    assert main([*TRAIN, "--out", str(out), "--tensorboard"]) == 0
    return out


@pytest.mark.slow
def test_tensorboard_holds_the_scalars_of_metrics_jsonl_through_a_resume(run: Path) -> None:
    events = _events(run / tb.FOLDER)
    assert events == _as_events(read_metrics(run / "metrics.jsonl"))
    assert set(events) >= {"train_loss", "test_top1", "lr"} and len(events["lr"]) == 2
    assert main(["train", "--resume", str(run), "--epochs", "3", "--no-progress"]) == 0
    records = read_metrics(run / "metrics.jsonl")
    assert [r["epoch"] for r in records] == [1, 2, 3]
    events = _events(run / tb.FOLDER)
    assert events == _as_events(records)  # each epoch once: no repeat, no gap
    assert len(list((run / tb.FOLDER).glob(tb.EVENTS))) == 1


@pytest.mark.slow
def test_the_recorded_config_is_the_checkpoints(run: Path) -> None:
    recorded = json.loads((run / "config.json").read_text())
    assert recorded == load_checkpoint(run / "last.pt")["config"]
    assert recorded["tensorboard"] is True and recorded["limit_train"] == 256


def test_tensorboard_without_the_extra_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tb, "installed", lambda module: False)
    out = tmp_path / "run"
    assert main([*TRAIN, "--out", str(out), "--tensorboard"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tensorboard" in err and "pip install" in err
    assert not out.exists()  # refused before the run folder was made


def test_a_file_in_the_way_of_the_events_folder_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    out.mkdir()
    (out / tb.FOLDER).write_text("not a folder")
    assert main([*TRAIN, "--epochs", "1", "--out", str(out), "--tensorboard"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{out / tb.FOLDER} is in the way: a file where a folder must go" in err


@pytest.mark.slow
def test_config_reruns_a_run_with_flags_over_it(
        run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", str(run / "config.json"), "--epochs", "1",
                 "--no-tensorboard"]) == 0
    new = tmp_path / "runs" / "lenet5_modern-mnist"  # its own folder, not the recorded run's
    old = json.loads((run / "config.json").read_text())
    got = json.loads((new / "config.json").read_text())
    assert got == {**old, "epochs": 1, "tensorboard": False, "out": "runs/lenet5_modern-mnist"}
    assert len(read_metrics(new / "metrics.jsonl")) == 1


def test_a_hand_written_config_sets_what_it_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr("cnnzoo.cli.train.train", lambda cfg, **kw: calls.append(cfg) or _Done())
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"model": "lenet5", "data": "mnist", "epochs": 4,
                                "milestones": [2, 3], "schedule": "step", "seed": 7}))
    assert main(["train", "--config", str(path), "--seed", "8", "--out",
                 str(tmp_path / "r")]) == 0
    cfg = calls[0]
    assert (cfg.model, cfg.epochs, cfg.milestones, cfg.schedule) == ("lenet5", 4, (2, 3), "step")
    assert cfg.seed == 8  # the flag wins


class _Done:
    is_main, exit_code, history, out = True, 0, [], "."


@pytest.mark.parametrize("text, words", [
    (None, "no such file"),
    ("{epochs: 3", "is not JSON"),
    ("[1, 2]", "not an object"),
    ('{"model": "lenet5", "epoch": 3}', "unknown setting(s) epoch"),
    ('{"model": "lenet5", "epochs": "five"}', "epochs must be an integer"),
])
def test_a_bad_config_file_is_one_line(text: str | None, words: str, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "run.json"
    if text is not None:
        path.write_text(text)
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and str(path) in err
    assert not (tmp_path / "r").exists()
