"""cnnzoo deploy: paths available or skipped with the fix named, the check against eager fp32
rejecting a broken path, the written folder loading and matching, int8 through both tools."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest
import torch

from cnnzoo.bench import Variant, check_variant
from cnnzoo.bench.variants import Prepared
from cnnzoo.cli import main
from cnnzoo.deploy import DeployPath, Tolerance, available, deploy, load_deployed
from cnnzoo.deploy.paths import PATHS
from cnnzoo.deploy.report import PathResult
from cnnzoo.errors import MissingDependencyError
from cnnzoo.factory import create_model
from cnnzoo.inference import Trained
from cnnzoo.load import Load

# Few images and one timing call: these tests check behaviour, never speed.
FAST = {"data": "mnist", "calibration": 16, "check": 50, "rounds": 1, "repeats": 1,
        "threads": 1}


@pytest.fixture(scope="module")
def lenet() -> Trained:
    torch.manual_seed(0)
    return Trained(create_model("lenet5").eval(), {}, (1, 32, 32))


@pytest.fixture(scope="module")
def one_export(lenet: Trained, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """An ONNX file of `lenet` made once and copied wherever a deploy asks for its export.

    Made by torch's TorchScript-based exporter (0.1 s) where it still exists: deploy's own
    (torch.export-based, cnnzoo.export) takes 5-15 s in a fresh process on 2 busy cores, and is
    tested in tests/test_export.py and by the docs' deploy commands."""
    pytest.importorskip("onnxruntime")
    import shutil
    import warnings

    from cnnzoo.deploy import paths
    from cnnzoo.export.quantize import export_folded

    cached = tmp_path_factory.mktemp("onnx") / "fp32.onnx"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(lenet.model, (torch.randn(2, 1, 32, 32),), str(cached),
                              dynamo=False, input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    except Exception:  # noqa: BLE001 - a torch without the old exporter: use deploy's own
        export_folded(lenet.model, lenet.input_size, cached)

    def copy(model: torch.nn.Module, input_size: tuple, path: Path) -> Path:
        assert model is lenet.model and tuple(input_size) == lenet.input_size
        shutil.copyfile(cached, path)
        return path

    from cnnzoo.export import quantize

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(paths, "export_folded", copy)
        mp.setattr(quantize, "export_folded", copy)  # the bench's int8 variants use this one
        yield cached


def _hide(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    real = builtins.__import__

    def fake(name: str, *args: object, **kwargs: object) -> object:
        if name == module or name.startswith(module + "."):
            raise ImportError(f"no {module}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


def test_missing_openvino_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnzoo.deploy import choose

    _hide(monkeypatch, "openvino")
    with pytest.raises(MissingDependencyError, match=r"pip install 'cnnzoo\[openvino\]'"):
        check_variant(Variant("openvino"), "cpu")
    real = choose.installed
    monkeypatch.setattr(choose, "installed", lambda m: m not in ("openvino", "nncf") and real(m))
    _, skipped = available(PATHS)
    assert "cnnzoo[openvino]" in skipped["openvino fp32"]
    assert "cnnzoo[openvino]" in skipped["openvino int8 (nncf)"]
    assert "onnxruntime fp32" not in skipped


def test_missing_openvino_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture) -> None:
    _hide(monkeypatch, "openvino")
    assert main(["bench", "lenet5", "--backend", "openvino", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install 'cnnzoo[openvino]'" in err


def test_bf16_paths_follow_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnzoo.deploy import choose

    monkeypatch.setattr(choose, "native_bf16", lambda: False)
    skipped = available(PATHS)[1]
    assert "emulated" in skipped["eager bf16"] and "emulated" in skipped["openvino bf16"]
    monkeypatch.setattr(choose, "native_bf16", lambda: True)
    assert "eager bf16" not in available(PATHS)[1]


def test_tolerance_verdicts() -> None:
    tol = Tolerance()
    good = PathResult("x", "onnxruntime", "fp32", agreement=1.0, max_rel_err=1e-6)
    assert tol.verdict(good) == ""
    assert "logit error" in tol.verdict(PathResult("x", "r", "fp32", agreement=1.0,
                                                   max_rel_err=0.1))
    int8 = PathResult("x", "r", "int8", agreement=0.99, max_rel_err=0.1, accuracy_delta=-0.2)
    assert tol.verdict(int8) == ""  # int8 is judged on top-1, not on logit error
    int8.accuracy_delta = -0.8
    assert "points" in tol.verdict(int8)
    int8.accuracy_delta, int8.agreement = 0.0, 0.9
    assert "agreement" in tol.verdict(int8)


def _broken(ctx: object) -> tuple[Prepared, list[Path]]:
    model = ctx.model  # type: ignore[attr-defined]

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(x).roll(1, dims=1)  # every class shifted by one: fast and wrong

    return Prepared(run, lambda x: x), []


BROKEN = DeployPath("broken", "broken fp32", "pytorch", "fp32", _broken, "", "")


def test_check_rejects_a_broken_path_even_when_fastest(lenet: Trained) -> None:
    report = deploy(lenet, paths=["eager"], extra_paths=[BROKEN], **FAST)
    broken = report.result("broken fp32")
    assert broken.status.startswith("rejected") and broken.agreement < 0.5
    assert report.result("eager fp32").passed
    assert report.winner == "eager fp32"


def test_deploy_records_the_load_around_its_timing(lenet: Trained, monkeypatch) -> None:
    loads = iter([Load(0.5, 0, 2), Load(3.5, 4, 2)])
    monkeypatch.setattr("cnnzoo.deploy.choose.snapshot", lambda: next(loads))
    report = deploy(lenet, paths=["eager"], **FAST)
    assert report.load_before == {"load_1min": 0.5, "others_running": 0, "cores": 2}
    assert report.load_after["others_running"] == 4
    assert ("load 0.50 -> 3.50" in report.header() and "timing unreliable here (load 3.50, "
            "4 other processes running, 2 cores)" in report.header())


@pytest.mark.parametrize(("key", "file"), [("eager", "model.safetensors"),
                                           ("torchscript", "model.pt"), ("ort", "model.onnx"),
                                           ("openvino", "model.xml")])
def test_written_folder_loads_and_matches(lenet: Trained, one_export: Path, tmp_path: Path,
                                          key: str, file: str) -> None:
    if key == "openvino":
        pytest.importorskip("openvino")
    out = tmp_path / "deployed"
    report = deploy(lenet, out=out, paths=[key], **FAST)
    record = json.loads((out / "deploy.json").read_text())
    assert record["winner"] == report.winner == report.results[0].name
    assert record["file"] == file and (out / file).is_file()
    assert "| path" in (out / "README.md").read_text()
    run, _ = load_deployed(out)  # a fresh load, as a user would
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        expected = lenet.model(x)
    torch.testing.assert_close(run(x), expected, rtol=1e-4, atol=1e-4)
    assert report.reload_error is not None and report.reload_error < 1e-5


@pytest.mark.parametrize("key", [
    "ort-int8", pytest.param("openvino-int8-nncf", marks=pytest.mark.slow)])  # NNCF: ~3 s
def test_int8_paths_quantize_and_agree(lenet: Trained, one_export: Path, key: str) -> None:
    if "openvino" in key:
        pytest.importorskip("openvino")
        pytest.importorskip("nncf")
    report = deploy(lenet, paths=[key], **FAST)
    r = report.results[0]
    assert not r.status.startswith("failed"), r.status
    assert r.precision == "int8" and r.size_bytes
    assert r.agreement > 0.8  # an untrained net: int8 may flip near-ties, not the bulk


def test_cli_bad_output_and_path_are_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    afile = tmp_path / "f"
    afile.write_text("x")
    assert main(["deploy", "lenet5", "-o", str(afile)]) == 2
    assert main(["deploy", "lenet5", "--paths", "eager,warp-drive"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "is a file" in lines[0] and "warp-drive" in lines[1]


def test_bench_int8_variant_runs_and_has_no_peak(lenet: Trained, one_export: Path) -> None:
    from cnnzoo.bench import MachinePeaks, benchmark
    from cnnzoo.errors import UsageError

    with pytest.raises(UsageError, match="onnxruntime and openvino"):
        check_variant(Variant("eager", "int8"), "cpu")
    peaks = MachinePeaks("test machine", "cpu", 1, {"fp32": 1e11, "bf16": 8e11}, 1e10)
    (r,) = benchmark(lenet.model, variants=[Variant("onnxruntime", "int8")], batch_sizes=[2],
                     warmup=0, repeats=1, peaks=peaks)
    assert r.precision == "int8" and r.images_per_s > 0
    assert r.peak_gflops is None and r.peak_fraction is None


@pytest.mark.slow  # an ONNX export of its own (~5 s)
def test_bench_openvino_backend_runs() -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    from cnnzoo.bench import MachinePeaks, benchmark

    peaks = MachinePeaks("test machine", "cpu", 1, {"fp32": 1e11, "bf16": 8e11}, 1e10)
    (r,) = benchmark(create_model("lenet5"), variants=[Variant("openvino")], batch_sizes=[2],
                     warmup=0, repeats=1, peaks=peaks)
    assert r.backend == "openvino" and r.images_per_s > 0


def test_imagenet_validation_calibrates_on_images_it_does_not_check(tmp_path: Path) -> None:
    """ImageNet validation has no training split here: calibration takes later test images,
    disjoint from the checked ones, and the labels are kept (the model has 1000 classes)."""
    import numpy as np
    from PIL import Image

    from cnnzoo.export.calibration import deploy_data

    rng = np.random.default_rng(0)
    for i in range(6):
        path = tmp_path / "val" / str(10 * i) / f"{i}.png"
        path.parent.mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(path)
    model = create_model("lenet5", num_classes=1000, in_chans=3).eval()
    data = deploy_data(Trained(model, {}, (3, 32, 32)), "imagenet", str(tmp_path),
                       calibration=2, check=3)
    assert data.check.shape == (3, 3, 32, 32) and data.calibration.shape == (2, 3, 32, 32)
    assert data.labels is not None and len(data.labels) == 3
    checked = {tuple(x.flatten()[:8].tolist()) for x in data.check}
    assert not checked & {tuple(x.flatten()[:8].tolist()) for x in data.calibration}
