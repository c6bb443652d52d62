"""analysis.stats against published reference values (never against the code itself).

Sources
-------
- Newcombe RG (1998a). Two-sided confidence intervals for the single proportion: comparison of
  seven methods. Stat Med 17:857–872, Table I (method 3 = Wilson score, method 5 =
  Clopper–Pearson exact).
- Newcombe RG (1998b). Interval estimation for the difference between independent proportions:
  comparison of eleven methods. Stat Med 17:873–890, Table II (method 10 = hybrid score, no CC).
- R, package stats: ``?binom.test`` example ``binom.test(c(682, 243), p = 3/4)`` (Mendel's peas)
  and ``?fisher.test`` examples ``TeaTasting`` (Agresti 1990, p. 59–62) and ``Convictions``
  (Fisher 1962), as printed by R.
- Holm S (1979). Scand J Stat 6:65–70; R ``p.adjust(method = "holm")``, derived by hand below.
- Closed forms written out here (binomial tails, the 0/n interval bounds) as independent checks.
"""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import FrozenInstanceError, fields
from fractions import Fraction
from pathlib import Path
from statistics import NormalDist

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from analysis.stats import (
    DifferenceInterval,
    ProportionEstimate,
    TwoGroupComparison,
    band_verdict,
    binomial_p_greater,
    compare_proportions,
    holm,
    newcombe_difference_interval,
    proportion_interval,
)

PUBLISHED = 1e-4  # the sources print 4 decimals

# --------------------------------------------------------------------------- one proportion

# Newcombe (1998a), Table I: (count, nobs, Wilson low, Wilson high, exact low, exact high).
NEWCOMBE_1998_TABLE_I = [
    (81, 263, 0.2553, 0.3662, 0.2527, 0.3676),
    (15, 148, 0.0624, 0.1605, 0.0578, 0.1617),
    (0, 20, 0.0000, 0.1611, 0.0000, 0.1684),
    (1, 29, 0.0061, 0.1718, 0.0009, 0.1776),
]


@pytest.mark.parametrize(("count", "nobs", "low", "high", "_el", "_eh"), NEWCOMBE_1998_TABLE_I)
def test_wilson_matches_newcombe_1998_table_i(count, nobs, low, high, _el, _eh):
    """Newcombe (1998a) Table I, method 3 (Wilson score, no continuity correction)."""
    estimate = proportion_interval(count, nobs, method="wilson")
    assert estimate.method == "wilson"
    assert estimate.rate == pytest.approx(count / nobs)
    assert estimate.low == pytest.approx(low, abs=PUBLISHED)
    assert estimate.high == pytest.approx(high, abs=PUBLISHED)


@pytest.mark.parametrize(("count", "nobs", "_wl", "_wh", "low", "high"), NEWCOMBE_1998_TABLE_I)
def test_exact_matches_newcombe_1998_table_i(count, nobs, _wl, _wh, low, high):
    """Newcombe (1998a) Table I, method 5 (Clopper–Pearson exact)."""
    estimate = proportion_interval(count, nobs, method="exact")
    assert estimate.method == "exact"
    assert estimate.low == pytest.approx(low, abs=PUBLISHED)
    assert estimate.high == pytest.approx(high, abs=PUBLISHED)


def test_exact_matches_r_binom_test_mendel_peas():
    """R ?binom.test: binom.test(c(682, 243), p = 3/4) prints 95% CI 0.7076683 0.7654066."""
    estimate = proportion_interval(682, 925, method="exact")
    assert estimate.low == pytest.approx(0.7076683, abs=1e-7)
    assert estimate.high == pytest.approx(0.7654066, abs=1e-7)


@pytest.mark.parametrize("nobs", [1, 7, 20, 150])
def test_zero_count_bounds_match_their_closed_forms(nobs):
    """With no events, exact high = 1 - (alpha/2)^(1/n) (Clopper & Pearson 1934) and Wilson
    high = z^2 / (n + z^2) (Wilson 1927); both lows are 0. Mirrored for count == nobs."""
    z = 1.959963984540054  # the 0.975 standard normal quantile
    exact = proportion_interval(0, nobs, method="exact")
    wilson = proportion_interval(0, nobs, method="wilson")
    assert (exact.low, wilson.low) == (0.0, 0.0)
    assert exact.high == pytest.approx(1 - 0.025 ** (1 / nobs), abs=1e-12)
    assert wilson.high == pytest.approx(z**2 / (nobs + z**2), abs=1e-12)
    exact_all = proportion_interval(nobs, nobs, method="exact")
    wilson_all = proportion_interval(nobs, nobs, method="wilson")
    assert (exact_all.high, wilson_all.high) == (1.0, 1.0)
    assert exact_all.low == pytest.approx(0.025 ** (1 / nobs), abs=1e-12)
    assert wilson_all.low == pytest.approx(nobs / (nobs + z**2), abs=1e-12)


@pytest.mark.parametrize("method", ["wilson", "exact"])
def test_no_patients_gives_no_rate_and_no_interval(method):
    assert proportion_interval(0, 0, method=method) == ProportionEstimate(0, 0, None, None, None, method)


@pytest.mark.parametrize(
    ("count", "nobs", "kwargs"),
    [(-1, 5, {}), (6, 5, {}), (1, -1, {}), (1, 5, {"alpha": 0}), (1, 5, {"method": "wald"})],
)
def test_invalid_proportion_input_is_refused(count, nobs, kwargs):
    with pytest.raises(ValueError):
        proportion_interval(count, nobs, **kwargs)


def test_proportion_estimate_is_frozen_and_readable():
    estimate = proportion_interval(81, 263)
    with pytest.raises(FrozenInstanceError):
        estimate.rate = 0.5  # type: ignore[misc]
    assert [f.name for f in fields(ProportionEstimate)] == ["count", "nobs", "rate", "low", "high", "method"]
    assert str(estimate) == "81/263 = 0.3080 (Wilson score interval 0.2553 to 0.3662)"
    assert "no data" in proportion_interval(0, 0).summary()


@pytest.mark.parametrize("alpha", [0.10, 0.01])
@pytest.mark.parametrize(("count", "nobs"), [(81, 263), (15, 148), (1, 29), (28, 29), (3, 7)])
def test_intervals_solve_their_defining_equations_at_other_levels(count, nobs, alpha):
    """Beyond the published 95% tables: Clopper & Pearson (1934) bounds are the p at which the
    exact binomial tails equal alpha/2 (P(X >= count | low) = P(X <= count | high) = alpha/2,
    summed exactly here); Wilson (1927) bounds are the roots of
    (count - nobs p)^2 = z^2 nobs p (1 - p), with z from the standard library's NormalDist."""
    exact = proportion_interval(count, nobs, alpha=alpha, method="exact")
    assert _upper_tail(count, nobs, Fraction(exact.low)) == pytest.approx(alpha / 2, rel=1e-8)
    assert 1 - _upper_tail(count + 1, nobs, Fraction(exact.high)) == pytest.approx(alpha / 2, rel=1e-8)
    wilson = proportion_interval(count, nobs, alpha=alpha, method="wilson")
    z = NormalDist().inv_cdf(1 - alpha / 2)
    for p in (wilson.low, wilson.high):
        assert (count - nobs * p) ** 2 == pytest.approx(z * z * nobs * p * (1 - p), rel=1e-9)


# --------------------------------------------------------------------------- binomial test


def _upper_tail(count: int, nobs: int, p0: Fraction) -> float:
    """P(X >= count), X ~ Binomial(nobs, p0), summed exactly with math.comb."""
    return float(sum(math.comb(nobs, k) * p0**k * (1 - p0) ** (nobs - k) for k in range(count, nobs + 1)))


@pytest.mark.parametrize(("nobs", "p0"), [(1, 0.3), (10, 0.4), (25, 0.3)])
def test_binomial_p_greater_matches_closed_forms(nobs, p0):
    """P(X >= n) = p0^n; P(X >= 0) = 1; P(X >= 1) = 1 - (1 - p0)^n."""
    assert binomial_p_greater(nobs, nobs, p0) == pytest.approx(p0**nobs, rel=1e-12)
    assert binomial_p_greater(0, nobs, p0) == 1.0
    assert binomial_p_greater(1, nobs, p0) == pytest.approx(1 - (1 - p0) ** nobs, rel=1e-12)


@pytest.mark.parametrize(("count", "nobs", "p0"), [(40, 100, "3/10"), (40, 100, "2/5"), (19, 42, "3/10")])
def test_binomial_p_greater_matches_the_exact_tail_sum(count, nobs, p0):
    """Realistic band checks (rate > band bottom 0.30 / top 0.40) against the tail written out."""
    expected = _upper_tail(count, nobs, Fraction(p0))
    assert binomial_p_greater(count, nobs, float(Fraction(p0))) == pytest.approx(expected, rel=1e-9)


def test_binomial_p_greater_reproduces_r_binom_test_mendel_peas():
    """R ?binom.test: binom.test(682, 925, p = 0.75) prints p-value = 0.3825 (two-sided).

    R's two-sided p is P(X <= 682) + P(X >= k*), k* the first count above the mean whose
    probability is no larger than P(X = 682). Both tails come from the one-sided function:
    P(X <= 682) = 1 - P(X >= 683).
    """
    nobs, p0 = 925, Fraction(3, 4)

    def pmf(k: int) -> Fraction:
        return math.comb(nobs, k) * p0**k * (1 - p0) ** (nobs - k)

    observed = pmf(682)
    k_star = next(k for k in range(694, nobs + 1) if pmf(k) <= observed)
    lower = 1 - binomial_p_greater(683, nobs, 0.75)
    two_sided = lower + binomial_p_greater(k_star, nobs, 0.75)
    assert two_sided == pytest.approx(0.3825, abs=PUBLISHED)
    assert binomial_p_greater(682, nobs, 0.75) == pytest.approx(_upper_tail(682, nobs, p0), rel=1e-9)


def test_binomial_p_greater_with_no_patients_is_none():
    assert binomial_p_greater(0, 0, 0.3) is None


@pytest.mark.parametrize(("count", "nobs", "p0"), [(1, 5, -0.1), (1, 5, 1.1), (6, 5, 0.3)])
def test_invalid_binomial_input_is_refused(count, nobs, p0):
    with pytest.raises(ValueError):
        binomial_p_greater(count, nobs, p0)


# --------------------------------------------------------------------------- Holm


def test_holm_matches_p_adjust_by_hand():
    """Holm (1979): sorted p_(i) * (m - i + 1), then the running maximum, capped at 1.

    p.adjust(c(.01, .02, .03, .04, .05), "holm"): products .05 .08 .09 .08 .05,
    running max .05 .08 .09 .09 .09.
    """
    assert holm([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09], abs=1e-12)


def test_holm_keeps_none_in_place_and_caps_at_one():
    """None is skipped (m = 3 here): sorted .01 .40 .60 → .03, .80, .60 → running max .03 .80 .80;
    0.9 * 1 and 0.6 * 2 cap at 1 in the second case."""
    assert holm([0.40, None, 0.01, 0.60, None]) == pytest.approx([0.80, None, 0.03, 0.80, None], abs=1e-12)
    assert holm([0.6, 0.9]) == pytest.approx([1.0, 1.0], abs=1e-12)
    assert holm([None, None]) == [None, None]
    assert holm([]) == []


# --------------------------------------------------------------------------- band verdict


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.41, 0.60, "above"),
        (0.10, 0.29, "below"),
        (0.25, 0.35, "overlaps"),
        (0.20, 0.50, "overlaps"),
        (0.40, 0.55, "overlaps"),  # low exactly at the band top: "above" needs low > top
        (0.15, 0.30, "overlaps"),  # high exactly at the band bottom: "below" needs high < bottom
        (None, None, "no_data"),
        (0.41, None, "no_data"),
    ],
)
def test_band_verdict_follows_spec_section_4(low, high, verdict):
    assert band_verdict(low, high, (0.30, 0.40)) == verdict


def test_band_verdict_refuses_an_inverted_band():
    with pytest.raises(ValueError):
        band_verdict(0.1, 0.2, (0.4, 0.3))


# --------------------------------------------------------------------------- difference of proportions

NEWCOMBE_1998_TABLE_II_METHOD_10 = [
    (56, 70, 48, 80, 0.0524, 0.3339),
    (9, 10, 3, 10, 0.1705, 0.8090),
    (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926),
    (0, 10, 0, 20, -0.1611, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0000),
]


@pytest.mark.parametrize(("c1", "n1", "c2", "n2", "low", "high"), NEWCOMBE_1998_TABLE_II_METHOD_10)
def test_newcombe_hybrid_score_matches_newcombe_1998_table_ii(c1, n1, c2, n2, low, high):
    """Newcombe (1998b) Table II, method 10 (hybrid score, no continuity correction)."""
    interval = newcombe_difference_interval(c1, n1, c2, n2)
    assert interval.difference == pytest.approx(c1 / n1 - c2 / n2)
    assert interval.low == pytest.approx(low, abs=PUBLISHED)
    assert interval.high == pytest.approx(high, abs=PUBLISHED)
    comparison = compare_proportions(c1, n1, c2, n2)
    assert (comparison.rd_low, comparison.rd_high) == (interval.low, interval.high)


def test_statsmodels_score_interval_is_not_newcombe_method_10():
    """Why the hybrid score is written out: statsmodels' confint_proportions_2indep(method="score")
    gives 0.0526 to 0.3440 for Newcombe's example (a), not method 10's 0.0524 to 0.3339 (and, with
    statsmodels 0.15.0, raises a root-finding error on examples (b)–(f))."""
    _, high = confint_proportions_2indep(56, 70, 48, 80, method="score", compare="diff")
    assert abs(high - 0.3339) > 0.005


def test_difference_with_an_empty_group_is_none():
    assert newcombe_difference_interval(0, 0, 3, 10) == DifferenceInterval(None, None, None)
    assert newcombe_difference_interval(3, 10, 0, 0) == DifferenceInterval(None, None, None)


# --------------------------------------------------------------------------- odds ratio and Fisher


def test_compare_matches_r_fisher_test_tea_tasting():
    """R ?fisher.test: TeaTasting = matrix(c(3, 1, 1, 3), 2) (Agresti 1990, p. 59–62).

    Two-sided: p = 0.4857, odds ratio 6.408309, 95% CI from 0.2117329.
    alternative = "greater": 95% CI 0.3135693 to Inf — the one-sided 95% lower bound of an exact
    interval is the two-sided 90% lower bound. (The one-sided p 0.2429 is half of 0.4857 here.)
    The printed upper bound 621.9337505 is checked separately below.
    """
    result = compare_proportions(3, 4, 1, 4)
    assert result.fisher_p == pytest.approx(0.4857, abs=PUBLISHED)
    assert result.fisher_p / 2 == pytest.approx(0.2429, abs=PUBLISHED)
    assert result.odds_ratio == pytest.approx(6.408309, abs=PUBLISHED)
    assert result.or_low == pytest.approx(0.2117329, abs=PUBLISHED)
    assert compare_proportions(3, 4, 1, 4, alpha=0.10).or_low == pytest.approx(0.3135693, abs=PUBLISHED)


def _noncentral_lower_tail(x: int, psi: float) -> float:
    """P(X <= x) for the first cell of a 2x2 table with all margins 4, odds ratio psi
    (Fisher's noncentral hypergeometric distribution, Cornfield 1956)."""
    weights = [math.comb(4, k) * math.comb(4, 4 - k) * psi**k for k in range(5)]
    return sum(weights[: x + 1]) / sum(weights)


def test_tea_tasting_upper_bound_solves_the_exact_equation_unlike_rs_printed_value():
    """Known disagreement with a published value, recorded rather than hidden.

    R prints 621.9337505 as the 95% upper bound for TeaTasting; we give about 626.24. The exact
    (Cornfield) upper bound is the psi with P(X <= 3 | psi) = 0.025. Ours solves it; R's printed
    value gives 0.0252, because R's fisher.test finds it with uniroot's default tolerance
    (.Machine$double.eps^0.25 ≈ 1.2e-4) on the 1/psi scale, and 1/621.93 − 1/626.24 ≈ 1.1e-5 is
    within that tolerance.
    """
    high = compare_proportions(3, 4, 1, 4).or_high
    assert _noncentral_lower_tail(3, high) == pytest.approx(0.025, abs=1e-9)
    assert _noncentral_lower_tail(3, 621.9337505) == pytest.approx(0.02517, abs=1e-5)
    r_uniroot_tolerance = (2.0**-52) ** 0.25
    assert abs(1 / high - 1 / 621.9337505) < r_uniroot_tolerance
    assert high - 621.9337505 == pytest.approx(4.31, abs=0.01)


def test_compare_matches_r_fisher_test_convictions():
    """R ?fisher.test: Convictions = matrix(c(2, 10, 15, 3), 2) (Fisher 1962), i.e. 2/17 vs 10/13.

    Two-sided: p = 0.0005367, 95% CI 0.003325764 to 0.363182271, odds ratio 0.04693661.
    alternative = "less": CI 0 to 0.2849601 (= the two-sided 90% upper bound).
    """
    result = compare_proportions(2, 17, 10, 13)
    assert result.fisher_p == pytest.approx(0.0005367, abs=1e-7)
    assert result.odds_ratio == pytest.approx(0.04693661, abs=1e-7)
    assert result.or_low == pytest.approx(0.003325764, abs=PUBLISHED)
    assert result.or_high == pytest.approx(0.363182271, abs=PUBLISHED)
    assert compare_proportions(2, 17, 10, 13, alpha=0.10).or_high == pytest.approx(0.2849601, abs=1e-6)


def test_conditional_odds_ratio_is_not_the_sample_odds_ratio():
    """TeaTasting's sample odds ratio is (3*3)/(1*1) = 9; the conditional MLE R reports is 6.408309."""
    assert compare_proportions(3, 4, 1, 4).odds_ratio != pytest.approx(9.0, abs=0.5)


# --------------------------------------------------------------------------- edge cases


def _finite_or_none(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def test_zero_cell_gives_an_infinite_odds_ratio_and_upper_bound_only():
    """10/10 vs 0/20: the conditional MLE and its upper bound are unbounded (float('inf'))."""
    result = compare_proportions(10, 10, 0, 20)
    assert math.isinf(result.odds_ratio) and math.isinf(result.or_high)
    assert math.isfinite(result.or_low) and result.or_low > 1
    assert result.rd_high == 1.0
    assert result.fisher_p == pytest.approx(1 / math.comb(30, 10), rel=1e-9)  # the only table as extreme
    mirror = compare_proportions(0, 20, 10, 10)
    assert mirror.odds_ratio == 0.0 and mirror.or_low == 0.0 and math.isfinite(mirror.or_high)


@pytest.mark.parametrize(("c1", "n1", "c2", "n2"), [(0, 10, 0, 20), (10, 10, 20, 20)])
def test_nobody_or_everybody_responding_leaves_the_odds_ratio_undefined(c1, n1, c2, n2):
    result = compare_proportions(c1, n1, c2, n2)
    assert (result.odds_ratio, result.or_low, result.or_high) == (None, None, None)
    assert result.fisher_p == 1.0
    assert result.risk_difference == 0.0 and result.rd_low < 0 < result.rd_high


@pytest.mark.parametrize(("c1", "n1", "c2", "n2"), [(0, 0, 3, 5), (3, 5, 0, 0), (0, 0, 0, 0)])
def test_comparison_with_an_empty_group_has_no_estimates(c1, n1, c2, n2):
    result = compare_proportions(c1, n1, c2, n2)
    assert result == TwoGroupComparison(c1, n1, c2, n2, None, None, None, None, None, None, None, 0.05)
    assert "–" in str(result)


@pytest.mark.parametrize(
    ("c1", "n1", "c2", "n2"), [(0, 1, 1, 1), (1, 1, 0, 1), (0, 3, 3, 3), (5, 56, 0, 29), (1, 2, 1, 2)]
)
def test_no_nan_anywhere_at_the_edges(c1, n1, c2, n2):
    result = compare_proportions(c1, n1, c2, n2)
    for value in (result.risk_difference, result.rd_low, result.rd_high, result.fisher_p):
        assert _finite_or_none(value)
    for value in (result.odds_ratio, result.or_low, result.or_high):
        assert value is None or not math.isnan(value)
    assert -1.0 <= result.rd_low <= result.risk_difference <= result.rd_high <= 1.0
    assert 0.0 <= result.fisher_p <= 1.0


def test_comparison_summary_reads_like_a_report():
    text = compare_proportions(2, 17, 10, 13).summary()
    assert "95% Newcombe hybrid score interval" in text
    assert "odds ratio (conditional MLE): 0.0469" in text
    assert "two-sided p: 0.0005367" in text


# --------------------------------------------------------------------------- app memory


def test_the_pages_analysis_modules_do_not_import_scipy_stats_or_statsmodels():
    """Importing scipy.stats costs the app process ≈ 45 MB of its 300 MB budget
    (docs/performance.md, "App memory"); only compare_proportions may import it, lazily."""
    modules = (
        "analysis.queries.response, analysis.queries.safety, analysis.queries.trajectories, "
        "analysis.present.figures.overview"
    )
    code = (
        f"import sys, {modules}; "
        "print(sorted(m for m in sys.modules if m.startswith(('scipy.stats', 'statsmodels'))))"
    )
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-c", code]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
