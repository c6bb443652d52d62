"""The outcome definition (docs/methods.md) and the cohort filters, each one frozen value.

Every setting a user can change in the app or on the command line lives here, with the
documented default (docs/methods.md), so that pages, the CLI and reports ask the same object.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from analysis.domain.errors import SettingError

MissingPolicy = Literal["itt", "completers"]
IntervalMethod = Literal["wilson", "exact"]
#: The interval methods and their names as a statistician writes them (docs/methods.md).
CI_METHODS: dict[str, str] = {"wilson": "Wilson score", "exact": "Clopper–Pearson exact"}

#: Groups with a denominator under this carry ``small_n`` and are suppressed in exports.
SMALL_CELL = 11

# The limits of every setting (docs/methods.md, "Settings"), checked in one place: the CLI's
# flags, the Methods page and a shared link's query parameters all build an OutcomeDefinition.
#: Time point T: from the day after the first session to ten years after it.
TIMEPOINT_DAYS = (1, 3650)
#: Window half-width W: none to a year, and never more than T (the window cannot open before day 0).
WINDOW_DAYS = (0, 365)
#: The earliest cut-off and the earliest date an import accepts (ketamine was approved in 1970).
EARLIEST_DATE = date(1970, 1, 1)


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
        problems = _problems(self)
        if problems:
            raise SettingError("; ".join(problems))

    def to_json(self, *names: str) -> dict[str, Any]:
        """The settings ``names``, in that order, as the commands' JSON writes them (README, "Command line"):
        the band as a list, the cut-off as an ISO date or null."""
        values = {name: getattr(self, name) for name in names}
        if "band" in values:
            values["band"] = list(self.band)
        if "cutoff" in values:
            values["cutoff"] = self.cutoff.isoformat() if self.cutoff else None
        return values

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


#: What a result can be broken down by: the per-patient columns every view groups on.
DIMENSIONS: tuple[str, ...] = ("condition", "route", "site", "sex", "age_group", "quarter")


#: Age bands (label, lowest age, highest age inclusive); ages are stored capped at 90.
AGE_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("18-34", 18, 34),
    ("35-49", 35, 49),
    ("50-64", 50, 64),
    ("65-89", 65, 89),
    ("90+", 90, 90),
)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _problems(d: OutcomeDefinition) -> list[str]:
    """Every setting of ``d`` outside its limits, each said as a clinician would read it."""
    problems = []
    low_t, high_t = TIMEPOINT_DAYS
    timepoint_ok = isinstance(d.timepoint_days, int) and low_t <= d.timepoint_days <= high_t
    if not timepoint_ok:
        problems.append(
            f"the time point must be {low_t} to {high_t:,} days after the first session "
            f"(ten years), not {d.timepoint_days!r}"
        )
    low_w, high_w = WINDOW_DAYS
    if not (isinstance(d.window_days, int) and low_w <= d.window_days <= high_w):
        problems.append(
            f"the window must be {low_w} to {high_w} days either side of the time point, "
            f"not {d.window_days!r}"
        )
    elif timepoint_ok and d.window_days > d.timepoint_days:
        problems.append(
            f"the window (±{d.window_days} days) must not open before the first session: "
            f"make it at most the time point ({d.timepoint_days} days)"
        )
    if not (_is_number(d.threshold) and 0 < d.threshold <= 1):
        problems.append("the responder threshold must be above 0 and at most 1 (e.g. 0.30)")
    if d.missing not in ("itt", "completers"):
        problems.append("the missing-data policy must be 'itt' or 'completers'")
    if d.ci not in ("wilson", "exact"):
        problems.append("the interval method must be 'wilson' or 'exact'")
    low, high = d.band
    if not (_is_number(low) and _is_number(high) and 0 <= low < high <= 1):
        problems.append("the benchmark band must have 0 ≤ bottom < top ≤ 1 (e.g. 0.30 to 0.40)")
    if not (_is_number(d.alpha) and 0 < d.alpha < 1):
        problems.append("alpha must be between 0 and 1")
    if d.cutoff is not None and (not isinstance(d.cutoff, date) or d.cutoff < EARLIEST_DATE):
        problems.append(f"the data cut-off must be {EARLIEST_DATE.isoformat()} or later")
    return problems


def check_chosen_cutoff(cutoff: date | None, today: date | None = None) -> None:
    """Refuse a cut-off a user chose after today (a typo: no data exists yet for it).

    Only a chosen cut-off: the one filled in from the data (its latest date) is taken as it is,
    so that a clock set back on the server cannot stop every page.
    """
    today = today or date.today()
    if cutoff is not None and cutoff > today:
        raise SettingError(
            f"the data cut-off {cutoff.isoformat()} is after today ({today.isoformat()}); "
            "choose a day up to today"
        )
