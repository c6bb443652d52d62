"""Portable SQL pieces of the outcome rules: date arithmetic, adverse-event codes, coded keys.

Each compiles to SQLite and PostgreSQL (``sqlalchemy.ext.compiler``); the derivations of
:mod:`analysis.db.derivation`, :mod:`analysis.db.durability` and the queries use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Date, Integer, String, and_, case, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from analysis.domain.vocabulary import ADVERSE_EVENTS

# --- portable date arithmetic -------------------------------------------------------------


class days_between(FunctionElement):
    """Whole days from the second date to the first (``later - earlier``)."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (
        f"CAST(julianday({compiler.process(later, **kw)}) - "
        f"julianday({compiler.process(earlier, **kw)}) AS INTEGER)"
    )


@compiles(days_between, "postgresql")
def _days_between_postgresql(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


class add_days(FunctionElement):
    """A date plus a whole number of days (a constant)."""

    type = Date()
    inherit_cache = True
    name = "add_days"


@compiles(add_days, "sqlite")
def _add_days_sqlite(element: add_days, compiler: Any, **kw: Any) -> str:
    value, days = list(element.clauses)
    return f"date({compiler.process(value, **kw)}, '+' || {compiler.process(days, **kw)} || ' days')"


@compiles(add_days, "postgresql")
def _add_days_postgresql(element: add_days, compiler: Any, **kw: Any) -> str:
    value, days = list(element.clauses)
    return f"({compiler.process(value, **kw)} + CAST({compiler.process(days, **kw)} AS INTEGER))"


class quarter_of(FunctionElement):
    """Calendar quarter of a date as text, e.g. ``2025-Q3``."""

    type = String()
    inherit_cache = True
    name = "quarter_of"


@compiles(quarter_of, "sqlite")
def _quarter_sqlite(element: quarter_of, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    v = compiler.process(value, **kw)
    return f"(strftime('%Y', {v}) || '-Q' || ((CAST(strftime('%m', {v}) AS INTEGER) + 2) / 3))"


@compiles(quarter_of, "postgresql")
def _quarter_postgresql(element: quarter_of, compiler: Any, **kw: Any) -> str:
    (value,) = list(element.clauses)
    return f"to_char({compiler.process(value, **kw)}, 'YYYY-\"Q\"Q')"


# --- adverse events, per session --------------------------------------------------------


def has_event(column: ColumnElement[Any], code: str) -> ColumnElement[bool]:
    """True where the ``;``-joined codes in ``column`` include ``code`` (delimiter-safe).

    ``';' || column || ';'`` is searched for ``';code;'`` with LIKE wildcards escaped, so that
    ``_`` in ``visual_disturbance`` is a plain character. NULL (no event) is never a match.
    """
    if code not in ADVERSE_EVENTS:
        raise ValueError(f"unknown adverse event {code!r}; choose from {', '.join(ADVERSE_EVENTS)}")
    wrapped = literal(";", String) + column + literal(";", String)
    return wrapped.contains(f";{code};", autoescape=True)


def has_any_event(column: ColumnElement[Any]) -> ColumnElement[bool]:
    """True where at least one adverse event is recorded."""
    return and_(column.is_not(None), column != "")


# --- text keys as small integers -----------------------------------------------------------


def coded_keys(column: ColumnElement[Any], values: Sequence[str], name: str) -> list[ColumnElement[Any]]:
    """``column`` as two ``GROUP BY`` keys: its position in ``values`` (NULL when it is none of
    them), and its text only when it is none of them (else NULL).

    SQLite groups by sorting, and comparing text keys is what made grouping the 1M-session
    clinic's 148,000 patients into the profile's covariate patterns slow: 0.81 s with the text
    of condition, route and sex, 0.52 s with these integers (docs/performance.md, "Coded keys").
    A value outside ``values`` keeps a group of its own through the second key.
    """
    code = case({value: i for i, value in enumerate(values)}, value=column)
    return [code.label(f"{name}_code"), case((code.is_(None), column)).label(f"{name}_other")]
