"""`cnnzoo data list`: the datasets, where they were found, their sizes and classes."""

from __future__ import annotations

import argparse

from cnnzoo.data.catalog import dataset_table
from cnnzoo.data.load import dataset_names, download_files, load_dataset
from cnnzoo.fmt import FORMATS, render, shape_str


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="datasets: where they are found, sizes and classes")
    data_sub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_sub.required = True
    q = data_sub.add_parser("list", help="each dataset, where it was found, sizes and classes")
    q.add_argument("--root", "--data-root", dest="root", default=None, metavar="DIR",
                   help="folder to look in (default: $CNNZOO_HOME/data, ~/.cache/cnnzoo/data, or "
                        "$CNNZOO_DATA where set; and "
                        "system folders such as /usr/share/datasets)")
    q.add_argument("--format", choices=FORMATS, default="table")
    q.set_defaults(run=run_list)
    q = data_sub.add_parser("download", help="fetch a dataset's official files (MD5-checked)")
    q.add_argument("name", choices=dataset_names(folder=False),
                   help="mnist and mnist-full: the full MNIST")
    q.add_argument("--root", "--data-root", dest="root", default=None, metavar="DIR",
                   help="where to put them (default: $CNNZOO_HOME/data/NAME, "
                        "~/.cache/cnnzoo/data/NAME; $CNNZOO_DATA/NAME where set)")
    q.set_defaults(run=run_download)


def _classes(r: dict) -> str:
    if not r["classes"]:
        return "-"
    names = r["class_names"]
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    return f"{r['classes']} ({shown})"


def run_list(args: argparse.Namespace, extra: list[str]) -> int:
    records = dataset_table(args.root)
    headers = ["dataset", "status", "train", "test", "image", "classes", "where / problem"]
    rows = [
        [r["name"], r["status"],
         "-" if r["train"] is None else f"{r['train']:,}",
         "-" if r["test"] is None else f"{r['test']:,}",
         "-" if r["image_shape"] is None else shape_str(r["image_shape"]),
         _classes(r), r["problem"] or r["source"]]
        for r in records
    ]
    print(render(headers, rows, args.format, right=(2, 3), records=records))
    return 0


def run_download(args: argparse.Namespace, extra: list[str]) -> int:
    folder = download_files(args.name, args.root)
    ds = load_dataset(args.name, folder)  # read it all: proves the files are whole
    print(f"{ds.name}: {len(ds.train):,} train and {len(ds.test):,} test images "
          f"({'x'.join(map(str, ds.train.image_shape))}) in {folder}")
    return 0
