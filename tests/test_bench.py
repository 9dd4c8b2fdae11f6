"""The benchmark's plumbing: timing, peaks cache, peak memory, variants, results, CLI."""

from __future__ import annotations

import json

import pytest
import torch

import cnnzoo
import cnnzoo.load
from cnnzoo.bench import BenchResult, MachinePeaks, Variant, benchmark, check_variant
from cnnzoo.bench import machine as machine_mod
from cnnzoo.bench import timing as timing_mod
from cnnzoo.bench.memory import PeakMemory
from cnnzoo.bench.timing import Timing, quantile, time_callable
from cnnzoo.cli import main
from cnnzoo.errors import MissingDependencyError, UsageError

# Fixed peaks so the tests neither spend time measuring nor depend on the machine's load.
PEAKS = MachinePeaks("test machine", "cpu", 1, {"fp32": 1e11, "bf16": 8e11}, 1e10)


def test_quantile_and_timing_statistics() -> None:
    t = Timing((0.4, 0.1, 0.3, 0.2, 1.0))
    assert t.median == 0.3
    assert t.best == 0.1
    assert t.p90 == pytest.approx(0.76)  # 0.4 + 0.6 * (1.0 - 0.4)
    assert quantile([5.0], 0.9) == 5.0


def test_time_callable_warms_up_then_times_each_repeat() -> None:
    calls = []
    t = time_callable(lambda: calls.append(1), warmup=3, repeats=4)
    assert len(calls) == 7 and len(t.times) == 4
    assert all(s >= 0 for s in t.times)
    with pytest.raises(ValueError):
        time_callable(lambda: None, repeats=0)


def test_time_callable_keeps_timing_until_min_seconds() -> None:
    # A fake clock that each call advances by `step` seconds: the loop's decisions, not
    # this machine's load, decide the outcome (steps are powers of two: exact sums).
    def run(step: float, **kw) -> tuple[tuple[float, ...], int]:
        now, calls = [0.0], []

        def fn() -> None:
            calls.append(1)
            now[0] += step

        t = time_callable(fn, clock=lambda: now[0], **kw)
        return t.times, len(calls)

    # Short calls: timed past `repeats` until min_seconds are covered, not one call more.
    assert run(0.25, warmup=0, repeats=1, min_seconds=1.0) == ((0.25,) * 4, 4)
    # Long calls: `repeats` is the floor; warm-up calls run but are not timed.
    assert run(2.0, warmup=2, repeats=3, min_seconds=1.0) == ((2.0,) * 3, 5)
    assert run(0.5, warmup=1, repeats=2) == ((0.5,) * 2, 3)  # no min_seconds: repeats


class _FakeEvent:
    log: list[str] = []

    def __init__(self, enable_timing: bool = False) -> None:
        assert enable_timing
        self.t = None

    def record(self) -> None:
        _FakeEvent.log.append("record")
        self.t = len(_FakeEvent.log)

    def synchronize(self) -> None:
        _FakeEvent.log.append("event-sync")

    def elapsed_time(self, other: _FakeEvent) -> float:
        return 1000.0 * (other.t - self.t)  # milliseconds, as CUDA reports them


def test_cuda_timing_synchronises_and_uses_events(monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU here: fake torch.cuda's events to check the order of operations, which is
    # what makes CUDA timings right (sync before, events around, wait on the end event).
    _FakeEvent.log = []
    monkeypatch.setattr(torch.cuda, "Event", _FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: _FakeEvent.log.append("sync"))
    seconds = timing_mod.time_once(lambda: _FakeEvent.log.append("work"), "cuda")
    assert _FakeEvent.log == ["sync", "record", "work", "record", "event-sync"]
    assert seconds == pytest.approx(2.0)  # two log entries between the records, as ms/1000


def test_machine_peaks_are_cached_and_never_lowered(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path))
    measured = [MachinePeaks("x", "cpu", 1, {"fp32": 2.0, "bf16": 5.0}, 3.0),
                MachinePeaks("x", "cpu", 1, {"fp32": 1.0, "bf16": 9.0}, 4.0)]
    monkeypatch.setattr(machine_mod, "measure_peaks", lambda device: measured.pop(0))
    first = machine_mod.machine_peaks("cpu")
    assert (tmp_path / "machine_peaks.json").exists()
    again = machine_mod.machine_peaks("cpu")  # read from the cache: nothing measured
    assert again == first and len(measured) == 1
    refreshed = machine_mod.machine_peaks("cpu", refresh=True)
    assert refreshed.flops == {"fp32": 2.0, "bf16": 9.0} and refreshed.bandwidth == 4.0


def test_peak_microbenchmarks_measure_something_real() -> None:
    flops = machine_mod.measure_matmul_flops(torch.float32, "cpu", n=256)
    bandwidth = machine_mod.measure_bandwidth("cpu", mib=16)
    assert 1e8 < flops < 1e15 and 1e8 < bandwidth < 1e13


def test_peak_memory_sees_a_large_allocation() -> None:
    with PeakMemory("cpu") as idle:
        pass
    with PeakMemory("cpu") as busy:
        x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del x
    assert idle.peak_bytes and busy.peak_bytes
    if idle.kind == "rss":  # resettable high-water mark (Linux)
        assert busy.peak_bytes - idle.peak_bytes > 48 * 2**20


@pytest.mark.parametrize(
    "variant, message",
    [
        (Variant("tensorrt"), "unknown backend"),
        (Variant(precision="int4"), "unknown precision"),
        (Variant(precision="int8"), "onnxruntime and openvino backends"),
        (Variant(precision="fp16"), "CUDA only"),
        (Variant(memory_format="nhwc"), "unknown memory format"),
        (Variant("onnxruntime", "bf16"), "fp32 or int8 on CPU"),
        (Variant("openvino", "bf16"), "fp32 or int8 on CPU"),
    ],
)
def test_bad_variants_are_refused_clearly(variant: Variant, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check_variant(variant, "cpu")


def test_missing_onnxruntime_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ort(name, *args, **kwargs):
        if name.startswith("onnxruntime"):
            raise ImportError("no onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ort)
    with pytest.raises(MissingDependencyError, match=r"pip install 'cnnzoo\[export\]'"):
        check_variant(Variant("onnxruntime"), "cpu")


def _check_result(r: BenchResult, macs: int) -> None:
    assert r.median_s > 0 and r.p90_s >= r.median_s * 0.999 or r.calls < 3
    assert r.images_per_s == pytest.approx(r.batch_size / r.median_s)
    assert r.ms_per_image == pytest.approx(1e3 * r.median_s / r.batch_size)
    assert r.macs_per_image == macs
    assert r.gflops == pytest.approx(2 * macs * r.images_per_s / 1e9)
    assert r.peak_fraction == pytest.approx(r.gflops / (PEAKS.flops[r.precision] / 1e9))
    assert r.peak_memory_bytes and r.peak_memory_bytes > 0


def test_benchmark_results_hold_together() -> None:
    model = cnnzoo.create_model("resnet20")
    variants = [Variant("eager", "fp32"), Variant("folded", "fp32", "channels_last"),
                Variant("torchscript", "bf16", "channels_last"), Variant("eager", "bf16")]
    steps = []
    results = benchmark(model, (3, 16, 16), variants, [1, 3], repeats=2, rounds=2,
                        peaks=PEAKS, progress=lambda d, t, label: steps.append((d, t)))
    macs = cnnzoo.profile(model, (3, 16, 16)).macs
    assert len(results) == 8
    assert {(r.backend, r.precision, r.memory_format) for r in results} == {
        (v.backend, v.precision, v.memory_format) for v in variants}
    for r in results:
        _check_result(r, macs)
        assert r.calls == 4  # 2 repeats x 2 rounds
    for b in (1, 3):
        for p in ("fp32", "bf16"):
            group = [r for r in results if r.batch_size == b and r.precision == p]
            fastest = [r for r in group if r.fastest]
            assert len(fastest) == 1
            assert fastest[0].images_per_s == max(r.images_per_s for r in group)
    assert steps[-1][0] == steps[-1][1] == 16  # 4 variants x 2 sizes x 2 rounds
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)


@pytest.mark.slow  # torch.compile and an ONNX export: ~15 s idle
def test_compile_and_onnxruntime_backends_run() -> None:
    pytest.importorskip("onnxruntime")
    model = cnnzoo.create_model("lenet5_modern")
    variants = [Variant("compile", "fp32", "channels_last"), Variant("onnxruntime")]
    results = benchmark(model, None, variants, [2], repeats=2, peaks=PEAKS)
    assert [r.backend for r in results] == ["compile", "onnxruntime"]
    for r in results:
        _check_result(r, cnnzoo.profile(model, (1, 32, 32)).macs)


def test_benchmark_rejects_bad_batch_sizes() -> None:
    with pytest.raises(UsageError, match="positive"):
        benchmark(cnnzoo.create_model("lenet5"), batch_sizes=[0], peaks=PEAKS)


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_bench_json_and_append(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr("cnnzoo.cli.bench.machine_peaks", lambda device, refresh=False: PEAKS)
    results_file = tmp_path / "results.jsonl"
    argv = ["bench", "resnet20", "lenet5", "--batch-sizes", "1,2", "--repeats", "1",
            "--backend", "eager,folded", "--format", "json", "--append", str(results_file)]
    code, out, err = _cli(capsys, *argv)
    assert code == 0
    records = json.loads(out)
    assert len(records) == 8 and {r["model"] for r in records} == {"resnet20", "lenet5"}
    assert "[4/4] lenet5: done" in err  # progress on stderr, results alone on stdout
    assert len(results_file.read_text().splitlines()) == 8
    _cli(capsys, *argv)  # appending, not overwriting
    lines = results_file.read_text().splitlines()
    assert len(lines) == 16 and json.loads(lines[-1])["machine"] == "test machine"


def test_cli_bench_table_marks_the_fastest(capsys, monkeypatch) -> None:
    monkeypatch.setattr("cnnzoo.cli.bench.machine_peaks", lambda device, refresh=False: PEAKS)
    code, out, _ = _cli(capsys, "bench", "lenet5", "--batch-sizes", "1", "--repeats", "1",
                        "--precision", "fp32,bf16", "--quiet")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("lenet5")]
    assert len(rows) == 2 and all(line.rstrip().endswith("*") for line in rows)
    assert "peak fp32 100 GFLOP/s" in out
    assert "--refresh-peaks" not in out


def _peaks_cached_under_load(monkeypatch, probed_fp32: float) -> list[bool]:
    """The cache holds a peak too low for what lenet5 reaches; measuring again finds
    `probed_fp32`. Returns the refresh flags machine_peaks was called with."""
    calls: list[bool] = []

    def machine_peaks(device, refresh=False):
        calls.append(refresh)
        fp32 = probed_fp32 if refresh else 1e3
        return MachinePeaks("this machine", "cpu", 1, {"fp32": fp32, "bf16": 8e14}, 1e10)

    monkeypatch.setattr("cnnzoo.cli.bench.machine_peaks", machine_peaks)
    monkeypatch.setattr("cnnzoo.bench.runner.machine_peaks", machine_peaks)
    return calls


def test_a_result_above_the_cached_peak_measures_the_peak_again(capsys, monkeypatch) -> None:
    calls = _peaks_cached_under_load(monkeypatch, probed_fp32=1e14)
    code, out, _ = _cli(capsys, "bench", "lenet5", "--batch-sizes", "1", "--repeats", "1",
                        "--precision", "fp32,bf16", "--quiet")
    assert code == 0 and calls == [False, True]
    assert "peak fp32 100000 GFLOP/s" in out  # the table's peaks are the new ones
    assert "note:" not in out
    rows = [line.split() for line in out.splitlines() if line.startswith("lenet5")]
    assert all(float(r[10]) < 100 for r in rows)  # % of peak, rebased


def test_cli_bench_says_when_a_peak_stays_below_a_result(capsys, monkeypatch) -> None:
    calls = _peaks_cached_under_load(monkeypatch, probed_fp32=1e3)
    code, out, _ = _cli(capsys, "bench", "lenet5", "--batch-sizes", "1", "--repeats", "1",
                        "--precision", "fp32,bf16", "--quiet")
    assert code == 0 and calls == [False, True]
    assert "note: fp32 ran above the matrix-product peak even after measuring it again" in out
    assert "--refresh-peaks" in out


def test_cli_bench_records_the_load_and_warns_when_busy(capsys, monkeypatch, tmp_path) -> None:
    busy = {"load_1min": 4.2, "others_running": 5, "cores": 2}
    monkeypatch.setattr("cnnzoo.bench.runner.snapshot",
                        lambda: cnnzoo.load.Load(**busy))
    log = tmp_path / "runs.jsonl"
    code, out, _ = _cli(capsys, "bench", "lenet5", "--batch-sizes", "1", "--repeats", "1",
                        "--quiet", "--append", str(log))
    assert code == 0
    assert ("load 4.20 -> 4.20 (before -> after); timing unreliable here (load 4.20, 5 other "
            "processes running, 2 cores)") in out
    record = json.loads(log.read_text().splitlines()[0])
    assert record["load_before"] == busy and record["load_after"] == busy


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--precision", "fp8"], "unknown precision"),
        (["--backend", "tvm"], "unknown backend"),
        (["--batch-sizes", "1,x"], "positive integers"),
        (["--plot", "x.png"], "add --per-layer"),
        (["--precision", "fp16"], "CUDA only"),
        (["--device", "gpu"], "unknown device"),
        (["--device", "cuda"] if not torch.cuda.is_available() else ["--device", "tpu"],
         "cuda"),
    ],
)
def test_cli_bench_bad_input_exits_2(capsys, argv: list[str], message: str) -> None:
    code, out, err = _cli(capsys, "bench", "lenet5", *argv)
    assert code == 2 and err.startswith("cnnzoo: error:") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("native", [True, False])
def test_all_leaves_out_bf16_only_where_the_cpu_emulates_it(
    monkeypatch: pytest.MonkeyPatch, native: bool
) -> None:
    import cnnzoo.bench.variants as variants
    import cnnzoo.precision

    monkeypatch.setattr(cnnzoo.precision, "native_bf16", lambda: native)
    chosen = {v.precision for v in variants.useful_variants("cpu", onnx=False)}
    assert chosen == ({"fp32", "bf16"} if native else {"fp32"})
