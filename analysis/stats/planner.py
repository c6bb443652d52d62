"""The precision planner: how many patients until a group's interval can clear the band.

docs/methods.md, "Precision planner". The Wilson score interval [1]_ at rate ``p`` and
denominator ``n`` is the set of ``π`` with ``(p − π)² ≤ z² π (1 − π) / n``. A band edge ``e``
lies outside that set, on the side away from ``p``, exactly when

    n > z² e (1 − e) / (p − e)²

so the smallest whole ``n`` whose interval lies wholly above the band top (``p > top``) or
wholly below its bottom (``p < bottom``) is ``floor(z² e (1 − e) / (p − e)²) + 1``, and never
less than the ``n`` already observed. The rate is held at the observed one (responders =
``p × n``, not necessarily a whole number): the planner answers "if the rate stays where it is".

References
----------
.. [1] Wilson EB (1927). Probable inference, the law of succession, and statistical
   inference. J Am Stat Assoc 22:209–212.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from scipy.special import ndtri

#: Months of recent intake that set a group's pace (docs/methods.md, "Precision planner").
PACE_MONTHS = 6
#: Expected months further away than this are not given (``None``): "not within 10 years".
HORIZON_MONTHS = 120
#: Days in an average month (365.25 / 12), to turn months of intake into days.
DAYS_PER_MONTH = 30.4375


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05): got {alpha}")
    return -float(ndtri(alpha / 2))


def wilson_bounds_at_rate(rate: float, n: float, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson bounds at a rate held fixed (responders = ``rate × n``, a real number)."""
    z = _z(alpha)
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (rate + z2 / (2 * n)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / n + z2 / (4 * n * n)) / denominator
    return centre - half, centre + half


def _clears(rate: float, n: int, band: tuple[float, float], alpha: float) -> bool:
    low, high = wilson_bounds_at_rate(rate, n, alpha)
    return low > band[1] if rate > band[1] else high < band[0]


def patients_needed(
    rate: float | None, n: int, band: tuple[float, float], *, alpha: float = 0.05
) -> int | None:
    """The smallest ``n_needed ≥ n`` whose Wilson interval at ``rate`` clears the band.

    ``None`` when ``n == 0`` (no rate yet) or the rate lies inside the band, edges included (no
    number of patients would then make the interval leave the band).
    """
    bottom, top = band
    if n < 0:
        raise ValueError(f"n must be 0 or more: got {n}")
    if rate is None or n == 0 or bottom <= rate <= top:
        return None
    edge = top if rate > top else bottom
    bound = _z(alpha) ** 2 * edge * (1 - edge) / (rate - edge) ** 2
    needed = max(n, math.floor(bound) + 1)
    # The closed form is exact in real arithmetic; one step either way settles rounding.
    if needed > n and _clears(rate, needed - 1, band, alpha):
        needed -= 1
    elif not _clears(rate, needed, band, alpha):
        needed += 1
    return needed


@dataclass(frozen=True)
class Plan:
    """A group's plan: patients still needed and, at its recent pace, when they may be there."""

    n_needed: int | None
    more_needed: int | None
    pace_per_month: float | None  # new patients per month in the last PACE_MONTHS months
    expected_month: str | None  # "YYYY-MM", None when no estimate can be given

    def to_dict(self) -> dict[str, int | float | str | None]:
        return {
            "n_needed": self.n_needed,
            "more_needed": self.more_needed,
            "pace_per_month": self.pace_per_month,
            "expected_month": self.expected_month,
        }


def expected_month(more_needed: int | None, pace_per_month: float | None, cutoff: date) -> str | None:
    """The calendar month (``YYYY-MM``) in which ``more_needed`` patients are reached at the pace.

    Counted from the data cut-off: in a steady state the patients already started but not yet
    at their window (pending) become eligible at the same pace as new ones start, so eligible
    patients accrue at ``pace_per_month`` from the cut-off on. ``None`` when nothing is
    needed (``more_needed`` 0 or ``None``), no patient started in the recent months, or the
    month is more than :data:`HORIZON_MONTHS` months away.
    """
    if not more_needed or not pace_per_month or pace_per_month <= 0:
        return None
    months = more_needed / pace_per_month
    if months > HORIZON_MONTHS:
        return None
    when = cutoff + timedelta(days=math.ceil(months * DAYS_PER_MONTH))
    return f"{when:%Y-%m}"


def plan(
    rate: float | None,
    n: int,
    band: tuple[float, float],
    *,
    recent_starts: int,
    share_counted: float,
    cutoff: date,
    alpha: float = 0.05,
) -> Plan:
    """The planner's numbers for one group.

    ``recent_starts``: evaluable patients of the group whose first session fell in the last
    :data:`PACE_MONTHS` months up to the cut-off. ``share_counted``: the fraction of a new
    patient that enters the denominator (1 under ITT; under completers the group's share of
    eligible patients with a follow-up).
    """
    needed = patients_needed(rate, n, band, alpha=alpha)
    more = None if needed is None else needed - n
    pace = recent_starts * share_counted / PACE_MONTHS if needed is not None else None
    return Plan(needed, more, pace, expected_month(more, pace, cutoff))
