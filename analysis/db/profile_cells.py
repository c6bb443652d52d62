"""The response profile's patterns at the default view, counted at import (``profile_patterns``).

``profile`` fits its model to the patients counted per pattern of baseline characteristics
(:mod:`analysis.queries.profile`): at 10M sessions 1.3M eligible patients grouped into 347,322
patterns, most of the command's time on PostgreSQL (docs/performance.md, "Profile patterns
kept"). At the default view — the facts' time point and window, the default threshold, no cohort
filter, the data cut-off — the patterns are kept already counted, and each import changes them
by what its patients changed, in the steps and the transaction in which it changes the outcomes
beyond pain (:class:`analysis.db.secondary_cells.Recount`): the touched patients' part as it was
is taken away, their new part added, and the sums folded into the kept rows in place.

Every pattern keeps both policies' counts — the eligible patients (ITT), those with a follow-up
in the window (completers), and the responders, who are among both (docs/methods.md) — so one
table answers both. The parts come from the statement the profile runs otherwise
(:func:`pattern_counts`), so the kept and the computed patterns cannot drift apart
(``tests/test_secondary_cells.py`` holds them equal after every import). The kept rows share the
cells' state (cut-off and rules' fingerprint): when the cells do not answer, neither do the
patterns.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Select,
    case,
    delete,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.sql.expression import ColumnElement

from analysis.db import schema
from analysis.db.derivation import count_where, is_set
from analysis.db.frames import read_frame
from analysis.db.store import add_in_place, temporary_like

#: A pattern: the model's characteristics (docs/comparisons.md).
KEYS: tuple[str, ...] = ("condition", "route", "baseline", "age", "sex", "mme_positive", "phq9_high")
#: Text characteristics among :data:`KEYS`.
TEXT_KEYS: tuple[str, ...] = ("condition", "route", "sex")
#: Per pattern: the eligible patients, those with a follow-up in the window, the responders (a
#: responder has a follow-up in the window, and a patient with one is eligible).
COUNTS: tuple[str, ...] = ("eligible", "with_followup", "responders")
#: The per-patient columns :func:`pattern_counts` reads.
ROW_COLUMNS: tuple[str, ...] = (
    "patient_key",
    "condition",
    "route",
    "baseline",
    "age",
    "sex",
    "eligible",
    "with_followup",
    "responder",
)
#: Baseline MME above this is "on opioids"; PHQ-9 at or above this is "depressive symptoms".
MME_POSITIVE_ABOVE = 0
PHQ9_HIGH_FROM = 10
#: How a kept pattern writes a characteristic not recorded (schema.profile_patterns).
NOT_RECORDED = -1
_MAYBE_UNRECORDED = ("age", "mme_positive", "phq9_high")
#: The rules the kept rows are counted under (part of the cells' fingerprint).
RULES = (KEYS, COUNTS, MME_POSITIVE_ABOVE, PHQ9_HIGH_FROM, NOT_RECORDED)


def characteristic_keys(rows: Any) -> list[ColumnElement[Any]]:
    """The pattern's characteristics of each row of ``rows`` (a subquery of :data:`ROW_COLUMNS`),
    with the baseline MME and PHQ-9 of ``measure_facts`` (to be joined by the caller)."""
    p = schema.measure_facts
    mme = case((p.c.baseline_mme > MME_POSITIVE_ABOVE, 1), (p.c.baseline_mme.is_not(None), 0), else_=None)
    phq9 = case((p.c.baseline_phq9 >= PHQ9_HIGH_FROM, 1), (p.c.baseline_phq9.is_not(None), 0), else_=None)
    return [
        *[rows.c[name] for name in ("condition", "route", "baseline", "age", "sex")],
        mme.label("mme_positive"),
        phq9.label("phq9_high"),
    ]


def pattern_counts(rows: Select[Any], keys: Any = None) -> Select[Any]:
    """Per pattern among ``rows`` (per-patient rows with :data:`ROW_COLUMNS`): :data:`COUNTS`.

    ``keys``, a function of the rows' subquery, gives the grouped columns instead of
    :func:`characteristic_keys` (the profile groups text as codes on SQLite). The baselines come
    from the narrow ``measure_facts``, not the wide ``patients`` (docs/performance.md, "Profile
    at 10M").
    """
    r = rows.subquery("cohort")
    p = schema.measure_facts
    grouped = characteristic_keys(r) if keys is None else keys(r)
    counts = [
        func.count().label("eligible"),
        count_where(is_set(r.c.with_followup)).label("with_followup"),
        count_where(is_set(r.c.responder)).label("responders"),
    ]
    return (
        select(*grouped, *counts)
        .select_from(r.join(p, p.c.patient_key == r.c.patient_key))
        .where(is_set(r.c.eligible))
        .group_by(*grouped)
    )


def kept_shape(connection: Connection) -> bool:
    """Whether the patterns are kept: not before migration 0022 made their table."""
    return inspect(connection).has_table(schema.profile_patterns.name)


#: The touched patients' patterns (signed), and their sums per pattern.
_PARTS = temporary_like(schema.profile_patterns, "parts")
_ROLLED = temporary_like(schema.profile_patterns, "rolled")
WORK = (_PARTS, _ROLLED)


def add_parts(connection: Connection, rows: Select[Any], *, sign: int) -> None:
    """Add the patterns of ``rows`` (the touched patients' per-patient rows at the default view,
    with :data:`ROW_COLUMNS`), each count times ``sign``, to the parts of this refresh."""
    counted = pattern_counts(rows).subquery("counted")
    stored = [
        func.coalesce(counted.c[name], NOT_RECORDED) if name in _MAYBE_UNRECORDED else counted.c[name]
        for name in KEYS
    ]
    connection.execute(
        insert(_PARTS).from_select(
            [*KEYS, *COUNTS], select(*stored, *[counted.c[name] * sign for name in COUNTS])
        )
    )


def fold(connection: Connection, *, fresh: bool = False) -> None:
    """Add this refresh's parts, summed per pattern, to the kept rows in place: a kept pattern is
    changed by its sum, a new one inserted, and patterns left with no patient deleted (``fresh``:
    the kept patterns were just cleared, see :func:`analysis.db.store.add_in_place`)."""
    kept = schema.profile_patterns
    sums = select(*[_PARTS.c[n] for n in KEYS], *[func.sum(_PARTS.c[n]) for n in COUNTS]).group_by(
        *[_PARTS.c[n] for n in KEYS]
    )
    connection.execute(insert(_ROLLED).from_select([*KEYS, *COUNTS], sums))
    add_in_place(connection, kept, _ROLLED, KEYS, COUNTS, "eligible", fresh=fresh)


def clear(connection: Connection) -> None:
    """Forget every kept pattern (before they are counted afresh)."""
    connection.execute(delete(schema.profile_patterns))


def kept_patterns(connection: Connection, cutoff: date, counted_at: date | None) -> pd.DataFrame | None:
    """The kept patterns (:data:`KEYS`, :data:`COUNTS`; NULL where not recorded) if they answer
    for ``cutoff`` — the data cut-off they were counted at (``counted_at``, None when the cells
    are not current) — else None."""
    if counted_at is None or cutoff != counted_at or not kept_shape(connection):
        return None
    kept = schema.profile_patterns
    frame = read_frame(connection, select(kept), text=TEXT_KEYS)
    for name in _MAYBE_UNRECORDED:
        frame[name] = frame[name].where(frame[name] != NOT_RECORDED)
    return frame


__all__ = [
    "COUNTS",
    "KEYS",
    "ROW_COLUMNS",
    "TEXT_KEYS",
    "add_parts",
    "characteristic_keys",
    "clear",
    "fold",
    "kept_patterns",
    "kept_shape",
    "pattern_counts",
]
