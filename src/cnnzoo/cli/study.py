"""`cnnzoo study`: list the case studies, run them, rebuild their report."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

import torch

from cnnzoo.cli.common import check_threads
from cnnzoo.data.load import dataset_key, dataset_names
from cnnzoo.data.specs import SPECS
from cnnzoo.errors import CnnzooError, UsageError
from cnnzoo.fmt import render
from cnnzoo.studies import SKIPPED, list_studies, report
from cnnzoo.studies.base import EXECUTORS
from cnnzoo.studies.executors import (
    run_with_ray,
    run_with_submitit,
    sbatch_script,
    summary,
    train_here,
    train_plan,
)
from cnnzoo.studies.parallel import default_jobs
from cnnzoo.studies.plan import PLAN_FILE, make_plan, read_plan, run_entry, select, write_plan
from cnnzoo.studies.registry import available, get
from cnnzoo.studies.report_text import (
    evidence_text,
    result_text,
    training_text,
    verdict_label,
)
from cnnzoo.studies.runner import FAILED, is_current, read_result, run_study
from cnnzoo.train.rundir import check_writable_dir, check_writable_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="the case studies' claims as experiments, with verdicts")
    ss = p.add_subparsers(dest="study_command", metavar="SUBCOMMAND")
    ss.required = True

    ls = ss.add_parser("list", help="the studies: claim, source, data needed, cost")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.set_defaults(run=run_list)

    run = ss.add_parser("run", help="run studies (all when no ID is given) and write the report")
    _what_to_run(run)
    run.add_argument("--weights-dir", metavar="DIR", help="torchvision weights MODEL.pth "
                     "(top5-table's measured column)")
    run.add_argument("--threads", type=int, metavar="N", help="torch threads of the timing "
                     "and counting work (default torch's); every training run uses 1 thread, "
                     "so that its figures do not depend on it")
    run.add_argument("--jobs", type=int, metavar="N", help="training runs at once, one thread "
                     "each (default: one per core on CPU, 1 on a GPU); the results are the "
                     "same for any N")
    run.add_argument("--executor", choices=EXECUTORS, default="local",
                     help="who trains the runs: local worker processes (default), a Ray "
                     "cluster (`pip install 'cnnzoo[ray]'`) or a Slurm job array by submitit "
                     "(`pip install 'cnnzoo[slurm]'`); --out must be a folder every node "
                     "sees at the same path")
    run.add_argument("--address", metavar="ADDR", help="--executor ray: the cluster's "
                     "address, e.g. auto or ray://HEAD:10001 (default: a local Ray instance)")
    run.add_argument("--slurm-partition", metavar="NAME", help="--executor slurm: the "
                     "partition (default the cluster's)")
    run.add_argument("--force", action="store_true", help="rerun studies that already finished")
    run.add_argument("--no-progress", dest="progress", action="store_false",
                     help="no per-epoch progress bars from the training studies")
    run.set_defaults(run=run_studies)

    plan = ss.add_parser("plan", help="write DIR/plan.jsonl: every training run the studies "
                         "need, for a scheduler (no training)")
    _what_to_run(plan)
    plan.set_defaults(run=run_plan)

    ex = ss.add_parser("exec", help="train one run of a plan into the cache (resumes it; "
                       "a second exec of the same run at once is refused)")
    ex.add_argument("plan", metavar="PLAN", help="DIR/plan.jsonl (or DIR)")
    which = ex.add_mutually_exclusive_group(required=True)
    which.add_argument("--index", type=int, metavar="N", help="the line, from 0")
    which.add_argument("--hash", metavar="H", help="the run's hash (a unique prefix will do)")
    ex.add_argument("--progress", action="store_true", help="per-epoch progress bars")
    ex.set_defaults(run=run_exec)

    show = ss.add_parser("show", help="one finished study's verdict, why, its comparisons "
                         "and deviations, in the terminal")
    show.add_argument("id", metavar="ID", help="a study id (see `cnnzoo study list`)")
    show.add_argument("--out", default="runs/studies", metavar="DIR",
                      help="results folder (default runs/studies)")
    show.set_defaults(run=run_show)

    rep = ss.add_parser("report", help="rebuild the HTML report from the result files alone")
    rep.add_argument("folder", metavar="DIR")
    rep.add_argument("-o", "--output", metavar="FILE.html", help="default DIR/report.html")
    rep.set_defaults(run=run_report)


def _what_to_run(p: argparse.ArgumentParser) -> None:
    """The options that say which training runs the studies need: `study run` and `plan`."""
    p.add_argument("ids", nargs="*", metavar="ID", help="study ids (see `cnnzoo study list`)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="small and fast: every study that can run here in minutes (default)")
    mode.add_argument("--standard", dest="mode", action="store_const", const="standard",
                      help="larger runs and 5 seeds, sized for <= 90 minutes on 2 cores and "
                      "resumable: the evidence committed in docs/studies/standard")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the real experiment: the paper's recipe where the data allows, "
                      "5 seeds")
    p.set_defaults(mode="quick")
    p.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 (default, for the "
                   "studies that train: 3 quick, 5 standard and full; a verdict needs >= 3)")
    p.add_argument("--data", metavar="NAME", help="dataset for the training studies "
                   "(default fashion-mnist, else the embedded digits); imagenet for top5-table")
    p.add_argument("--data-root", metavar="DIR", help="where the dataset's files are")
    p.add_argument("--device", metavar="DEV", help="every training run's device, e.g. cuda "
                   "(bf16 autocast where the GPU has it); default: the trainer's (cuda if "
                   "available)")
    p.add_argument("--out", default="runs/studies", metavar="DIR",
                   help="results folder (default runs/studies); its _runs/ is the cache")


def run_list(args: argparse.Namespace, extra: list[str]) -> int:
    studies = list_studies()
    records = [{"id": s.id, "claim": s.claim, "source": s.source,
                "data": list(s.data), "quick_cost": s.quick_cost, "full_cost": s.full_cost,
                "seeded": s.seeded} for s in studies]
    if args.format == "json":
        print(render([], [], "json", records=records))
    else:
        rows = [[r["id"], _short(r["claim"], 60), _short(r["source"], 40),
                 ", ".join(r["data"]) or "-", r["quick_cost"], r["full_cost"]] for r in records]
        print(render(["id", "claim", "source", "data", "quick (2 idle cores)",
                      "full (2 cores, estimated)"], rows))
    for study_id, why in SKIPPED.items():
        print(f"note: {study_id} not listed: {why}", file=sys.stderr)
    return 0


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def run_studies(args: argparse.Namespace, extra: list[str]) -> int:
    check_threads(args.threads)
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
    if args.seeds is not None and args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    modules = [get(i) for i in dict.fromkeys(args.ids)] if args.ids else available()
    if not args.ids:
        for study_id, why in SKIPPED.items():
            print(f"note: skipping {study_id}: {why}", file=sys.stderr)
    _check_where(args)
    out = Path(args.out)

    options = {"data_root": args.data_root, "threads": args.threads,
               "jobs": args.jobs or default_jobs(), "force": args.force,
               "progress": args.progress}
    if args.weights_dir:
        options["weights_dir"] = args.weights_dir
    if args.device:
        options["device"] = args.device
    t0 = time.perf_counter()
    if args.executor != "local":
        # Every run the studies need, trained by the engine first; the studies below then
        # find them in the cache and compute their verdicts as after a local run.
        _train_elsewhere(modules, args, out)
    elif options["jobs"] >= 2:
        _train_here(modules, args, out, options["jobs"])
    table, failed = [], 0
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
            _how_long(result)
        print(f"  {_verdict_cell(result)} ({how})", flush=True)
        table.append(_table_row(module.id, result))
    path = report(out)
    print(f"\n{_verdict_table(table)}")
    print(f"\n{_studies(len(modules))} in {time.perf_counter() - t0:.0f} s; report: {path}")
    return 1 if failed else 0


def _studies(n: int) -> str:
    return f"{n} stud{'y' if n == 1 else 'ies'}"


def _how_long(result: dict) -> str:
    """A study's time: its runs' training (in the queue, or earlier), then its own work
    (measuring, deciding): '12 training runs, 384.6 s of training; its own work 0.0 s'."""
    own = f"{result['elapsed_s']:.1f} s"
    training = training_text(result.get("environment", {}))
    return f"{training}; its own work {own}" if training else own


TABLE_HEAD = ["study", "verdict", "n", "b - a [90% interval] vs margin, points", "key figure"]
GREY, RESET = "\033[90m", "\033[0m"
KEY_MIN_WIDTH = 30  # a key figure cut to fit a terminal keeps at least this much


def _verdict_cell(result: dict) -> str:
    return verdict_label(result["verdict"], result.get("n"))


def _table_row(study_id: str, result: dict) -> list[str]:
    """study, verdict ('indicative (n=1)' below 3 seeds), n, the deciding comparison's
    difference and 90% interval against its margin, key figure."""

    n = result.get("n")
    return [study_id, _verdict_cell(result), "-" if n is None else str(n),
            evidence_text(result.get("comparisons") or [], result["verdict"]), result["key"]]


def _verdict_table(rows: list[list[str]]) -> str:
    """The final table. On a terminal its key figures are cut to fit its width (the report
    and a log keep them whole) and indicative verdicts are grey (never a decision)."""
    text = render(TABLE_HEAD, rows, right=[2])
    if not sys.stdout.isatty():
        return text
    over = max(map(len, text.splitlines())) - shutil.get_terminal_size().columns
    if over > 0:
        keep = max(KEY_MIN_WIDTH, max(len(r[-1]) for r in rows) - over)
        text = render(TABLE_HEAD, [[*r[:-1], _short(r[-1], keep)] for r in rows], right=[2])
    if os.environ.get("NO_COLOR"):
        return text
    return re.sub(r"indicative \(n=\d+\)", lambda m: f"{GREY}{m.group(0)}{RESET}", text)


def _run_one(module: object, args: argparse.Namespace, out: Path, options: dict) -> dict:
    return run_study(module, mode=args.mode, seeds=args.seeds, data=args.data,  # type: ignore[arg-type]
                     out=out, **options)


def _train_here(modules: list, args: argparse.Namespace, out: Path, jobs: int) -> None:
    """One queue of runs for every study that will run (not those reused as finished).
    If planning or the queue fails, each study trains its own runs below and reports its
    own error: one broken study must not stop the rest."""
    todo = [m for m in modules if args.force or not is_current(
        m, out, args.mode, args.seeds, args.data)]
    training = sum(m.study.seeded for m in todo)
    if not training:
        return
    print(f"planning the training runs of {_studies(training)}", flush=True)
    try:
        train_here(todo, out, args.mode, args.seeds, jobs, **_context(args))
    except Exception as e:  # noqa: BLE001 - the studies below meet it and report it
        print(f"note: the shared queue stopped ({type(e).__name__}: "
              f"{_short(str(e), 120)}); each study trains its own runs", flush=True)


def _train_elsewhere(modules: list, args: argparse.Namespace, out: Path) -> None:
    if args.executor == "ray":
        def run(entries: list) -> None:
            run_with_ray(entries, address=args.address)
    else:
        extra = {"slurm_partition": args.slurm_partition} if args.slurm_partition else {}

        def run(entries: list) -> None:
            run_with_submitit(entries, out / PLAN_FILE, out / "slurm", **extra)
    train_plan(modules, out, args.mode, args.seeds, run, **_context(args))


def _check_where(args: argparse.Namespace) -> None:
    """--out, --device and --data make sense before any study runs or any plan is written."""
    check_writable_dir(args.out, "--out")
    if getattr(args, "device", None):
        try:
            torch.device(args.device)
        except RuntimeError:
            raise UsageError(f"--device {args.device!r} is not a device; use cpu, cuda or "
                             "cuda:N") from None
    if getattr(args, "data", None) and dataset_key(args.data) not in (
            *SPECS, "mnist-full", "folder"):
        raise UsageError(f"--data {args.data!r} is not a dataset; choose from "
                         f"{', '.join(dataset_names())} (see `cnnzoo data list`)")


def _context(args: argparse.Namespace) -> dict:
    """The study context fields that change which runs a plan lists."""
    return {"data": args.data, "data_root": args.data_root, "device": args.device}


def run_plan(args: argparse.Namespace, extra: list[str]) -> int:
    if args.seeds is not None and args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    modules = [get(i) for i in dict.fromkeys(args.ids)] if args.ids else available()
    _check_where(args)
    out = Path(args.out)
    plan = make_plan(modules, out, args.mode, args.seeds, log=lambda line: None,
                     **_context(args))
    path = write_plan(plan, out)
    todo = [e for e in plan.entries if not e.finished]
    script = path.with_suffix(".sbatch")
    script.write_text(sbatch_script(path.resolve(), todo))
    (out / "slurm").mkdir(exist_ok=True)
    print(summary(plan))
    print(f"plan: {path} (`cnnzoo study exec {path} --index N` trains line N); "
          f"Slurm job array of the {len(todo)} pending: sbatch {script}")
    return 0


def run_exec(args: argparse.Namespace, extra: list[str]) -> int:
    entry = select(read_plan(args.plan), index=args.index, hash_=args.hash)
    run = run_entry(entry, progress=args.progress)
    how = "was already finished" if run.cached else f"finished ({run.seconds:.0f} s)"
    print(f"run {entry.hash} ({entry.model} seed {entry.seed}) {how}: {run.out}")
    return 0


def run_show(args: argparse.Namespace, extra: list[str]) -> int:
    module = get(args.id)
    result = read_result(Path(args.out) / module.id)
    if result is None:
        raise UsageError(f"no result of {module.id} in {args.out}; run it first: cnnzoo study "
                         f"run {module.id} --out {args.out}")
    print(result_text(result, max(60, shutil.get_terminal_size().columns - 1)))
    print(f"report: {Path(args.out) / 'report.html'}#{module.id}")
    return 0


def run_report(args: argparse.Namespace, extra: list[str]) -> int:
    if args.output:
        check_writable_file(args.output, "-o")
    path = report(args.folder, args.output)
    print(f"report: {path}")
    return 0
