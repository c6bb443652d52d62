"""Statistics: numbers in, frozen results out. No database, no pandas frames of rows.

- :mod:`~analysis.stats.proportions`: one proportion's interval, exact binomial tests, Holm,
  the band verdict, two proportions (Newcombe, conditional odds ratio, Fisher).
- :mod:`~analysis.stats.means`: a mean change with its t interval, and the median.

Methods and their literature: ``docs/methods.md``.
"""

from analysis.stats.means import MeanChange, mean_change
from analysis.stats.proportions import (
    DifferenceInterval,
    ProportionEstimate,
    TwoGroupComparison,
    band_verdict,
    binomial_p_greater,
    comparator_verdict,
    compare_proportions,
    holm,
    newcombe_difference_interval,
    proportion_interval,
)

__all__ = [
    "DifferenceInterval",
    "MeanChange",
    "ProportionEstimate",
    "TwoGroupComparison",
    "band_verdict",
    "binomial_p_greater",
    "comparator_verdict",
    "compare_proportions",
    "holm",
    "mean_change",
    "newcombe_difference_interval",
    "proportion_interval",
]
