"""``pain_days``: each patient's pain measurements by day since the index date, kept at import.

The durability rules (docs/methods.md, "Durability") look for a patient's first measurement with
or without response in a range of days. Found in ``sessions`` and ``followups``, that was two
range searches per question, each session checked for a follow-up on its day, with the day of
every row computed from the index date: 31 s for ``durability --threshold 0.5`` at 10M sessions
on PostgreSQL. This table keeps the measurements already merged — one per day, the follow-up's
pain winning over the session's ``pre_pain`` — keyed by ``(patient_key, day)``, so each question
is one range search of one narrow table (docs/performance.md, "Pain days").

The rows are derived from ``sessions``, ``followups`` and the already refreshed ``patient_facts``
in the same refresh (:func:`analysis.db.facts.refresh`): a patient's days change only when their
own rows do (an earlier first session moves the index date and so every day).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, exists, select, union_all

from analysis.db import schema
from analysis.db.sqlfunctions import days_between
from analysis.db.store import replace_patients_rows


def derived(keys: Any = None) -> Any:
    """The ``pain_days`` rows of ``keys`` (a query of patient keys; all when None) computed from
    the stored rows: a subquery with ``patient_key``, ``day``, ``pain``."""
    f, s, t = schema.followups, schema.sessions, schema.patient_facts
    mine = [] if keys is None else [t.c.patient_key.in_(keys)]
    followup_rows = (
        select(
            f.c.patient_key,
            days_between(f.c.followup_date, t.c.index_date).label("day"),
            f.c.pain.label("pain"),
        )
        .join_from(f, t, t.c.patient_key == f.c.patient_key)
        .where(t.c.index_date.is_not(None), f.c.followup_date > t.c.index_date, *mine)
    )
    same_day_followup = exists().where(
        f.c.patient_key == s.c.patient_key, f.c.followup_date == s.c.session_date
    )
    session_rows = (
        select(s.c.patient_key, days_between(s.c.session_date, t.c.index_date), s.c.pre_pain)
        .join_from(s, t, t.c.patient_key == s.c.patient_key)
        .where(t.c.index_date.is_not(None), s.c.session_date > t.c.index_date, s.c.pre_pain.is_not(None))
        .where(~same_day_followup, *mine)
    )
    return union_all(followup_rows, session_rows).subquery("derived_pain_days")


def refresh(connection: Connection, keys: Any = None, *, replace: bool = True) -> None:
    """Re-derive the pain days of ``keys`` (a query of patient keys; all when None) from the
    stored rows and the already refreshed ``patient_facts`` (``replace`` False: new patients, with
    no rows to delete); nothing to do before migration 0015 made the table."""
    rows = derived(keys)
    names = ["patient_key", "day", "pain"]
    rows_then = select(*[rows.c[n] for n in names])
    replace_patients_rows(connection, schema.pain_days, keys, rows_then, names, replace=replace)
