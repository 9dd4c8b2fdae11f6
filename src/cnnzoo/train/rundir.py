"""A run directory held by one trainer (a lock, a write probe, leftovers of a kill removed),
and the signals that stop a run cleanly.

`RunDir(out).acquire()` is cheap and runs before any data is loaded or model built, so a
directory that cannot be written (read-only, full, a file in the way, another trainer in it)
is one clear error before the expensive work, and a directory it had to create is removed
again when the run fails before writing anything into it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnnzoo.errors import ConfigError, TrainingError, UsageError

LOCK = ".lock"
# Temporary files the run's atomic writes (cnnzoo.atomic) leave when a kill lands mid-write:
# .NAME.XXXX.tmp.SUFFIX, or .NAME.XXXX.tmp where NAME has no suffix.
TEMP_PATTERNS = (".*.tmp", ".*.tmp.*")


def os_problem(e: OSError) -> str:
    """An OSError as the words a user acts on."""
    if e.errno == errno.ENOSPC:
        return "the disk is full"
    if e.errno == errno.EROFS:
        return "the file system is read-only"
    if e.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (read-only or immutable?)"
    if e.errno == errno.ENOTDIR:
        return "a part of the path is a file, not a folder"
    if e.errno == errno.EEXIST and e.filename:
        return f"{e.filename} is in the way: a file where a folder must go"
    return e.strerror or str(e)


def check_writable_file(path: str | Path, flag: str) -> Path:
    """Raise UsageError unless a file can be written at `path` (its folder exists, is a folder
    and takes a new file): called before the expensive work whose result goes there."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; give a file name inside it")
    _writable_folder(path.parent, path, flag)
    if not path.parent.exists():
        raise UsageError(f"{flag} {path}: folder {path.parent} does not exist; create it or "
                         "choose another path")
    return path


def check_writable_dir(path: str | Path, flag: str) -> Path:
    """Raise UsageError unless `path` is a folder, or can be made one, that takes new files."""
    path = Path(path)
    _writable_folder(path, path, flag)
    return path


def _writable_folder(folder: Path, path: Path, flag: str) -> None:
    """`folder`'s nearest existing ancestor (itself, if it exists) is a folder that takes a
    new file (where `folder` does not exist yet, it can be made there); else UsageError
    naming `flag` and `path`."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), folder)
    if not existing.is_dir():  # the path runs through a file
        raise UsageError(f"{flag} {path}: {existing} is a file, not a folder; choose another "
                         "path")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".cnnzoo.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot write into {existing} ({os_problem(e)}); "
                         "choose another path") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class RunInUseError(ConfigError):
    """The run folder's lock is held by a live process (or one on another machine)."""


class RunDir:
    def __init__(self, out: str | Path, lock: str = LOCK) -> None:
        self.out = Path(out)
        self.lock = lock  # the lock file's name: the study cache holds one of its own
        self.created: list[Path] = []  # folders this run made, deepest first
        self.held = False

    def _fail(self, what: str, e: OSError | None = None) -> TrainingError:
        self.release()
        why = f" ({os_problem(e)})" if e is not None else ""
        return ConfigError("out", f"{what}{why}; choose another folder")

    def acquire(self) -> RunDir:
        out = self.out
        if out.exists() and not out.is_dir():
            raise ConfigError("out", f"{out} is a file, not a folder; choose another folder")
        try:
            missing = [p for p in (out, *out.parents) if not p.exists()]
            out.mkdir(parents=True, exist_ok=True)
            self.created = missing
        except OSError as e:
            raise self._fail(f"cannot create the run folder {out}", e) from None
        lock = out / self.lock
        for _ in range(2):
            try:
                self._create_lock(lock)
            except FileExistsError:
                owner = self._owner(lock)
                if owner is not None:
                    self.created = []  # not ours to remove
                    raise RunInUseError(
                        "out", f"{out} is in use by another trainer (PID {owner}); wait for "
                        "it to finish, stop it, or choose another folder") from None
                lock.unlink(missing_ok=True)  # a dead trainer's: take it over
                continue
            except OSError as e:
                raise self._fail(f"cannot write into {out}", e) from None
            self.held = True
            self.clean_temporaries()
            return self
        raise TrainingError(f"{out}: could not take the run lock {lock}; remove it if no "
                            "trainer is running")

    @staticmethod
    def _create_lock(lock: Path) -> None:
        """Create `lock` holding this process's PID and host, whole or not at all: written
        to a private file first, then linked into place (a link fails if the lock exists).
        Created empty and written after, a second trainer could read it empty in between,
        take it for a dead one's and both would hold the run (seen under load)."""
        mine = f"{os.getpid()} {socket.gethostname()}\n"
        draft = lock.with_name(f".{lock.name}.{os.getpid()}.tmp")  # a crash leaves a temporary
        with open(draft, "w") as f:
            f.write(mine)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(draft, lock)
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links: create, then write
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(mine)
        finally:
            draft.unlink(missing_ok=True)

    @staticmethod
    def _owner(lock: Path) -> int | None:
        """The PID of a live trainer holding `lock` (on this host), or None when stale."""
        try:
            pid_text, _, host = lock.read_text().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return None  # unreadable or half-written: its writer died
        if host.strip() != socket.gethostname():
            return pid  # another machine's: cannot tell, so never steal it
        return pid if pid != os.getpid() and _alive(pid) else None

    def clean_temporaries(self) -> list[Path]:
        removed = []
        for pattern in TEMP_PATTERNS:
            for path in self.out.glob(pattern):
                if path.is_file() and path.name != self.lock:
                    path.unlink(missing_ok=True)
                    removed.append(path)
        return removed

    def release(self) -> None:
        """Drop the lock; remove the folder if this run created it and left nothing in it."""
        if self.held:
            (self.out / self.lock).unlink(missing_ok=True)
            self.held = False
        for folder in self.created:
            try:
                folder.rmdir()  # only succeeds when empty
            except OSError:
                break
        self.created = []

    def __enter__(self) -> RunDir:
        return self.acquire()

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        self.release()


@contextlib.contextmanager
def interrupts(*signals: int) -> Iterator[None]:
    """Each of `signals` raises KeyboardInterrupt inside the block (also where it came in
    ignored, as SIGINT does in a shell's background job), so the code there unwinds."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers
        return
    previous = {s: signal.signal(s, interrupt) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class StopFlag:
    """First Ctrl-C or SIGTERM (what schedulers and `docker stop` send) asks the loop to
    stop at the next step boundary (so no optimizer update is cut in half) and save; a
    second one interrupts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.signum: int = signal.SIGINT
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signum

    def __exit__(self, *exc: Any) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous)
