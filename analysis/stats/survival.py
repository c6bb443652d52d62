"""Kaplan–Meier curves, their medians, landmark survival and the log-rank test (docs/methods.md,
"Durability").

Input is what the database returns: one row per distinct time with the number of events
(losses of response) and of censorings on it. From those counts the estimator, Greenwood's
variance, the log(−log) interval ("exponential Greenwood", Kalbfleisch & Prentice) and the
k-group log-rank statistic are a few vectorised numpy lines each, written out here rather than
called from ``scipy.stats.ecdf`` / ``statsmodels``' ``survdiff`` for a measured reason: importing
``scipy.stats`` costs the command ≈ 0.55 s of CPU and the app ≈ 45 MB (docs/performance.md), half
of durability's 1-second budget. ``tests/test_survival.py`` holds every number to those two
libraries (and to the published Freireich 6-MP values).

Rules the formulas leave to us (docs/methods.md):

- a step where survival is still 1 has the interval 1–1 (no event yet: the log(−log) formula is
  0/0 there); a step where survival reached 0 has no interval (``None``), as R's ``survfit``;
- the median is the first day on which survival ≤ 0.5 (no interpolation); its interval the
  first days on which the lower and upper bands are ≤ 0.5 (as lifelines'
  ``median_survival_times(confidence_interval_)``); ``None`` where never reached;
- survival on a landmark day is the step function's value on that day with the interval of the
  last step on or before it; ``None`` when nobody is followed that long (no one at risk) unless
  the curve already reached 0.

References
----------
.. [1] Kaplan EL, Meier P (1958). Nonparametric estimation from incomplete observations. J Am
   Stat Assoc 53:457–481.
.. [2] Greenwood M (1926). The natural duration of cancer. Reports on Public Health and Medical
   Subjects 33. HMSO.
.. [3] Kalbfleisch JD, Prentice RL (2002). The Statistical Analysis of Failure Time Data, 2nd ed.
   Wiley. §1.4 (the log(−log) interval).
.. [4] Brookmeyer R, Crowley J (1982). A confidence interval for the median survival time.
   Biometrics 38:29–41.
.. [5] Mantel N (1966). Evaluation of survival data and two new rank order statistics arising
   in its consideration. Cancer Chemother Rep 50:163–170 (the log-rank test).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

#: Landmark days for survival (4, 8, 12 and 26 weeks).
LANDMARK_DAYS: tuple[int, ...] = (28, 56, 84, 182)
#: docs/methods.md's tolerance: "survival ≤ 0.5" means ≤ 0.5 + 1e-9.
EPSILON = 1e-9


@dataclass(frozen=True)
class CurveStep:
    """One distinct day on which a loss or a censoring falls."""

    day: int
    survival: float
    ci_low: float | None
    ci_high: float | None
    at_risk: int  # patients whose time is ≥ this day
    events: int
    censored: int


@dataclass(frozen=True)
class Landmark:
    """Survival on a landmark day, with the interval of the last step on or before it."""

    day: int
    survival: float | None
    ci_low: float | None
    ci_high: float | None
    at_risk: int


@dataclass(frozen=True)
class SurvivalCurve:
    """A Kaplan–Meier curve with its median and landmarks (the CLI's ``CURVE`` without boosters)."""

    patients: int
    events: int
    censored: int
    median_days: int | None
    median_ci_low: int | None
    median_ci_high: int | None
    at: tuple[Landmark, ...]
    curve: tuple[CurveStep, ...]

    def at_risk_on(self, day: float) -> int:
        """Patients whose time is ≥ ``day`` (the number at risk printed under a curve)."""
        return sum(step.events + step.censored for step in self.curve if step.day >= day)

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready values (``None`` for what does not exist).

        Written out rather than ``dataclasses.asdict``, which deep-copies every value: a curve of
        a 1M-session clinic has thousands of steps (docs/performance.md, "Durability").
        """
        return {
            "patients": self.patients,
            "events": self.events,
            "censored": self.censored,
            "median_days": self.median_days,
            "median_ci_low": self.median_ci_low,
            "median_ci_high": self.median_ci_high,
            "at": [
                {
                    "day": a.day,
                    "survival": a.survival,
                    "ci_low": a.ci_low,
                    "ci_high": a.ci_high,
                    "at_risk": a.at_risk,
                }
                for a in self.at
            ],
            "curve": [
                {
                    "day": c.day,
                    "survival": c.survival,
                    "ci_low": c.ci_low,
                    "ci_high": c.ci_high,
                    "at_risk": c.at_risk,
                    "events": c.events,
                    "censored": c.censored,
                }
                for c in self.curve
            ],
        }


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _intervals(
    at_risk: np.ndarray, events: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kaplan–Meier survival and its log(−log) interval after each distinct time.

    S = ∏(1 − d/n); Greenwood: Var(log S) = Σ d / (n(n − d)); on the log(−log) scale the
    standard error is √Greenwood / |log S| and the bounds are S^exp(±z·se) (as
    ``scipy.stats.ecdf(...).sf.confidence_interval(method="log-log")``).
    """
    z = float(special.ndtri(1 - alpha / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1 - events / at_risk)
        greenwood = np.cumsum(events / (at_risk * (at_risk - events)))
        se = np.sqrt(greenwood) / np.abs(np.log(survival))
        low = survival ** np.exp(z * se)
        high = survival ** np.exp(-z * se)
    return survival, low, high


def kaplan_meier(
    days: Sequence[int],
    events: Sequence[int],
    censored: Sequence[int],
    *,
    landmarks: Sequence[int] = LANDMARK_DAYS,
    alpha: float = 0.05,
) -> SurvivalCurve:
    """The Kaplan–Meier curve of one group from its counts per distinct day.

    ``days`` are distinct, ``events[i]`` losses and ``censored[i]`` censorings on ``days[i]``.
    """
    order = np.argsort(np.asarray(days, dtype=int), kind="stable")
    t = np.asarray(days, dtype=int)[order]
    d = np.asarray(events, dtype=int)[order]
    c = np.asarray(censored, dtype=int)[order]
    keep = (d + c) > 0
    t, d, c = t[keep], d[keep], c[keep]
    total = int(d.sum() + c.sum())
    if total == 0:
        return SurvivalCurve(
            0, 0, 0, None, None, None, tuple(Landmark(x, None, None, None, 0) for x in landmarks), ()
        )
    at_risk = total - np.concatenate(([0], np.cumsum(d + c)[:-1]))
    surv, low, high = _intervals(at_risk.astype(float), d.astype(float), alpha)
    steps = []
    for i in range(len(t)):
        s = float(surv[i])
        if s >= 1 - EPSILON:
            interval: tuple[float | None, float | None] = (1.0, 1.0)
        elif s <= EPSILON:
            interval = (None, None)
        else:
            interval = (_clean(low[i]), _clean(high[i]))
        steps.append(CurveStep(int(t[i]), s, *interval, int(at_risk[i]), int(d[i]), int(c[i])))
    return SurvivalCurve(
        patients=total,
        events=int(d.sum()),
        censored=int(c.sum()),
        median_days=_first_day(steps, lambda s: s.survival),
        median_ci_low=_first_day(steps, lambda s: s.ci_low),
        median_ci_high=_first_day(steps, lambda s: s.ci_high),
        at=tuple(_landmark(steps, day) for day in landmarks),
        curve=tuple(steps),
    )


def _first_day(steps: Sequence[CurveStep], value: object) -> int | None:
    """The first day on which ``value(step)`` is ≤ 0.5 (``None`` values never are)."""
    for step in steps:
        v = value(step)  # type: ignore[operator]
        if v is not None and v <= 0.5 + EPSILON:
            return step.day
    return None


def _landmark(steps: Sequence[CurveStep], day: int) -> Landmark:
    at_risk = sum(s.events + s.censored for s in steps if s.day >= day)  # as SurvivalCurve.at_risk_on
    before = [s for s in steps if s.day <= day]
    if not before:
        return Landmark(day, 1.0, 1.0, 1.0, at_risk)
    last = before[-1]
    if at_risk == 0 and last.survival > EPSILON:
        return Landmark(day, None, None, None, 0)  # nobody followed that long: unknown
    return Landmark(day, last.survival, last.ci_low, last.ci_high, at_risk)


def logrank_p(groups: Mapping[str, tuple[Sequence[int], Sequence[int], Sequence[int]]]) -> float | None:
    """Log-rank p across groups, each given as (days, events, censored) counts (Mantel 1966).

    At each distinct time with an event, observed minus expected losses per group and their
    hypergeometric covariance; the statistic (O − E)ᵀ V⁻ (O − E) is chi-square with as many
    degrees of freedom as V's rank (a generalised inverse, as R's ``survdiff``), which is k − 1
    unless a group had nobody at risk at any loss. ``None`` with fewer than two groups holding
    patients or no loss at all.
    """
    present = [
        (np.asarray(t, dtype=int), np.asarray(d, dtype=int), np.asarray(c, dtype=int))
        for t, d, c in groups.values()
    ]
    present = [g for g in present if g[1].sum() + g[2].sum() > 0]
    if len(present) < 2 or sum(int(g[1].sum()) for g in present) == 0:
        return None
    times = np.unique(np.concatenate([t[d > 0] for t, d, _ in present]))
    # Per group and event time: at risk (time ≥ t) and losses at t.
    at_risk = np.empty((len(present), times.size))
    losses = np.zeros((len(present), times.size))
    for g, (t, d, c) in enumerate(present):
        order = np.argsort(t)
        t, leaving = t[order], (d + c)[order]
        after = np.concatenate((np.cumsum(leaving[::-1])[::-1], [0]))  # patients with time ≥ t[i]
        at_risk[g] = after[np.searchsorted(t, times, side="left")]
        hit = np.isin(times, t[d[order] > 0])
        losses[g, hit] = d[order][np.isin(t, times[hit])]
    n, events = at_risk.sum(axis=0), losses.sum(axis=0)
    observed_minus_expected = (losses - at_risk * events / n).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        weight = np.where(n > 1, events * (n - events) / (n - 1), 0.0)
        share = at_risk / n
    covariance = np.einsum("j,gj,hj->gh", weight, share, -share) + np.diag((weight * share).sum(axis=1))
    rank = np.linalg.matrix_rank(covariance)
    if rank == 0:
        return None
    statistic = float(observed_minus_expected @ np.linalg.pinv(covariance) @ observed_minus_expected)
    return _clean(float(special.chdtrc(rank, statistic)))


@dataclass(frozen=True)
class Quartiles:
    """Median and quartiles (numpy's linear interpolation) of a set of values."""

    median: float | None
    q1: float | None
    q3: float | None
    n: int


def quartiles(values: Sequence[float], counts: Sequence[int] | None = None) -> Quartiles:
    """Median and quartiles of ``values`` (each repeated ``counts`` times); ``None`` when empty."""
    data = np.asarray(values, dtype=float)
    if counts is not None:
        data = np.repeat(data, np.asarray(counts, dtype=int))
    if data.size == 0:
        return Quartiles(None, None, None, 0)
    q1, median, q3 = np.percentile(data, [25, 50, 75])  # method="linear", numpy's default
    return Quartiles(float(median), float(q1), float(q3), int(data.size))
