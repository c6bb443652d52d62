"""The comparators in use, stored in the database, and the append-only log of their changes.

docs/comparisons.md, "Comparators". Until a director first changes them, the clinic uses the
shipped table (:func:`analysis.domain.comparators.shipped_comparators`); the first change stores
a table of its own. Every change (an edit in the app, an uploaded file, a reset to the shipped
table) replaces the stored table as a whole and appends one row to ``comparator_changes`` —
who, when, what, with the table before and after as CSV — in the same transaction: both are
stored or neither. The log cannot be changed or deleted (triggers, migration 0008).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from analysis.db import schema
from analysis.domain import comparators as domain
from analysis.domain.errors import DatabaseError, first_line

#: What ``user`` is stored as when the caller does not say who changed the table.
UNKNOWN_USER = "unknown"
MAX_USER_CHARS = 320


@dataclass(frozen=True)
class Change:
    """One logged change to the comparators."""

    id: int
    changed_at: datetime
    user: str
    action: str
    before: str
    after: str


def _edited(connection: Connection) -> bool:
    return connection.execute(select(func.count()).select_from(schema.comparator_changes)).scalar_one() > 0


def _stored(connection: Connection) -> list[domain.Comparator]:
    t = schema.comparators
    rows = connection.execute(select(t).order_by(t.c.id)).mappings()
    return [
        domain.Comparator(
            condition=row["condition"],
            label=row["label"],
            kind=row["kind"],
            threshold=float(row["threshold"]),
            rate=float(row["rate"]),
            n=row["n"],
            timepoint_days=row["timepoint_days"],
            citation=row["citation"],
            doi_or_pmid=row["doi_or_pmid"],
            indirect=bool(row["indirect"]),
        )
        for row in rows
    ]


def _current(connection: Connection) -> list[domain.Comparator]:
    return _stored(connection) if _edited(connection) else domain.shipped_comparators()


def _unusable(engine: Engine, exc: SQLAlchemyError) -> DatabaseError:
    where = engine.url.render_as_string(hide_password=True)
    return DatabaseError(f"The comparators at {where} cannot be read or written ({first_line(exc)}).")


def current(engine: Engine) -> list[domain.Comparator]:
    """The comparators in use: the stored table once edited, else the shipped one."""
    try:
        with engine.connect() as connection:
            return _current(connection)
    except SQLAlchemyError as exc:
        raise _unusable(engine, exc) from exc


def is_shipped(engine: Engine) -> bool:
    """True while the clinic uses the shipped table (never changed, or reset to it)."""
    rows = current(engine)
    return domain.to_csv(rows) == domain.to_csv(domain.shipped_comparators())


def save(engine: Engine, comparators: Sequence[domain.Comparator], *, user: str | None, action: str) -> bool:
    """Replace the stored table with ``comparators`` and log the change; False when nothing changed.

    ``action`` is ``edit`` (in the app), ``upload`` (a file) or ``reset`` (back to the shipped
    table). The rows must come from :func:`analysis.domain.comparators.parse_comparators` (or
    the shipped table), which has checked them.
    """
    if action not in schema.COMPARATOR_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(schema.COMPARATOR_ACTIONS)}, not {action!r}")
    after = domain.to_csv(comparators)
    who = ((user or "").strip() or UNKNOWN_USER)[:MAX_USER_CHARS]
    try:
        with engine.begin() as connection:
            before = domain.to_csv(_current(connection))
            if before == after:
                return False
            connection.execute(delete(schema.comparators))
            if comparators:
                connection.execute(
                    insert(schema.comparators),
                    [{**c.as_row(), "indirect": int(c.indirect)} for c in comparators],
                )
            connection.execute(
                insert(schema.comparator_changes).values(
                    changed_at=datetime.now(UTC), user=who, action=action, before=before, after=after
                )
            )
    except SQLAlchemyError as exc:
        raise _unusable(engine, exc) from exc
    return True


def reset(engine: Engine, *, user: str | None) -> bool:
    """Back to the shipped table (logged as ``reset``); False when it is already in use."""
    return save(engine, domain.shipped_comparators(), user=user, action="reset")


def changes(engine: Engine, limit: int = 50) -> list[Change]:
    """The latest ``limit`` logged changes, newest first."""
    t = schema.comparator_changes
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(t).order_by(t.c.changed_at.desc(), t.c.id.desc()).limit(limit))
            return [Change(**row._mapping) for row in rows]
    except SQLAlchemyError as exc:
        raise _unusable(engine, exc) from exc
