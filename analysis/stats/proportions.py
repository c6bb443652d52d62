"""Intervals, tests and two-group comparisons for responder rates (docs/methods.md).

Every function takes counts (``count`` events out of ``nobs`` patients) and returns a small
frozen dataclass with named fields, or a plain number, never a bare tuple. A group with no
patients (``nobs == 0``) gives ``None`` in place of every estimate; nothing here returns
``nan``. The only infinite value ever returned is an odds ratio (or its upper bound) that is
genuinely unbounded, given as ``float("inf")``.

The numerical work is done by scipy and numpy, never ``scipy.stats``: importing it costs the
app process ≈ 45 MB of its 300 MB budget (docs/performance.md, "App memory") and a command
≈ 1.0–1.4 s. The intervals and the binomial tail that every page needs come from
``scipy.special`` (the normal quantile, the regularized incomplete beta function and its
inverses), with the textbook formulas written out. Fisher's exact test and the conditional
odds ratio with its exact interval come from :mod:`analysis.stats.hypergeometric`, which
computes in numpy what ``scipy.stats.fisher_exact`` and
``scipy.stats.contingency.odds_ratio(kind="conditional")`` give, in tens of milliseconds where
scipy's interval took seconds on the route comparison of a 1M-session clinic (the measured
reasons are in that module). Newcombe's hybrid score interval for a difference of
proportions is written out here, as no library provides it (statsmodels'
``confint_proportions_2indep(method="score")`` is a different, Miettinen–Nurminen-type
interval).

References
----------
.. [1] Wilson EB (1927). Probable inference, the law of succession, and statistical
   inference. J Am Stat Assoc 22:209–212.
.. [2] Clopper CJ, Pearson ES (1934). The use of confidence or fiducial limits illustrated in
   the case of the binomial. Biometrika 26:404–413.
.. [3] Newcombe RG (1998). Two-sided confidence intervals for the single proportion:
   comparison of seven methods. Stat Med 17:857–872.
.. [4] Newcombe RG (1998). Interval estimation for the difference between independent
   proportions: comparison of eleven methods. Stat Med 17:873–890.
.. [5] Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J Stat
   6:65–70.
.. [6] Cornfield J (1956). A statistical problem arising from retrospective studies. Proc
   Third Berkeley Symp Math Stat Prob 4:135–148.
.. [7] Agresti A (2013). Categorical Data Analysis, 3rd ed. Wiley. §1.4 (exact binomial
   inference), §3.5 (Fisher's exact test and the conditional odds ratio).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.special import betainc, betainccinv, betaincinv, ndtri

from analysis.domain.definition import CI_METHODS
from analysis.stats.hypergeometric import conditional_odds_ratio, fisher_exact_p

__all__ = [
    "DifferenceInterval",
    "ProportionEstimate",
    "TwoGroupComparison",
    "band_verdict",
    "binomial_p_greater",
    "comparator_verdict",
    "compare_proportions",
    "holm",
    "newcombe_difference_interval",
    "proportion_interval",
]


# --------------------------------------------------------------------------- checks


def _check_counts(count: int, nobs: int, name: str = "") -> None:
    label = f" ({name})" if name else ""
    if nobs < 0 or count < 0:
        raise ValueError(f"counts must be 0 or more{label}: got count={count}, nobs={nobs}")
    if count > nobs:
        raise ValueError(f"count cannot exceed nobs{label}: got count={count}, nobs={nobs}")


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05): got {alpha}")


def _clip01(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    if math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}"


def _fmt_p(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}%"


# --------------------------------------------------------------------------- one proportion


@dataclass(frozen=True)
class ProportionEstimate:
    """A rate ``count / nobs`` with its two-sided confidence interval.

    ``rate``, ``low`` and ``high`` are ``None`` when ``nobs == 0``. ``method`` is
    ``"wilson"`` or ``"exact"`` (Clopper–Pearson).
    """

    count: int
    nobs: int
    rate: float | None
    low: float | None
    high: float | None
    method: str

    def summary(self) -> str:
        """One readable line, e.g. ``81/263 = 0.3080 (Wilson score interval 0.2553 to 0.3662)``."""
        if self.rate is None:
            return f"{self.count}/{self.nobs}: no data"
        label = CI_METHODS.get(self.method, self.method)
        return (
            f"{self.count}/{self.nobs} = {_fmt(self.rate)} "
            f"({label} interval {_fmt(self.low)} to {_fmt(self.high)})"
        )

    def __str__(self) -> str:
        return self.summary()


def proportion_interval(
    count: int, nobs: int, *, alpha: float = 0.05, method: str = "wilson"
) -> ProportionEstimate:
    """Rate and two-sided ``1 - alpha`` confidence interval for ``count`` out of ``nobs``.

    Parameters
    ----------
    count, nobs : int
        Events (e.g. responders) and the denominator, ``0 <= count <= nobs``.
    alpha : float
        ``1 - alpha`` is the confidence level.
    method : {"wilson", "exact"}
        ``"wilson"``: Wilson score interval without continuity correction [1]_ (method 3 of
        Newcombe [3]_), in closed form with ``z = scipy.special.ndtri(1 - alpha/2)``.
        ``"exact"``: Clopper–Pearson interval [2]_ (method 5 of [3]_), the ``alpha/2`` and
        ``1 - alpha/2`` quantiles of beta distributions, from ``scipy.special.betaincinv``
        and ``betainccinv``.

    Returns
    -------
    ProportionEstimate
        ``rate``, ``low`` and ``high`` are ``None`` when ``nobs == 0``.

    Notes
    -----
    Wilson's interval keeps close to nominal coverage even for small ``nobs`` and rates near
    0 or 1, and never leaves [0, 1] [3]_. Clopper–Pearson guarantees at least nominal
    coverage and is therefore conservative (wider). Both give ``low = 0`` when
    ``count == 0`` and ``high = 1`` when ``count == nobs``; these bounds are set exactly.
    """
    _check_counts(count, nobs)
    _check_alpha(alpha)
    if method not in CI_METHODS:
        raise ValueError(f"the interval method must be 'wilson' or 'exact': got {method!r}")
    if nobs == 0:
        return ProportionEstimate(count, nobs, None, None, None, method)
    low, high = _bounds(count, nobs, alpha, method)
    return ProportionEstimate(count, nobs, count / nobs, low, high, method)


def _bounds(count: int, nobs: int, alpha: float, method: str) -> tuple[float, float]:
    """Interval bounds for ``nobs > 0``, exact at the edges (0 when none, 1 when all).

    The same formulas as statsmodels' ``proportion_confint`` (methods ``"wilson"`` and
    ``"beta"``), without importing ``scipy.stats``.
    """
    if method == "wilson":
        # Wilson (1927): the p with |count - nobs p| = z sqrt(nobs p (1 - p)).
        # -ndtri(alpha/2) is the upper alpha/2 normal quantile, accurate for small alpha.
        z = -float(ndtri(alpha / 2))
        rate = count / nobs
        z2 = z * z
        denominator = 1 + z2 / nobs
        centre = (rate + z2 / (2 * nobs)) / denominator
        half = z * math.sqrt(rate * (1 - rate) / nobs + z2 / (4 * nobs * nobs)) / denominator
        low, high = centre - half, centre + half
    else:
        # Clopper–Pearson (1934): Beta(count, nobs - count + 1) lower alpha/2 quantile and
        # Beta(count + 1, nobs - count) upper alpha/2 quantile; undefined (and not needed) at
        # count == 0 and count == nobs respectively.
        low = float(betaincinv(count, nobs - count + 1, alpha / 2)) if count > 0 else 0.0
        high = float(betainccinv(count + 1, nobs - count, alpha / 2)) if count < nobs else 1.0
    return (0.0 if count == 0 else _clip01(low)), (1.0 if count == nobs else _clip01(high))


def binomial_p_greater(count: int, nobs: int, p0: float) -> float | None:
    """One-sided exact binomial p-value for H1: rate > ``p0``.

    The p-value is the upper binomial tail ``P(X >= count)`` for ``X ~ Binomial(nobs, p0)``
    [7]_, what ``scipy.stats.binomtest(count, nobs, p0, alternative="greater")`` gives. It is
    computed through the identity ``P(X >= k) = I_p0(k, nobs - k + 1)`` for ``k >= 1``, with
    ``I`` the regularized incomplete beta function (``scipy.special.betainc``).

    Parameters
    ----------
    count, nobs : int
        Events and denominator, ``0 <= count <= nobs``.
    p0 : float
        The rate under the null hypothesis, ``0 <= p0 <= 1`` (e.g. a benchmark band edge).

    Returns
    -------
    float or None
        ``None`` when ``nobs == 0``.

    Notes
    -----
    Exact for any ``nobs``; no normal approximation. ``count == 0`` always gives 1.
    """
    _check_counts(count, nobs)
    if not 0 <= p0 <= 1:
        raise ValueError(f"p0 must be between 0 and 1: got {p0}")
    if nobs == 0:
        return None
    if count == 0:
        return 1.0
    return _clip01(betainc(count, nobs - count + 1, p0))


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm step-down adjusted p-values [5]_, leaving ``None`` entries in place.

    The adjustment runs over the non-``None`` values only (their number is ``m``): sorted
    ascending, ``p_(i)`` becomes ``max_{j<=i} min(1, (m - j + 1) p_(j))``, as R's
    ``p.adjust(method="holm")``.

    Notes
    -----
    Holm's procedure controls the family-wise error rate under any dependence between the
    tests and is uniformly more powerful than Bonferroni's. Written out here rather than calling
    statsmodels' ``multipletests``, which runs a full ``gc.collect()`` on every call (0.1–0.3 s
    in the app process; docs/performance.md).
    """
    present = [(i, p) for i, p in enumerate(pvalues) if p is not None]
    for _, p in present:
        if not 0 <= p <= 1:
            raise ValueError(f"p-values must be between 0 and 1: got {p}")
    adjusted: list[float | None] = [None] * len(pvalues)
    if not present:
        return adjusted
    m = len(present)
    running = 0.0
    for rank, (i, p) in enumerate(sorted(present, key=lambda item: item[1])):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def band_verdict(low: float | None, high: float | None, band: tuple[float, float]) -> str:
    """Where an interval lies relative to the benchmark band (docs/methods.md).

    Returns
    -------
    str
        ``"above"`` when ``low`` > band top; ``"below"`` when ``high`` < band bottom;
        ``"overlaps"`` otherwise (touching an edge counts as overlapping); ``"no_data"`` when
        ``low`` or ``high`` is ``None``.
    """
    bottom, top = band
    if bottom > top:
        raise ValueError(f"the band bottom must not exceed its top: got {band}")
    if low is None or high is None:
        return "no_data"
    if low > top:
        return "above"
    if high < bottom:
        return "below"
    return "overlaps"


def comparator_verdict(low: float | None, high: float | None, rate: float) -> str:
    """Where an interval lies relative to one published comparator's rate (docs/comparisons.md).

    ``"above"`` when ``low`` > rate, ``"below"`` when ``high`` < rate, ``"overlaps"`` otherwise
    (touching counts as overlapping, as with the band); ``"no_data"`` without an interval.
    """
    if not 0 <= rate <= 1:
        raise ValueError(f"a comparator's rate must be between 0 and 1: got {rate}")
    return band_verdict(low, high, (rate, rate))


# --------------------------------------------------------------------------- two proportions


@dataclass(frozen=True)
class DifferenceInterval:
    """A difference of two proportions ``p1 - p2`` with its confidence interval.

    All three fields are ``None`` when either group has no patients.
    """

    difference: float | None
    low: float | None
    high: float | None

    def summary(self) -> str:
        """One readable line, e.g. ``difference 0.2000 (0.0524 to 0.3339)``."""
        if self.difference is None:
            return "difference: no data"
        return f"difference {_fmt(self.difference)} ({_fmt(self.low)} to {_fmt(self.high)})"

    def __str__(self) -> str:
        return self.summary()


def newcombe_difference_interval(
    count1: int, nobs1: int, count2: int, nobs2: int, *, alpha: float = 0.05
) -> DifferenceInterval:
    """Newcombe's hybrid score interval for ``p1 - p2`` (method 10 of [4]_).

    With ``(l_i, u_i)`` the Wilson score interval [1]_ (no continuity correction) for
    ``p_i = count_i / nobs_i`` and ``d = p1 - p2``::

        low  = d - sqrt((p1 - l1)**2 + (u2 - p2)**2)
        high = d + sqrt((u1 - p1)**2 + (p2 - l2)**2)

    Returns
    -------
    DifferenceInterval
        All fields ``None`` when ``nobs1 == 0`` or ``nobs2 == 0``.

    Notes
    -----
    Newcombe found this interval to have coverage close to nominal, with no aberrations at
    zero counts, and it never leaves [-1, 1] [4]_. It is not the same as statsmodels'
    ``confint_proportions_2indep(method="score")``.
    """
    _check_counts(count1, nobs1, "group 1")
    _check_counts(count2, nobs2, "group 2")
    _check_alpha(alpha)
    if nobs1 == 0 or nobs2 == 0:
        return DifferenceInterval(None, None, None)
    p1, p2 = count1 / nobs1, count2 / nobs2
    l1, u1 = _bounds(count1, nobs1, alpha, "wilson")
    l2, u2 = _bounds(count2, nobs2, alpha, "wilson")
    difference = p1 - p2
    low = difference - math.hypot(p1 - l1, u2 - p2)
    high = difference + math.hypot(u1 - p1, p2 - l2)
    return DifferenceInterval(difference, max(-1.0, low), min(1.0, high))


@dataclass(frozen=True)
class TwoGroupComparison:
    """Group 1 against group 2: risk difference, odds ratio and Fisher's exact test.

    ``risk_difference`` is ``p1 - p2`` with Newcombe's hybrid score interval [4]_.
    ``odds_ratio`` is the conditional maximum-likelihood estimate with its exact
    (Cornfield) interval [6]_; it and ``or_high`` may be ``float("inf")`` when group 2 has
    no events or group 1 has no non-events, and ``odds_ratio``/``or_low`` may be 0 in the
    mirror case. ``fisher_p`` is the two-sided Fisher exact p-value. Fields are ``None``
    when a group has no patients; the odds-ratio fields are also ``None`` when nobody, or
    everybody, had the event (the odds ratio is then undefined).
    """

    count1: int
    nobs1: int
    count2: int
    nobs2: int
    risk_difference: float | None
    rd_low: float | None
    rd_high: float | None
    odds_ratio: float | None
    or_low: float | None
    or_high: float | None
    fisher_p: float | None
    alpha: float

    def summary(self) -> str:
        """A few readable lines, in the manner of lifelines' ``StatisticalResult``."""
        level = _level(self.alpha)
        lines = [
            f"group 1: {self.count1}/{self.nobs1}   group 2: {self.count2}/{self.nobs2}",
            f"risk difference (p1 - p2): {_fmt(self.risk_difference)}   "
            f"{level} Newcombe hybrid score interval: {_fmt(self.rd_low)} to {_fmt(self.rd_high)}",
            f"odds ratio (conditional MLE): {_fmt(self.odds_ratio)}   "
            f"{level} exact interval: {_fmt(self.or_low)} to {_fmt(self.or_high)}",
            f"Fisher exact test, two-sided p: {_fmt_p(self.fisher_p)}",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def compare_proportions(
    count1: int, nobs1: int, count2: int, nobs2: int, *, alpha: float = 0.05
) -> TwoGroupComparison:
    """Compare the rates of two independent groups.

    Parameters
    ----------
    count1, nobs1, count2, nobs2 : int
        Events and denominators of the two groups.
    alpha : float
        ``1 - alpha`` is the confidence level of both intervals.

    Returns
    -------
    TwoGroupComparison
        - risk difference ``p1 - p2`` with Newcombe's hybrid score interval (method 10 of
          [4]_), see :func:`newcombe_difference_interval`;
        - odds ratio of group 1 to group 2: the conditional maximum-likelihood estimate (the
          MLE of the noncentral hypergeometric distribution given the table's margins) with
          its exact two-sided interval [6]_ [7]_, what
          ``scipy.stats.contingency.odds_ratio(table, kind="conditional")`` gives (computed by
          :func:`analysis.stats.hypergeometric.conditional_odds_ratio`). This is what R's
          ``fisher.test`` reports, and it is *not* the sample odds ratio ``ad / bc``
          returned by ``scipy.stats.fisher_exact``;
        - ``fisher_p``: two-sided Fisher exact p-value (tables no more probable than the
          observed one, with R's relative tolerance of 1e-7 for ties) [7]_, what
          ``scipy.stats.fisher_exact`` gives (:func:`analysis.stats.hypergeometric.fisher_exact_p`).

    Notes
    -----
    Exact methods hold for any sample size. With a zero cell the conditional MLE can be 0 or
    infinite; the interval is then one-sided in effect (``or_low == 0`` or
    ``or_high == inf``). When nobody or everybody had the event, the odds ratio is
    undefined (``None``) while the risk difference and Fisher's p (= 1) are still given.
    """
    _check_counts(count1, nobs1, "group 1")
    _check_counts(count2, nobs2, "group 2")
    _check_alpha(alpha)
    if nobs1 == 0 or nobs2 == 0:
        return TwoGroupComparison(
            count1, nobs1, count2, nobs2, None, None, None, None, None, None, None, alpha
        )
    difference = newcombe_difference_interval(count1, nobs1, count2, nobs2, alpha=alpha)
    fisher_p = _clip01(fisher_exact_p(count1, nobs1, count2, nobs2))
    or_estimate: float | None = None
    or_low: float | None = None
    or_high: float | None = None
    events = count1 + count2
    if 0 < events < nobs1 + nobs2:
        odds = conditional_odds_ratio(count1, nobs1, count2, nobs2, alpha=alpha)
        or_estimate, or_low, or_high = odds.estimate, odds.low, odds.high
    return TwoGroupComparison(
        count1,
        nobs1,
        count2,
        nobs2,
        difference.difference,
        difference.low,
        difference.high,
        or_estimate,
        or_low,
        or_high,
        fisher_p,
        alpha,
    )
