"""Outcomes beyond pain (docs/methods.md, "Outcomes beyond pain"): one row per group, counted in SQL.

The database counts per group (:mod:`analysis.db.beyond_pain`; the default view is kept at
import, already counted, in :mod:`analysis.db.secondary_cells`); :mod:`analysis.stats` turns
the counts into rates with intervals and the change histograms into means, t intervals and
medians.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import Connection, Engine

from analysis import stats
from analysis.db import cohorts, secondary_cells
from analysis.db.beyond_pain import (
    AS_OF,
    COUNT_NAMES,
    FROM_DAYS,
    FROM_FACTS,
    FROM_ROWS,
    ROW_COLUMNS,
    secondary_query,
)
from analysis.db.cohorts import cohort_query, facts_apply
from analysis.db.derivation import at_default_timepoint, facts_as_of_query
from analysis.db.store import data_cutoff
from analysis.domain.definition import SMALL_CELL, CohortFilter, OutcomeDefinition
from analysis.domain.measures import CHANGE_MEASURES, RATE_MEASURES, MeasureSettings
from analysis.queries.response import DIMENSIONS, GroupResult
from analysis.queries.secondary_results import Agreement, Measures, OpioidLevels, Rate, SecondaryTable

#: Each rate: (qualifying count, count with the measure in the window, success count) columns.
_RATE_COLUMNS: dict[str, tuple[str, str, str]] = {
    "substantial": ("patients", "with_followup", "substantial"),
    "pgic_improved": ("patients", "pgic_has", "pgic_improved"),
    "mme_reduced_50": ("mme_q", "mme_has", "mme_reduced_50"),
    "mme_stopped": ("mme_q", "mme_has", "mme_stopped"),
    "phq9_response": ("phq9_q", "phq9_has", "phq9_response"),
    "phq9_remission": ("phq9_q", "phq9_has", "phq9_remission"),
    "bpi_improved": ("bpi_q", "bpi_has", "bpi_improved"),
    "headache_response": ("headache_q", "headache_has", "headache_response"),
}


# --- from counts to results -----------------------------------------------------------------


def _rate(counts: dict[str, int], measure: str, definition: OutcomeDefinition) -> Rate:
    qualifying_name, has_name, count_name = _RATE_COLUMNS[measure]
    qualifying, with_measure = counts[qualifying_name], counts[has_name]
    n = qualifying if definition.missing == "itt" else with_measure
    estimate = stats.proportion_interval(counts[count_name], n, alpha=definition.alpha, method=definition.ci)
    return Rate(
        n=n,
        count=counts[count_name],
        rate=estimate.rate,
        ci_low=estimate.low,
        ci_high=estimate.high,
        small_n=n < SMALL_CELL,
        qualifying=qualifying,
        with_measure=with_measure,
    )


def _measures(
    keys: dict[str, str],
    counts: dict[str, int],
    histograms: dict[str, list[tuple[float, int]]],
    definition: OutcomeDefinition,
    settings: MeasureSettings,
) -> Measures:
    agree_n, both = counts["agree_n"], counts["agree_both"]
    pgic_only, nrs_only = counts["agree_pgic_only"], counts["agree_nrs_only"]
    return Measures(
        keys=keys,
        eligible=counts["patients"],
        rates={m: _rate(counts, m, definition) for m in RATE_MEASURES},
        changes={
            m: stats.mean_change(histograms.get(m, []), alpha=definition.alpha) for m in CHANGE_MEASURES
        },
        agreement=Agreement(agree_n, both, pgic_only, nrs_only, agree_n - both - pgic_only - nrs_only),
        opioid_levels=OpioidLevels(
            settings.mme_levels,
            counts["mme_pair"],
            counts["mme_base_low"],
            counts["mme_fu_low"],
            counts["mme_base_high"],
            counts["mme_fu_high"],
        ),
    )


def _kept_view(
    definition: OutcomeDefinition, cohort: CohortFilter, by: Sequence[str], settings: MeasureSettings
) -> bool:
    """Whether ``secondary_cells`` keeps this view already counted (besides its cut-off, which
    :func:`analysis.db.secondary_cells.kept_counts` checks): the default threshold and measure
    settings, no cohort filter, at most one dimension (docs/performance.md)."""
    return (
        definition.threshold == secondary_cells.DEFAULT_VIEW.threshold
        and settings == MeasureSettings()
        and cohort.is_empty
        and len(by) <= 1
    )


def _kept_timepoint(definition: OutcomeDefinition) -> bool:
    """Whether the cells count this time point too, with the default window (at the data
    cut-off, which :func:`analysis.db.secondary_cells.kept_counts` checks)."""
    view = secondary_cells.DEFAULT_VIEW
    return (
        definition.timepoint_days in secondary_cells.TIMEPOINTS and definition.window_days == view.window_days
    )


def _kept_as_of(
    connection: Connection, definition: OutcomeDefinition, by: tuple[str, ...]
) -> list[Any] | None:
    """The default view at an earlier cut-off: the kept part of the patients settled by the last
    quarter end on or before it, and the others counted from the facts as of the cut-off
    (:mod:`analysis.db.secondary_cells`; docs/performance.md, "Settled by quarter"). Rows as
    :func:`secondary_query` returns them, a group's counts possibly in two rows; None when the
    cells do not answer."""
    assert definition.cutoff is not None
    quarter_end = secondary_cells.last_quarter_end(definition.cutoff)
    kept = secondary_cells.kept_counts(
        connection, definition.cutoff, by[0] if by else "", quarter_end=quarter_end
    )
    if kept is None:
        return None
    rows = facts_as_of_query(
        definition,
        definition.cutoff,
        names=(*ROW_COLUMNS, *by),
        distinct_on=connection.dialect.name == "postgresql",
        among=secondary_cells.unsettled_after(quarter_end, definition.cutoff, route="route" in by),
    )
    query = secondary_query(rows, definition, MeasureSettings(), by, source=AS_OF)
    return kept + list(connection.execute(query).mappings().all())


@dataclass(frozen=True)
class SecondaryCounts:
    """Per-group counts and change histograms of one database pass: all a table needs.

    They depend on the time point, window, threshold, cut-off, cohort and measure settings —
    not on the missing-data policy, interval method or alpha, which
    :func:`secondary_from_counts` applies — so the ITT and completers views share them.
    """

    cutoff: date
    by: tuple[str, ...]
    settings: MeasureSettings
    counts: tuple[tuple[tuple[str, ...], dict[str, int]], ...]
    histograms: tuple[tuple[tuple[str, ...], dict[str, tuple[tuple[float, int], ...]]], ...]


def secondary_counts(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    by: Sequence[str] = (),
    settings: MeasureSettings = MeasureSettings(),
) -> SecondaryCounts:
    """Run the one statement of :func:`secondary_query` and collect its rows per group."""
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot break down by {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}")
    by = tuple(by)
    definition, cohort_rows = cohort_query(engine, definition, cohort, columns=(*ROW_COLUMNS, *by))
    assert definition.cutoff is not None
    # The measure facts hold the default time point and window over all stored data; any other
    # is ranked among the kept follow-up days (docs/performance.md, "Only the columns asked for").
    source = FROM_ROWS
    if cohorts.READ_FACTS and not at_default_timepoint(definition):
        source = FROM_DAYS
    elif cohorts.READ_FACTS:
        source = FROM_FACTS if facts_apply(definition.cutoff, data_cutoff(engine)) else AS_OF
    with engine.connect() as connection:
        kept = None
        view = _kept_view(definition, cohort, by, settings)
        grouping = by[0] if by else ""
        if source == FROM_FACTS and view:
            kept = secondary_cells.kept_counts(connection, definition.cutoff, grouping)
        elif source == FROM_DAYS and view and _kept_timepoint(definition):
            timepoint = definition.timepoint_days
            kept = secondary_cells.kept_counts(connection, definition.cutoff, grouping, timepoint=timepoint)
        elif source == AS_OF and view:
            kept = _kept_as_of(connection, definition, by)
        if kept is None:
            query = secondary_query(cohort_rows, definition, settings, by, source=source)
            result: Sequence[Any] = connection.execute(query).mappings().all()
        else:
            result = kept
    # A group's counts, and a change value's patients, may come in more than one row (the kept
    # part and the rest, _kept_as_of): they add up.
    counts: dict[tuple[str, ...], dict[str, int]] = {}
    histograms: dict[tuple[str, ...], dict[str, dict[float, int]]] = {}
    for row in result:
        group = tuple(str(row[name]) for name in by)
        if row["kind"] == "counts":
            summed = counts.setdefault(group, dict.fromkeys(COUNT_NAMES, 0))
            for name in COUNT_NAMES:
                summed[name] += int(row[name])
        else:
            per_value = histograms.setdefault(group, {}).setdefault(row["kind"], {})
            value = float(row["value"])
            per_value[value] = per_value.get(value, 0) + int(row["patients"])
    return SecondaryCounts(
        cutoff=definition.cutoff,
        by=by,
        settings=settings,
        counts=tuple(sorted(counts.items())),
        histograms=tuple(
            (group, {m: tuple(sorted(pairs.items())) for m, pairs in per.items()})
            for group, per in sorted(histograms.items())
        ),
    )


def secondary_from_counts(counts: SecondaryCounts, definition: OutcomeDefinition) -> SecondaryTable:
    """Rates, intervals, means and medians (docs/methods.md) from :func:`secondary_counts`."""
    definition = replace(definition, cutoff=counts.cutoff)
    by, settings = counts.by, counts.settings
    per_group = dict(counts.counts)
    histograms = dict(counts.histograms)
    # Counts and histograms add up across groups, so the overall row needs no second pass.
    overall_counts = {name: sum(group[name] for group in per_group.values()) for name in COUNT_NAMES}
    overall_histograms = {
        m: [pair for group in histograms.values() for pair in group.get(m, ())] for m in CHANGE_MEASURES
    }
    overall = _measures({}, overall_counts, overall_histograms, definition, settings)
    groups = [
        _measures(
            dict(zip(by, group, strict=True)),
            per_group[group],
            {m: list(pairs) for m, pairs in histograms.get(group, {}).items()},
            definition,
            settings,
        )
        for group in per_group
    ]
    return SecondaryTable(
        definition=definition, settings=settings, by=by, overall=overall, groups=groups if by else []
    )


def secondary_table(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    by: Sequence[str] = (),
    settings: MeasureSettings = MeasureSettings(),
) -> SecondaryTable:
    """Every measure beyond pain, overall and per group of ``by`` (groups: among eligible patients)."""
    return secondary_from_counts(secondary_counts(engine, definition, cohort, by, settings), definition)


def substantial_rate(group: GroupResult, definition: OutcomeDefinition) -> Rate:
    """The ≥ 50 % ("substantial") rate of a response-table group, beside its ≥ 30 % rate.

    Same denominator ``n`` and interval method as the response rate; the count is the
    derivation's substantial responders (docs/methods.md, "Outcomes beyond pain").
    """
    estimate = stats.proportion_interval(
        group.substantial, group.n, alpha=definition.alpha, method=definition.ci
    )
    return Rate(
        n=group.n,
        count=group.substantial,
        rate=estimate.rate,
        ci_low=estimate.low,
        ci_high=estimate.high,
        small_n=group.small_n,
        qualifying=group.eligible,
        with_measure=group.with_followup,
    )
