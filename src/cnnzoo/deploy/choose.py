"""`deploy(trained, ...)`: build every deployment path available here, check each against
eager fp32 on real images, time them side by side, and pick the fastest that passes."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cnnzoo.bench.timing import quantile, time_callable
from cnnzoo.deploy.paths import PATHS, Built, Context, DeployPath
from cnnzoo.deploy.report import DeployReport, PathResult
from cnnzoo.deploy.write import check_out_dir, load_deployed, write_deployment
from cnnzoo.errors import CnnzooError, UsageError
from cnnzoo.export.calibration import CALIBRATION_IMAGES, CHECK_IMAGES, deploy_data
from cnnzoo.extras import install_command, installed
from cnnzoo.inference import Trained
from cnnzoo.load import snapshot
from cnnzoo.precision import native_bf16

Progress = Callable[[str], None]
CHECK_BATCH = 50


@dataclass(frozen=True)
class Tolerance:
    """What a path must meet against eager fp32 on the check images; fixed before timing."""

    fp32_rel_err: float = 1e-3  # max |logit - eager| / max |eager logit|: fused fp32 rounding
    fp32_agreement: float = 0.99  # top-1 agreement; near-ties may flip under reordering
    low_agreement: float = 0.98  # bf16 and int8
    accuracy_drop: float = 0.5  # points of top-1 below eager fp32, where labels exist

    def verdict(self, r: PathResult) -> str:
        """'' when `r` passes, else why not."""
        agree = self.fp32_agreement if r.precision == "fp32" else self.low_agreement
        if r.precision == "fp32" and r.max_rel_err > self.fp32_rel_err:
            return f"logit error {r.max_rel_err:.2g} of the largest logit > {self.fp32_rel_err:g}"
        if r.agreement < agree:
            return f"top-1 agreement {100 * r.agreement:.1f}% < {100 * agree:g}%"
        if r.accuracy_delta is not None and r.accuracy_delta < -self.accuracy_drop:
            return f"top-1 {r.accuracy_delta:+.2f} points < -{self.accuracy_drop:g}"
        return ""


def available(paths: Sequence[DeployPath]) -> tuple[list[DeployPath], dict[str, str]]:
    """The paths that can run on this machine, and why each other one cannot."""
    bf16 = native_bf16()
    why = (f"no avx512_bf16/amx_bf16 (PyTorch sees {torch.backends.cpu.get_cpu_capability()}): "
           "bf16 would be emulated, slower than fp32")
    missing = {}
    for module in ("onnxruntime", "openvino", "nncf"):
        if not installed(module):  # found without importing: nncf takes seconds
            missing[module] = f"{module} is not installed ({install_command(module)})"
    keep, skipped = [], {}
    for p in paths:
        needs = {p.runtime} | ({"onnxruntime"} if p.runtime == "openvino" else set())
        needs |= {"nncf"} if "nncf" in p.name else set()
        needs |= {"onnxruntime"} if "quantize_static" in p.name else set()
        reason = next((missing[m] for m in sorted(needs) if m in missing), "")
        if not reason and p.precision == "bf16" and not bf16:
            reason = f"no native bf16 on this CPU: {why}"
        if reason:
            skipped[p.name] = reason
        else:
            keep.append(p)
    return keep, skipped


def select(keys: Sequence[str] | None) -> list[DeployPath]:
    """The paths named by `keys` (all of them for None), in the order given."""
    if not keys:
        return list(PATHS)
    by_key = {p.key: p for p in PATHS}
    unknown = [k for k in keys if k not in by_key]
    if unknown:
        raise UsageError(f"unknown deployment path {', '.join(map(repr, unknown))}; choose "
                         f"from {', '.join(by_key)}")
    return [by_key[k] for k in dict.fromkeys(keys)]


def _logits(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return torch.cat([run(x[i:i + CHECK_BATCH]) for i in range(0, len(x), CHECK_BATCH)])


def check_against(result: PathResult, logits: torch.Tensor, reference: torch.Tensor,
                  labels: torch.Tensor | None, reference_accuracy: float | None) -> None:
    """Fill `result`'s agreement, logit errors and accuracy from its logits on the check
    images against eager fp32's."""
    if logits.shape != reference.shape:
        raise CnnzooError(f"output shape {tuple(logits.shape)} != {tuple(reference.shape)}")
    result.agreement = (logits.argmax(1) == reference.argmax(1)).double().mean().item()
    result.max_abs_err = (logits.double() - reference.double()).abs().max().item()
    result.max_rel_err = result.max_abs_err / max(reference.abs().max().item(), 1e-12)
    if labels is not None and reference_accuracy is not None:
        result.accuracy = (logits.argmax(1) == labels).double().mean().item()
        result.accuracy_delta = 100 * (result.accuracy - reference_accuracy)


@dataclass
class _Timed:
    built: Built
    result: PathResult
    batch: torch.Tensor | object = None
    single: torch.Tensor | object = None
    batch_times: list[float] = field(default_factory=list)
    single_times: list[float] = field(default_factory=list)


def deploy(
    trained: Trained,
    out: str | Path | None = None,
    batch_size: int = 1,
    threads: int | None = None,
    paths: Sequence[str] | None = None,
    data: str | None = None,
    root: str | None = None,
    calibration: int = CALIBRATION_IMAGES,
    check: int = CHECK_IMAGES,
    rounds: int = 2,
    repeats: int = 10,
    tolerance: Tolerance = Tolerance(),
    progress: Progress | None = None,
    extra_paths: Sequence[DeployPath] = (),
) -> DeployReport:
    """Measure every available path for `trained` and, with `out`, write the fastest that
    passes `tolerance` there with its report. `extra_paths` are measured too (tests use it)."""

    if batch_size < 1 or rounds < 1 or repeats < 1:
        raise UsageError("batch size, rounds and repeats must be >= 1")
    if threads is not None and threads < 1:
        raise UsageError("--threads must be >= 1")
    out_dir = check_out_dir(out) if out is not None else None
    say = progress or (lambda _: None)
    before = torch.get_num_threads()  # restored on return: the caller's setting
    if threads:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    try:
        chosen, skipped = available(select(paths))
        chosen += list(extra_paths)
        model = trained.model.cpu().float().eval()
        say("reading real images")
        images = deploy_data(trained, data, root, calibration, check)
        with torch.no_grad():
            reference = _logits(model, images.check)
        ref_acc = None
        if images.labels is not None:
            ref_acc = (reference.argmax(1) == images.labels).double().mean().item()
        report = DeployReport.start(trained, batch_size, threads, images.describe(), skipped)
        with tempfile.TemporaryDirectory(prefix="cnnzoo-deploy-") as tmp:
            ctx = Context(model, trained.input_size, threads, Path(tmp), images, dict(trained.meta))
            timed = _build_and_check(chosen, ctx, reference, images.labels, ref_acc, tolerance,
                                     report, say)
            report.load_before = snapshot().as_dict()
            try:
                _time_side_by_side(timed, trained.input_size, batch_size, rounds, repeats, say)
                report.load_after = snapshot().as_dict()
            finally:
                for t in timed:
                    t.built.prepared.cleanup()
            report.choose()
            if out_dir is not None and report.winner is not None:
                winner = next(t for t in timed if t.result.name == report.winner)
                path = next(p for p in chosen if p.name == report.winner)
                report.written = write_deployment(out_dir, report, path, winner.built.files)
                report.reload_error = reload_error(out_dir, winner.built, images.check)
        return report
    finally:
        torch.set_num_threads(before)


def reload_error(folder: Path, built: Built, x: torch.Tensor) -> float:
    """Largest |written file's logit - measured path's logit| over the largest logit, on the
    first check images: the file that was written is the one that was measured."""

    run, _ = load_deployed(folder)
    x = x[:CHECK_BATCH]
    expected = built.logits(x).double()
    got = run(x).double()
    if got.shape != expected.shape:
        return float("inf")
    return (got - expected).abs().max().item() / max(expected.abs().max().item(), 1e-12)


def _build_and_check(chosen: Sequence[DeployPath], ctx: Context, reference: torch.Tensor,
                     labels: torch.Tensor | None, ref_acc: float | None, tolerance: Tolerance,
                     report: DeployReport, say: Progress) -> list[_Timed]:
    timed = []
    for p in chosen:
        result = PathResult(p.name, p.runtime, p.precision)
        report.results.append(result)
        say(f"building {p.name}")
        try:
            built = p.make(ctx)
            result.build_s, result.size_bytes = built.build_s, built.size_bytes
            check_against(result, _logits(built.logits, ctx.data.check), reference, labels,
                          ref_acc)
        except Exception as e:  # noqa: BLE001 - one path failing must not stop the others
            text = str(e).strip().splitlines()
            result.status = f"failed: {(text[0] if text else type(e).__name__)[:200]}"
            continue
        if result.name == "eager fp32":
            result.accuracy_delta = 0.0 if ref_acc is not None else None
        why = tolerance.verdict(result)
        result.status = f"rejected: {why}" if why else "passed"
        timed.append(_Timed(built, result))
    return timed


def _time_side_by_side(timed: list[_Timed], input_size: tuple[int, int, int], batch_size: int,
                       rounds: int, repeats: int, say: Progress) -> None:
    """Every path in turn, `rounds` times: a burst of load on a shared machine then slows
    all paths alike. Throughput at `batch_size`; latency at batch 1."""
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(batch_size, *input_size, generator=gen)
    for t in timed:
        convert = t.built.prepared.convert
        t.batch, t.single = convert(base), convert(base[:1])
    for r in range(rounds):
        for t in timed:
            say(f"timing {t.result.name} (round {r + 1}/{rounds})")
            run = t.built.prepared.run
            if batch_size > 1:
                t.batch_times += time_callable(lambda run=run, x=t.batch: run(x),
                                               warmup=2 if r == 0 else 1, repeats=repeats).times
            # p99 needs more samples than a median: three times as many single-image calls.
            t.single_times += time_callable(lambda run=run, x=t.single: run(x),
                                            warmup=2 if r == 0 else 1, repeats=3 * repeats).times
    for t in timed:
        single = t.single_times
        t.result.p50_ms = 1e3 * quantile(single, 0.5)
        t.result.p99_ms = 1e3 * quantile(single, 0.99)
        per_batch = quantile(t.batch_times, 0.5) if t.batch_times else quantile(single, 0.5)
        t.result.images_per_s = batch_size / per_batch
