"""Every bad command line: exit code 2, one line on stderr naming the problem and the fix, no
traceback, and nothing left behind in the working folder (issue 14).

Run in-process through cnnzoo.cli.main for speed; argparse's errors arrive as SystemExit.
"""

from __future__ import annotations

import shlex
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnzoo.cli import main

W = "--weights {w}"
BAD_LINES: list[str] = [
    # the command itself
    "", "bogus", "--bogus", "lst", "trian lenet5",
    # list
    "list --format xml", "list 'resnet*' extra", "list 'zzz*'",
    # show
    "show", "show resnet5", "show googlnet", "show resnet18 --num-classes 0",
    "show resnet18 --num-classes x", "show resnet18 --in-chans 0",
    "show resnet18 --input-size 3,x,224", "show resnet18 --input-size 0",
    "show resnet18 --input-size 30000", "show resnet18 --input-size 1,2,3,4",
    "show resnet18 --input-size 3,5000,5000", "show mobilenet_v1 --widht 0.5",
    "show mobilenet_v2 --width 0", "show resnet18 --format xml",
    "show alexnet --input-size 32",
    # a model option of the wrong kind (issue 23: was a 25-line TypeError)
    "show mobilenet_v1 --width wide", "show resnet20 --width 0.5", "show resnet20 --width 0",
    "show googlenet --aux-logits 3", "summary mobilenet_v2 --width true",
    # summary and compare
    "summary", "summary vgg17", "summary resnet18 --dtype fp8",
    "summary resnet18 --batch-size 0", "summary resnet18 --batch-size -1",
    "summary resnet18 --input-size -3", "summary resnet18 --train-batch x",
    "summary resnet18 --optimizer lion", "summary alexnet --input-size 3,10,10",
    "summary resnet18 --input-size 100000,224,224",
    "compare", "compare resnet18 resnet5", "compare resnet18 --dtype x",
    "compare resnet18 --batch-size 0",
    # cost
    "cost", "cost conv --f x", "cost conv --bogus 1", "cost bottleneck --c-in -1",
    "cost depthwise --f 0", "cost nonsense",
    # train: names and values
    "train", "train lenet6 --data mnist", "train lenet5 --data mnits",
    "train lenet5 --data mnist --epochs 0", "train lenet5 --data mnist --epochs x",
    "train lenet5 --data mnist --batch-size 0", "train lenet5 --data mnist --lr x",
    "train lenet5 --data mnist --lr -1", "train lenet5 --data mnist --optimizer adam",
    # absurd but finite numbers: the config's bounds (train/config.py)
    "train lenet5 --data mnist --lr 1e37", "train lenet5 --data mnist --lr 11",
    "train lenet5 --data mnist --weight-decay 1", "train lenet5 --data mnist --weight-decay 1e30",
    "train lenet5 --data mnist --momentum 1.5", "train lenet5 --data mnist --momentum -0.1",
    "train lenet5 --data mnist --gamma 2", "train lenet5 --data mnist --label-smoothing 3",
    "train lenet5 --data mnist --aux-weight 1e30", "train lenet5 --data mnist --threads 100000",
    "train lenet5 --data mnist --schedule linear", "train lenet5 --data mnist --precision fp8",
    "train lenet5 --data mnist --image-size 30000", "train lenet5 --data mnist --image-size 0",
    "train lenet5 --data mnist --image-size x", "train lenet5 --data mnist --image-size 8",
    "train lenet5 --data mnist --limit-train x", "train lenet5 --data mnist --milestones a,b",
    "train lenet5 --data mnist --bogus-flag 1", "train lenet5 --data mnist --device tpu",
    "train lenet5 --data mnist --threads x", "train lenet5 --data mnist --momentum x",
    # empty strings and contradicting flags (issue 23: --out '' trained into the cwd)
    "train lenet5 --data mnist --out ''", "train lenet5 --data ''",
    "train lenet5 --data mnist --data-root ''", "train lenet5 --data mnist --device ''",
    "train lenet5 --data mnist --no-augment --augment crop",
    "train lenet5 --data mnist --augment flip --no-augment",
    "train lenet5 --data mnist --freeze all", "train lenet5 --data mnist --augment rotate",
    "train lenet5 --data mnist --init-weights {missing}",
    "train lenet5 --data mnist --init-weights {txt}",
    "train resnet18 --data mnist --init-weights {w} --limit-train 8",
    # train: files and folders
    "train lenet5 --data mnist --out {txt}", "train lenet5 --data mnist --out {run}",
    "train lenet5 --data mnist --out {txt}/sub",
    "train lenet5 --data cifar10 --data-root {empty}",
    "train lenet5 --data mnist --data-root {missing}",
    "train lenet5 --data fashion-mnist --data-root {empty}",
    "train lenet5 --data cifar10 --data-root {cifar_bad}",
    "train lenet5 --data mnist --data-root {idx_bad}",
    "train lenet5 --data folder:{missing}", "train lenet5 --data folder:{empty}",
    "train --resume {missing}", "train --resume {trunc}", "train --resume {notstate}",
    "train --resume {empty}", "train --resume {txt}", "train --resume {run} --batch-size 32",
    "train --resume {run} --out {empty}", "train --resume {run} --model resnet18",
    # eval
    "eval", "eval lenet5", "eval lenet5 --data mnist",
    "eval lenet5 --data mnist --weights {missing}",
    "eval lenet5 --data mnist --weights {txt}", "eval lenet5 --data mnist --weights {empty}",
    "eval resnet18 --data mnist " + W, "eval lenet5 --data mnits " + W,
    "eval lenet5 --data mnist --batch-size 0 " + W, "eval lenet5 --data mnist --precision x " + W,
    "eval lenet5 --data mnist --limit-test x " + W, "eval lenet5 --data mnist --format xml " + W,
    "eval lenet5 --data cifar10 --data-root {empty} " + W,
    "eval lenet5 --data mnist --weights {trunc}/last.pt",
    # predict
    "predict", "predict lenet5", "predict lenet5 {img}", "predict lenet5 {missing} " + W,
    "predict lenet5 {txt} " + W, "predict lenet5 {empty} " + W,
    "predict lenet5 {img} --weights {missing}", "predict lenet5 {img} --top-k x " + W,
    "predict lenet5 {img} --top-k 0 " + W, "predict resnet18 {img} " + W,
    "predict lenet5 {cut_png} " + W, "predict lenet5 {bomb} " + W,
    "predict lenet5 {img} --weights {notstate}/last.pt",
    # data
    "data", "data lst", "data list --format x", "data download", "data download svhn",
    # bench
    "bench", "bench resnet5", "bench lenet5 --batch-sizes x", "bench lenet5 --batch-sizes 0",
    "bench lenet5 --precision fp8", "bench lenet5 --append {missing}/b.jsonl",
    "bench lenet5 --append {txt}/b.jsonl", "bench lenet5 --repeats x",
    "bench lenet5 --memory-format x", "bench lenet5 --backend x",
    "bench lenet5 --input-size 30000", "bench lenet5 --weights {missing}",
    "bench lenet5 --threads 100000", "bench lenet5 --append {txt}",
    # export
    "export", "export lenet5", "export lenet5 --format onnx", "export lenet5 --format tflite -o m",
    "export lenet5 --format onnx -o {missing}/m.onnx", "export lenet5 --format onnx -o {empty}",
    "export lenet5 --format onnx -o {txt}/m.onnx", "export lenet5 --format onnx -o m.onnx "
    "--weights {missing}", "export lenet5 --format onnx -o m.onnx --opset x",
    # draw and study report: outputs that are folders or cannot be made (issue 23)
    "draw resnet50 -o {empty}", "draw resnet50 -o {missing}/d.svg", "draw resnet50 -o {txt}/d.svg",
    "draw resnet50 -o d.txt", "study report {empty} -o {empty}",
    "study report {empty} -o {missing}/r.html", "study report {empty} -o {txt}/r.html",
    "study report {missing}", "study report {empty}",
    # study run / plan: where, on what and with what, checked before any study runs
    "study plan --out {txt}/p", "study plan --device banana --out {empty}/p",
    "study plan --data nosuch --out {empty}/p", "study run params --out {txt}/s",
    "study run lrn --device banana --out {empty}/s", "study run lrn --data nosuch --out p",
    "study exec {plandir} --index 0",
    # study show: a study that has not run there, or not a study at all
    "study show lrn --out {empty}", "study show lrm --out {empty}", "study show",
    "study show lrn --out {txt}",
    # train --config: the file's values of the wrong type (a 17-42 line traceback before)
    "train --config {cfg_model_int}", "train --config {cfg_data_int}",
    "train --config {cfg_milestones}",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from PIL import Image

    from cnnzoo.train import TrainConfig, train

    base = tmp_path_factory.mktemp("inputs")
    run = base / "run"
    train(TrainConfig(model="lenet5", data="mnist", limit_train=128, limit_test=32,
                      batch_size=64, epochs=1, threads=1, out=str(run)),
          log=lambda s: None, progress=False)
    (base / "notes.txt").write_text("not an image, not weights\n")
    (base / "empty").mkdir()
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(base / "digit.png")
    png = (base / "digit.png").read_bytes()
    (base / "cut.png").write_bytes(png[: len(png) // 2])
    Image.new("L", (100, 100)).save(base / "bomb.png")  # over the limit the test sets
    trunc = base / "trunc"
    trunc.mkdir()
    (trunc / "last.pt").write_bytes((run / "last.pt").read_bytes()[:5000])
    notstate = base / "notstate"
    notstate.mkdir()
    torch.save({"version": 1, "model": "nothing else"}, notstate / "last.pt")
    cifar = base / "cifar_bad"
    cifar.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (cifar / name).write_bytes(b"\x80\x02cos\nsystem\nU\x02ls\x85R.")
    idx = base / "idx_bad"
    idx.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (idx / name).write_bytes(b"\x00\x00\x08\x03" + (70000).to_bytes(4, "big") * 3)
    (base / "plandir" / "plan.jsonl").mkdir(parents=True)  # a folder where the plan goes
    for name, text in (("cfg_model_int", '{"model": 5}'),
                       ("cfg_data_int", '{"model": "lenet5", "data": 5}'),
                       ("cfg_milestones", '{"model": "lenet5", "milestones": [1, "x"]}')):
        (base / f"{name}.json").write_text(text)
    return {"run": str(run), "w": str(run / "best.safetensors"), "txt": str(base / "notes.txt"),
            **{n: str(base / f"{n}.json") for n in ("cfg_model_int", "cfg_data_int",
                                                     "cfg_milestones")},
            "empty": str(base / "empty"), "missing": str(base / "missing"),
            "img": str(base / "digit.png"), "cut_png": str(base / "cut.png"),
            "bomb": str(base / "bomb.png"), "trunc": str(trunc), "notstate": str(notstate),
            "cifar_bad": str(cifar), "idx_bad": str(idx), "plandir": str(base / "plandir")}


def _tree(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size if p.is_file() else -1
            for p in folder.rglob("*")}


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout


def test_the_table_is_large() -> None:
    assert len(BAD_LINES) >= 100 and len(set(BAD_LINES)) == len(BAD_LINES)


@pytest.mark.parametrize("line", BAD_LINES)
def test_bad_command_line(line: str, files: dict[str, str], tmp_path: Path, monkeypatch,
                          capsys) -> None:
    monkeypatch.chdir(tmp_path)
    if "{bomb}" in line:  # as a 180M-pixel image would meet PIL's default limit
        from PIL import Image

        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    monkeypatch.setenv("CNNZOO_DATA", str(tmp_path / "data-home"))
    inputs = Path(files["run"]).parent
    before = _tree(inputs)
    argv = shlex.split(line.format(**files))
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(120)  # a bad line must fail fast; one that runs the whole job is a bug
    try:
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    except _Timeout:
        pytest.fail(f"`cnnzoo {line}` ran for 120 s instead of failing at once")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2, f"exit {code}: {err[-1500:]}"
    assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{err[-1500:]}"
    assert "Traceback" not in err and "error" in lines[0]
    assert list(tmp_path.iterdir()) == [], f"left behind: {list(tmp_path.iterdir())}"
    assert _tree(inputs) == before, "changed the inputs"


def _refuse_output_into(folder: Path, problem: str, capsys) -> None:
    """train --out, export -o and bench --append into `folder`: each one line naming
    `problem`, exit 2, nothing created."""
    for line in (f"train lenet5 --data mnist --out {folder}/cnnzoo-run",
                 f"export lenet5 --format onnx -o {folder}/cnnzoo-m.onnx",
                 f"bench lenet5 --append {folder}/cnnzoo-b.jsonl",
                 f"draw resnet50 -o {folder}/cnnzoo-d.svg",
                 f"study report {folder.parent} -o {folder}/cnnzoo-r.html"):
        try:
            code = main(shlex.split(line))
        except SystemExit as e:
            code = e.code
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1, (line, err)
        assert problem in err, err
    for place in (folder, folder.parent):
        assert not place.is_dir() or not any(place.glob("cnnzoo-*")), f"left in {place}"


def test_read_only_output_folders(files: dict[str, str], tmp_path: Path, capsys) -> None:
    """A real read-only mount (root can write through chmod 0): skipped where mounting is
    not allowed."""
    import subprocess

    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        _refuse_output_into(ro, "read-only", capsys)
    finally:
        subprocess.run(["umount", str(ro)], check=False)


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux's sysfs")
def test_unwritable_output_folders_even_for_root(files: dict[str, str], capsys) -> None:
    """Folders no one may write into, root included (root writes through chmod 0, so a
    chmod test proves nothing where CI runs as root): sysfs refuses new files to every
    user, and a path under a file cannot be created at all."""
    _refuse_output_into(Path("/sys/kernel"), "permission denied (read-only or immutable?)",
                        capsys)
    _refuse_output_into(Path(files["txt"]) / "sub", "is a file, not a folder", capsys)


def test_one_line_on_a_bad_flag_names_help(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["train", "lenet5", "--epochs", "x"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    # the flag comes from TrainConfig, whose int parser words the problem itself
    assert err.startswith("cnnzoo train: error: argument --epochs: ") and "'x'" in err
    assert err.endswith("(see `cnnzoo train --help`)\n") and err.count("\n") == 1


def test_unknown_model_counts_the_models_list_shows() -> None:
    """The study nets are registered but hidden: the count is what `cnnzoo list` shows."""
    from cnnzoo import list_models
    from cnnzoo.errors import UnknownModelError
    from cnnzoo.registry import model_card

    with pytest.raises(UnknownModelError) as e:
        model_card("resnet99")
    shown = len(list_models())
    assert f"shows all {shown} models" in str(e.value) and shown == 34
