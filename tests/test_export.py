"""Export to ONNX / TorchScript / torch.export with an automatic parity check; failures
leave no file behind."""

from __future__ import annotations

import builtins
import json

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.errors import ExportError, MissingDependencyError, UsageError
from cnnzoo.export import export_model
from cnnzoo.export import formats as formats_mod


def _needs_onnx() -> None:
    for module in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(module)


# A representative subset at small inputs (benchmarks/export_all.py does every model at
# its card's size): plain stack, residual + option A, Inception blocks with aux heads,
# inverted residuals with depthwise convs.
SUBSET = [
    ("lenet5", {}, None),
    ("resnet20", {}, None),
    ("googlenet", {"aux_logits": True}, (3, 64, 64)),
    ("mobilenet_v2", {"width": 0.5}, (3, 64, 64)),
]


# Every model of the subset to ONNX (its own exporter and runtime); the two torch formats
# for the two cheapest networks, to keep the suite fast (export_all.py does the rest).
CASES = [(fmt, *case) for case in SUBSET for fmt in ("onnx",)] + [
    (fmt, *case) for case in SUBSET[:2] for fmt in ("torchscript", "exported-program")
]


@pytest.mark.slow  # every format on several nets: a minute
@pytest.mark.parametrize("fmt, name, options, size", CASES,
                         ids=[f"{c[1]}-{c[0]}" for c in CASES])
def test_export_passes_parity_with_a_dynamic_batch(tmp_path, fmt, name, options, size) -> None:
    if fmt == "onnx":
        _needs_onnx()
    model = cnnzoo.create_model(name, **options)
    path = tmp_path / f"{name}.{fmt}"
    result = export_model(model, path, fmt, input_size=size)
    assert path.exists() and result.ok
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left
    labels = [c.inputs for c in result.checks]
    assert labels[:2] == ["random, batch 1", "random, batch 3"]  # not the traced batch of 2
    assert labels[2].startswith("real (mnist test digits), batch 4")
    for c in result.checks:
        assert not c.skipped and c.max_rel <= 1e-4 and c.max_abs >= 0
    assert "max abs err" in result.summary() and "max rel err" in result.summary()


@pytest.mark.slow  # two exports and their parity checks: ~5 s
def test_static_batch_export_checks_at_its_batch(tmp_path) -> None:
    _needs_onnx()
    path = tmp_path / "lenet5.onnx"
    result = export_model(cnnzoo.create_model("lenet5"), path, "onnx", dynamic_batch=False)
    assert [c.inputs for c in result.checks] == [
        "random, batch 2", "real (mnist test digits), batch 2"]
    assert result.ok and "input 2x1x32x32, fixed batch" in result.summary()
    run = formats_mod.load_runner("onnx", path)
    assert run(torch.randn(2, 1, 32, 32)).shape == (2, 10)
    with pytest.raises(Exception, match="dimensions"):  # the batch really is fixed
        run(torch.randn(3, 1, 32, 32))


@pytest.mark.slow
def test_exported_onnx_computes_the_loaded_weights(tmp_path) -> None:
    _needs_onnx()
    model = cnnzoo.create_model("resnet20", num_classes=7)
    weights = tmp_path / "w.safetensors"
    cnnzoo.save_weights(model, weights)
    out = tmp_path / "m.onnx"
    code = main(["export", "resnet20", "--weights", str(weights), "--format", "onnx",
                 "-o", str(out)])
    assert code == 0
    run = formats_mod.load_runner("onnx", out)
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        expected = model.eval()(x)
    assert run(x).shape == (5, 7)
    torch.testing.assert_close(run(x), expected, rtol=1e-4, atol=1e-5)


def test_parity_failure_raises_and_writes_nothing(tmp_path, monkeypatch) -> None:
    real = formats_mod.load_runner

    def off_by_a_bit(fmt, path):
        run = real(fmt, path)
        return lambda x: run(x) * 1.01  # a 1% disagreement

    monkeypatch.setattr("cnnzoo.export.load_runner", off_by_a_bit)
    path = tmp_path / "m.pt"
    with pytest.raises(ExportError, match=r"max rel err 0\.01.*nothing was written"):
        export_model(cnnzoo.create_model("lenet5"), path, "torchscript")
    assert list(tmp_path.iterdir()) == []


class _NotExportable(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(x.numpy() * 2)  # leaves the graph: no exporter follows it

    def parameters(self, recurse: bool = True):
        yield nn.Parameter(torch.zeros(1))


def test_exporter_failure_is_one_clear_error(tmp_path) -> None:
    path = tmp_path / "bad.pt2"
    with pytest.raises(ExportError, match="exporting _NotExportable to exported-program failed"):
        export_model(_NotExportable(), path, "exported-program", input_size=(1, 4, 4))
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_names_the_install(tmp_path, monkeypatch) -> None:
    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("no onnx")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(MissingDependencyError, match=r"pip install 'cnnzoo\[export\]'"):
        export_model(cnnzoo.create_model("lenet5"), tmp_path / "m.onnx", "onnx")
    assert list(tmp_path.iterdir()) == []


def test_bad_requests(tmp_path) -> None:
    model = cnnzoo.create_model("lenet5")
    with pytest.raises(UsageError, match="unknown export format"):
        export_model(model, tmp_path / "m.tflite", "tflite")
    with pytest.raises(UsageError, match="does not exist"):
        export_model(model, tmp_path / "missing" / "m.pt", "torchscript")
    with pytest.raises(UsageError, match="is a folder"):
        export_model(model, tmp_path, "torchscript")


def test_cli_export_prints_errors_and_exits_2_on_bad_input(tmp_path, capsys) -> None:
    out = tmp_path / "lenet5.pt"
    assert main(["export", "lenet5", "--format", "torchscript", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "max abs err" in printed and "max rel err" in printed and out.exists()
    code = main(["export", "lenet5", "--format", "torchscript", "-o",
                 str(tmp_path / "no" / "x.pt")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("cnnzoo: error:") and "Traceback" not in err
    assert main(["export", "no_such_net", "--format", "onnx", "-o", str(out)]) == 2


def test_exported_onnx_carries_classes_preprocessing_and_version(tmp_path) -> None:
    _needs_onnx()
    import onnx
    import onnxruntime

    from cnnzoo.data import load_dataset

    data = load_dataset("mnist")  # the metadata a training run writes with its weights
    weights = tmp_path / "w.safetensors"
    cnnzoo.save_weights(cnnzoo.create_model("lenet5"), weights, dataset=data.name,
                        classes=list(data.classes), mean=list(data.mean), std=list(data.std),
                        input_size=[1, 32, 32], image_size=list(data.image_size), fit=data.fit)
    out = tmp_path / "m.onnx"
    assert main(["export", "lenet5", "--weights", str(weights), "--format", "onnx",
                 "-o", str(out)]) == 0
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert props["model"] == "lenet5" and props["cnnzoo_version"] == cnnzoo.__version__
    assert json.loads(props["classes"]) == list(data.classes)
    assert json.loads(props["mean"]) == pytest.approx(list(data.mean))
    assert json.loads(props["std"]) == pytest.approx(list(data.std))
    assert json.loads(props["input_size"]) == [1, 32, 32] and props["fit"] == data.fit
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map == props  # what runtimes read


def test_a_pretrained_tag_gives_its_evaluation_preset() -> None:
    from cnnzoo.export import onnx_metadata
    from cnnzoo.inference import weights_meta

    model = cnnzoo.create_model("inception_v3", device="meta")
    props = onnx_metadata(model, (3, 299, 299), weights_meta("inception_v3", "imagenet"))
    assert (props["resize"], props["crop"], props["interpolation"]) == ("342", "299", "bilinear")
    assert len(json.loads(props["classes"])) == 1000 and props["num_classes"] == "1000"
    assert json.loads(props["mean"]) == pytest.approx([0.485, 0.456, 0.406])
    bare = onnx_metadata(model, (3, 299, 299))  # no weights: nothing about preprocessing
    assert set(bare) == {"model", "num_classes", "input_size", "cnnzoo_version"}
