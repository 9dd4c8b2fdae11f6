"""Fetch official dataset files with their published MD5, atomically, showing progress."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from cnnzoo.data.specs import DatasetSpec, Download
from cnnzoo.errors import DatasetError
from cnnzoo.fmt import human

_CHUNK = 1 << 20


class DownloadError(DatasetError):
    """The network failed (as opposed to a file that arrived damaged)."""


def md5_of(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def fetch(item: Download, folder: Path, progress: bool = True, timeout: float = 30) -> Path:
    """Download `item` into `folder` (temp file, MD5 check, then rename); return its path."""
    dest = folder / item.filename
    if dest.is_file() and md5_of(dest) == item.md5:
        return dest
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{item.filename}.", suffix=".part")
    try:
        h = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(item.url, timeout=timeout) as r:
            total = int(r.headers.get("Content-Length") or 0)
            done, shown = 0, 0.0
            for block in iter(lambda: r.read(_CHUNK), b""):
                out.write(block)
                h.update(block)
                done += len(block)
                if progress and time.monotonic() - shown > 0.2:
                    shown = time.monotonic()
                    _show(item.filename, done, total)
        if progress:
            _show(item.filename, done, total, end="\n")
        if h.hexdigest() != item.md5:
            raise DatasetError(f"{item.url}: MD5 {h.hexdigest()} is not the published "
                               f"{item.md5}; the download is damaged, try again")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"could not download {item.url} ({reason})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _show(name: str, done: int, total: int, end: str = "") -> None:
    size = f"{human(done, binary=True)}" + (f" / {human(total, binary=True)}" if total else "")
    pct = f" {100 * done / total:5.1f}%" if total else ""
    print(f"\rdownloading {name}: {size}{pct}", end=end, file=sys.stderr, flush=True)


def safe_extract(archive: Path, folder: Path) -> None:
    """Unpack a .tar.gz into `folder`: regular files and folders only, all inside it,
    unpacked beside the target first and moved in when complete."""
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".extract-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = Path(member.name)
                if name.is_absolute() or ".." in name.parts or not (
                        member.isfile() or member.isdir()):
                    raise DatasetError(f"{archive}: refused to unpack {member.name!r} (a link, "
                                       "device or path outside the folder); delete the archive")
                target = staging / name
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                with src, open(target, "wb") as out:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, out)
        for entry in staging.iterdir():
            final = folder / entry.name
            if final.is_dir():
                shutil.rmtree(final)  # an earlier, incomplete unpack
            os.replace(entry, final)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DatasetError(f"{archive}: cannot unpack ({e}); delete it and download again") \
            from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def download_dataset(spec: DatasetSpec, folder: Path, progress: bool = True) -> None:
    if not spec.downloads:
        raise DatasetError(f"{spec.name} has no official download; put its files in {folder}")
    for item in spec.downloads:
        try:
            path = fetch(item, folder, progress)
        except DownloadError as e:
            files = ", ".join(d.filename for d in spec.downloads)
            raise DatasetError(f"{e}; without a network, put {files} in {folder} yourself "
                               "(see docs/data.md)") from None
        if path.name.endswith((".tar.gz", ".tgz")):
            safe_extract(path, folder)
