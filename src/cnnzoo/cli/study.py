"""`cnnzoo study`: list the case studies, run them, rebuild their report."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from cnnzoo.cli.common import check_threads
from cnnzoo.errors import CnnzooError, UsageError
from cnnzoo.fmt import render


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="the case studies' claims as experiments, with verdicts")
    ss = p.add_subparsers(dest="study_command", metavar="SUBCOMMAND")
    ss.required = True

    ls = ss.add_parser("list", help="the studies: claim, source, data needed, cost")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.set_defaults(run=run_list)

    run = ss.add_parser("run", help="run studies (all when no ID is given) and write the report")
    run.add_argument("ids", nargs="*", metavar="ID", help="study ids (see `cnnzoo study list`)")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="small and fast: every study that can run here in minutes (default)")
    mode.add_argument("--standard", dest="mode", action="store_const", const="standard",
                      help="larger runs and 5 seeds, sized for <= 90 minutes on 2 cores and "
                      "resumable: the evidence committed in docs/studies/standard")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the real experiment: the paper's recipe where the data allows, "
                      "5 seeds")
    run.set_defaults(mode="quick")
    run.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 (default, for the "
                     "studies that train: 3 quick, 5 standard and full; a verdict needs >= 3)")
    run.add_argument("--data", metavar="NAME", help="dataset for the training studies "
                     "(default fashion-mnist, else the embedded digits); imagenet for top5-table")
    run.add_argument("--data-root", metavar="DIR", help="where the dataset's files are")
    run.add_argument("--weights-dir", metavar="DIR", help="torchvision weights MODEL.pth "
                     "(top5-table's measured column)")
    run.add_argument("--out", default="runs/studies", metavar="DIR",
                     help="results folder (default runs/studies)")
    run.add_argument("--threads", type=int, metavar="N", help="torch threads of the timing "
                     "and counting work (default torch's); every training run uses 1 thread, "
                     "so that its figures do not depend on it")
    run.add_argument("--jobs", type=int, metavar="N", help="training runs at once, one thread "
                     "each (default: one per core on CPU, 1 on a GPU); the results are the "
                     "same for any N")
    run.add_argument("--force", action="store_true", help="rerun studies that already finished")
    run.add_argument("--no-progress", dest="progress", action="store_false",
                     help="no per-epoch progress bars from the training studies")
    run.set_defaults(run=run_studies)

    rep = ss.add_parser("report", help="rebuild the HTML report from the result files alone")
    rep.add_argument("folder", metavar="DIR")
    rep.add_argument("-o", "--output", metavar="FILE.html", help="default DIR/report.html")
    rep.set_defaults(run=run_report)


def run_list(args: argparse.Namespace, extra: list[str]) -> int:
    from cnnzoo.studies import SKIPPED, list_studies

    studies = list_studies()
    records = [{"id": s.id, "claim": s.claim, "source": s.source,
                "data": list(s.data), "quick_cost": s.quick_cost, "full_cost": s.full_cost,
                "seeded": s.seeded} for s in studies]
    if args.format == "json":
        print(render([], [], "json", records=records))
    else:
        rows = [[r["id"], _short(r["claim"], 60), _short(r["source"], 40),
                 ", ".join(r["data"]) or "-", r["quick_cost"], r["full_cost"]] for r in records]
        print(render(["id", "claim", "source", "data", "quick", "full"], rows))
    for study_id, why in SKIPPED.items():
        print(f"note: {study_id} not listed: {why}", file=sys.stderr)
    return 0


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def run_studies(args: argparse.Namespace, extra: list[str]) -> int:
    from cnnzoo.studies import SKIPPED, report
    from cnnzoo.studies.registry import available, get
    from cnnzoo.studies.runner import FAILED

    check_threads(args.threads)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    if args.seeds is not None and args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    modules = [get(i) for i in dict.fromkeys(args.ids)] if args.ids else available()
    if not args.ids:
        for study_id, why in SKIPPED.items():
            print(f"note: skipping {study_id}: {why}", file=sys.stderr)
    out = Path(args.out)
    from cnnzoo.studies.parallel import default_jobs

    options = {"data_root": args.data_root, "threads": args.threads,
               "jobs": args.jobs or default_jobs(), "force": args.force,
               "progress": args.progress}
    if args.weights_dir:
        options["weights_dir"] = args.weights_dir
    table, failed = [], 0
    t0 = time.perf_counter()
    for i, module in enumerate(modules, 1):
        print(f"[{i}/{len(modules)}] {module.id}: {_short(module.study.claim, 80)}", flush=True)
        try:
            result = _run_one(module, args, out, options)
        except CnnzooError as e:
            failed += 1
            print(f"  error: {e}", flush=True)
            table.append([module.id, "error", "-", "-", _short(str(e), 70)])
            continue
        except Exception as e:  # noqa: BLE001 - one broken study must not stop the rest
            failed += 1
            print(f"  failed: {type(e).__name__}: {e} (traceback in "
                  f"{out / module.id / FAILED})", flush=True)
            table.append([module.id, "failed", "-", "-",
                          f"{type(e).__name__}: {_short(str(e), 60)}"])
            continue
        how = "finished earlier, reused (--force reruns)" if result.get("skipped") else \
            f"{result['elapsed_s']:.1f} s"
        print(f"  {_verdict_cell(result)} ({how})", flush=True)
        table.append(_table_row(module.id, result))
    path = report(out)
    print(f"\n{_verdict_table(table)}")
    print(f"\n{len(modules)} studies in {time.perf_counter() - t0:.0f} s; report: {path}")
    return 1 if failed else 0


TABLE_HEAD = ["study", "verdict", "n", "b - a [90% interval] vs margin, points", "key figure"]
GREY, RESET = "\033[90m", "\033[0m"


def _verdict_cell(result: dict) -> str:
    from cnnzoo.studies.report_text import verdict_label

    return verdict_label(result["verdict"], result.get("n"))


def _table_row(study_id: str, result: dict) -> list[str]:
    """study, verdict ('indicative (n=1)' below 3 seeds), n, the deciding comparison's
    difference and 90% interval against its margin, key figure."""
    from cnnzoo.studies.report_text import evidence_text

    n = result.get("n")
    return [study_id, _verdict_cell(result), "-" if n is None else str(n),
            evidence_text(result.get("comparisons") or [], result["verdict"]), result["key"]]


def _verdict_table(rows: list[list[str]]) -> str:
    """The final table; on a terminal, indicative verdicts in grey (never a decision)."""
    text = render(TABLE_HEAD, rows, right=[2])
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return text
    return re.sub(r"indicative \(n=\d+\)", lambda m: f"{GREY}{m.group(0)}{RESET}", text)


def _run_one(module: object, args: argparse.Namespace, out: Path, options: dict) -> dict:
    from cnnzoo.studies.runner import run_study

    return run_study(module, mode=args.mode, seeds=args.seeds, data=args.data,  # type: ignore[arg-type]
                     out=out, **options)


def run_report(args: argparse.Namespace, extra: list[str]) -> int:
    from cnnzoo.studies import report
    from cnnzoo.train.rundir import check_writable_file

    if args.output:
        check_writable_file(args.output, "-o")
    path = report(args.folder, args.output)
    print(f"report: {path}")
    return 0
