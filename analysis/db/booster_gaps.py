"""``booster_gaps``: each maintenance session's gap to the patient's previous one, kept at import.

The durability rules (docs/methods.md, "Durability") give each responder the median gap in days
between consecutive maintenance sessions — those more than :data:`MAINTENANCE_AFTER_DAY` days
after the first session — on or before the last date that counts (the cut-off, or the end of
care). Over all stored data the median is kept in ``durability_inputs``; as of an earlier
cut-off, a patient with a session after it needs the gaps of the sessions up to it. Those are a
first part of the patient's maintenance sessions, whose gaps to the previous one do not depend
on the bound, so this table keeps every maintenance session's gap and the rules read a range of
it instead of taking the gaps from the sessions (docs/performance.md, "Booster gaps kept").

Each row also keeps ``median_gap``, the median of the patient's gaps up to and including it:
as of a last date, a patient's booster median is the one kept at their last maintenance session
on or before it — one search of this table instead of ranking their gaps (docs/performance.md,
"Booster medians kept").

The rows are derived from ``sessions`` and the already refreshed ``patient_facts`` (the index
date) in the same refresh (:func:`analysis.db.facts.refresh`): a patient's gaps change only when
their own sessions do (an earlier first session makes other sessions maintenance).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Float, Integer, Select, and_, case, cast, func, inspect, or_, select
from sqlalchemy.sql.expression import ColumnElement

from analysis.db import schema
from analysis.db.sqlfunctions import add_days, days_between
from analysis.db.store import replace_patients_rows, stored_columns

#: Sessions after this day (days since the first session) are maintenance ("booster") sessions.
MAINTENANCE_AFTER_DAY = 28


def gap_to_previous() -> ColumnElement[Any]:
    """Days from each selected session to the patient's previous selected one (NULL for the first)."""
    s = schema.sessions
    previous = func.lag(s.c.session_date).over(partition_by=s.c.patient_key, order_by=s.c.session_date)
    return days_between(s.c.session_date, previous)


def middle(rank: ColumnElement[Any], count: ColumnElement[Any]) -> ColumnElement[bool]:
    """Whether a value ranked ``rank`` of ``count`` (ranks from 1) is one of the middle one or two
    whose average is the median: ranks (n + 1) // 2 and (n + 2) // 2."""
    n = cast(count, Integer)
    return or_(rank == (n + 1) // 2, rank == (n + 2) // 2)


def _gaps(keys: Any) -> Select[Any]:
    """``patient_key``, ``session_date``, ``gap`` of ``keys``' maintenance sessions after their first."""
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


def derived(keys: Any = None, *, medians: bool = True) -> Select[Any]:
    """The ``booster_gaps`` rows of ``keys`` (a query of patient keys; all when None) computed
    from the stored sessions: ``patient_key``, ``session_date``, ``gap`` and, with ``medians``,
    ``median_gap`` — the median of the patient's gaps on or before the session (each gap with
    those before it: at 10M sessions 18M pairs for 2.8M gaps, 17 s in a migration's full
    refresh; an import pairs only its own patients' gaps)."""
    gaps = _gaps(keys).subquery("gaps")
    if not medians:
        return select(gaps)
    # Each gap's position among the patient's: how many gaps its median is taken over.
    position = func.row_number().over(partition_by=gaps.c.patient_key, order_by=gaps.c.session_date)
    kept = select(gaps, position.label("position")).cte("session_gaps").prefix_with("MATERIALIZED")
    earlier = kept.alias("earlier_gaps")
    # Each gap with the patient's gaps so far, in order: the middle one or two are the median.
    partition, order = (kept.c.patient_key, kept.c.session_date), earlier.c.gap
    ranked = (
        select(
            kept.c.patient_key,
            kept.c.session_date,
            kept.c.gap.label("this_gap"),
            kept.c.position,
            earlier.c.gap,
            func.lead(earlier.c.gap).over(partition_by=partition, order_by=order).label("next_gap"),
            func.row_number().over(partition_by=partition, order_by=order).label("rank"),
        )
        .join(
            earlier, and_(earlier.c.patient_key == kept.c.patient_key, earlier.c.position <= kept.c.position)
        )
        .subquery("gaps_so_far")
    )
    # At the lower middle rank: that gap, or with an even count its mean with the next (as an
    # average of the middle two: exact in floating point for whole days).
    n = ranked.c.position
    upper = case((n % 2 == 0, ranked.c.next_gap), else_=ranked.c.gap)
    return select(
        ranked.c.patient_key,
        ranked.c.session_date,
        ranked.c.this_gap.label("gap"),
        ((cast(ranked.c.gap, Float) + upper) / 2).label("median_gap"),
    ).where(ranked.c.rank == (n + 1) // 2)


def refresh(connection: Connection, keys: Any = None) -> None:
    """Re-derive the booster gaps of ``keys`` (a query of patient keys; all when None) from the
    stored sessions and the already refreshed ``patient_facts``; nothing to do before migration
    0019 made the table, and no medians before 0020 kept them."""
    if not inspect(connection).has_table(schema.booster_gaps.name):
        return
    names = stored_columns(connection, schema.booster_gaps)
    rows = derived(keys, medians="median_gap" in names).subquery("kept_gaps")
    replace_patients_rows(connection, schema.booster_gaps, keys, select(*[rows.c[n] for n in names]), names)
