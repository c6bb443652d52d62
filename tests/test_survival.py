"""Kaplan–Meier, its intervals, the median and the log-rank test against published values.

The worked example is the Freireich et al. (1963) 6-mercaptopurine remission trial (Gehan 1965):
21 children on 6-MP and 21 on placebo, remission length in weeks.

- Kaplan–Meier table of the 6-MP group with Greenwood standard errors: Klein JP, Moeschberger
  ML (2003), *Survival Analysis*, 2nd ed., Springer, §4.2 (data set ``drug6mp`` of the R package
  KMsurv); R's ``summary(survfit(Surv(t2, relapse) ~ 1, data = drug6mp))`` prints the same table
  (6: 0.857, se 0.0764; 7: 0.807, 0.0869; 10: 0.753, 0.0963; 13: 0.690, 0.1068; 16: 0.627,
  0.1141; 22: 0.538, 0.1282; 23: 0.448, 0.1346).
- Log-rank: Kleinbaum DG, Klein M (2012), *Survival Analysis: A Self-Learning Text*, 3rd ed.,
  Springer, ch. 2 (the remission data): chi-square 16.79 on 1 df; R's ``survdiff`` prints
  "Chisq= 16.8 on 1 degrees of freedom, p= 4.17e-05".
- Medians: 23 weeks (6-MP) and 8 weeks (placebo), as R's ``quantile(survfit(...))`` prints.
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.stats import chi2, norm
from statsmodels.duration.survfunc import survdiff

from analysis.stats.survival import kaplan_meier, logrank_p, quartiles

SIX_MP_EVENTS = [6, 6, 6, 7, 10, 13, 16, 22, 23]
SIX_MP_CENSORED = [6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
PLACEBO_EVENTS = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]

#: Klein & Moeschberger §4.2: (week, survival, Greenwood standard error) at each relapse time.
PUBLISHED_6MP = [
    (6, 0.857, 0.0764),
    (7, 0.807, 0.0869),
    (10, 0.753, 0.0963),
    (13, 0.690, 0.1068),
    (16, 0.627, 0.1141),
    (22, 0.538, 0.1282),
    (23, 0.448, 0.1346),
]


def counts(events: list[int], censored: list[int]) -> tuple[list[int], list[int], list[int]]:
    """The (days, events, censored) per distinct time the database returns."""
    e, c = Counter(events), Counter(censored)
    days = sorted(e.keys() | c.keys())
    return days, [e[d] for d in days], [c[d] for d in days]


SIX_MP = counts(SIX_MP_EVENTS, SIX_MP_CENSORED)
PLACEBO = counts(PLACEBO_EVENTS, [])


def test_freireich_6mp_kaplan_meier_matches_klein_and_moeschberger():
    steps = {s.day: s for s in kaplan_meier(*SIX_MP).curve}
    for week, survival, _ in PUBLISHED_6MP:
        assert steps[week].survival == pytest.approx(survival, abs=5e-4)


def test_freireich_6mp_interval_is_greenwood_on_the_log_minus_log_scale():
    """The log(−log) interval from the published Greenwood standard error (Kalbfleisch &
    Prentice 2002, §1.4): S^exp(±z·se / (S·|log S|))."""
    z = norm.ppf(0.975)
    steps = {s.day: s for s in kaplan_meier(*SIX_MP).curve}
    for week, survival, se in PUBLISHED_6MP:
        spread = z * se / (survival * abs(math.log(survival)))
        low, high = survival ** math.exp(spread), survival ** math.exp(-spread)
        assert steps[week].ci_low == pytest.approx(low, abs=2e-3)
        assert steps[week].ci_high == pytest.approx(high, abs=2e-3)


def test_freireich_medians_are_23_and_8_weeks():
    six_mp, placebo = kaplan_meier(*SIX_MP), kaplan_meier(*PLACEBO)
    assert (six_mp.median_days, placebo.median_days) == (23, 8)
    # The interval: the first weeks on which the lower and the upper band reach 0.5. On 6-MP
    # the lower band is 0.43 at week 13 and the upper band never reaches 0.5 (0.68 at the end).
    assert (six_mp.median_ci_low, six_mp.median_ci_high) == (13, None)


def test_freireich_log_rank_is_16_79_as_kleinbaum_and_klein_print():
    p = logrank_p({"6-MP": SIX_MP, "placebo": PLACEBO})
    assert chi2.isf(p, df=1) == pytest.approx(16.79, abs=0.01)
    assert p == pytest.approx(4.17e-05, rel=0.01)


def test_censored_and_event_counts_and_at_risk():
    curve = kaplan_meier(*SIX_MP)
    assert (curve.patients, curve.events, curve.censored) == (21, 9, 12)
    assert curve.curve[0].at_risk == 21 and curve.curve[1].at_risk == 17  # week 6: 3 + 1 leave


def test_survival_on_a_landmark_is_the_last_step_on_or_before_it():
    curve = kaplan_meier(*SIX_MP, landmarks=(12, 6, 5, 36))
    week12, week6, week5, week36 = curve.at
    assert week12.survival == pytest.approx(0.753, abs=5e-4)  # the step of week 10
    assert week12.at_risk == 12  # times ≥ 12
    assert week6.survival == pytest.approx(0.857, abs=5e-4)
    assert (week5.survival, week5.ci_low, week5.ci_high) == (1.0, 1.0, 1.0)
    assert (week36.survival, week36.at_risk) == (None, 0)  # nobody followed 36 weeks


def test_a_curve_that_reaches_zero_has_no_interval_there():
    curve = kaplan_meier(*PLACEBO)
    last = curve.curve[-1]
    assert (last.survival, last.ci_low, last.ci_high) == (0.0, None, None)
    assert curve.at[-1].survival == 0.0  # known: everyone has lost the response


def test_an_empty_group_has_no_estimates():
    curve = kaplan_meier([], [], [])
    assert (curve.patients, curve.median_days, curve.curve) == (0, None, ())
    assert all(a.survival is None for a in curve.at)


def test_log_rank_needs_two_groups_with_an_event():
    assert logrank_p({"6-MP": SIX_MP}) is None
    assert logrank_p({"a": ([5], [0], [3]), "b": ([7], [0], [2])}) is None


def test_log_rank_with_three_groups_has_two_degrees_of_freedom():
    p = logrank_p({"a": SIX_MP, "b": PLACEBO, "c": SIX_MP})
    assert 0 < p < 1e-3


def test_quartiles_are_numpys_linear_interpolation():
    result = quartiles([10, 20, 40], [1, 2, 1])  # 10, 20, 20, 40
    assert (result.q1, result.median, result.q3, result.n) == (17.5, 20.0, 25.0, 4)
    assert quartiles([]).median is None


def random_groups(seed: int, k: int) -> dict[str, tuple[list[int], list[int], list[int]]]:
    rng = np.random.default_rng(seed)
    groups = {}
    for g in range(k):
        n = int(rng.integers(5, 60))
        time = rng.integers(0, 200, n)
        event = rng.random(n) < 0.6
        groups[str(g)] = counts(list(time[event]), list(time[~event]))
    return groups


@pytest.mark.parametrize("seed", range(6))
def test_curve_and_interval_equal_scipys_ecdf(seed):
    """scipy.stats.ecdf(CensoredData).sf and its confidence_interval(method="log-log")."""
    days, events, censored = random_groups(seed, 1)["0"]
    data = stats.CensoredData(uncensored=np.repeat(days, events), right=np.repeat(days, censored))
    sf = stats.ecdf(data).sf
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        band = sf.confidence_interval(method="log-log")
    curve = kaplan_meier(days, events, censored)
    assert [s.day for s in curve.curve] == list(sf.quantiles)
    assert [s.survival for s in curve.curve] == pytest.approx(sf.probabilities)
    for step, low, high in zip(curve.curve, band.low.probabilities, band.high.probabilities, strict=True):
        if 0 < step.survival < 1:
            assert (step.ci_low, step.ci_high) == pytest.approx((low, high))


@pytest.mark.parametrize(("seed", "k"), [(s, k) for s in range(4) for k in (2, 3, 5)])
def test_log_rank_equals_statsmodels_survdiff(seed, k):
    groups = random_groups(100 + seed, k)
    time, status, label = [], [], []
    for name, (days, events, censored) in groups.items():
        time += list(np.repeat(days, events)) + list(np.repeat(days, censored))
        status += [1] * sum(events) + [0] * sum(censored)
        label += [name] * (sum(events) + sum(censored))
    _, expected = survdiff(np.array(time, float), np.array(status), np.array(label))
    assert logrank_p(groups) == pytest.approx(expected, rel=1e-9)


def test_log_rank_degrees_of_freedom_drop_when_a_group_is_never_at_risk_at_a_loss():
    # Group c's only patient leaves before any loss: two degrees of freedom would be one.
    two = logrank_p({"a": SIX_MP, "b": PLACEBO})
    assert logrank_p({"a": SIX_MP, "b": PLACEBO, "c": ([0], [0], [1])}) == pytest.approx(two)


def test_computing_a_curve_does_not_import_scipy_stats_or_statsmodels():
    """The command's 1-second budget and the app's memory (docs/performance.md): ≈ 0.55 s of CPU
    and ≈ 45 MB that durability does not need."""
    code = (
        "import sys, analysis.queries.durability, analysis.present.durability; "
        "from analysis.stats.survival import kaplan_meier, logrank_p; "
        "kaplan_meier([1, 2, 3], [1, 1, 0], [0, 1, 1]); "
        "logrank_p({'a': ([1, 2], [1, 1], [0, 0]), 'b': ([3], [1], [1])}); "
        "print(sorted(m for m in sys.modules if m.startswith(('scipy.stats', 'statsmodels'))))"
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
