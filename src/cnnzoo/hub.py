"""The pretrained-weights cache: where files live, fetching them once, verifying them.

Files go to `$CNNZOO_HOME/weights` (the cache root of home.py: default the platform cache
folder, ~/.cache/cnnzoo on Linux). A file is verified by SHA-256 when it arrives and
whenever it changes; a stamp beside it (`.NAME.sha256`: digest, size, mtime) spares
re-hashing 500 MB on every load.
`CNNZOO_WEIGHTS_URL` replaces the base URL of every entry (a mirror, or a test server).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cnnzoo.errors import WeightsError
from cnnzoo.fetch import Checksum, ChecksumError, FetchError, NetworkError, fetch_url, file_digest
from cnnzoo.home import cnnzoo_home
from cnnzoo.pretrained import DEFAULT_TAG, PRETRAINED, TAGS, PretrainedWeights, pretrained_names


def weights_dir() -> Path:
    return cnnzoo_home() / "weights"


def pretrained_entry(name: str, tag: str = DEFAULT_TAG) -> PretrainedWeights:
    """The table entry for `name`'s `tag` weights, or one line saying which models have them."""
    entry = PRETRAINED.get(f"{name}.{tag}")
    if entry is not None:
        return entry
    if tag not in TAGS:
        raise WeightsError(f"unknown pretrained weights {tag!r}; choose from {', '.join(TAGS)}"
                           " or give a weights file")
    from cnnzoo.registry import model_card

    model_card(name)  # an unknown model name gets its own error, with close matches
    raise WeightsError(f"no {tag} weights are published for {name} (torchvision has none for "
                       f"it); models with {tag} weights: {', '.join(pretrained_names())}")


def cached_path(entry: PretrainedWeights) -> Path:
    return weights_dir() / entry.filename


def checksum(entry: PretrainedWeights) -> Checksum:
    return Checksum("sha256", entry.sha256 or entry.sha256_prefix)


def source_url(entry: PretrainedWeights) -> str:
    base = os.environ.get("CNNZOO_WEIGHTS_URL")
    return (base.rstrip("/") + "/" + entry.filename) if base else entry.url


@dataclass(frozen=True)
class Status:
    entry: PretrainedWeights
    path: Path
    state: str  # "ok", "missing" or "corrupt"
    digest: str | None = None

    @property
    def line(self) -> str:
        if self.state == "missing":
            return f"{self.entry.key}: not downloaded ({self.path})"
        if self.state == "corrupt":
            return (f"{self.entry.key}: CORRUPT, SHA-256 {self.digest} is not "
                    f"{checksum(self.entry).hexdigest} ({self.path}); `cnnzoo weights "
                    f"download {self.entry.model}` fetches it again")
        full = "" if self.entry.sha256 else " (prefix only: no public full SHA-256)"
        return f"{self.entry.key}: ok, SHA-256 {self.digest}{full} ({self.path})"


def _stamp(path: Path) -> Path:
    return path.with_name(f".{path.name}.sha256")


_STAMP_AFTER_NS = 2_000_000_000


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def verify(entry: PretrainedWeights, rehash: bool = False) -> Status:
    """Whether the cached file is there and has the published digest."""
    path = cached_path(entry)
    if not path.is_file():
        return Status(entry, path, "missing")
    stamp = _stamp(path)
    if not rehash and stamp.is_file():
        digest, _, key = stamp.read_text().partition(" ")
        if key.strip() == _stat_key(path) and checksum(entry).matches(digest):
            return Status(entry, path, "ok", digest)
    digest = file_digest(path, "sha256")
    if not checksum(entry).matches(digest):
        return Status(entry, path, "corrupt", digest)
    # A file written within a clock tick of the hash could change again without its size or
    # mtime changing (coarse file-system timestamps): stamp only files older than that.
    if time.time_ns() - path.stat().st_mtime_ns > _STAMP_AFTER_NS:
        with contextlib.suppress(OSError):  # a read-only cache works; it is hashed each time
            stamp.write_text(f"{digest} {_stat_key(path)}\n")
    return Status(entry, path, "ok", digest)


def download(entry: PretrainedWeights, progress: bool = True, timeout: float = 30) -> Path:
    """Fetch `entry` into the cache unless it is there and verifies; return its path."""
    status = verify(entry)
    if status.state == "ok":
        return status.path
    url = source_url(entry)
    try:
        path = fetch_url(url, status.path, checksum(entry), progress=progress, timeout=timeout)
    except NetworkError as e:
        raise WeightsError(f"{e}; without a network, download {entry.filename} from {url} "
                           f"elsewhere and put it in {status.path.parent} (or set CNNZOO_HOME)"
                           ) from None
    except (ChecksumError, FetchError) as e:
        raise WeightsError(str(e)) from None
    verify(entry)  # writes the stamp
    return path


def weights_path(name: str, tag: str = DEFAULT_TAG, progress: bool = True) -> Path:
    """The verified local file of `name`'s `tag` weights, fetched once if need be."""
    return download(pretrained_entry(name, tag), progress=progress)
