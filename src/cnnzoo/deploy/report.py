"""What `deploy` measured: one PathResult per path, the winner and why, as a table."""

from __future__ import annotations

import datetime
import os
from dataclasses import asdict, dataclass, field

from cnnzoo.bench.machine import cpu_name
from cnnzoo.fmt import human, render
from cnnzoo.inference import Trained
from cnnzoo.load import busy_text, snapshot
from cnnzoo.models.base import model_name_of


@dataclass
class PathResult:
    name: str
    runtime: str
    precision: str
    status: str = ""  # "passed", "rejected: why", "failed: why"
    images_per_s: float | None = None  # at the deploy batch size
    p50_ms: float | None = None  # latency of one image
    p99_ms: float | None = None
    agreement: float = 0.0  # top-1 agreement with eager fp32 on the check images
    max_abs_err: float = float("inf")  # largest |logit - eager fp32 logit|
    max_rel_err: float = float("inf")  # that, over the largest |eager fp32 logit|
    accuracy: float | None = None  # top-1 on the check images' labels
    accuracy_delta: float | None = None  # points against eager fp32
    size_bytes: int | None = None
    build_s: float | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class DeployReport:
    model: str
    input_size: tuple[int, int, int]
    batch_size: int
    threads: int
    load_before: dict  # cnnzoo.load.Load of the machine before the timing, and after it
    machine: str
    data: str
    skipped: dict[str, str]
    when: str = ""
    results: list[PathResult] = field(default_factory=list)
    winner: str | None = None
    reason: str = ""
    written: list[str] = field(default_factory=list)
    reload_error: float | None = None  # the written file against the measured path
    load_after: dict = field(default_factory=dict)

    @classmethod
    def start(cls, trained: Trained, batch_size: int, threads: int, data: str,
              skipped: dict[str, str]) -> DeployReport:

        return cls(model_name_of(trained.model), tuple(trained.input_size), batch_size,
                   threads, snapshot().as_dict(), f"{cpu_name()}, {os.cpu_count()} CPUs",
                   data, dict(skipped),
                   when=datetime.datetime.now(datetime.timezone.utc).isoformat(
                       timespec="seconds"))

    def result(self, name: str) -> PathResult:
        return next(r for r in self.results if r.name == name)

    def choose(self) -> None:
        """The fastest passing path at the deploy batch size, and a sentence saying why."""
        timed = [r for r in self.results if r.images_per_s]
        passing = sorted((r for r in timed if r.passed), key=lambda r: -(r.images_per_s or 0))
        if not passing:
            self.winner, self.reason = None, "no path passed the check against eager fp32"
            return
        best = passing[0]
        self.winner = best.name
        parts = [f"{best.name} is the fastest path that passed: {best.images_per_s:.1f} "
                 f"images/s at batch {self.batch_size}"]
        eager = next((r for r in timed if r.name == "eager fp32"), None)
        if eager is not None and best is not eager:
            parts.append(f"{best.images_per_s / eager.images_per_s:.2f}x eager fp32")
        if len(passing) > 1:
            nxt = passing[1]
            parts.append(f"{best.images_per_s / nxt.images_per_s:.2f}x the next passing path "
                         f"({nxt.name})")
        faster = [r for r in timed if not r.passed and r.images_per_s > best.images_per_s]
        if faster:
            parts.append("faster but rejected: " + "; ".join(
                f"{r.name} ({r.status.removeprefix('rejected: ')})" for r in faster))
        check = f"top-1 agreement with eager fp32 {100 * best.agreement:.1f}%"
        if best.accuracy_delta is not None:
            check += f", accuracy {best.accuracy_delta:+.2f} points"
        torch_paths = [r for r in passing if r.runtime == "pytorch"]
        if best.runtime != "pytorch" and torch_paths:
            parts.append(f"PyTorch's fastest path ({torch_paths[0].name}) reaches "
                         f"{torch_paths[0].images_per_s / best.images_per_s:.2f}x of it on "
                         f"this CPU, so {best.runtime} is chosen")
        self.reason = "; ".join(parts) + f" ({check})."

    def record(self) -> dict:
        return asdict(self)

    def table(self, fmt: str = "table") -> str:
        headers = ["path", "images/s", "p50 ms", "p99 ms", "top-1 agree", "max logit err",
                   "acc delta", "file", "status"]
        rows = []
        for r in self.results:
            mark = "* " if r.name == self.winner else ""
            rows.append([
                mark + r.name, _f(r.images_per_s, ".1f"), _f(r.p50_ms, ".2f"),
                _f(r.p99_ms, ".2f"),
                f"{100 * r.agreement:.1f}%" if r.status and not r.status.startswith("failed")
                else "-",
                _f(r.max_abs_err if r.max_abs_err != float("inf") else None, ".3g"),
                _f(r.accuracy_delta, "+.2f"),
                "-" if r.size_bytes is None else human(r.size_bytes, binary=True), r.status,
            ])
        for name, why in self.skipped.items():
            rows.append([name, "-", "-", "-", "-", "-", "-", "-", f"skipped: {why}"])
        return render(headers, rows, fmt, right=tuple(range(1, 8)),
                      records=[asdict(r) for r in self.results])

    def header(self) -> str:
        load = " -> ".join(f"{d['load_1min']:.2f}" for d in (self.load_before, self.load_after)
                           if d)
        text = (f"{self.model} {'x'.join(map(str, self.input_size))}: throughput at batch "
                f"{self.batch_size}, latency at batch 1; {self.threads} thread(s); load "
                f"{load}; {self.machine}\nchecked on {self.data}")
        busy = busy_text(self.load_before, self.load_after)
        if busy:
            text += f"\ntiming unreliable here ({busy}): rerun on a quieter machine"
        return text


def _f(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)
