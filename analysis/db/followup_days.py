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
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, Date, delete, func, insert, inspect, literal, select
from sqlalchemy.dialects import postgresql

from analysis.db import schema
from analysis.db.sqlfunctions import days_between
from analysis.db.store import stored_columns
from analysis.domain.definition import OutcomeDefinition

#: Copied from ``followups`` as they are: the follow-up's values.
_COPIED = ("followup_date", "pain", "pgic", "mme", "phq9", "bpi_interference", "headache_days")


def refresh(connection: Connection, keys: Any = None) -> None:
    """Re-derive the follow-up days of ``keys`` (a query of patient keys; all when None) from
    ``followups`` and the already refreshed ``patient_facts``. Before migration 0013 made the
    table (earlier migrations refresh the facts with today's code) there is nothing to do, and
    before 0014 added the other measures only the columns of its day are written."""
    days, f, t = schema.followup_days, schema.followups, schema.patient_facts
    if not inspect(connection).has_table(days.name):
        return
    copied = [name for name in stored_columns(connection, days) if name in _COPIED]
    mine = [] if keys is None else [t.c.patient_key.in_(keys)]
    connection.execute(delete(days) if keys is None else delete(days).where(days.c.patient_key.in_(keys)))
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

    Columns as :func:`analysis.db.derivation._nearest_followups`: ``patient_key``,
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
    # Grouped, as in derivation._nearest_followups: SQLite would rescan a filtered subquery for
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
