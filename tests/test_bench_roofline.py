"""Per-layer roofline plumbing: every timed layer matches the cost analysis, bounds follow
the formula, kinds are told apart, the plot is a PNG, the CLI prints the table."""

from __future__ import annotations

import json

import pytest

import cnnzoo
from cnnzoo.bench import MachinePeaks, Variant, per_layer
from cnnzoo.bench.plot import roofline_plot
from cnnzoo.cli import main
from cnnzoo.errors import UsageError

PEAKS = MachinePeaks("test machine", "cpu", 1, {"fp32": 1e11, "bf16": 8e11}, 1e10)


@pytest.fixture(scope="module")
def mobilenet_report():
    model = cnnzoo.create_model("mobilenet_v2", width=0.25)
    return model, per_layer(model, (3, 32, 32), Variant("eager", "fp32", "channels_last"),
                            batch_size=2, repeats=2, warmup=1, peaks=PEAKS)


def test_layers_match_the_cost_analysis(mobilenet_report) -> None:
    model, report = mobilenet_report
    cost = {r.name: r for r in cnnzoo.profile(model, (3, 32, 32), batch_size=2).layers}
    convs = [n for n, m in model.named_modules() if type(m).__name__ == "Conv2d"]
    timed = {r.name for r in report.layers}
    assert set(convs) <= timed  # every convolution timed
    for r in report.layers:
        c = cost[r.name]
        assert r.macs == c.macs and r.time_s > 0
        elements = 2 * (_numel(c.input_shape) + _numel(c.output_shape)) + c.params
        assert r.bytes == 4 * elements  # fp32, batch 2
        assert r.bound_s == pytest.approx(max(2 * r.macs / 1e11, r.bytes / 1e10))
        assert r.ratio == pytest.approx(r.time_s / r.bound_s)
    assert set(report.untimed_ops) == set(cost) - timed  # e.g. the residual additions
    assert any(name.endswith(".add") for name in report.untimed_ops)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def test_kinds_separate_depthwise_from_pointwise(mobilenet_report) -> None:
    _, report = mobilenet_report
    kinds = {r.name: r.kind for r in report.layers}
    assert kinds["features.1.conv.0.0"] == "depthwise conv"  # groups == channels
    assert kinds["features.1.conv.1"] == "1x1 conv"
    assert kinds["features.0.0"] == "conv"
    assert kinds["classifier.1"] == "linear"
    summary = report.by_kind()
    # 17 blocks: 17 depthwise; 16 expansions (not the t=1 block), 17 projections, 1 head.
    assert summary["depthwise conv"]["layers"] == 17 and summary["1x1 conv"]["layers"] == 34
    assert sum(v["share"] for v in summary.values()) == pytest.approx(1.0)
    # A 3x3 depthwise conv does 9 MACs per output it writes: far lower intensity.
    dw = [r.intensity for r in report.layers if r.kind == "depthwise conv"]
    pw = [r.intensity for r in report.layers if r.kind == "1x1 conv"]
    assert max(dw) < sorted(pw)[len(pw) // 2]


def test_roofline_plot_is_a_png(mobilenet_report, tmp_path) -> None:
    _, report = mobilenet_report
    path = roofline_plot(report, tmp_path / "roof.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["roof.png"]  # no temporary left


def test_per_layer_refuses_fused_backends() -> None:
    with pytest.raises(UsageError, match="eager or folded"):
        per_layer(cnnzoo.create_model("lenet5"), (1, 32, 32), Variant("compile"), peaks=PEAKS)


def test_cli_per_layer_table_json_and_plot(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("cnnzoo.cli.bench.machine_peaks", lambda device, refresh=False: PEAKS)
    plot = tmp_path / "resnet20.png"
    code = main(["bench", "resnet20", "--per-layer", "--batch-sizes", "2", "--repeats", "1",
                 "--backend", "folded", "--plot", str(plot), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and plot.exists()
    assert "measured/bound" in out and "by kind" in out and "layer1.0.conv1" in out
    assert "layer1.0.bn1" not in out  # folded away
    code = main(["bench", "resnet20", "--per-layer", "--batch-sizes", "1", "--repeats", "1",
                 "--format", "json", "--quiet"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and {"ratio", "intensity", "bound_s", "limit"} <= set(rows[0])
    code = main(["bench", "resnet20", "lenet5", "--per-layer"])
    assert code == 2 and "one model" in capsys.readouterr().err
