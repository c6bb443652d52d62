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

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Float,
    Integer,
    Select,
    Table,
    and_,
    case,
    cast,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.sql.expression import ColumnElement

from analysis.db import schema
from analysis.db.sqlfunctions import add_days, days_between
from analysis.db.store import replace_patients_rows, stored_columns, temporary_table

#: Sessions after this day (days since the first session) are maintenance ("booster") sessions.
MAINTENANCE_AFTER_DAY = 28


def gap_to_previous() -> ColumnElement[Any]:
    """Days from each selected session to the patient's previous selected one (NULL for the first)."""
    s = schema.sessions
    previous = func.lag(s.c.session_date).over(partition_by=s.c.patient_key, order_by=s.c.session_date)
    return days_between(s.c.session_date, previous)


def derived(keys: Any = None) -> Select[Any]:
    """The booster gaps of ``keys`` (a query of patient keys; all when None) computed from the
    stored sessions: ``patient_key``, ``session_date``, ``gap``."""
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


def medians_so_far(gaps: Table) -> Select[Any]:
    """Per gap of ``gaps`` (a table with ``booster_gaps``' first three columns and its key):
    ``patient_key``, ``session_date``, ``gap`` and ``median_gap``, the median of the patient's
    gaps on or before it.

    Each gap is paired with the patient's gaps so far through the table's key (at 10M sessions
    18M pairs for 2.8M gaps; an import pairs only its own patients'), the pairs put in order by
    one window, and the middle one or two taken at the lower middle rank: that gap, or with an
    even count its mean with the next (as an average of the middle two: exact in floating point
    for whole days). Read from a keyed table, not from a derived set joined to itself: SQLite
    planned that self-join of an import's 55,000 gaps as a scan per gap (64 s into the 1M clinic).
    """
    this, earlier = gaps.alias("this_gap"), gaps.alias("earlier_gap")
    partition, order = (this.c.patient_key, this.c.session_date), earlier.c.gap
    ranked = (
        select(
            this.c.patient_key,
            this.c.session_date,
            this.c.gap.label("own_gap"),
            earlier.c.gap,
            func.lead(earlier.c.gap).over(partition_by=partition, order_by=order).label("next_gap"),
            func.row_number().over(partition_by=partition, order_by=order).label("rank"),
            func.count().over(partition_by=partition, order_by=order, rows=(None, None)).label("gaps"),
        )
        .join(
            earlier,
            and_(earlier.c.patient_key == this.c.patient_key, earlier.c.session_date <= this.c.session_date),
        )
        .subquery("gaps_so_far")
    )
    n = cast(ranked.c.gaps, Integer)
    upper = case((n % 2 == 0, ranked.c.next_gap), else_=ranked.c.gap)
    return select(
        ranked.c.patient_key,
        ranked.c.session_date,
        ranked.c.own_gap.label("gap"),
        ((cast(ranked.c.gap, Float) + upper) / 2).label("median_gap"),
    ).where(ranked.c.rank == (n + 1) // 2)


#: The refreshed patients' gaps, keyed as ``booster_gaps``, before their medians are known.
_STAGED = temporary_table(
    "booster_gaps_staged",
    [
        Column("patient_key", Integer, primary_key=True, autoincrement=False),
        Column("session_date", Date, primary_key=True),
        Column("gap", Integer, nullable=False),
    ],
)


def refresh(connection: Connection, keys: Any = None, *, replace: bool = True) -> None:
    """Re-derive the booster gaps of ``keys`` (a query of patient keys; all when None) from the
    stored sessions and the already refreshed ``patient_facts``, with their medians so far
    (``replace`` False: new patients, with no rows to delete); nothing to do before migration
    0019 made the table, and no medians before 0020 kept them.

    The gaps are staged in a keyed temporary table and paired there, so each row is written once
    with its median: inserting them with a stand-in median and then updating every row wrote
    each twice, and on PostgreSQL added a second index entry per row, since the key's index
    carries the median (docs/performance.md, "Thirteenth session: the booster medians")."""
    g = schema.booster_gaps
    if not inspect(connection).has_table(g.name):
        return
    names = stored_columns(connection, g)
    rows = derived(keys).subquery("kept_gaps")
    if "median_gap" not in names:
        gaps = select(rows.c.patient_key, rows.c.session_date, rows.c.gap)
        replace_patients_rows(connection, g, keys, gaps, names, replace=replace)
        return
    _STAGED.drop(connection, checkfirst=True)  # SQLite keeps temporary tables until disconnect
    _STAGED.create(connection)
    staged = list(_STAGED.c.keys())  # booster_gaps' columns but the median
    connection.execute(insert(_STAGED).from_select(staged, select(*[rows.c[n] for n in staged])))
    if connection.dialect.name == "postgresql":  # a plan for its real size
        connection.exec_driver_sql(f"ANALYZE {_STAGED.name}")
    replace_patients_rows(
        connection, g, keys, medians_so_far(_STAGED), [*staged, "median_gap"], replace=replace
    )
    if connection.dialect.name != "postgresql":  # PostgreSQL drops it at commit
        _STAGED.drop(connection)
