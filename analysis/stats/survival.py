"""Kaplan–Meier curves, their medians, landmark survival and the log-rank test (docs/methods.md,
"Durability").

Input is what the database returns: one row per distinct time with the number of events
(losses of response) and of censorings on it. The estimator and its pointwise intervals come
from ``scipy.stats.ecdf`` (``sf.confidence_interval(method="log-log")``: Greenwood's variance on
the log(−log) scale, the "exponential Greenwood" interval of Kalbfleisch & Prentice); the
log-rank test across any number of groups from ``statsmodels.duration.survfunc.survdiff``
(scipy's ``logrank`` compares two samples only). Both are imported inside the functions that
use them: importing ``scipy.stats`` costs the app process ≈ 45 MB (docs/performance.md) and
statsmodels ≈ 0.3 s, which only a durability view should pay.

Rules the libraries leave to us (docs/methods.md):

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
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

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
        """Plain JSON-ready values (``None`` for what does not exist)."""
        return asdict(self) | {"at": [asdict(a) for a in self.at], "curve": [asdict(c) for c in self.curve]}


def _clean(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _intervals(days: np.ndarray, events: np.ndarray, censored: np.ndarray, alpha: float) -> tuple:
    """Survival and its log(−log) interval at each of ``days`` (scipy does the arithmetic)."""
    from scipy import stats  # ≈ 45 MB: only when a curve is drawn

    data = stats.CensoredData(
        uncensored=np.repeat(days, events).astype(float), right=np.repeat(days, censored).astype(float)
    )
    sf = stats.ecdf(data).sf
    with warnings.catch_warnings():  # 0/0 where survival is 1 or 0: handled below, by rule
        warnings.simplefilter("ignore", RuntimeWarning)
        band = sf.confidence_interval(1 - alpha, method="log-log")
    # ecdf's quantiles are the distinct observed times, the same as ``days``.
    return sf.probabilities, band.low.probabilities, band.high.probabilities


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
    surv, low, high = _intervals(t, d, c, alpha)
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
    """Log-rank p across groups, each given as (days, events, censored) counts.

    ``None`` with fewer than two groups holding patients, no event at all, or no event while
    two groups were both at risk (the statistic's variance is singular: no test exists).
    """
    times: list[np.ndarray] = []
    status: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for index, (days, events, censored) in enumerate(groups.values()):
        t = np.asarray(days, dtype=float)
        d, c = np.asarray(events, dtype=int), np.asarray(censored, dtype=int)
        if d.sum() + c.sum() == 0:
            continue
        times += [np.repeat(t, d), np.repeat(t, c)]
        status += [np.ones(int(d.sum())), np.zeros(int(c.sum()))]
        labels += [np.full(int(d.sum() + c.sum()), index)]
    if len(labels) < 2 or sum(s.sum() for s in status) == 0:
        return None
    from statsmodels.duration.survfunc import survdiff  # ≈ 0.3 s to import: only with groups

    try:
        _, p = survdiff(np.concatenate(times), np.concatenate(status), np.concatenate(labels))
    except np.linalg.LinAlgError:  # no event while two groups were both at risk: no test
        return None
    return _clean(float(p))


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
