"""The frozen results of the outcomes beyond pain (docs/methods.md, "Outcomes beyond pain").

A rate, the PGIC × NRS agreement, the opioid levels, every measure of one group, and the table
of groups, each with the CLI's JSON shape (``to_dict``). Computed by
:mod:`analysis.queries.secondary`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analysis import stats
from analysis.domain.definition import SMALL_CELL, OutcomeDefinition
from analysis.domain.measures import MeasureSettings


@dataclass(frozen=True)
class Rate:
    """A success rate with its interval; ``qualifying`` and ``with_measure`` are both denominators."""

    n: int
    count: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    small_n: bool
    qualifying: int = field(default=0, compare=False)
    with_measure: int = field(default=0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The CLI's RATE shape: ``{"n", "count", "rate", "ci_low", "ci_high", "small_n"}``."""
        return {
            "n": self.n,
            "count": self.count,
            "rate": self.rate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "small_n": self.small_n,
        }


@dataclass(frozen=True)
class Agreement:
    """PGIC-improved × NRS responder among eligible patients with both in the window."""

    n: int
    both: int
    pgic_only: int
    nrs_only: int
    neither: int

    @property
    def small_n(self) -> bool:
        return self.n < SMALL_CELL

    def to_dict(self) -> dict[str, int]:
        return {
            "n": self.n,
            "both": self.both,
            "pgic_only": self.pgic_only,
            "nrs_only": self.nrs_only,
            "neither": self.neither,
        }


@dataclass(frozen=True)
class OpioidLevels:
    """Among patients with a baseline MME and an MME at the follow-up that counts: how many were
    at or above each level of concern before and at the time point (the payer's picture)."""

    levels: tuple[float, float]
    n: int
    baseline_low: int
    followup_low: int
    baseline_high: int
    followup_high: int

    @property
    def small_n(self) -> bool:
        return self.n < SMALL_CELL

    def to_dict(self) -> dict[str, Any]:
        return {
            "levels": list(self.levels),
            "n": self.n,
            "baseline_at_or_above": [self.baseline_low, self.baseline_high],
            "followup_at_or_above": [self.followup_low, self.followup_high],
        }


@dataclass(frozen=True)
class Measures:
    """Every measure beyond pain for one group (or the whole cohort, ``keys`` empty)."""

    keys: dict[str, str]
    eligible: int
    rates: dict[str, Rate]
    changes: dict[str, stats.MeanChange]
    agreement: Agreement
    opioid_levels: OpioidLevels

    def to_dict(self) -> dict[str, Any]:
        """MEASURES (docs/methods.md, "Command line"): group keys, then each measure by its key."""
        return {
            **self.keys,
            "eligible": self.eligible,
            **{name: rate.to_dict() for name, rate in self.rates.items()},
            "pgic_agreement": self.agreement.to_dict(),
            **{name: change.to_dict() for name, change in self.changes.items()},
            "mme_levels": self.opioid_levels.to_dict(),
        }


@dataclass(frozen=True)
class SecondaryTable:
    """The measures beyond pain for one definition, cohort and breakdown."""

    definition: OutcomeDefinition
    settings: MeasureSettings
    by: tuple[str, ...]
    overall: Measures
    groups: list[Measures]

    def to_dict(self) -> dict[str, Any]:
        """The ``secondary`` JSON: definition, overall, groups (numbers at full precision)."""
        d = self.definition
        return {
            "definition": {
                **d.to_json("timepoint_days", "window_days", "threshold", "missing", "ci", "cutoff"),
                **self.settings.to_dict(),
            },
            "overall": self.overall.to_dict(),
            "groups": [group.to_dict() for group in self.groups],
        }
