"""`cnnzoo deploy`: every deployment path measured here, the fastest that passes written."""

from __future__ import annotations

import argparse
import sys

from cnnzoo.cli.common import add_model_arguments, model_from_args, positive_int, trained_from_args
from cnnzoo.deploy import PATHS, available, deploy
from cnnzoo.deploy.choose import select
from cnnzoo.deploy.write import check_out_dir
from cnnzoo.export.calibration import CALIBRATION_IMAGES, CHECK_IMAGES
from cnnzoo.fmt import FORMATS
from cnnzoo.inference import Trained


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "deploy", help="measure every CPU deployment path (PyTorch, ONNX Runtime, OpenVINO; "
        "fp32, bf16, int8) and write the fastest that passes",
        description="Build every path available on this machine, check each against eager "
        "fp32 on real images (top-1 agreement, max logit error, accuracy where labelled), "
        "time them side by side, and write the fastest that passes to -o DIR with a table "
        "of all of them and why it won.",
    )
    add_model_arguments(p)
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="folder to write the chosen model, README.md and deploy.json to "
                   "(default: measure and print only)")
    p.add_argument("--batch-size", type=positive_int, default=1,
                   help="batch size the throughput is measured and chosen at (default 1); "
                   "latency is always at batch 1")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads for every runtime (default: PyTorch's)")
    p.add_argument("--data", default=None,
                   help="dataset for the calibration and check images (default: the one the "
                   "weights were trained on, else the embedded MNIST digits)")
    p.add_argument("--data-root", default=None, metavar="DIR", help="where --data's files are")
    p.add_argument("--paths", default=None, metavar="P,P,...",
                   help="only these paths, comma-separated (default: all available here; "
                   "`cnnzoo deploy NAME --list-paths` lists them)")
    p.add_argument("--list-paths", action="store_true", help="list the paths and exit")
    p.add_argument("--calibration", type=positive_int, default=None, metavar="N",
                   help="int8 calibration images (default 300)")
    p.add_argument("--check", type=positive_int, default=None, metavar="N",
                   help="images every path is checked on (default 500)")
    p.add_argument("--rounds", type=positive_int, default=2,
                   help="rounds in which the paths take turns being timed (default 2)")
    p.add_argument("--repeats", type=positive_int, default=10,
                   help="timed calls a round (latency: 3x as many; default 10)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=run_deploy)


def run_deploy(args: argparse.Namespace, extra: list[str]) -> int:
    if args.list_paths:
        _, skipped = available(PATHS)
        for p in PATHS:
            note = f"  (not here: {skipped[p.name]})" if p.name in skipped else ""
            print(f"{p.key:20s} {p.name}{note}")
        return 0
    paths = [p.strip() for p in args.paths.split(",") if p.strip()] if args.paths else None
    select(paths)  # unknown names fail before any work
    if args.output:
        check_out_dir(args.output)
    trained = _trained(args, extra)
    say = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    report = deploy(trained, args.output, args.batch_size, args.threads, paths, args.data,
                    args.data_root, args.calibration or CALIBRATION_IMAGES,
                    args.check or CHECK_IMAGES, args.rounds, args.repeats, progress=say)
    if args.format != "table":
        print(report.table(args.format))
        return 0
    print(report.header())
    print(report.table())
    print(f"\n{report.reason}")
    if report.written:
        err = report.reload_error
        verdict = "matches" if err is not None and err <= 1e-3 else "DOES NOT match"
        print(f"wrote {', '.join(report.written)} to {args.output}; the written file, "
              f"reloaded, {verdict} the measured path (max error {err:.2g} of the largest "
              "logit)")
    elif report.winner:
        print("nothing written: pass -o DIR to write the chosen model")
    return 0 if report.winner else 1


def _trained(args: argparse.Namespace, extra: list[str]):  # noqa: ANN202

    if args.weights:
        return trained_from_args(args, extra)
    model, size = model_from_args(args, extra)
    return Trained(model.eval(), {}, size)
