"""`cnnzoo bench`: measured speed and the per-layer roofline."""

from __future__ import annotations

import argparse
import copy
import json
import sys

import torch

from cnnzoo.bench import (
    Variant,
    benchmark,
    check_variant,
    machine_peaks,
    per_layer,
    useful_variants,
)
from cnnzoo.bench.plot import roofline_plot
from cnnzoo.bench.variants import check_device
from cnnzoo.cli.common import add_model_arguments, check_threads, model_from_args
from cnnzoo.errors import UsageError
from cnnzoo.fmt import FORMATS, human, render
from cnnzoo.load import busy_text
from cnnzoo.precision import bf16_emulated
from cnnzoo.train.rundir import check_writable_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="measured speed: images/s, latency, GFLOP/s vs this machine's peak",
        description="Time models on this machine. Each result: images/s, ms per image, "
        "latency median and p90, achieved GFLOP/s and its share of the measured peak.",
    )
    add_model_arguments(p)
    p.add_argument("more", nargs="*", metavar="NAME", help="more models to benchmark alike")
    p.add_argument("--batch-sizes", default=None, metavar="B,B,...",
                   help="batch sizes (default 1,8,32 on CPU; 1,8,32,128,256 on CUDA)")
    p.add_argument("--precision", default="fp32", metavar="P,...",
                   help="fp32, bf16 (and fp16 on CUDA), comma-separated; int8 with the "
                   "onnxruntime and openvino backends")
    p.add_argument("--memory-format", default="contiguous", metavar="F,...",
                   help="contiguous, channels_last, comma-separated")
    p.add_argument("--backend", default="eager", metavar="B,...",
                   help="eager, folded (batch norm folded), compile, torchscript, onnxruntime, "
                   "openvino")
    p.add_argument("--all", action="store_true",
                   help="run the useful combinations of backend, precision and memory format "
                   "(instead of --backend/--precision/--memory-format); * marks the fastest")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    p.add_argument("--repeats", type=int, default=10, help="timed calls a round (default 10)")
    p.add_argument("--rounds", type=int, default=1,
                   help="rounds in which the variants take turns (default 1)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    p.add_argument("--per-layer", action="store_true",
                   help="time each layer against the roofline instead (first batch size; "
                   "eager or folded backend)")
    p.add_argument("--plot", default=None, metavar="PNG", help="with --per-layer: roofline plot")
    p.add_argument("--refresh-peaks", action="store_true",
                   help="measure this machine's peak FLOP/s and bandwidth again")
    p.add_argument("--append", default=None, metavar="FILE",
                   help="also append the results as JSON lines to FILE")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(run=run_bench)


def _list(text: str, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError(f"--{what} is empty; give one or more values separated by commas")
    return items


def _batch_sizes(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        sizes = [int(t) for t in _list(text, "batch-sizes")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise UsageError(f"--batch-sizes {text!r}: give positive integers, e.g. 1,8,32")
    return sizes


class _Progress:
    """One status line on stderr: redrawn in place on a terminal, else one line a step."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()

    def __call__(self, done: int, total: int, label: str) -> None:
        if not self.enabled:
            return
        line = f"[{done}/{total}] {label}"
        if self.tty:
            end = "\n" if done >= total else ""
            print(f"\r\033[K{line}", end=end, file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)


def _variants(args: argparse.Namespace) -> list:
    check_device(args.device)
    if args.all:
        if bf16_emulated(args.device):
            print("note: --all leaves out bf16: this CPU has no bf16 units, so PyTorch "
                  "emulates it (~40x slower than fp32); ask for it with --precision bf16",
                  file=sys.stderr)
        return useful_variants(args.device)
    out = []
    for b in _list(args.backend, "backend"):
        for p in _list(args.precision, "precision"):
            for f in _list(args.memory_format, "memory-format"):
                v = Variant(b, p, f)
                check_variant(v, args.device)
                out.append(v)
    return out


def run_bench(args: argparse.Namespace, extra: list[str]) -> int:

    check_threads(args.threads)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.plot and not args.per_layer:
        raise UsageError("--plot draws the per-layer roofline; add --per-layer")
    variants = _variants(args)
    sizes = _batch_sizes(args.batch_sizes)
    if args.append:
        check_writable_file(args.append, "--append")
        _check_json_lines(args.append)
    # Every model built (names, options, sizes, weights checked) before any timing starts.
    models = []
    for name in [args.model, *args.more]:
        one = copy.copy(args)
        one.model = name
        models.append(model_from_args(one, extra))
    progress = _Progress(not args.quiet)
    peaks = machine_peaks(args.device, refresh=args.refresh_peaks)
    if args.per_layer:
        return _run_per_layer(args, extra, variants, sizes, peaks, progress)
    results = []
    for model, size in models:
        results += benchmark(model, size, variants, sizes, args.device, args.warmup,
                             args.repeats, args.rounds, peaks=peaks, progress=progress)
    _print_results(results, args.format)
    if args.format == "table":
        print(f"\nmachine: {peaks.description}; peak {_peaks_line(peaks)} (measured, cached)"
              "\n* fastest of its precision at its batch size; inputs already in the "
              "variant's dtype and layout")
        print(_load_line(results))
        above = sorted({r.precision for r in results if (r.peak_fraction or 0) > 1})
        if above:
            # benchmark() has re-measured the peaks already: still above means the layers
            # beat a plain matrix product here (or the machine stayed busy while probing).
            print(f"note: {', '.join(above)} ran above the matrix-product peak even after "
                  "measuring it again; rerun on a quiet machine with --refresh-peaks")
    if args.append:
        with open(args.append, "a") as f:
            for r in results:
                f.write(json.dumps(r.record()) + "\n")
    return 0


def _check_json_lines(path: str) -> None:
    """An existing --append file must be JSON lines (what --append writes): appending results
    to some other file would spoil it, and nobody would read them back."""
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return
    for number, line in enumerate(lines, 1):
        try:
            if line.strip():
                json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UsageError(f"--append {path}: line {number} is not JSON, so this is not a "
                             "JSON-lines file as --append writes (or one cut short); give a "
                             "new file name") from None


def _load_line(results: list) -> str:
    """The load before and after the timings, and a warning when other processes wanted
    every core (the speeds then say little)."""
    seen = [d for d in (results[0].load_before, results[-1].load_after) if d]
    line = "load " + " -> ".join(f"{d['load_1min']:.2f}" for d in seen) + " (before -> after)"
    busy = busy_text(*seen)
    if busy:
        line += f"; timing unreliable here ({busy}): rerun on a quieter machine"
    return line


def _peaks_line(peaks: object) -> str:
    flops = ", ".join(f"{p} {v / 1e9:.0f} GFLOP/s" for p, v in peaks.flops.items())  # type: ignore[attr-defined]
    return f"{flops}, memory {peaks.bandwidth / 1e9:.1f} GB/s"  # type: ignore[attr-defined]


def _print_results(results: list, fmt: str) -> None:
    headers = ["model", "backend", "precision", "layout", "batch", "images/s", "ms/image",
               "median ms", "p90 ms", "GFLOP/s", "% peak", "peak mem", ""]
    rows = []
    for r in results:
        rows.append([
            r.model, r.backend, r.precision, r.memory_format, r.batch_size,
            f"{r.images_per_s:.1f}", f"{r.ms_per_image:.2f}", f"{1e3 * r.median_s:.1f}",
            f"{1e3 * r.p90_s:.1f}", "-" if r.gflops is None else f"{r.gflops:.1f}",
            "-" if r.peak_fraction is None else f"{100 * r.peak_fraction:.1f}",
            "-" if r.peak_memory_bytes is None else human(r.peak_memory_bytes, binary=True),
            "*" if r.fastest else "",
        ])
    print(render(headers, rows, fmt, right=tuple(range(4, 12)),
                 records=[r.record() for r in results]))


def _run_per_layer(args: argparse.Namespace, extra: list[str], variants: list, sizes: list | None,
                   peaks: object, progress: _Progress) -> int:

    if len(variants) != 1 or args.more:
        raise UsageError("--per-layer takes one model and one variant (one backend, "
                         "precision and memory format)")
    model, size = model_from_args(args, extra)
    batch = sizes[0] if sizes else 8
    progress(0, 1, f"{args.model}: timing each layer at batch {batch}")
    report = per_layer(model, size, variants[0], batch, args.device, args.repeats,
                       args.warmup, peaks=peaks)  # type: ignore[arg-type]
    progress(1, 1, f"{args.model}: done")
    headers = ["layer", "kind", "ms", "MACs", "bytes", "FLOP/B", "GFLOP/s", "bound ms",
               "measured/bound", "limit"]
    rows = [[r.name, r.kind, f"{1e3 * r.time_s:.3f}", human(r.macs), human(r.bytes, binary=True),
             f"{r.intensity:.1f}", f"{r.achieved_flops / 1e9:.1f}", f"{1e3 * r.bound_s:.3f}",
             f"{r.ratio:.1f}", r.limit] for r in report.layers]
    records = [{**r.__dict__, "intensity": r.intensity, "ratio": r.ratio,
                "achieved_flops": r.achieved_flops, "limit": r.limit} for r in report.layers]
    print(render(headers, rows, args.format, right=tuple(range(2, 9)), records=records))
    if args.format == "table":
        print(f"\nby kind (batch {batch}, {variants[0].label}):")
        kh = ["kind", "layers", "ms", "share %", "GFLOP/s", "median measured/bound"]
        krows = [[k, v["layers"], f"{1e3 * v['time_s']:.2f}", f"{100 * v['share']:.1f}",
                  f"{v['gflops']:.1f}", f"{v['median_ratio']:.1f}"]
                 for k, v in sorted(report.by_kind().items(), key=lambda kv: -kv[1]["time_s"])]
        print(render(kh, krows, "table", right=(1, 2, 3, 4, 5)))
        print(f"\nforward pass {1e3 * report.total_s:.1f} ms without hooks, "
              f"{1e3 * report.hooked_total_s:.1f} ms with; layers sum to "
              f"{1e3 * report.layer_sum_s:.1f} ms (untimed functional ops: "
              f"{len(report.untimed_ops)})\nmachine: {report.peaks.description}; peak "
              f"{_peaks_line(report.peaks)}")
    if args.plot:
        print(f"roofline plot: {roofline_plot(report, args.plot)}", file=sys.stderr)
    return 0
