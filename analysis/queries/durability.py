"""Durability: how long relief lasts and how often boosters are needed (docs/methods.md, "Durability").

The database derives each patient's onset, loss or censoring and median booster gap
(:mod:`analysis.db.durability`) and returns one row per group and distinct time (or distinct
median gap); :mod:`analysis.stats.survival` turns those counts into Kaplan–Meier curves,
medians, landmark survival, log-rank p and quartiles. The overall curve is the sum of the
groups' counts, so one database pass answers both. At the default time point and window and a
kept threshold (30 % or 50 %) the per-patient rows are read from ``durability_facts``, kept at
import: for every patient at the latest cut-off, and at an earlier one for those with nothing
stored after it (docs/performance.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select

from analysis.db import durability as rules
from analysis.db import schema, store
from analysis.db.cohorts import cohort_query, facts_apply
from analysis.db.store import data_cutoff
from analysis.domain.definition import SMALL_CELL, CohortFilter, OutcomeDefinition
from analysis.stats.survival import Quartiles, SurvivalCurve, kaplan_meier, logrank_p, quartiles

#: What a durability table can be broken down by (``--by``).
DIMENSIONS: tuple[str, ...] = ("route", "condition")


@dataclass(frozen=True)
class DurabilityCurve:
    """One group's curve and booster gaps (the CLI's ``CURVE``, plus the group keys)."""

    keys: Mapping[str, str]
    survival: SurvivalCurve
    boosters: Quartiles

    @property
    def small_n(self) -> bool:
        """Fewer than 11 patients: exports and reports suppress the counts."""
        return self.survival.patients < SMALL_CELL

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON ``CURVE`` (full precision; ``None`` where a value does not exist)."""
        return {
            **self.keys,
            **self.survival.to_dict(),
            "booster_gap_median": self.boosters.median,
            "booster_gap_q1": self.boosters.q1,
            "booster_gap_q3": self.boosters.q3,
        }


@dataclass(frozen=True)
class DurabilityTable:
    """Durability overall and per group, with the log-rank p across the groups."""

    definition: OutcomeDefinition
    by: str | None
    overall: DurabilityCurve
    groups: tuple[DurabilityCurve, ...]
    logrank_p: float | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``python -m analysis durability`` (docs/methods.md, "Durability")."""
        d = self.definition
        return {
            "definition": d.to_json("timepoint_days", "window_days", "threshold", "cutoff"),
            "overall": self.overall.to_dict(),
            "groups": [group.to_dict() for group in self.groups],
            "logrank_p": self.logrank_p,
        }


def _counts_by_group(rows: Sequence[Any]) -> dict[str, tuple[list[int], list[int], list[int]]]:
    grouped: dict[str, tuple[list[int], list[int], list[int]]] = defaultdict(lambda: ([], [], []))
    for grp, time, events, censored in rows:
        days, e, c = grouped[str(grp)]
        days.append(round(time))
        e.append(int(events))
        c.append(int(censored))
    return dict(grouped)


def _pooled(groups: Mapping[str, tuple[list[int], list[int], list[int]]]) -> tuple[list[int], ...]:
    events: dict[int, int] = defaultdict(int)
    censored: dict[int, int] = defaultdict(int)
    for days, e, c in groups.values():
        for day, d, k in zip(days, e, c, strict=True):
            events[day] += d
            censored[day] += k
    days = sorted(events.keys() | censored.keys())
    return days, [events[d] for d in days], [censored[d] for d in days]


#: Whether durability reads ``durability_facts`` at all; the tests switch it off to get the full
#: rules over every cohort patient (:func:`analysis.db.durability.durability_counts`).
READ_FACTS = True


def _counts_query(
    engine: Engine, definition: OutcomeDefinition, cohort: CohortFilter, rows: Select[Any], by: str | None
) -> list[Any]:
    """The statements of the per-group counts, whose rows add up: at a kept threshold
    (``schema.FACTS_THRESHOLDS``) and the kept time point and window from ``durability_facts`` —
    alone at the latest cut-off (every stored row counts), with the rules for the patients
    straddling an earlier one (one statement per shard of the patients, :func:`store.shards`) —
    and otherwise the rules for everyone."""
    assert definition.cutoff is not None  # resolved by cohort_query
    kept = (
        definition.threshold in schema.FACTS_THRESHOLDS
        and (definition.timepoint_days, definition.window_days) == schema.FACTS_TIMEPOINT
    )
    if not READ_FACTS or not kept:
        return [
            rules.durability_counts(
                rows,
                cutoff=definition.cutoff,
                threshold=definition.threshold,
                last_onset_day=definition.window_end,
                group=by,
            )
        ]
    if facts_apply(definition.cutoff, data_cutoff(engine)):
        return [rules.facts_counts(cohort, group=by, threshold=definition.threshold)]
    n = store.shards(engine)
    if n == 1:
        return [rules.facts_as_of_counts(definition, cohort, group=by)]
    return [rules.facts_as_of_counts(definition, cohort, group=by, shard=(i, n)) for i in range(n)]


def _counted(engine: Engine, statements: list[Any]) -> list[tuple[str, str, float, int, int | None]]:
    """The rows of ``statements`` (``kind``, ``grp``, ``value``, ``first``, ``second``), added up
    per kind, group and value; more than one statement run at once, each on its own connection
    (:data:`analysis.db.store.POSTGRESQL_COMMAND_SHARDS`)."""

    def rows(statement: Any) -> list[Any]:
        with engine.connect() as connection:
            return list(connection.execute(statement).all())

    if len(statements) == 1:
        return [tuple(row) for row in rows(statements[0])]
    with ThreadPoolExecutor(max_workers=len(statements)) as pool:
        parts = list(pool.map(rows, statements))
    summed: dict[tuple[str, str, float], list[Any]] = {}
    for kind, grp, value, first, second in (row for part in parts for row in part):
        cell = summed.setdefault((kind, grp, value), [0, None])
        cell[0] += first
        cell[1] = second if cell[1] is None else cell[1] + second
    # In a fixed order (a group can be NULL, which sorts first).
    ordered = sorted(
        summed.items(), key=lambda item: [(v is not None, 0 if v is None else v) for v in item[0]]
    )
    return [(*key, first, second) for key, (first, second) in ordered]


def durability(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    by: str | None = None,
) -> DurabilityTable:
    """The durability table of a cohort (one statement: times and booster gaps per group)."""
    if by is not None and by not in DIMENSIONS:
        raise ValueError(f"durability can be broken down by {' or '.join(DIMENSIONS)}, not {by!r}")
    definition, rows = cohort_query(engine, definition, cohort, columns=rules.cohort_columns(by))
    counted = _counted(engine, _counts_query(engine, definition, cohort, rows, by))
    groups = _counts_by_group([(g, v, a, b) for kind, g, v, a, b in counted if kind == "time"])
    gap_values: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
    for kind, grp, median_gap, patients, _ in counted:
        if kind == "gap":
            gap_values[str(grp)][0].append(float(median_gap))
            gap_values[str(grp)][1].append(int(patients))
    every_gap = (
        [v for vs, _ in gap_values.values() for v in vs],
        [n for _, ns in gap_values.values() for n in ns],
    )

    overall = DurabilityCurve({}, kaplan_meier(*_pooled(groups)), quartiles(*every_gap))
    curves = (
        tuple(
            DurabilityCurve(
                {by: name}, kaplan_meier(*groups[name]), quartiles(*gap_values.get(name, ([], [])))
            )
            for name in sorted(groups)
        )
        if by
        else ()
    )
    return DurabilityTable(
        definition=definition,
        by=by,
        overall=overall,
        groups=curves,
        logrank_p=logrank_p({name: groups[name] for name in sorted(groups)}) if by else None,
    )
