"""How busy the machine is: what every timing records, and how many threads training can use.

Two measures, for two questions. `others_busy` is the cores other processes used over a
window (from /proc/stat, less this process's own CPU time): it says how many cores are free
now, whatever this process is doing. `snapshot` is what a timing records beside its figures:
the 1-minute load and the other processes running at that instant (the load alone also counts
the work this process just did).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

_STAT = Path("/proc/stat")
_LOADAVG = Path("/proc/loadavg")
# A core counts as taken when other processes kept it busy for more than half the window:
# a short background job does not halve training, a busy process does.
TAKEN = 0.5


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_1min() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def others_running() -> int:
    """Other tasks running or runnable right now (/proc/loadavg's R of R/T, less the one
    reading it); 0 where there is no /proc."""
    try:
        running = int(_LOADAVG.read_text().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return 0
    return max(0, running - 1)


@dataclass(frozen=True)
class Load:
    """What a timing records: the load, the other processes running and the cores."""
    load_1min: float
    others_running: int
    cores: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def busy(self) -> bool:
        """Other processes want at least every core: timings mean little now."""
        return self.others_running >= self.cores

    def text(self) -> str:
        return (f"load {self.load_1min:.2f}, {self.others_running} other processes running, "
                f"{self.cores} cores")


def snapshot() -> Load:
    return Load(round(load_1min(), 2), others_running(), cores())


def worse(a: Load, b: Load) -> Load:
    """The busier of two snapshots, field by field (before and after a timing)."""
    return Load(max(a.load_1min, b.load_1min), max(a.others_running, b.others_running),
                a.cores)


def busy_text(*records: dict) -> str | None:
    """From recorded snapshots (Load.as_dict(), e.g. before and after a timing): the
    busiest, as text, when other processes wanted every core then (the timing then says
    little); None when they did not, or nothing was recorded."""
    seen = [Load(**r) for r in records if r]
    if not seen:
        return None
    worst = seen[0]
    for s in seen[1:]:
        worst = worse(worst, s)
    return worst.text() if worst.busy() else None


class _Counters:
    """CPU seconds the whole machine spent busy, and this process's own, at one instant."""

    def __init__(self) -> None:
        self.at = time.monotonic()
        own = os.times()
        self.own = own.user + own.system
        self.machine = _machine_busy_seconds()

    def others_since(self, earlier: _Counters) -> float | None:
        """Cores other processes kept busy, on average, between `earlier` and now."""
        if self.machine is None or earlier.machine is None:
            return None
        window = self.at - earlier.at
        if window <= 0:
            return None
        other = (self.machine - earlier.machine) - (self.own - earlier.own)
        return max(0.0, other / window)


def _allowed() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set(range(os.cpu_count() or 1))


def _machine_busy_seconds() -> float | None:
    """CPU seconds spent busy so far on the CPUs this process may run on (their `cpuN`
    lines of /proc/stat: under taskset or a container's cpuset, other CPUs are not ours to
    share)."""
    try:
        lines = _STAT.read_text().splitlines()
    except OSError:
        return None
    allowed, busy, found = _allowed(), 0, False
    for line in lines:
        name, *values = line.split() or [""]
        if not name.startswith("cpu") or not name[3:].isdigit() or int(name[3:]) not in allowed:
            continue
        ticks = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
        busy += sum(ticks) - ticks[3] - ticks[4]
        found = True
    return busy / os.sysconf("SC_CLK_TCK") if found else None


def others_busy(window_s: float = 0.2) -> float | None:
    """Cores other processes keep busy, averaged over `window_s` of sleep; None without
    /proc/stat."""
    first = _Counters()
    time.sleep(window_s)
    return _Counters().others_since(first)


def free_cores(others: float | None, total: int | None = None) -> int:
    """The cores left to this process when others keep `others` cores busy (at least 1)."""
    total = total or cores()
    if others is None:
        return total
    taken = int(others + (1 - TAKEN))  # rounds x.5 and above up
    return max(1, min(total, total - taken))


class ThreadGovernor:
    """Keeps torch's CPU thread count at the cores other processes leave free, judged again
    every `every_s` seconds from the CPU time they used meanwhile.

    OpenMP threads wait for each other at every parallel op: when another process holds a
    core, the thread that shares it makes all the others wait, and two threads on one free
    core run slower than one (LeNet-5's recipe beside two busy processes: docs/benchmarks.md,
    "Threads that share"). Between checks it costs one clock read a step.
    """

    def __init__(self, every_s: float = 2.0) -> None:
        self.every_s = every_s
        # torch's own count (one per physical core, or what OMP_NUM_THREADS or the caller
        # set) is the most it will use; release() gives it back.
        self.limit = torch.get_num_threads()
        self._since = _Counters()
        self.threads = min(self.limit, free_cores(others_busy(0.1)))
        self.fewest = self.threads
        torch.set_num_threads(self.threads)

    def step(self) -> None:
        if time.monotonic() - self._since.at < self.every_s:
            return
        now = _Counters()
        wanted = min(self.limit, free_cores(now.others_since(self._since)))
        self._since = now
        if wanted != self.threads:
            self.threads = wanted
            torch.set_num_threads(wanted)
        self.fewest = min(self.fewest, wanted)

    def release(self) -> None:
        torch.set_num_threads(self.limit)

    def take_fewest(self) -> int:
        """The fewest threads used since the last call (what an epoch's line reports)."""
        fewest, self.fewest = self.fewest, self.threads
        return fewest
