"""The conditional odds ratio, its exact interval and Fisher's p (analysis/stats/hypergeometric.py,
through ``compare_proportions``) against scipy.stats, which computed them before.

References (scipy 1.17.1, the version pinned here):

- ``scipy.stats.contingency.odds_ratio(table, kind="conditional")``: "the conditional maximum
  likelihood estimate for the odds ratio. It is the noncentrality parameter of Fisher's
  noncentral hypergeometric distribution with the same hypergeometric parameters as table and
  whose mean is table[0, 0]"
  (https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.contingency.odds_ratio.html);
  its ``confidence_interval(confidence_level)`` gives "the conditional 'exact confidence
  limits' as described by Fisher"
  (https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats._result_classes.OddsRatioResult.confidence_interval.html).
  Documented example: ``odds_ratio([[7, 15], [58, 472]])`` has statistic 3.7836687705553493 and
  95% interval 1.2514829132266785 to 10.363493716701269.
- ``scipy.stats.fisher_exact(table)``, two-sided: "the probability that, under the null
  hypothesis, a random table would have a probability equal to or less than the probability of
  the input table" (https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.fisher_exact.html).
  Documented examples: ``[[6, 2], [1, 4]]`` gives 0.10256410256410257 and ``[[8, 2], [1, 5]]``
  0.034965034965034975. scipy counts a table as equally probable within a relative 1e-14, R
  (and we) within 1e-7; on every table below the two agree.

The table of group 1 (``count1`` of ``nobs1``) against group 2 is
``[[count1, nobs1 - count1], [count2, nobs2 - count2]]``. Estimates and bounds are held to
scipy within 1e-6 relative, p-values within 1e-9 relative (they reach 1e-190 here, so a
relative tolerance is the one that means anything); 0 and infinity must match exactly.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
from scipy.stats import fisher_exact
from scipy.stats.contingency import odds_ratio

from analysis.stats import compare_proportions
from analysis.stats.hypergeometric import conditional_odds_ratio, fisher_exact_p

ESTIMATE = 1e-6
P_VALUE = 1e-9

SMALL = [(3, 4, 1, 4), (2, 17, 10, 13), (7, 12, 3, 15), (4, 5, 1, 6), (1, 2, 1, 2), (6, 8, 1, 5)]
UNBALANCED = [
    (1, 1000, 9, 10),
    (5, 500, 1, 3000),
    (1, 50, 49, 50),
    (20, 25, 2, 30),
    (300, 400, 10, 900),
    (2, 5000, 30, 4000),
    (200, 450, 90, 300),
]
ZERO_CELLS = [
    (10, 10, 0, 20),
    (0, 20, 10, 10),
    (5, 56, 0, 29),
    (0, 3, 3, 3),
    (1, 1, 0, 1),
    (0, 1, 1, 1),
    (1, 100, 0, 100),
    (0, 400, 25, 300),
    (30, 30, 12, 40),
]
#: Equal groups: the central probabilities come in exactly tied pairs, the case the tie rule is for.
TIED = [(50, 100, 50, 100), (1, 100, 1, 100), (30, 80, 50, 80), (3, 10, 7, 10)]


def _table(c1: int, n1: int, c2: int, n2: int) -> list[list[int]]:
    return [[c1, n1 - c1], [c2, n2 - c2]]


def _scipy_odds_ratio(c1: int, n1: int, c2: int, n2: int, alpha: float) -> tuple[float, float, float]:
    result = odds_ratio(_table(c1, n1, c2, n2), kind="conditional")
    interval = result.confidence_interval(confidence_level=1 - alpha)
    return float(result.statistic), float(interval.low), float(interval.high)


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.20])
@pytest.mark.parametrize(("c1", "n1", "c2", "n2"), SMALL + UNBALANCED + ZERO_CELLS + TIED)
def test_odds_ratio_and_interval_match_scipy(c1, n1, c2, n2, alpha):
    """``odds_ratio(table, kind="conditional")`` and ``confidence_interval(1 - alpha)``."""
    result = compare_proportions(c1, n1, c2, n2, alpha=alpha)
    expected = _scipy_odds_ratio(c1, n1, c2, n2, alpha)
    ours = (result.odds_ratio, result.or_low, result.or_high)
    for value, reference in zip(ours, expected, strict=True):
        assert value == pytest.approx(reference, rel=ESTIMATE)


@pytest.mark.parametrize(("c1", "n1", "c2", "n2"), SMALL + UNBALANCED + ZERO_CELLS + TIED)
def test_fisher_p_matches_scipy(c1, n1, c2, n2):
    """``fisher_exact(table, alternative="two-sided").pvalue``."""
    expected = fisher_exact(_table(c1, n1, c2, n2), alternative="two-sided").pvalue
    assert compare_proportions(c1, n1, c2, n2).fisher_p == pytest.approx(expected, rel=P_VALUE)


def test_scipy_documented_examples():
    """The values printed in scipy's documentation of ``odds_ratio``, its ``confidence_interval``
    and ``fisher_exact`` (see the module docstring)."""
    odds = conditional_odds_ratio(7, 22, 58, 530)
    assert odds.estimate == pytest.approx(3.7836687705553493, rel=ESTIMATE)
    assert odds.low == pytest.approx(1.2514829132266785, rel=ESTIMATE)
    assert odds.high == pytest.approx(10.363493716701269, rel=ESTIMATE)
    assert fisher_exact_p(6, 8, 1, 5) == pytest.approx(0.10256410256410257, rel=P_VALUE)
    assert fisher_exact_p(8, 10, 1, 6) == pytest.approx(0.034965034965034975, rel=P_VALUE)


#: scipy 1.17.1's ``odds_ratio(table, kind="conditional").confidence_interval(0.95)``, computed
#: once and written down: at these sizes scipy takes 5–50 s per interval (its noncentral
#: hypergeometric cdf runs one support point at a time in Python), too long for the suite.
LARGE_SCIPY_INTERVALS = {
    (20000, 45000, 9000, 30000): (1.809641615672945, 1.925525126268822),
    (27000, 60000, 9000, 25000): (1.4108059143525868, 1.499675799089494),
}


@pytest.mark.parametrize(("c1", "n1", "c2", "n2"), sorted(LARGE_SCIPY_INTERVALS))
def test_large_groups_match_scipy(c1, n1, c2, n2):
    """Tens of thousands a group (the 1M-session clinic's route comparison): the estimate and
    Fisher's p live from scipy (fast at any size), the interval from the values scipy gave."""
    result = compare_proportions(c1, n1, c2, n2)
    table = _table(c1, n1, c2, n2)
    assert result.odds_ratio == pytest.approx(float(odds_ratio(table).statistic), rel=ESTIMATE)
    assert result.fisher_p == pytest.approx(fisher_exact(table).pvalue, rel=P_VALUE)
    low, high = LARGE_SCIPY_INTERVALS[(c1, n1, c2, n2)]
    assert result.or_low == pytest.approx(low, rel=ESTIMATE)
    assert result.or_high == pytest.approx(high, rel=ESTIMATE)


def test_the_odds_ratio_is_refused_where_it_is_undefined():
    """No events, only events or an empty group: ``compare_proportions`` gives ``None`` and
    never asks; asked directly, the function refuses rather than return a number."""
    for counts in [(0, 10, 0, 20), (10, 10, 20, 20), (0, 0, 3, 5)]:
        with pytest.raises(ValueError, match="some, not all, events"):
            conditional_odds_ratio(*counts)
    assert fisher_exact_p(0, 10, 0, 20) == 1.0


def test_compare_proportions_imports_neither_scipy_stats_nor_scipy_optimize():
    """The point of the module: importing ``scipy.stats`` costs a command ≈ 1.0–1.4 s and the app
    ≈ 45 MB, ``scipy.optimize`` ≈ 0.8 s (docs/performance.md)."""
    code = (
        "import sys; from analysis.stats import compare_proportions; "
        "compare_proportions(27000, 60000, 9000, 25000); "
        "print(sorted(m for m in sys.modules if m.startswith(('scipy.stats', 'scipy.optimize'))))"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    assert math.isfinite(compare_proportions(27000, 60000, 9000, 25000).or_high)
