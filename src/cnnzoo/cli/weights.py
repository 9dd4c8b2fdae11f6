"""`cnnzoo weights list|download|verify|path`: the pretrained ImageNet weights and their cache."""

from __future__ import annotations

import argparse
import sys

from cnnzoo.errors import UsageError
from cnnzoo.fmt import FORMATS, render
from cnnzoo.hub import (
    cached_path,
    download,
    local_path,
    pretrained_entry,
    torch_hub_dir,
    verify,
    weights_dir,
)
from cnnzoo.pretrained import PRETRAINED


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="pretrained ImageNet weights: list, download, verify")
    w_sub = p.add_subparsers(dest="weights_command", metavar="SUBCOMMAND")
    w_sub.required = True
    q = w_sub.add_parser("list", help="every pretrained file: accuracy, preset, checksum, cached")
    q.add_argument("--format", choices=FORMATS, default="table")
    q.set_defaults(run=run_list)
    q = w_sub.add_parser("download", help="fetch weights into the cache (SHA-256 checked)")
    q.add_argument("names", metavar="NAME", nargs="*", help="model names (see `weights list`)")
    q.add_argument("--all", action="store_true", help="every model in the table")
    q.add_argument("--tag", default="imagenet")
    q.set_defaults(run=run_download)
    q = w_sub.add_parser("verify", help="re-hash the cached files against the table")
    q.set_defaults(run=run_verify)
    q = w_sub.add_parser("path", help="where a model's weights file lives (or would go)")
    q.add_argument("name", metavar="NAME")
    q.add_argument("--tag", default="imagenet")
    q.set_defaults(run=run_path)


def run_list(args: argparse.Namespace, extra: list[str]) -> int:
    records = []
    for w in PRETRAINED.values():
        records.append({
            "weights": w.key, "file": w.filename, "acc1": w.acc1, "acc5": w.acc5,
            "preset": f"{w.preset.resize}/{w.preset.crop}",
            "sha256": w.sha256 or f"{w.sha256_prefix} (prefix only)",
            "cached": local_path(w) is not None, "url": w.url, "licence": w.licence,
            "sha256_source": w.sha256_source,
        })
    headers = ["weights", "file", "acc@1", "acc@5", "resize/crop", "SHA-256", "cached"]
    rows = [[r["weights"], r["file"], f"{r['acc1']:.3f}", f"{r['acc5']:.3f}", r["preset"],
             _short(w.sha256) or r["sha256"], "yes" if r["cached"] else "-"]
            for w, r in zip(PRETRAINED.values(), records, strict=True)]
    print(render(headers, rows, args.format, right=(2, 3), records=records))
    if args.format == "table":
        print(f"\ncache: {weights_dir()} (set CNNZOO_HOME to move it), and torchvision's "
              f"{torch_hub_dir()} is searched too. Accuracy: torchvision's "
              "published ImageNet-1k val figures. `prefix only`: no public full SHA-256 was "
              "found, so only the 8 digits in the file name are checked.")
    return 0


def _short(sha256: str | None) -> str | None:
    return sha256 and sha256[:16] + "..."


def run_download(args: argparse.Namespace, extra: list[str]) -> int:
    if args.all:
        entries = [w for w in PRETRAINED.values() if w.tag == args.tag]
    elif args.names:
        entries = [pretrained_entry(n, args.tag) for n in args.names]
    else:
        raise UsageError("name the models to download (e.g. `cnnzoo weights download "
                         "resnet50`) or pass --all")
    for entry in entries:
        path = download(entry)
        print(f"{entry.key}: {path}")
    return 0


def run_verify(args: argparse.Namespace, extra: list[str]) -> int:
    statuses = [verify(w, rehash=True) for w in PRETRAINED.values()]
    present = [s for s in statuses if s.state != "missing"]
    for s in present:
        print(s.line)
    if not present:
        print(f"no pretrained weights in {weights_dir()} yet")
    return 1 if any(s.state == "corrupt" for s in present) else 0


def run_path(args: argparse.Namespace, extra: list[str]) -> int:

    entry = pretrained_entry(args.name, args.tag)
    path = local_path(entry) or cached_path(entry)
    print(path)
    if not path.is_file():
        print(f"(not downloaded yet: `cnnzoo weights download {args.name}`, or put the file "
              "there by hand)", file=sys.stderr)
    return 0
