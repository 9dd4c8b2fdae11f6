"""Every command shown in README.md and docs/*.md runs as written (shortened where it trains).

Commands are the lines of fenced blocks that start with `cnnzoo ` (or `$ cnnzoo `, the
blocks that show a command and what it printed), with `\\` continuations joined and `# ...`
comments dropped. The commands of one file run in order, in one scratch folder that holds
what a fresh clone has after `make demo`: examples/ and a trained runs/demo/. Training is cut
to one short epoch; a command that needs what is not here (a network, ImageNet, CIFAR, a GPU)
is skipped with the reason, so a README that drifts from the code fails here.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from cnnzoo.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHORT_TRAIN = ["--epochs", "1", "--limit-train", "512", "--limit-test", "256", "--threads", "1",
               "--no-progress"]

# What a command needs that this test cannot have, by a word in the command.
NEEDS = (
    ("--weights imagenet", "the pretrained file (a network once, see docs/weights.md)"),
    ("weights download", "a network"),
    ("data download", "a network"),
    ("--data imagenet", "an ImageNet validation folder"),
    ("--data cifar", "the CIFAR files"),
    ("--device cuda", "a GPU"),
    ("--full", "hours (a study's full mode)"),
    ("/shared/", "a cluster's shared folder (Ray, Slurm)"),
)
# Commands that run for minutes even when shortened: run only in the slow tier.
SLOW = ("study ", "bench", "--per-layer", "compare", "export", "--data fashion-mnist",
        "draw", "torchrun", "deploy", "--train-batch")


COUNTING_STUDIES = ("params", "vgg-uniform", "one-by-one", "mobilenet-structure",
                    "v2-block-cost")


def _study_ids() -> set[str]:
    from cnnzoo.studies import list_studies

    return {s.id for s in list_studies()}


STUDY_IDS = _study_ids()


def doc_commands(path: Path) -> list[str]:
    """The cnnzoo command lines of `path`'s fenced blocks, in order."""
    commands: list[str] = []
    fence: str | None = None  # the opening line of the block we are in
    pending = ""
    for raw in path.read_text().splitlines():
        if raw.startswith("```"):
            fence = raw.strip() if fence is None else None
            pending = ""
            continue
        if fence not in ("```", "```sh", "```bash", "```console"):
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        line = line.removeprefix("$ ")
        if line.startswith(("cnnzoo ", "torchrun ")):
            line = line.split(" | ")[0]  # `cnnzoo summary resnet50 | head -n 32`: cnnzoo's part
            commands.append(re.sub(r"\s+#\s.*$", "", line).strip())
    return commands


def _cases() -> list:
    cases = []
    for path in DOCS:
        for i, command in enumerate(doc_commands(path)):
            need = next((why for word, why in NEEDS if word in command), None)
            if re.search(r"\[--|\bseedS\b| S\b", command):
                need = "its placeholders filled in (a template that a benchmark script expands)"
            marks = [pytest.mark.slow] if any(w in command for w in SLOW) else []
            if "fashion-mnist" in command:
                marks.append(pytest.mark.data)
            if need:
                marks.append(pytest.mark.skip(reason=f"needs {need}"))
            cases.append(pytest.param(path.relative_to(ROOT).as_posix(), i, command,
                                      marks=marks, id=f"{path.name}:{i}:{command[:60]}"))
    return cases


def shortened(argv: list[str]) -> list[str]:
    """The same command, cut to seconds: one short epoch, one timing round."""
    if argv[0] == "train":
        if "--resume" in argv:
            return [*argv, "--epochs", "2", "--threads", "1", "--no-progress"]
        return [*argv, *SHORT_TRAIN]
    if argv[0] == "bench":
        if "--all" in argv or any("bf16" in a for a in argv):
            # torch.compile of a big net, or bf16 on a CPU that emulates it, takes minutes
            # even for one call: the same flags run on LeNet-5, which is what CI can afford.
            first_flag = next(i for i, a in enumerate(argv) if a.startswith("-"))
            argv = ["bench", "lenet5", *argv[first_flag:]]
        return [*argv, "--batch-sizes", "1", "--warmup", "0", "--repeats", "1", "--quiet"]
    if argv[0] == "deploy" and "--list-paths" not in argv:
        # three paths (PyTorch, ORT, int8) unless the command names its own: compile alone
        # takes ~15 s, and tests/test_deploy.py runs every path
        paths = [] if "--paths" in argv else ["--paths", "eager,ort,ort-int8"]
        return [*argv, *paths, "--rounds", "1", "--repeats", "1", "--calibration", "16",
                "--check", "50", "--quiet"]
    if argv[:2] == ["study", "run"] and not any(a in STUDY_IDS for a in argv):
        # all studies: only those that count, since the training ones take minutes even in
        # quick mode (tests/test_studies*.py run those on tiny data)
        return [*argv[:2], *COUNTING_STUDIES, *argv[2:], "--threads", "1"]
    if argv[:2] == ["study", "run"]:
        return [*argv, "--threads", "1"]
    return argv


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One folder per doc file, each set up as a fresh clone is after `make demo`."""
    base = tmp_path_factory.mktemp("docs")
    demo = base / "demo-template"
    shutil.copytree(ROOT / "examples", demo / "examples")
    assert main(["train", "lenet5", "--data", "mnist", "--out", str(demo / "runs" / "demo"),
                 *SHORT_TRAIN]) == 0
    folders = {}
    for path in DOCS:
        folder = base / path.stem
        shutil.copytree(demo, folder)
        folders[path.relative_to(ROOT).as_posix()] = folder
    return folders


@pytest.mark.parametrize(("doc", "index", "command"), _cases())
def test_command_runs_as_written(
    doc: str, index: int, command: str, scratch: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.chdir(scratch[doc])
    argv = shlex.split(command)
    if argv[0] == "torchrun":
        pytest.skip("torchrun: covered by tests/test_train_ddp.py")
    try:
        code = main(shortened(argv[1:]))
    except SystemExit as e:  # argparse
        code = e.code
    captured = capsys.readouterr()
    assert code == 0, f"{doc}: `{command}` exited {code}:\n{captured.err[-2000:]}"


def test_every_doc_shows_commands_that_this_test_finds() -> None:
    readme = doc_commands(ROOT / "README.md")
    assert any(c.startswith("cnnzoo train") for c in readme)
    assert all("\\" not in c for c in readme)
