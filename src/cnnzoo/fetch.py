"""Fetch one file over HTTP(S): resumed after a dropped connection, checksummed, written
atomically, with a progress line. Dataset archives (MD5) and pretrained weights (SHA-256)
both come through here.

The bytes go to `.NAME.part` beside the target; a later call resumes it with an HTTP Range
request, and only a file whose checksum matches is renamed into place. A damaged or partial
download is therefore never used: it is detected and fetched again.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cnnzoo.errors import CnnzooError
from cnnzoo.fmt import human

_CHUNK = 1 << 20
# Dropped connections and server errors are retried, resuming what arrived; a 4xx is final.
_DROPS = (http.client.IncompleteRead, ConnectionError, socket.timeout, TimeoutError,
          http.client.RemoteDisconnected)


class FetchError(CnnzooError, OSError):
    """A file that could not be fetched: no network, a refusal, or an unwritable folder."""


class NetworkError(FetchError):
    """The network failed or refused (offline, DNS, connection refused, HTTP 4xx/5xx)."""


class ChecksumError(FetchError):
    """The bytes arrived but are not the published file."""


@dataclass(frozen=True)
class Checksum:
    """A published digest: the full hex digest, or only its first digits (`prefix`),
    as torchvision's file names carry them."""

    algorithm: str  # "md5" or "sha256"
    hexdigest: str

    @property
    def full(self) -> bool:
        return len(self.hexdigest) == hashlib.new(self.algorithm).digest_size * 2

    def matches(self, actual: str) -> bool:
        expected = self.hexdigest.lower()
        return actual == expected if self.full else actual.startswith(expected)

    def __str__(self) -> str:
        kind = self.algorithm.upper().replace("SHA", "SHA-")
        return f"{kind} {self.hexdigest}" + ("" if self.full else " (prefix only)")


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def part_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.part")


def fetch_url(url: str, dest: Path, checksum: Checksum | None, *, progress: bool = True,
              timeout: float = 30, retries: int = 3) -> Path:
    """`dest`, fetched from `url` unless it is already there with the right checksum.

    Raises NetworkError (offline, refused, HTTP error), ChecksumError (wrong bytes, after
    one fresh try) or FetchError (the folder cannot be written).
    """
    dest = Path(dest)
    if dest.is_file():
        if checksum is None or checksum.matches(file_digest(dest, checksum.algorithm)):
            return dest
        # Moved aside, not deleted: it may be a file someone placed by hand.
        bad = dest.with_name(dest.name + ".bad")
        os.replace(dest, bad)
        _say(f"{dest}: checksum does not match ({checksum}); moved it to {bad.name} and "
             "fetching it again", progress)
    _writable(dest.parent)
    part = part_path(dest)
    for fresh in (False, True):
        if fresh:
            _unlink(part)  # a resumed file that fails its checksum is fetched from zero
        _download(url, part, progress, timeout, retries)
        if checksum is None:
            break
        actual = file_digest(part, checksum.algorithm)
        if checksum.matches(actual):
            break
        if fresh:
            _unlink(part)
            raise ChecksumError(f"{url}: {checksum.algorithm.upper()} {actual} is not the "
                                f"published {checksum.hexdigest}; the download is damaged, "
                                "try again")
    os.replace(part, dest)
    return dest


def _writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise FetchError(f"cannot write to {folder} ({e.strerror or e}); make it writable or "
                         "choose another folder (CNNZOO_HOME for weights)") from None


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _download(url: str, part: Path, progress: bool, timeout: float, retries: int) -> None:
    """Append to `part` until the server says the file is complete, resuming after drops."""
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.is_file() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "cnnzoo"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                resumed = have and getattr(r, "status", 200) == 206
                total = int(r.headers.get("Content-Length") or 0) + (have if resumed else 0)
                _copy(r, part, have if resumed else 0, total, progress)
                return
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # the range starts at the end: the file is complete
                return
            if e.code < 500 or attempt == retries:
                raise NetworkError(f"could not download {url} (HTTP {e.code} {e.reason})") \
                    from None
        except _DROPS as e:
            if attempt == retries:
                raise NetworkError(f"could not download {url} (connection dropped "
                                   f"{retries + 1} times: {e or type(e).__name__})") from None
        except urllib.error.URLError as e:
            raise NetworkError(f"could not download {url} ({e.reason})") from None
        except OSError as e:  # writing the part file
            raise FetchError(f"cannot write {part} ({e.strerror or e})") from None
        time.sleep(min(0.2 * 2 ** attempt, 2.0))


def _copy(response, part: Path, start: int, total: int, progress: bool) -> None:  # noqa: ANN001
    done, shown = start, 0.0
    with open(part, "ab" if start else "wb") as out:
        for block in iter(lambda: response.read(_CHUNK), b""):
            out.write(block)
            done += len(block)
            if progress and time.monotonic() - shown > 0.2:
                shown = time.monotonic()
                _show(part.name[1:-5], done, total)
        out.flush()
        os.fsync(out.fileno())
    if total and done < total:  # the server closed early without an error
        raise http.client.IncompleteRead(b"", total - done)
    if progress:
        _show(part.name[1:-5], done, total, end="\n")


def _show(name: str, done: int, total: int, end: str = "") -> None:
    if not sys.stderr.isatty() and not end:
        return  # a log file gets the final line only
    size = human(done, binary=True) + (f" / {human(total, binary=True)}" if total else "")
    pct = f" {100 * done / total:5.1f}%" if total else ""
    print(f"\rdownloading {name}: {size}{pct}", end=end, file=sys.stderr, flush=True)


def _say(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr)
