"""``followup_days``: each follow-up by its day since the patient's index date, kept at import.

At a time point other than the one ``patient_facts`` keeps, the follow-up that counts is the one
in the window nearest the time point (docs/methods.md). Found from ``followups``, every follow-up
is joined to its patient's index date to know its day: 1.66 s of the 3.4 s of
``summary --timepoint 180`` at 10M sessions on PostgreSQL. This table keeps the day with the
follow-up, so the window is a range of one narrow table and the nearest is ranked per patient
without a join (0.47 s there; docs/performance.md, "Follow-up days").

The rows are those of ``followups`` of patients with an index date, derived from the fresh
``patient_facts`` in the same refresh (:func:`analysis.db.facts.refresh`): a patient's days
change only when their own rows do (an earlier first session moves the index date).

The straightforward derivation's search over the stored ``followups`` themselves
(:func:`nearest_in_followups`) lives here too, beside the search over the kept days
(:func:`nearest`) that must give the same follow-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, Date, Select, func, insert, inspect, literal, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.expression import ColumnElement

from analysis.db import schema
from analysis.db.sqlfunctions import days_between
from analysis.db.store import delete_patients_rows, stored_columns
from analysis.domain.definition import OutcomeDefinition

#: Copied from ``followups`` as they are: the follow-up's values.
_COPIED = ("followup_date", "pain", "pgic", "mme", "phq9", "bpi_interference", "headache_days")


def refresh(connection: Connection, keys: Any = None, *, replace: bool = True) -> None:
    """Re-derive the follow-up days of ``keys`` (a query of patient keys; all when None) from
    ``followups`` and the already refreshed ``patient_facts`` (``replace`` False: new patients,
    with no rows to delete). Before migration 0013 made the
    table (earlier migrations refresh the facts with today's code) there is nothing to do, and
    before 0014 added the other measures only the columns of its day are written."""
    days, f, t = schema.followup_days, schema.followups, schema.patient_facts
    if not inspect(connection).has_table(days.name):
        return
    copied = [name for name in stored_columns(connection, days) if name in _COPIED]
    mine = [] if keys is None else [t.c.patient_key.in_(keys)]
    delete_patients_rows(connection, days, keys, replace=replace)
    derived = (
        select(
            f.c.patient_key, days_between(f.c.followup_date, t.c.index_date), *[f.c[name] for name in copied]
        )
        .join_from(f, t, t.c.patient_key == f.c.patient_key)
        .where(t.c.index_date.is_not(None), *mine)
    )
    connection.execute(insert(days).from_select(["patient_key", "day", *copied], derived))


def nearest(
    definition: OutcomeDefinition, cutoff: date | None, keys: Any = None, *, distinct_on: bool = False
) -> Any:
    """Per patient (of ``keys``, a query of patient keys; all when None) the follow-up in the
    window nearest the time point, a tie → the earlier; follow-ups after ``cutoff`` do not count.

    Columns as :func:`nearest_in_followups`: ``patient_key``,
    ``followup_date``, ``pain``, ``pgic``, ``day``. ``distinct_on`` (PostgreSQL): ``DISTINCT ON``
    instead of numbering each patient's follow-ups (0.47 against 0.66 s for 1.4M patients).
    """
    d = schema.followup_days
    where = [d.c.day >= definition.window_start, d.c.day <= definition.window_end]
    if cutoff is not None:
        where.append(d.c.followup_date <= literal(cutoff, Date))
    if keys is not None:
        where.append(d.c.patient_key.in_(keys))
    order = (func.abs(d.c.day - definition.timepoint_days), d.c.day)
    columns = (d.c.patient_key, d.c.followup_date, d.c.pain, d.c.pgic, d.c.day)
    if distinct_on:
        return (
            select(*columns)
            .where(*where)
            .ext(postgresql.distinct_on(d.c.patient_key))
            .order_by(d.c.patient_key, *order)
            .subquery("nearest")
        )
    ranked = (
        select(*columns, func.row_number().over(partition_by=d.c.patient_key, order_by=order).label("rank"))
        .where(*where)
        .subquery("ranked_days")
    )
    # Grouped, as in nearest_in_followups: SQLite would rescan a filtered subquery for
    # every patient of the join that reads it; each patient has one rank-1 row.
    return (
        select(
            ranked.c.patient_key,
            *[func.max(ranked.c[name]).label(name) for name in ("followup_date", "pain", "pgic", "day")],
        )
        .where(ranked.c.rank == 1)
        .group_by(ranked.c.patient_key)
        .subquery("nearest")
    )


def nearest_in_followups(
    index: Any,
    definition: OutcomeDefinition,
    cutoff: date | None,
    keys: Sequence[int] | Select[Any] | None = None,
) -> Any:
    """Per patient of ``index`` (``patient_key``, ``index_date``), the follow-up in the window
    nearest the time point; a tie → the earlier one. Follow-ups after ``cutoff`` do not count.

    From the stored follow-ups themselves: the straightforward derivation's step
    (:func:`analysis.db.derivation.patient_outcomes_query`), which :func:`nearest` repeats over
    the kept days.
    """
    f = schema.followups
    day = days_between(f.c.followup_date, index.c.index_date)
    where = [day >= definition.window_start, day <= definition.window_end]
    if cutoff is not None:
        where.append(f.c.followup_date <= literal(cutoff, Date))
    if keys is not None:
        where.append(f.c.patient_key.in_(keys))
    in_window = (
        select(
            f.c.patient_key,
            f.c.followup_date,
            f.c.pain,
            f.c.pgic,
            day.label("day"),
            func.row_number()
            .over(
                partition_by=f.c.patient_key,
                order_by=(func.abs(day - definition.timepoint_days), day),
            )
            .label("rank"),
        )
        .join(index, index.c.patient_key == f.c.patient_key)
        .where(*where)
        .subquery("in_window")
    )
    # Grouped (each patient has exactly one rank-1 row, so MAX is that row's value) so that the
    # join below is keyed by patient: a plain filtered subquery is rescanned for every patient
    # by SQLite, which grows with patients × follow-ups.
    return (
        select(
            in_window.c.patient_key,
            func.max(in_window.c.followup_date).label("followup_date"),
            func.max(in_window.c.pain).label("pain"),
            func.max(in_window.c.pgic).label("pgic"),
            func.max(in_window.c.day).label("day"),
        )
        .where(in_window.c.rank == 1)
        .group_by(in_window.c.patient_key)
        .subquery("nearest")
    )


def followup_columns(nearest: Any) -> list[ColumnElement[Any]]:
    """The per-patient rows' four columns of the follow-up that counts (of
    :func:`nearest_in_followups` or :func:`nearest`)."""
    return [
        nearest.c.followup_date,
        nearest.c.day.label("followup_day"),
        nearest.c.pain.label("followup_pain"),
        nearest.c.pgic.label("followup_pgic"),
    ]
