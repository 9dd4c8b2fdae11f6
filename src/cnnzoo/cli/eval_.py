"""`cnnzoo eval`: top-1/top-5, per-class accuracy and confusion matrix."""

from __future__ import annotations

import argparse
import json
import sys

from cnnzoo.cli.common import add_model_arguments, trained_from_args
from cnnzoo.data.imagenet import imagenet_root
from cnnzoo.data.specs import canonical_name
from cnnzoo.fmt import render
from cnnzoo.inference import dataset_for, evaluate_on
from cnnzoo.precision import precision_arg, words
from cnnzoo.train.plots import plot_confusion
from cnnzoo.train.rundir import check_writable_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="top-1/top-5, per-class accuracy and confusion matrix")
    add_model_arguments(p)
    _data_args(p)
    p.add_argument("--confusion-png", metavar="FILE", help="write the confusion matrix here")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(run=run_eval)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="the dataset to evaluate on (its test split)")
    p.add_argument("--data-root", metavar="DIR")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--precision", type=precision_arg(), default="fp32", metavar="P",
                   help=f"{words()} (default fp32)")
    p.add_argument("--convert-channels", action="store_true")
    p.add_argument("--limit-test", type=int, metavar="N")


def _warn_other_data(trained_on: object, evaluated_on: str) -> None:
    """Weights trained on other data with the same classes count (MNIST weights on
    Fashion-MNIST: 5% "accuracy") measure nothing: one warning line, from the dataset the
    weights recorded."""

    if not isinstance(trained_on, str) or not trained_on:
        return
    same = (canonical_name(trained_on) or trained_on) == (canonical_name(evaluated_on)
                                                          or evaluated_on)
    if not same:
        print(f"warning: these weights were trained on {trained_on}, not {evaluated_on}: the "
              f"accuracy below says nothing about either (evaluate on --data {trained_on})",
              file=sys.stderr)


def run_eval(args: argparse.Namespace, extra: list[str]) -> int:
    if args.confusion_png:
        check_writable_file(args.confusion_png, "--confusion-png")
    if canonical_name(args.data) == "imagenet":  # found before any weights are fetched

        imagenet_root(args.data_root)
    trained = trained_from_args(args, extra)
    dataset = dataset_for(trained, args.data, args.data_root)
    _warn_other_data(trained.meta.get("dataset"), dataset.name)
    if args.limit_test:
        dataset = dataset.subset(test=args.limit_test)
    result = evaluate_on(trained, dataset, args.batch_size, args.precision,
                         args.convert_channels)
    classes = list(dataset.classes)
    if args.confusion_png:
        plot_confusion(result.confusion, classes, args.confusion_png,
                       title=f"{args.model} on {dataset.name} (test)")
    if args.format == "json":
        print(json.dumps({
            "model": args.model, "weights": args.weights, "dataset": dataset.name,
            "count": result.count, "top1": result.top1, "top5": result.top5,
            "loss": result.loss, "per_class": dict(zip(classes, result.per_class, strict=True)),
            "confusion": result.confusion.tolist(),
            "published": None if trained.pretrained is None else {
                "top1": trained.pretrained.acc1 / 100, "top5": trained.pretrained.acc5 / 100,
                "source": trained.pretrained.source},
        }, indent=2))
        return 0
    print(f"{args.model} on {dataset.name} test ({result.count:,} images): top-1 "
          f"{100 * result.top1:.2f}%, top-5 {100 * result.top5:.2f}%, loss {result.loss:.4f}")
    published = trained.pretrained
    if published is not None:
        print(f"published (torchvision, all 50,000 validation images): top-1 "
              f"{published.acc1:.2f}%, top-5 {published.acc5:.2f}% ({published.preset})")
    print()
    if len(classes) > 100:  # a 1,000-row table helps nobody; the json has every class
        counts = result.confusion.sum(1).tolist()
        seen = [(a, c) for a, c, n in zip(result.per_class, classes, counts, strict=True) if n]
        print(f"{len(seen)} of {len(classes)} classes have images; the 10 worst: " +
              ", ".join(f"{c} {100 * a:.0f}%" for a, c in sorted(seen)[:10]) +
              " (--format json lists every class)")
        return 0
    counts = result.confusion.sum(1).tolist()
    rows = [[c, f"{n:,}", f"{100 * a:.2f}"] for c, n, a in
            zip(classes, counts, result.per_class, strict=True)]
    print(render(["class", "images", "accuracy %"], rows, right=(1, 2)))
    if len(classes) <= 20:
        print("\nconfusion matrix (rows: true class, columns: predicted)")
        short = [c[:8] for c in classes]
        rows = [[short[i], *map(str, row)] for i, row in enumerate(result.confusion.tolist())]
        print(render(["true \\ pred", *short], rows, right=range(1, len(classes) + 1)))
    if args.confusion_png:
        print(f"\nconfusion matrix plot: {args.confusion_png}")
    return 0
