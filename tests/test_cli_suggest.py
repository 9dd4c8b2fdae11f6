"""Near misses on the command line get the command or flag that was meant, in one line."""

import pytest

from cnnzoo.cli import main


def _error(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err


def test_cost_with_a_model_name_points_to_summary(capsys: pytest.CaptureFixture) -> None:
    err = _error(["cost", "resnet50"], capsys)
    assert "did you mean: cnnzoo summary resnet50" in err


def test_misspelt_and_synonym_subcommands(capsys: pytest.CaptureFixture) -> None:
    assert "did you mean: cnnzoo train lenet5" in _error(["tarin", "lenet5"], capsys)
    assert "did you mean: cnnzoo summary vgg16" in _error(["profile", "vgg16"], capsys)


def test_misspelt_flag_of_a_command_without_model_options(
    capsys: pytest.CaptureFixture,
) -> None:
    err = _error(["list", "--formt", "md"], capsys)
    assert "--formt (did you mean --format?)" in err and "cnnzoo list --help" in err


def test_misspelt_train_flag_is_not_passed_to_the_model(capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "lenet5", "--data", "mnist", "--epochz", "3"]) == 2
    err = capsys.readouterr().err
    assert "unknown flag --epochz; did you mean --epochs?" in err
    assert len(err.strip().splitlines()) == 1


def test_model_options_still_pass_through(capsys: pytest.CaptureFixture) -> None:
    assert main(["show", "mobilenet_v1", "--width", "0.5"]) == 0
    assert main(["show", "mobilenet_v1", "--widht", "0.5"]) == 2
    assert "its options are: width=1.0" in capsys.readouterr().err
