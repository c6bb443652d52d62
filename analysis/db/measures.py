"""The follow-up that counts for a measure (docs/methods.md, "Outcomes beyond pain"), as SQL.

For pain every follow-up counts (pain is required). Other measures — PGIC, MME, PHQ-9, BPI
interference, headache days — are optional columns, so *the follow-up that counts* for a
measure is the one in the window, nearest the time point, **that records that measure**; a
tie → the earlier one. Two measures of one patient may so come from two different follow-ups.

One pass over the follow-ups in the window serves every measure: each follow-up gets a rank
``2 · |day − T| + (1 if day > T)`` — unique per day, smaller is nearer, and of two days
equally near the earlier is smaller — and per patient and measure the smallest rank among
the follow-ups that record it is found with a window ``MIN``; a grouped pass then keeps each
measure's value at its rank. Both steps are plain SQL on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Date, Select, case, func, insert, inspect, literal, select
from sqlalchemy.sql.expression import ColumnElement

from analysis.db import schema
from analysis.db.sqlfunctions import days_between
from analysis.db.store import delete_patients_rows
from analysis.domain.definition import OutcomeDefinition

#: Follow-up columns that are measures with a "follow-up that counts" of their own.
FOLLOWUP_MEASURES: tuple[str, ...] = ("pgic", "mme", "phq9", "bpi_interference", "headache_days")


def nearness_rank(day: ColumnElement[Any], timepoint_days: int) -> ColumnElement[int]:
    """``2·|day − T| + (day > T)``: smaller is nearer the time point; a tie goes to the earlier day."""
    return func.abs(day - timepoint_days) * 2 + case((day > timepoint_days, 1), else_=0)


def measures_at_followup(
    index: Any,
    definition: OutcomeDefinition,
    cutoff: date | None,
    measures: Sequence[str] = FOLLOWUP_MEASURES,
) -> Any:
    """Per patient of ``index`` (a selectable with ``patient_key`` and ``index_date``), each
    measure's value at the follow-up that counts for it (NULL when no follow-up in the window
    records it). Follow-ups after ``cutoff`` do not count. One row per patient who has any
    follow-up in the window; columns ``patient_key`` and one per measure.
    """
    f = schema.followups
    day = days_between(f.c.followup_date, index.c.index_date)
    joined = select(f.c.patient_key).join(index, index.c.patient_key == f.c.patient_key)
    return _at_best_rank(joined, f, day, definition, cutoff, measures)


def measures_at_days(
    keys: Any, definition: OutcomeDefinition, cutoff: date | None, measures: Sequence[str] = FOLLOWUP_MEASURES
) -> Any:
    """:func:`measures_at_followup` for the patients of ``keys`` (a query of patient keys; every
    patient with an index date when None) read from ``followup_days``, which keeps each
    follow-up's day and measures: no join to the index dates (docs/performance.md, "Only the
    columns asked for")."""
    d = schema.followup_days
    rows = select(d.c.patient_key).where(*([] if keys is None else [d.c.patient_key.in_(keys)]))
    return _at_best_rank(rows, d, d.c.day, definition, cutoff, measures)


def _at_best_rank(
    rows: Select[Any],
    table: Any,
    day: ColumnElement[Any],
    definition: OutcomeDefinition,
    cutoff: date | None,
    measures: Sequence[str],
) -> Any:
    """The ranking of :func:`measures_at_followup` over ``rows`` (a select of ``table``'s
    ``patient_key``, already joined or filtered as the caller needs) with each follow-up's ``day``."""
    unknown = [m for m in measures if m not in FOLLOWUP_MEASURES]
    if unknown:
        raise ValueError(f"not a follow-up measure: {', '.join(unknown)}")
    t = table.c
    where = [day >= definition.window_start, day <= definition.window_end]
    if cutoff is not None:
        where.append(t.followup_date <= literal(cutoff, Date))
    rank = nearness_rank(day, definition.timepoint_days)
    ranked = (
        rows.add_columns(
            rank.label("rank"),
            *[t[m] for m in measures],
            *[
                func.min(case((t[m].is_not(None), rank))).over(partition_by=t.patient_key).label(f"best_{m}")
                for m in measures
            ],
        )
        .where(*where)
        .subquery("measure_ranked")
    )
    # Each measure's value sits on exactly one row per patient (its rank is unique), so MAX
    # over the patient's rows picks it.
    return (
        select(
            ranked.c.patient_key,
            *[
                func.max(case((ranked.c.rank == ranked.c[f"best_{m}"], ranked.c[m]))).label(m)
                for m in measures
            ],
        )
        .group_by(ranked.c.patient_key)
        .subquery("measures_at_followup")
    )


# --- the measure facts, kept at import ------------------------------------------------------

#: Baselines that ``measure_facts`` copies from ``patients``.
BASELINES: tuple[str, ...] = (
    "baseline_mme",
    "baseline_phq9",
    "baseline_bpi_interference",
    "baseline_headache_days",
)


def measure_facts_query(keys: Any = None) -> Select[Any]:
    """The rows of ``measure_facts`` (one per patient of ``keys``, every patient when None),
    from ``patients``, the fresh ``patient_facts`` (index dates) and ``followups``."""
    p, t = schema.patients, schema.patient_facts
    mine = [] if keys is None else [t.c.patient_key.in_(keys)]
    index = (
        select(t.c.patient_key, t.c.index_date)
        .where(t.c.index_date.is_not(None), *mine)
        .subquery("facts_index")
    )
    at = measures_at_followup(index, schema.FACTS_DEFINITION, None)
    return (
        select(
            p.c.id.label("patient_key"),
            *[p.c[name] for name in BASELINES],
            *[at.c[m] for m in FOLLOWUP_MEASURES],
        )
        .select_from(p.outerjoin(at, at.c.patient_key == p.c.id))
        .where(*([] if keys is None else [p.c.id.in_(keys)]))
    )


def refresh_facts(connection: Connection, keys: Any = None, *, replace: bool = True) -> None:
    """Re-derive the measure facts of ``keys`` (a query of patient keys; all patients when None;
    ``replace`` False: new patients, with no rows to delete).

    Called by :func:`analysis.db.facts.refresh` right after the patient facts, in the same
    transaction. Before migration 0007 made the table (migration 0004 refreshes the facts with
    today's code) there is nothing to refresh.
    """
    if not inspect(connection).has_table(schema.measure_facts.name):
        return
    table = schema.measure_facts
    columns = ["patient_key", *BASELINES, *FOLLOWUP_MEASURES]
    delete_patients_rows(connection, table, keys, replace=replace)
    connection.execute(insert(table).from_select(columns, measure_facts_query(keys)))
