"""The outcome definition (docs/methods.md) and the cohort filters, each one frozen value.

Every setting a user can change in the app or on the command line lives here, with the
documented default (docs/methods.md), so that pages, the CLI and reports ask the same object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

MissingPolicy = Literal["itt", "completers"]
IntervalMethod = Literal["wilson", "exact"]
#: The interval methods and their names as a statistician writes them (docs/methods.md).
CI_METHODS: dict[str, str] = {"wilson": "Wilson score", "exact": "Clopper–Pearson exact"}

#: Groups with a denominator under this carry ``small_n`` and are suppressed in exports.
SMALL_CELL = 11


@dataclass(frozen=True)
class OutcomeDefinition:
    """How a responder is defined and counted (docs/methods.md); defaults are docs/methods.md's."""

    timepoint_days: int = 90
    window_days: int = 30
    threshold: float = 0.30
    missing: MissingPolicy = "itt"
    ci: IntervalMethod = "wilson"
    band: tuple[float, float] = (0.30, 0.40)
    cutoff: date | None = None  # None → the latest session or follow-up date in the database
    alpha: float = 0.05

    def __post_init__(self) -> None:
        problems = []
        if self.timepoint_days < 0:
            problems.append("the time point must be 0 days or more")
        if self.window_days < 0:
            problems.append("the window must be 0 days or more")
        if not 0 < self.threshold <= 1:
            problems.append("the responder threshold must be above 0 and at most 1 (e.g. 0.30)")
        if self.missing not in ("itt", "completers"):
            problems.append("the missing-data policy must be 'itt' or 'completers'")
        if self.ci not in ("wilson", "exact"):
            problems.append("the interval method must be 'wilson' or 'exact'")
        low, high = self.band
        if not 0 <= low <= high <= 1:
            problems.append("the benchmark band must satisfy 0 ≤ bottom ≤ top ≤ 1")
        if not 0 < self.alpha < 1:
            problems.append("alpha must be between 0 and 1")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def window_start(self) -> int:
        """First day (since the index date) on which a follow-up counts."""
        return self.timepoint_days - self.window_days

    @property
    def window_end(self) -> int:
        """Last day (since the index date) on which a follow-up counts."""
        return self.timepoint_days + self.window_days


@dataclass(frozen=True)
class CohortFilter:
    """Which patients a view looks at; an empty tuple means no restriction."""

    sites: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()  # the patient's route (plurality of sessions, or "mixed")
    sexes: tuple[str, ...] = ()
    age_groups: tuple[str, ...] = ()  # labels of AGE_GROUPS
    first_treated_from: date | None = None
    first_treated_to: date | None = None

    @property
    def is_empty(self) -> bool:
        return self == CohortFilter()


#: Age bands (label, lowest age, highest age inclusive); ages are stored capped at 90.
AGE_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("18-34", 18, 34),
    ("35-49", 35, 49),
    ("50-64", 50, 64),
    ("65-89", 65, 89),
    ("90+", 90, 90),
)
