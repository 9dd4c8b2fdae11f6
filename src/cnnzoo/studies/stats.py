"""Small statistics every study shares: mean +- sd over seeds or repeats, and timing of
variants side by side (interleaved, so a load change hits every variant alike)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cnnzoo.bench.timing import time_callable
from cnnzoo.studies.training import stats as summary  # one rule for mean +- sd


def time_side_by_side(
    variants: dict[str, Callable[[], object]], rounds: int, repeats: int = 3, warmup: int = 2
) -> list[dict]:
    """Time each variant `rounds` times, taking turns (A B C A B C ...); each round's figure
    is the median of `repeats` calls. Returns one row per variant and round: the raw data a
    study saves."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    rows = []
    for r in range(rounds):
        for name, fn in variants.items():
            t = time_callable(fn, warmup=0, repeats=repeats)
            rows.append({"variant": name, "round": r, "seconds": t.median})
    return rows


def ratio_summary(rows: Sequence[dict], num: str, den: str) -> dict:
    """Per round, seconds(num) / seconds(den): a ratio is robust to the machine's load,
    which changes between rounds but hits both variants of one round alike."""
    by_round: dict[str, dict[str, float]] = {}
    for row in rows:
        by_round.setdefault(str(row["round"]), {})[str(row["variant"])] = float(row["seconds"])
    ratios = [v[num] / v[den] for v in by_round.values() if num in v and den in v and v[den]]
    return summary(ratios)


def seconds_of(rows: Sequence[dict], variant: str) -> dict:
    return summary([float(r["seconds"]) for r in rows if r["variant"] == variant])
