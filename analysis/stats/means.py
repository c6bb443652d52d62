"""A mean change with its t interval, and the median, from a histogram of values.

The database returns each distinct change with the number of patients who have it (one row
per distinct value, never per patient); the mean, the standard deviation and the median are
exact functions of that histogram. Methods: docs/methods.md, "Outcomes beyond pain".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

# scipy.special's t quantile, not scipy.stats: importing scipy.stats costs the app ≈ 45 MB and
# half a second (docs/performance.md), and a page that only reads means must not pay it.
from scipy.special import stdtrit


@dataclass(frozen=True)
class MeanChange:
    """Mean (with its two-sided ``1 - alpha`` t interval) and median of ``n`` values.

    ``mean`` and ``median`` are ``None`` when ``n == 0``; the interval is ``None`` when ``n < 2``.
    """

    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    median: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        """The CLI's CHANGE shape: ``{"n", "mean", "ci_low", "ci_high", "median"}``."""
        return {
            "n": self.n,
            "mean": self.mean,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "median": self.median,
        }


def _median(pairs: list[tuple[float, int]], n: int) -> float:
    """The median of the values a sorted histogram stands for (mean of the two middle ones)."""
    lower_rank, upper_rank = (n - 1) // 2, n // 2  # 0-based ranks of the middle value(s)
    seen = 0
    lower = upper = None
    for value, count in pairs:
        if lower is None and lower_rank < seen + count:
            lower = value
        if upper_rank < seen + count:
            upper = value
            break
        seen += count
    assert lower is not None and upper is not None
    return (lower + upper) / 2


def mean_change(histogram: Iterable[tuple[float, int]], *, alpha: float = 0.05) -> MeanChange:
    """Mean, Student-t interval and median of the values in ``histogram`` ((value, count) pairs).

    The interval is ``mean ± t(1 − alpha/2, n − 1) · s / √n`` with ``s`` the sample standard
    deviation (``n − 1`` in the denominator), as R's ``t.test`` prints it for one sample.
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must be between 0 and 1")
    merged: dict[float, int] = {}
    for value, count in histogram:
        if count < 0:
            raise ValueError("a histogram count cannot be negative")
        if count:
            merged[float(value)] = merged.get(float(value), 0) + int(count)
    pairs = sorted(merged.items())
    n = sum(count for _, count in pairs)
    if n == 0:
        return MeanChange(0, None, None, None, None)
    mean = math.fsum(value * count for value, count in pairs) / n
    median = _median(pairs, n)
    if n < 2:
        return MeanChange(n, mean, None, None, median)
    variance = math.fsum(count * (value - mean) ** 2 for value, count in pairs) / (n - 1)
    half = float(stdtrit(n - 1, 1 - alpha / 2)) * math.sqrt(variance / n)
    return MeanChange(n, mean, mean - half, mean + half, median)
