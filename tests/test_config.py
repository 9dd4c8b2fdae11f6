"""TrainConfig as the one declaration: flags, help, checks, the record, the precision words."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace

import pytest
import torch

from cnnzoo import precision
from cnnzoo.cli import build_parser, main
from cnnzoo.cli.train import flag_of
from cnnzoo.errors import ConfigError, UsageError
from cnnzoo.train import TrainConfig
from cnnzoo.train.config import RESUMABLE, config_fields, fields_where


def _train_parser():  # noqa: ANN202
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["train"]


def test_every_field_has_a_flag_or_says_why_not() -> None:
    actions: dict[str, list] = {}
    for a in _train_parser()._actions:
        actions.setdefault(a.dest, []).append(a)
    for f in config_fields():
        if f.metadata["internal"]:
            assert f.name not in actions, f"{f.name} is internal but has a flag"
            continue
        assert f.name in actions, f"no flag for TrainConfig.{f.name}"
        assert all(a.default is None for a in actions[f.name])  # only given flags count
        spellings = [s for a in actions[f.name] for s in a.option_strings]
        assert flag_of(f.name) in spellings or (not spellings and f.metadata["flag"])
    # and nothing else: the flags that are not fields are the three that are not settings,
    # and each negatable field's --no-X (its own dest, so that --no-X with --X is caught)
    from cnnzoo.cli.train import NEGATED

    negated = {NEGATED + f.name for f in config_fields() if f.metadata["negatable"]}
    assert negated and all(actions[d][0].option_strings[0].startswith("--no-") for d in negated)
    extra = {d for d, acts in actions.items() if acts[0].option_strings} - {
        f.name for f in config_fields()} - negated
    assert extra == {"help", "resume", "config", "no_progress"}


def test_help_text_comes_from_the_dataclass() -> None:
    actions = {a.dest: a for a in _train_parser()._actions if a.help != "==SUPPRESS=="}
    for f in config_fields():
        if f.metadata["internal"] or f.metadata["const"] is not None:
            continue
        text = actions[f.name].help.replace("%%", "%")
        assert text.startswith(f.metadata["help"].split(" (default")[0]), f.name
        if f.metadata["bound"] is not None:
            assert str(f.metadata["bound"]) in text, f.name
        if f.default not in (None, dataclasses.MISSING) and not isinstance(f.default, bool):
            assert "default" in text, f.name
    assert "in [0, 1)" in actions["momentum"].help and "default: 0.9" in actions["momentum"].help
    assert actions["optimizer"].choices == ("sgd", "adamw")


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--gamma", "nan", "--gamma must be in (0, 1], got nan"),
        ("--gamma", "0", "--gamma must be in (0, 1]"),
        ("--lr", "inf", "--lr must be in (0, 10], got inf"),
        ("--lr", "-1", "--lr must be in (0, 10]"),
        ("--lr", "1e37", "--lr must be in (0, 10], got 1e+37"),
        ("--weight-decay", "nan", "--weight-decay must be in [0, 1), got nan"),
        ("--weight-decay", "5", "--weight-decay must be in [0, 1), got 5.0"),
        ("--momentum", "-1", "--momentum must be in [0, 1), got -1.0"),
        ("--momentum", "1", "--momentum must be in [0, 1)"),
        ("--label-smoothing", "1", "--label-smoothing must be in [0, 1)"),
        ("--label-smoothing", "nan", "--label-smoothing must be in [0, 1)"),
        ("--warmup-epochs", "-1", "--warmup-epochs must be >= 0"),
        ("--warmup-epochs", "99", "--warmup-epochs must be at most epochs"),
        ("--aux-weight", "inf", "--aux-weight must be in [0, 10], got inf"),
        ("--aux-weight", "1e6", "--aux-weight must be in [0, 10]"),
        ("--milestones", "5,nan", "--milestones must lie strictly between 0 and epochs"),
        ("--milestones", "0", "--milestones must lie strictly"),
        ("--epochs", "0", "--epochs must be >= 1, got 0"),
        ("--batch-size", "0", "--batch-size must be >= 1"),
        ("--threads", "0", "--threads must be in [1, 1024]"),
        ("--threads", "100000", "--threads must be in [1, 1024], got 100000"),
        ("--recipe", "nosuch", "--recipe 'nosuch' is not a recipe"),
        # checked by the library once the model is known: named as a field, shown as a flag
        ("--image-size", "8", "--image-size is 8x8, but lenet5 needs images of at least 32x32"),
    ],
)
def test_bad_numbers_are_one_line_and_exit_2(flag: str, value: str, message: str, tmp_path,
                                             capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert main(["train", "lenet5", "--data", "mnist", "--epochs", "10", flag, value,
                 "--out", str(out)] if flag != "--epochs" else
                ["train", "lenet5", "--data", "mnist", flag, value, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"cnnzoo: error: {message}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()  # rejected before anything was written


def test_library_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^epochs must be >= 1, got 0$") as e:
        TrainConfig(model="lenet5", epochs=0)
    assert e.value.field == "epochs"
    for name, bad in (("gamma", float("nan")), ("lr", float("inf")), ("momentum", -1.0),
                      ("weight_decay", float("nan")), ("label_smoothing", -0.1),
                      ("aux_weight", -1.0), ("warmup_epochs", float("nan"))):
        with pytest.raises(ConfigError, match=f"^{name} must be") as e:
            TrainConfig(model="lenet5", **{name: bad})
        assert e.value.field == name
    with pytest.raises(ConfigError, match="optimizer 'lbfgs' is not one of sgd, adamw"):
        TrainConfig(model="lenet5", optimizer="lbfgs")
    with pytest.raises(ConfigError, match="epochs must be an integer, got '3'"):
        TrainConfig(model="lenet5", epochs="3")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lr must be a number or None"):
        TrainConfig(model="lenet5", lr="fast")  # type: ignore[arg-type]


def test_the_checkpoint_record_round_trips() -> None:
    cfg = TrainConfig(model="resnet20", data="fashion-mnist", milestones=(2, 3),
                      image_size=(28, 28), augment=("flip",), precision="bfloat16")
    record = cfg.to_dict()
    assert record["milestones"] == [2.0, 3.0] or record["milestones"] == [2, 3]
    assert record["image_size"] == [28, 28] and record["augment"] == ["flip"]
    assert record["precision"] == "bf16"
    assert set(record) == {f.name for f in config_fields()}
    assert TrainConfig.from_dict(record) == cfg
    assert set(RESUMABLE) <= set(record) and "lr" in RESUMABLE


def test_each_field_declares_its_roles_and_the_lists_follow() -> None:
    from cnnzoo.studies.cache import NOT_HASHED, config_hash
    from cnnzoo.train.recipes import Recipe

    for f in config_fields():
        assert {"resumable", "computes", "recipe"} <= set(f.metadata), f.name
    assert fields_where("resumable") == RESUMABLE
    assert set(NOT_HASHED) == {"data_root", "out", "device", "tensorboard"}
    base = TrainConfig(model="lenet5", out="a")
    # Where a run writes and what else it writes leave its hash alone; what it computes not.
    assert config_hash(replace(base, out="b", tensorboard=True)) == config_hash(base)
    assert config_hash(replace(base, threads=2)) != config_hash(base)
    for key, value in (("threads", 2), ("tensorboard", True), ("limit_train", 10)):
        with pytest.raises(ConfigError, match="cannot be set by a recipe"):
            Recipe("bad", ("lenet5",), "mnist", "measured here: -", {key: value})


@pytest.mark.parametrize("word", ["bf16", "bfloat16", "BF16", "torch.bfloat16",
                                  torch.bfloat16])
def test_every_precision_word_names_the_same_thing(word: str | torch.dtype) -> None:
    assert precision.precision_name(word) == "bf16"
    assert precision.dtype_of(word) is torch.bfloat16
    assert TrainConfig(model="lenet5", precision=word).precision == "bf16"


def test_unknown_precision_words_list_the_vocabulary() -> None:
    with pytest.raises(UsageError, match="unknown precision 'fp8'; choose fp32, bf16 or fp16 "
                       "\\(or float32, bfloat16"):
        precision.precision_name("fp8")
    with pytest.raises(UsageError):
        precision.precision_name("fp64")  # cost analysis only
    assert precision.precision_name("float64", precision.ANALYSIS) == "fp64"
    with pytest.raises(ConfigError, match="precision 'int8'"):
        TrainConfig(model="lenet5", precision="int8")


def test_precision_aliases_in_the_library_functions() -> None:
    import cnnzoo
    from cnnzoo.bench import Variant, check_variant
    from cnnzoo.cost.profile import resolve_dtype
    from cnnzoo.train.precision import autocast

    assert resolve_dtype("bf16") is resolve_dtype("bfloat16") is torch.bfloat16
    assert resolve_dtype("fp64") is torch.float64
    assert Variant("eager", "bfloat16").precision == "bf16"
    check_variant(Variant("eager", "float32"), "cpu")
    fast = cnnzoo.optimize(cnnzoo.create_model("lenet5"), dtype="bfloat16")
    assert next(fast.parameters()).dtype is torch.bfloat16
    with autocast(torch.device("cpu"), "bfloat16"):
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype is torch.bfloat16


@pytest.mark.parametrize(("model", "flag", "word"), [
    ("mobilenet_v2", "--dtype", "bf16"), ("lenet5", "--dtype", "bfloat16"),
    ("lenet5", "--precision", "bf16"), ("lenet5", "--dtype", "fp16")])
def test_summary_takes_the_same_words(model: str, flag: str, word: str,
                                      capsys: pytest.CaptureFixture) -> None:
    assert main(["summary", model, flag, word, "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert ("bfloat16" if word.startswith("b") else "float16") in out


def test_compare_counts_bytes_at_the_precision_named(capsys: pytest.CaptureFixture) -> None:
    peaks = {}
    for word in ("fp32", "bf16", "bfloat16"):
        assert main(["compare", "lenet5", "--precision", word, "--format", "json"]) == 0
        peaks[word] = json.loads(capsys.readouterr().out)[0]["peak_activation_bytes"]
    assert peaks["bf16"] == peaks["bfloat16"] == peaks["fp32"] // 2


def test_cli_precision_words(tmp_path, capsys: pytest.CaptureFixture) -> None:
    # bench's own precision words are tested in test_bench.py: bench here probes the machine's
    # bf16 peak first, which took over 9 minutes on a CPU that emulates bf16.
    with pytest.raises(SystemExit) as e:
        main(["eval", "lenet5", "--weights", "x", "--data", "mnist", "--precision", "fp8"])
    assert e.value.code == 2
    assert "fp32, bf16 or fp16" in capsys.readouterr().err
