"""Fetch official dataset files with their published MD5, atomically, showing progress."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from cnnzoo.data.specs import DatasetSpec, Download
from cnnzoo.errors import DatasetError
from cnnzoo.fetch import Checksum, ChecksumError, FetchError, fetch_url


class DownloadError(DatasetError):
    """The network failed (as opposed to a file that arrived damaged)."""


def fetch(item: Download, folder: Path, progress: bool = True, timeout: float = 30) -> Path:
    """Download `item` into `folder` (resumable, MD5-checked, renamed into place when
    complete); return its path."""
    try:
        return fetch_url(item.url, folder / item.filename, Checksum("md5", item.md5),
                         progress=progress, timeout=timeout)
    except ChecksumError as e:
        raise DatasetError(str(e)) from None
    except FetchError as e:
        raise DownloadError(str(e)) from None


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
