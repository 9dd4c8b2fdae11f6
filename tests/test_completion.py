"""`cnnzoo completion bash|zsh`: scripts generated from the parser itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cnnzoo.cli import COMMAND_MODULES, main
from cnnzoo.cli import completion as completion_mod

COMMANDS = [m.rsplit(".", 1)[1].rstrip("_") for m in COMMAND_MODULES]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_the_script_names_every_command_and_parses(
        shell: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("shtab")
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for command in COMMANDS:
        assert command in script, command
    for flag in ("--tensorboard", "--config", "--resume", "--confusion-png", "--static-batch"):
        assert flag in script, flag  # flags of the subcommands too
    path = tmp_path / f"cnnzoo.{shell}"
    path.write_text(script)
    checker = shutil.which(shell)
    if checker is None:
        pytest.skip(f"{shell} is not installed: the script's syntax is not checked")
    done = subprocess.run([checker, "-n", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_bash_completes_the_commands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("shtab")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    assert main(["completion", "bash"]) == 0
    path = tmp_path / "cnnzoo.bash"
    path.write_text(capsys.readouterr().out)
    # What bash does on `cnnzoo tr<TAB>`: the script's function fills COMPREPLY.
    probe = (f"source {path}; COMP_WORDS=(cnnzoo tr); COMP_CWORD=1; COMP_LINE='cnnzoo tr'; "
             "COMP_POINT=9; _shtab_cnnzoo cnnzoo tr cnnzoo; echo ${COMPREPLY[@]}")
    done = subprocess.run([bash, "-c", probe], capture_output=True, text=True)
    assert done.stdout.split() == ["train"], done.stderr


def test_without_shtab_it_is_one_line(capsys: pytest.CaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(completion_mod, "installed", lambda module: False)
    assert main(["completion", "bash"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "shtab" in err and "pip install" in err
