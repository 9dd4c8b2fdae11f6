"""The pretrained-weights cache: where files live, fetching them once, verifying them.

Files go to `$CNNZOO_HOME/weights` (the cache root of home.py: default the platform cache
folder, ~/.cache/cnnzoo on Linux). A file torchvision already fetched into torch's own hub
cache (`torch.hub.get_dir()/checkpoints`, same file name) is used where it is, once it
verifies. A file is verified by SHA-256 when it arrives and whenever it changes; a stamp in
cnnzoo's folder (`.NAME.sha256`: digest, size, mtime) spares re-hashing 500 MB on every load.
`CNNZOO_WEIGHTS_URL` replaces the base URL of every entry (a mirror, or a test server).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch.hub

from cnnzoo.errors import WeightsError
from cnnzoo.fetch import Checksum, ChecksumError, FetchError, NetworkError, fetch_url, file_digest
from cnnzoo.home import cnnzoo_home
from cnnzoo.pretrained import (
    DEFAULT_TAG,
    PRETRAINED,
    TAGS,
    PretrainedWeights,
    pretrained_names,
    table_tag,
)
from cnnzoo.registry import model_card


def weights_dir() -> Path:
    return cnnzoo_home() / "weights"


def pretrained_entry(name: str, tag: str = DEFAULT_TAG) -> PretrainedWeights:
    """The table entry for `name`'s `tag` weights (a tag, or a torchvision weight name such as
    "DEFAULT" or "IMAGENET1K_V1"), or one line saying which models have them."""
    tag = table_tag(name, tag)
    entry = PRETRAINED.get(f"{name}.{tag}")
    if entry is not None:
        return entry
    if tag not in TAGS:
        raise WeightsError(f"unknown pretrained weights {tag!r}; choose from {', '.join(TAGS)}"
                           " or give a weights file")

    model_card(name)  # an unknown model name gets its own error, with close matches
    raise WeightsError(f"no {tag} weights are published for {name} (torchvision has none for "
                       f"it); models with {tag} weights: {', '.join(pretrained_names())}")


def cached_path(entry: PretrainedWeights) -> Path:
    """Where cnnzoo keeps (or fetches) the file."""
    return weights_dir() / entry.filename


def torch_hub_dir() -> Path:
    """Where torchvision keeps the files it fetched (torch.hub.get_dir() honours $TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torch_hub_path(entry: PretrainedWeights) -> Path:
    return torch_hub_dir() / entry.filename


def local_path(entry: PretrainedWeights) -> Path | None:
    """The file on disk: cnnzoo's cache first, then torch's hub cache; None if neither."""
    return next((p for p in (cached_path(entry), torch_hub_path(entry)) if p.is_file()), None)


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
    # In cnnzoo's folder even for a file in torch's cache: nothing is written into another
    # tool's folder.
    return weights_dir() / f".{path.name}.sha256"


_STAMP_AFTER_NS = 2_000_000_000


def _stat_key(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size} {st.st_mtime_ns}"


def verify(entry: PretrainedWeights, rehash: bool = False) -> Status:
    """Whether a local file is there (cnnzoo's cache, else torch's hub cache) and has the
    published digest; a corrupt copy in cnnzoo's cache does not hide a good one in torch's."""
    statuses = [_verify_file(entry, p, rehash)
                for p in (cached_path(entry), torch_hub_path(entry)) if p.is_file()]
    ok = [s for s in statuses if s.state == "ok"]
    if ok:
        return ok[0]
    return statuses[0] if statuses else Status(entry, cached_path(entry), "missing")


def _verify_file(entry: PretrainedWeights, path: Path, rehash: bool) -> Status:
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
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(f"{digest} {_stat_key(path)}\n")
    return Status(entry, path, "ok", digest)


def download(entry: PretrainedWeights, progress: bool = True, timeout: float = 30) -> Path:
    """Fetch `entry` into cnnzoo's cache unless a verified file is on disk (there or in
    torch's hub cache); return its path."""
    status = verify(entry)
    if status.state == "ok":
        return status.path
    url = source_url(entry)
    dest = cached_path(entry)  # never into torch's folder, whatever is there
    try:
        path = fetch_url(url, dest, checksum(entry), progress=progress, timeout=timeout)
    except NetworkError as e:
        raise WeightsError(f"{e}; without a network, download {entry.filename} from {url} "
                           f"elsewhere and put it in {dest.parent} (or set CNNZOO_HOME) or "
                           f"in torch's {torch_hub_dir()}") from None
    except (ChecksumError, FetchError) as e:
        raise WeightsError(str(e)) from None
    verify(entry)  # writes the stamp
    return path


def weights_path(name: str, tag: str = DEFAULT_TAG, progress: bool = True) -> Path:
    """The verified local file of `name`'s `tag` weights, fetched once if need be."""
    return download(pretrained_entry(name, tag), progress=progress)
