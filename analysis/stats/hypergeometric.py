"""The conditional odds ratio of a 2x2 table, its exact interval and Fisher's exact p, in numpy
(docs/methods.md, "Comparing two groups").

Given both margins of the table ``[[count1, nobs1 - count1], [count2, nobs2 - count2]]``, the
first cell ``X = count1`` follows Fisher's noncentral hypergeometric distribution with the odds
ratio ``ω`` as its parameter [1]_ [2]_::

    P_ω(X = x) ∝ C(nobs1, x) · C(nobs2, events - x) · ω**x
    for max(0, events - nobs2) <= x <= min(events, nobs1), events = count1 + count2

From it, as R's ``fisher.test`` and ``scipy.stats.contingency.odds_ratio(kind="conditional")``:

- the conditional maximum-likelihood estimate is the ω with ``E_ω[X] = count1`` (0 or infinite
  when ``count1`` is the lowest or highest value of the support);
- the exact two-sided ``1 - alpha`` interval [3]_ runs from the ω with ``P_ω(X >= count1) =
  alpha/2`` to the ω with ``P_ω(X <= count1) = alpha/2``, its lower bound 0 at the lowest value
  of the support and its upper bound infinite at the highest;
- Fisher's two-sided p is the sum of the central (ω = 1) probabilities no larger than that of
  the observed table, "no larger" meaning ``<= p(count1) * (1 + 1e-7)`` as in R's
  ``fisher.test`` (its ``relErr``), so that tables tied with the observed one count despite
  rounding.

Why written out rather than taken from ``scipy.stats`` (measured on the shared 2-core machine;
docs/performance.md): for the 1M-session clinic's route comparison (27,000/60,000 against
9,000/25,000 patients) scipy's interval alone took 5.5 s on a quiet machine and 18–29 s under
the usual load, because ``nchypergeom_fisher.cdf`` evaluates its ``_pmf1`` one support point at
a time in Python (215,351 calls); and importing ``scipy.stats`` costs the command ≈ 1.0–1.4 s
and ≈ 45 MB. Here the log weights ``log C(nobs1, x) + log C(nobs2, events - x)`` are computed
once over the whole support with ``scipy.special.gammaln`` and every probability is
``exp(log weight + x log ω - logsumexp)``, a few vectorised numpy lines: 0.05 s for that
comparison. The three equations are monotone in ``log ω``; they are solved by Newton's method on
``log ω``, kept inside a bracket and falling back to bisection (``scipy.optimize.brentq``, which
scipy uses, is not imported: ``scipy.optimize`` costs ≈ 0.8 s and ≈ 25 MB more).
``tests/test_hypergeometric.py`` holds every number to ``scipy.stats`` on a grid of tables, and
``tests/test_stats.py`` to R's published examples (while writing this, 8,404 tables up to 400 a
group agreed with scipy within 5e-10 relative on the bounds, 5e-12 on the estimate and 3e-12 on p).

References
----------
.. [1] Fisher RA (1935). The logic of inductive inference. J R Stat Soc 98:39–82.
.. [2] Agresti A (2013). Categorical Data Analysis, 3rd ed. Wiley. §3.5 (Fisher's exact test,
   the conditional maximum-likelihood odds ratio and its exact interval).
.. [3] Cornfield J (1956). A statistical problem arising from retrospective studies. Proc Third
   Berkeley Symp Math Stat Prob 4:135–148.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln

__all__ = ["ConditionalOddsRatio", "conditional_odds_ratio", "fisher_exact_p"]

#: R's fisher.test: a table counts as "as extreme" when its probability is within this relative
#: margin of the observed one's (``relErr <- 1 + 10^(-7)``).
RELATIVE_TIE = 1e-7
#: Stop when a step in log ω is smaller than this: ω to ≈ 1e-12 relative (scipy's brentq runs
#: to ``xtol=1e-13`` on ω; the equations' rounding noise is ≈ 1e-15 in log ω).
_LOG_ODDS_TOLERANCE = 1e-12
#: Doubling steps allowed to bracket a root: |log ω| up to 2**11, far beyond any root (they stay
#: below 100 even at a million patients a group).
_BRACKET_DOUBLINGS = 11
_MAX_STEPS = 200
#: Values whose weight is below exp(-750) times the observed count's add nothing in double
#: precision (exp underflows to 0 below exp(-745)); they are left out of Newton's steps.
_NEGLIGIBLE_LOG = -750.0

#: One of the three equations: ``(value, derivative)`` at ``log ω``, increasing in ``log ω``.
Equation = Callable[["_FirstCell", float], tuple[float, float]]


@dataclass(frozen=True)
class ConditionalOddsRatio:
    """The conditional maximum-likelihood odds ratio with its exact two-sided interval.

    ``estimate`` and ``low`` are 0 when ``count1`` is the lowest value the margins allow;
    ``estimate`` and ``high`` are ``float("inf")`` when it is the highest.
    """

    estimate: float
    low: float
    high: float


class _FirstCell:
    """Fisher's noncentral hypergeometric distribution of ``count1`` given the margins (or a
    stretch of its support around ``count1``: see :meth:`near`).

    Values are held as offsets from the observed count (``x - count1``) and the log weights
    are shifted to 0 at the observed count, so that the terms ``log weight + offset · log ω``
    are small where the probability is: rounding in them would otherwise make the equations'
    values noisy (by ≈ 1e-10 in log ω at 45,000 patients) and stall Newton's steps.
    """

    def __init__(self, log_weights: NDArray[np.float64], offsets: NDArray[np.float64]) -> None:
        self.log_weights = log_weights
        self.offsets = offsets
        #: Index of the observed count, and of the support's last value.
        self.observed = int(np.searchsorted(offsets, 0.0))
        self.last = offsets.size - 1

    @classmethod
    def of_table(cls, count1: int, nobs1: int, count2: int, nobs2: int) -> _FirstCell:
        """The distribution over the whole support, ``max(0, events - nobs2) .. min(events, nobs1)``."""
        events = count1 + count2
        x = np.arange(max(0, events - nobs2), min(events, nobs1) + 1, dtype=float)
        # log C(nobs1, x) + log C(nobs2, events - x), less terms constant in x.
        log_weights = -(
            gammaln(x + 1)
            + gammaln(nobs1 - x + 1)
            + gammaln(events - x + 1)
            + gammaln(nobs2 - events + x + 1)
        )
        offsets = x - count1
        return cls(log_weights - log_weights[np.searchsorted(offsets, 0.0)], offsets)

    def near(self, low: float, high: float) -> _FirstCell:
        """The stretch of the support that carries any weight for ``low <= log ω <= high``.

        A value's log weight relative to the observed count's is linear in log ω, so it is
        negligible over the whole range when it is at both ends; the observed count's weight is
        never more than the total, and is part of both tails, so nothing is lost to any equation.
        """
        relative = np.maximum(self.log_weights + low * self.offsets, self.log_weights + high * self.offsets)
        kept = np.flatnonzero(relative > _NEGLIGIBLE_LOG)
        stretch = slice(int(kept[0]), int(kept[-1]) + 1)
        return _FirstCell(self.log_weights[stretch], self.offsets[stretch])

    def log_pmf(self, log_odds: float) -> NDArray[np.float64]:
        """log P(X = x) over the support, at the odds ratio ``exp(log_odds)``."""
        terms = self._terms(log_odds)
        return terms - _logsumexp(terms)

    def mean_gap(self, log_odds: float) -> tuple[float, float]:
        """``E[X] - count1`` and its derivative in log ω, ``Var[X]``."""
        gap, second = _moments(self._terms(log_odds), self.offsets)
        return gap, second - gap * gap

    def upper_tail_gap(self, log_odds: float, log_target: float) -> tuple[float, float]:
        """``log P(X >= count1) - log_target`` and its derivative ``E[X | X >= count1] - E[X]``."""
        return self._tail_gap(self._terms(log_odds), slice(self.observed, None), log_target)

    def lower_tail_gap(self, log_odds: float, log_target: float) -> tuple[float, float]:
        """``log_target - log P(X <= count1)`` and its derivative ``E[X] - E[X | X <= count1]``
        (the sign turned so that, like the others, it increases with ω)."""
        gap, slope = self._tail_gap(self._terms(log_odds), slice(None, self.observed + 1), log_target)
        return -gap, -slope

    def _terms(self, log_odds: float) -> NDArray[np.float64]:
        return self.log_weights + log_odds * self.offsets

    def _tail_gap(self, terms: NDArray[np.float64], tail: slice, log_target: float) -> tuple[float, float]:
        mean = _moments(terms, self.offsets)[0]
        tail_mean = _moments(terms[tail], self.offsets[tail])[0]
        return _logsumexp(terms[tail]) - _logsumexp(terms) - log_target, tail_mean - mean


def _logsumexp(terms: NDArray[np.float64]) -> float:
    # Written out: scipy.special.logsumexp's array-API dispatch costs more than this sum.
    top = float(terms.max())
    return top + math.log(float(np.exp(terms - top).sum()))


def _moments(terms: NDArray[np.float64], offsets: NDArray[np.float64]) -> tuple[float, float]:
    """First and second moments of ``offsets`` under the weights ``exp(terms)``."""
    # Weights floored at exp(-700) (≈ 1e-304; negligible beside the largest, 1), as products
    # with subnormal numbers are slow; and products summed rather than taken with `@`, which
    # goes through BLAS: together 10 ms -> 0.6 ms a call at 25,000 values (measured).
    weights = np.exp(np.maximum(terms - terms.max(), -700.0))
    total = float(weights.sum())
    weighted = weights * offsets
    return float(weighted.sum()) / total, float((weighted * offsets).sum()) / total


def _solve(cell: _FirstCell, equation: Equation) -> float:
    """The log ω at which ``equation`` is 0: bracketed over the whole support, then refined by
    Newton's steps on the stretch of it that matters inside the bracket."""
    low, high = _bracket(lambda t: equation(cell, t)[0])
    near = cell.near(low, high)
    return _newton_in_bracket(lambda t: equation(near, t), low, high)


def _bracket(function: Callable[[float], float]) -> tuple[float, float]:
    """``low < high`` with ``function(low) < 0 <= function(high)`` for an increasing function:
    steps from 0 doubling away from it (1, 2, 4… or -1, -2, -4…), as scipy's odds-ratio solver."""
    direction = 1.0 if function(0.0) < 0 else -1.0
    inner, outer = 0.0, direction
    for _ in range(_BRACKET_DOUBLINGS + 1):
        if (function(outer) < 0) != (direction > 0):
            return min(inner, outer), max(inner, outer)
        inner, outer = outer, 2 * outer
    raise ArithmeticError("no odds ratio solves the equation within exp(±2048)")


def _newton_in_bracket(function: Callable[[float], tuple[float, float]], low: float, high: float) -> float:
    """The root of an increasing function (that also returns its derivative) inside a bracket:
    Newton's steps kept inside it, bisecting when a step would leave it or shrinks too slowly
    (Numerical Recipes' ``rtsafe``)."""
    t = 0.5 * (low + high)
    step = step_before = high - low
    for _ in range(_MAX_STEPS):
        value, slope = function(t)
        if value == 0.0:
            return t
        if value < 0:
            low = t
        else:
            high = t
        newton = t - value / slope if slope > 0 else math.nan
        if abs(newton - t) <= _LOG_ODDS_TOLERANCE:
            return newton
        # Newton's step when it stays inside the bracket and is at most half the step before
        # last; otherwise bisect (this keeps the bracket shrinking).
        if low < newton < high and abs(newton - t) <= 0.5 * step_before:
            next_t = newton
        else:
            next_t = 0.5 * (low + high)
        step_before, step = step, abs(next_t - t)
        t = next_t
        if step <= _LOG_ODDS_TOLERANCE:
            return t
    return t


def conditional_odds_ratio(
    count1: int, nobs1: int, count2: int, nobs2: int, *, alpha: float = 0.05
) -> ConditionalOddsRatio:
    """Conditional maximum-likelihood odds ratio of group 1 to group 2 with its exact two-sided
    ``1 - alpha`` interval [2]_ [3]_, as ``scipy.stats.contingency.odds_ratio(table,
    kind="conditional")`` and its ``confidence_interval(1 - alpha)``.

    Both groups must have patients, and some but not all of them the event (the odds ratio is
    undefined otherwise); :func:`analysis.stats.proportions.compare_proportions` checks the
    counts and alpha.
    """
    if nobs1 <= 0 or nobs2 <= 0 or not 0 < count1 + count2 < nobs1 + nobs2:
        raise ValueError(
            "the conditional odds ratio needs two non-empty groups with some, not all, events: "
            f"got {count1}/{nobs1} and {count2}/{nobs2}"
        )
    cell = _FirstCell.of_table(count1, nobs1, count2, nobs2)
    log_target = math.log(alpha / 2)
    # At the support's edges the estimate and one bound are 0 or infinite, as in scipy.
    at_lowest, at_highest = cell.observed == 0, cell.observed == cell.last
    if at_lowest or at_highest:
        estimate = 0.0 if at_lowest else math.inf
    else:
        estimate = math.exp(_solve(cell, _FirstCell.mean_gap))
    low = 0.0 if at_lowest else math.exp(_solve(cell, lambda c, t: c.upper_tail_gap(t, log_target)))
    high = math.inf if at_highest else math.exp(_solve(cell, lambda c, t: c.lower_tail_gap(t, log_target)))
    return ConditionalOddsRatio(estimate, low, high)


def fisher_exact_p(count1: int, nobs1: int, count2: int, nobs2: int) -> float:
    """Fisher's exact two-sided p for the 2x2 table of two groups' events [1]_ [2]_.

    The sum of the central hypergeometric probabilities of the tables (with the observed
    margins) no more probable than the observed one, within R's relative margin
    :data:`RELATIVE_TIE`; 1 when the margins allow a single table.
    """
    cell = _FirstCell.of_table(count1, nobs1, count2, nobs2)
    log_pmf = cell.log_pmf(0.0)
    as_extreme = log_pmf <= log_pmf[cell.observed] + math.log1p(RELATIVE_TIE)
    return min(1.0, float(np.exp(log_pmf[as_extreme]).sum()))
