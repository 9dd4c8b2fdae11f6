"""The one statistics rule of the seeded studies (cnnzoo.studies.comparisons): t bounds
checked against scipy, outcomes against the margin, and the verdict from the parts."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats  # a test dependency (pyproject [test])

from cnnzoo.studies.comparisons import (
    ABOVE,
    AGAINST,
    BELOW,
    FOR,
    NON_INFERIORITY,
    SUPERIORITY,
    UNCLEAR,
    Comparison,
    compare,
    decide,
    interval,
    t_quantile,
)


@pytest.mark.parametrize("df", [1, 2, 2.6, 3, 4, 7.3, 30, 200])
@pytest.mark.parametrize("p", [0.8, 0.95, 0.975])
def test_t_quantile_matches_scipy(df: float, p: float) -> None:
    assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), abs=1e-9)


def test_paired_bounds_are_scipys_one_sided_95_percent() -> None:
    rng = random.Random(7)
    a = [0.8 + rng.gauss(0, 0.01) for _ in range(5)]
    b = [x + 0.02 + rng.gauss(0, 0.005) for x in a]
    iv = interval(a, b, paired=True)
    d = [y - x for x, y in zip(a, b, strict=True)]
    lo, hi = stats.t.interval(0.90, len(d) - 1, loc=sum(d) / len(d), scale=stats.sem(d))
    assert (iv["lower"], iv["upper"], iv["df"]) == (pytest.approx(lo), pytest.approx(hi), 4)


def test_welch_bounds_and_df_match_scipy() -> None:
    a, b = [0.71, 0.74, 0.69], [0.80, 0.78, 0.83, 0.79]
    iv = interval(a, b, paired=False)
    va, vb = stats.tvar(a) / 3, stats.tvar(b) / 4
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    res = stats.ttest_ind(b, a, equal_var=False)
    lo, hi = res.confidence_interval(0.90)
    assert iv["df"] == pytest.approx(df)
    assert (iv["lower"], iv["upper"]) == (pytest.approx(lo), pytest.approx(hi))


def test_pairing_removes_what_the_seeds_share() -> None:
    """Arms that move together over seeds: paired finds the difference, Welch cannot."""
    a = [0.70, 0.80, 0.90]
    b = [0.72, 0.82, 0.921]
    paired, welch = interval(a, b, True), interval(a, b, False)
    assert paired["lower"] > 0.01 and welch["lower"] < 0


def test_one_seed_has_no_interval() -> None:
    iv = interval([0.8], [0.9], paired=True)
    assert iv["difference"] == pytest.approx(0.1) and iv["lower"] is None and iv["se"] is None


def _comparison(hypothesis: str, margin: float = 0.01, decides: bool = True) -> Comparison:
    return Comparison("c", "test_acc", ("a", "b"), margin, hypothesis, decides=decides)


def _values(a: list[float], b: list[float]) -> dict[str, dict[int, float]]:
    return {"a": dict(enumerate(a)), "b": dict(enumerate(b))}


def test_outcomes_and_what_they_say_of_the_claim() -> None:
    above = _values([0.80, 0.81, 0.79], [0.85, 0.86, 0.845])
    below = _values([0.80, 0.81, 0.79], [0.80, 0.812, 0.791])
    spread = _values([0.80, 0.81, 0.79], [0.70, 0.90, 0.82])
    sup, noninf = _comparison(SUPERIORITY), _comparison(NON_INFERIORITY)
    assert (compare(sup, above)["outcome"], compare(sup, above)["leaning"]) == (ABOVE, FOR)
    assert (compare(sup, below)["outcome"], compare(sup, below)["leaning"]) == (BELOW, AGAINST)
    assert compare(noninf, below)["leaning"] == FOR
    assert compare(noninf, above)["leaning"] == AGAINST
    assert compare(sup, spread)["outcome"] == UNCLEAR


def test_a_difference_exactly_on_the_margin_is_not_beyond_it() -> None:
    """0.70 - 0.69 is 0.0100000000000000009 in floats: not above a 1-point margin."""
    r = compare(_comparison(SUPERIORITY), _values([0.69] * 3, [0.70] * 3))
    assert r["se"] == 0 and r["outcome"] == UNCLEAR


def test_paired_uses_the_seeds_both_arms_finished() -> None:
    values = {"a": {0: 0.8, 1: 0.8, 2: 0.81, 3: 0.8}, "b": {0: 0.85, 2: 0.86}}
    r = compare(_comparison(SUPERIORITY), values)
    assert r["seeds"] == [0, 2] and r["n"] == 2 and r["values"] == {"a": [0.8, 0.81],
                                                                    "b": [0.85, 0.86]}


def test_recorded_bounds_recompute_from_the_recorded_values() -> None:
    r = compare(_comparison(NON_INFERIORITY), _values([0.8, 0.82, 0.79, 0.81],
                                                      [0.805, 0.81, 0.80, 0.815]))
    again = interval(r["values"]["a"], r["values"]["b"], r["paired"])
    assert abs(again["lower"] - r["lower"]) < 1e-12 and abs(again["upper"] - r["upper"]) < 1e-12
    assert r["detectable"] > 0 and math.isfinite(r["detectable"])


def _result(leaning: str, n: int = 3, decides: bool = True) -> dict:
    return {"name": f"{leaning}-{n}", "leaning": leaning, "n": n, "decides": decides}


def test_decide_needs_every_part_for_and_any_part_against() -> None:
    assert decide([_result(FOR), _result(FOR)]).verdict == "confirmed"
    assert decide([_result(FOR), _result(AGAINST)]).verdict == "refuted"
    assert decide([_result(FOR), _result(UNCLEAR)]).verdict == "inconclusive"
    assert decide([_result(UNCLEAR), _result(AGAINST)]).verdict == "refuted"
    # a comparison that does not decide does not move the verdict
    assert decide([_result(FOR), _result(AGAINST, decides=False)]).verdict == "confirmed"


def test_never_confirmed_or_refuted_below_three_seeds() -> None:
    for leaning in (FOR, AGAINST):
        d = decide([_result(leaning, n=2)])
        assert (d.verdict, d.n, d.leaning) == ("inconclusive", 2, leaning)
        assert "indicative" in d.why
