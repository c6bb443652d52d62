"""``booster_gaps``: each maintenance session's gap to the patient's previous one, kept at import.

The durability rules (docs/methods.md, "Durability") give each responder the median gap in days
between consecutive maintenance sessions — those more than :data:`MAINTENANCE_AFTER_DAY` days
after the first session — on or before the last date that counts (the cut-off, or the end of
care). Over all stored data the median is kept in ``durability_inputs``; as of an earlier
cut-off, a patient with a session after it needs the gaps of the sessions up to it. Those are a
first part of the patient's maintenance sessions, whose gaps to the previous one do not depend
on the bound, so this table keeps every maintenance session's gap and the rules read a range of
it instead of taking the gaps from the sessions (docs/performance.md, "Booster gaps kept").

The rows are derived from ``sessions`` and the already refreshed ``patient_facts`` (the index
date) in the same refresh (:func:`analysis.db.facts.refresh`): a patient's gaps change only when
their own sessions do (an earlier first session makes other sessions maintenance).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, func, select
from sqlalchemy.sql.expression import ColumnElement

from analysis.db import schema
from analysis.db.sqlfunctions import add_days, days_between
from analysis.db.store import replace_patients_rows

#: Sessions after this day (days since the first session) are maintenance ("booster") sessions.
MAINTENANCE_AFTER_DAY = 28


def gap_to_previous() -> ColumnElement[Any]:
    """Days from each selected session to the patient's previous selected one (NULL for the first)."""
    s = schema.sessions
    previous = func.lag(s.c.session_date).over(partition_by=s.c.patient_key, order_by=s.c.session_date)
    return days_between(s.c.session_date, previous)


def derived(keys: Any = None) -> Select[Any]:
    """The ``booster_gaps`` rows of ``keys`` (a query of patient keys; all when None) computed
    from the stored sessions: ``patient_key``, ``session_date``, ``gap``."""
    s, t = schema.sessions, schema.patient_facts
    maintenance = (
        select(s.c.patient_key, s.c.session_date, gap_to_previous().label("gap"))
        .join(t, t.c.patient_key == s.c.patient_key)
        .where(
            t.c.index_date.is_not(None), s.c.session_date > add_days(t.c.index_date, MAINTENANCE_AFTER_DAY)
        )
        .where(*([] if keys is None else [t.c.patient_key.in_(keys)]))
        .subquery("maintenance")
    )
    return select(maintenance).where(maintenance.c.gap.is_not(None))


def refresh(connection: Connection, keys: Any = None) -> None:
    """Re-derive the booster gaps of ``keys`` (a query of patient keys; all when None) from the
    stored sessions and the already refreshed ``patient_facts``; nothing to do before migration
    0019 made the table."""
    rows = derived(keys).subquery("kept_gaps")
    names = ["patient_key", "session_date", "gap"]
    replace_patients_rows(connection, schema.booster_gaps, keys, select(*[rows.c[n] for n in names]), names)
