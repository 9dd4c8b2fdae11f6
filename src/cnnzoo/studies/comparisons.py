"""The one rule every seeded study's verdict follows.

A study declares its comparisons before anything runs (`Comparison`: metric, arms a and b,
margin m, hypothesis); a claim of "about equal" is two of them. After the runs each one gets a
t-based interval for the difference b - a over seeds:
    paired (df = n - 1) where the two arms share a seed's randomness (data subset and order,
    and initial weights where the architectures allow), Welch (Welch-Satterthwaite df) otherwise;
    `lower` and `upper` are the one-sided 95% bounds (together, the two-sided 90% interval).
The comparison is `above` when lower > m, `below` when upper < m, else `unclear`.

A superiority hypothesis (b - a > m) is decided for the claim when `above` and against it when
`below`; a non-inferiority one (b - a < m) the other way round. The verdict (`decide`) is
confirmed when every deciding comparison is decided for the claim, refuted when any is decided
against it, otherwise inconclusive; and never confirmed or refuted below MIN_SEEDS seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cnnzoo.studies.base import CONFIRMED, INCONCLUSIVE, REFUTED, StudyError

SUPERIORITY = "superiority"  # the claim holds when b - a > margin
NON_INFERIORITY = "non-inferiority"  # the claim holds when b - a < margin
HYPOTHESES = (SUPERIORITY, NON_INFERIORITY)
ABOVE, BELOW, UNCLEAR = "above", "below", "unclear"
FOR, AGAINST = "for", "against"
MIN_SEEDS = 3  # fewer finished seeds an arm: indicative only, never confirmed or refuted
CONFIDENCE = 0.95  # each bound is one-sided at this level (two-sided 90% interval)
POWER = 0.80  # for the minimum detectable distance from the margin
# Accuracies are counts over a test set: 0.70 - 0.69 is 0.0100000000000000009 in floats,
# which must not "exceed" a 1-point margin.
ON_THE_MARGIN = 1e-9


@dataclass(frozen=True)
class Comparison:
    """One pre-declared test of b - a against a margin (fractions: 0.01 is one point)."""

    name: str
    metric: str  # a column of the study's per-seed table (e.g. "test_acc")
    arms: tuple[str, str]  # (a, b): the difference is b - a
    margin: float
    hypothesis: str  # SUPERIORITY or NON_INFERIORITY
    paired: bool = True
    decides: bool = True  # False: shown, but the verdict does not rest on it
    scale: float = 100.0  # display: fractions shown as percentage points
    unit: str = "points"

    def __post_init__(self) -> None:
        if self.hypothesis not in HYPOTHESES:
            raise StudyError(f"{self.name}: hypothesis must be one of {HYPOTHESES}")
        if len(self.arms) != 2 or self.arms[0] == self.arms[1]:
            raise StudyError(f"{self.name}: a comparison needs two different arms")

    @property
    def statement(self) -> str:
        """The hypothesis in words, from the fields: what the claim says of b - a."""
        a, b = self.arms
        side = ">" if self.hypothesis == SUPERIORITY else "<"
        return (f"{self.metric}: {b} - {a} {side} {self.scale * self.margin:+g} {self.unit}"
                f" ({self.hypothesis}, {'paired' if self.paired else 'Welch'})")


# -- Student's t, from the regularised incomplete beta function ---------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df (> 0, not necessarily whole) degrees of freedom."""
    if df <= 0:
        raise StudyError(f"t distribution needs df > 0, got {df}")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p (bisection on t_cdf: exact to ~1e-12)."""
    if not 0.0 < p < 1.0:
        raise StudyError(f"quantile needs 0 < p < 1, got {p}")
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    return 0.5 * (lo + hi)


# -- one comparison ----------------------------------------------------------------------


def interval(a: Sequence[float], b: Sequence[float], paired: bool) -> dict[str, Any]:
    """Mean of b - a, its standard error, df and one-sided CONFIDENCE bounds. Paired: a[i]
    and b[i] are one seed's. Bounds are None where there is no spread to estimate (n < 2)."""
    if paired:
        if len(a) != len(b):
            raise StudyError("a paired interval needs one value of each arm per seed")
        diffs = [y - x for x, y in zip(a, b, strict=True)]
        n = len(diffs)
        mean = statistics.fmean(diffs) if n else None
        if n < 2:
            return {"difference": mean, "se": None, "df": None, "lower": None, "upper": None}
        se = statistics.stdev(diffs) / math.sqrt(n)
        df: float = n - 1
    else:
        na, nb = len(a), len(b)
        mean = statistics.fmean(b) - statistics.fmean(a) if na and nb else None
        if na < 2 or nb < 2:
            return {"difference": mean, "se": None, "df": None, "lower": None, "upper": None}
        va, vb = statistics.variance(a) / na, statistics.variance(b) / nb
        se = math.sqrt(va + vb)
        # Welch-Satterthwaite; with no spread at all the pooled df stands in (se is 0 anyway).
        df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1)) if se > 0 else na + nb - 2
    assert mean is not None
    q = t_quantile(CONFIDENCE, df)
    return {"difference": mean, "se": se, "df": df, "lower": mean - q * se,
            "upper": mean + q * se}


def outcome(lower: float | None, upper: float | None, margin: float) -> str:
    if lower is not None and lower > margin + ON_THE_MARGIN:
        return ABOVE
    if upper is not None and upper < margin - ON_THE_MARGIN:
        return BELOW
    return UNCLEAR


def leaning(comparison: Comparison | Mapping[str, Any], result: str) -> str:
    """FOR, AGAINST or UNCLEAR: what an outcome says of the claim under the hypothesis."""
    hypothesis = (comparison.hypothesis if isinstance(comparison, Comparison)
                  else comparison["hypothesis"])
    if result == UNCLEAR:
        return UNCLEAR
    wanted = ABOVE if hypothesis == SUPERIORITY else BELOW
    return FOR if result == wanted else AGAINST


def detectable(se: float | None, df: float | None) -> float | None:
    """How far beyond its margin a true difference must lie for this n to decide it (at
    CONFIDENCE, with POWER): superiority needs b - a > margin + this, non-inferiority
    b - a < margin - this."""
    if se is None or df is None:
        return None
    return (t_quantile(CONFIDENCE, df) + t_quantile(POWER, df)) * se


def compare(c: Comparison, values: Mapping[str, Mapping[int, float]]) -> dict[str, Any]:
    """One comparison as result.json holds it, from {arm: {seed: value}}. Paired: only the
    seeds both arms finished count."""
    a, b = c.arms
    va, vb = values.get(a, {}), values.get(b, {})
    if c.paired:
        seeds = sorted(set(va) & set(vb))
        xa, xb = [va[s] for s in seeds], [vb[s] for s in seeds]
        n = len(seeds)
    else:
        seeds = sorted(set(va) | set(vb))
        xa, xb = [va[s] for s in sorted(va)], [vb[s] for s in sorted(vb)]
        n = min(len(xa), len(xb))
    iv = interval(xa, xb, c.paired)
    result = outcome(iv["lower"], iv["upper"], c.margin)
    return {
        "name": c.name, "metric": c.metric, "arms": [a, b],
        "values": {a: xa, b: xb}, "seeds": seeds, "n": n, "paired": c.paired,
        "difference": iv["difference"], "se": iv["se"], "df": iv["df"],
        "lower": iv["lower"], "upper": iv["upper"], "margin": c.margin,
        "hypothesis": c.hypothesis, "outcome": result, "leaning": leaning(c, result),
        "decides": c.decides, "detectable": detectable(iv["se"], iv["df"]),
        "scale": c.scale, "unit": c.unit, "statement": c.statement,
    }


def compare_all(comparisons: Sequence[Comparison], rows: Sequence[Mapping[str, Any]],
                arm_column: str = "arm") -> list[dict[str, Any]]:
    """Every comparison from a per-seed table (rows with `arm`, `seed` and the metrics)."""
    return [compare(c, per_seed(rows, c.metric, arm_column)) for c in comparisons]


def per_seed(rows: Sequence[Mapping[str, Any]], metric: str, arm_column: str = "arm"
             ) -> dict[str, dict[int, float]]:
    """{arm: {seed: value}} of one metric; rows without a value for it are left out."""
    out: dict[str, dict[int, float]] = {}
    for r in rows:
        value = r.get(metric)
        if value in (None, ""):
            continue
        out.setdefault(str(r[arm_column]), {})[int(r["seed"])] = float(value)
    return out


# -- the verdict -------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    verdict: str  # CONFIRMED, REFUTED or INCONCLUSIVE
    n: int  # the fewest seeds any deciding comparison rests on
    leaning: str  # FOR, AGAINST or UNCLEAR: where the data lean, whatever n
    why: str  # one sentence: which comparisons decided


def decide(results: Sequence[Mapping[str, Any]]) -> Decision:
    """The verdict from the deciding comparisons (see the module's docstring)."""
    deciding = [r for r in results if r["decides"]]
    if not deciding:
        raise StudyError("a verdict needs at least one deciding comparison")
    n = min(int(r["n"]) for r in deciding)
    against = [r["name"] for r in deciding if r["leaning"] == AGAINST]
    unclear = [r["name"] for r in deciding if r["leaning"] == UNCLEAR]
    lean = AGAINST if against else (UNCLEAR if unclear else FOR)
    if n < MIN_SEEDS:
        return Decision(INCONCLUSIVE, n, lean, f"indicative only: {n} seed(s) finished, a "
                        f"verdict needs >= {MIN_SEEDS}")
    if against:
        return Decision(REFUTED, n, lean, f"decided against the claim: {', '.join(against)}")
    if unclear:
        return Decision(INCONCLUSIVE, n, lean, f"not decided: {', '.join(unclear)} (the "
                        "interval contains the margin)")
    return Decision(CONFIRMED, n, lean, "every deciding comparison is decided for the claim")


def describe(r: Mapping[str, Any]) -> str:
    """One comparison for people: 'name: b - a +1.23 points [lower, upper] vs margin 0.5'."""
    s, unit = r["scale"], r["unit"]

    def num(x: float | None) -> str:
        return "?" if x is None else f"{s * x:+.2f}"

    diff = "-" if r["difference"] is None else f"{s * r['difference']:+.2f} {unit}"
    bounds = f" [{num(r['lower'])}, {num(r['upper'])}]" if r["lower"] is not None else \
        " (no interval: needs >= 2 seeds)"
    return (f"{r['name']}: {r['arms'][1]} - {r['arms'][0]} {diff}{bounds} against "
            f"{s * r['margin']:+g} (n={r['n']}, {r['outcome']})")
