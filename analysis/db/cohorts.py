"""Which per-patient rows answer a question: the facts, the facts as of an earlier cut-off, or the
straightforward derivation (:mod:`analysis.db.derivation`), filtered to the cohort in SQL.

Every analysis starts here (:func:`cohort_query`): the definition's cut-off is resolved from the
stored data, the rows come from ``patient_facts`` when that cut-off is the latest stored date and
are otherwise derived as of it, and the sidebar's cohort becomes a ``WHERE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Date, Engine, Select, literal, select
from sqlalchemy.sql.expression import ColumnElement

from analysis.db.derivation import facts_as_of_query, facts_query, narrow, patient_outcomes_query
from analysis.db.store import data_cutoff
from analysis.domain.definition import CohortFilter, OutcomeDefinition

#: Whether the cohort queries read ``patient_facts`` at all; the tests switch it off to get the
#: straightforward query over every stored row (:func:`patient_outcomes_query`).
READ_FACTS = True


def facts_apply(cutoff: date, latest: date | None) -> bool:
    """True when the facts table answers for ``cutoff`` alone: nothing stored is later than it."""
    return latest is None or cutoff >= latest


def cohort_query(
    engine: Engine,
    definition: OutcomeDefinition,
    cohort: CohortFilter = CohortFilter(),
    *,
    columns: Sequence[str] | None = None,
) -> tuple[OutcomeDefinition, Select[Any]]:
    """The definition with its cut-off resolved, and the cohort's per-patient rows.

    The rows come from ``patient_facts`` (:func:`facts_query`) when the cut-off is the latest
    stored date or later — the default — and otherwise from the facts of the patients settled by
    then plus the stored sessions and follow-ups of those whose care straddles the cut-off
    (:func:`facts_as_of_query`). ``columns``, when given, are the only columns the caller reads:
    the rows then carry just those (and what the cohort filter reads), so that an earlier cut-off
    derives nothing else — no session is read unless the session counts or the route are asked
    for (docs/performance.md, "Only the columns asked for").
    """
    latest = data_cutoff(engine)
    cutoff = definition.cutoff or latest or date.today()
    definition = replace(definition, cutoff=cutoff)
    postgresql = engine.dialect.name == "postgresql"  # DISTINCT ON for the nearest follow-up
    names = None if columns is None else (*columns, *filter_columns(cohort))
    if not READ_FACTS:
        rows = narrow(patient_outcomes_query(definition, cutoff), names)
    elif facts_apply(cutoff, latest):
        rows = narrow(facts_query(definition, cutoff, distinct_on=postgresql), names)
    else:
        rows = facts_as_of_query(definition, cutoff, names=names, distinct_on=postgresql)
    return definition, apply_filter(rows, cohort)


#: Each list filter of a cohort: its ``CohortFilter`` field and the per-patient column it reads.
_LIST_FILTERS: tuple[tuple[str, str], ...] = (
    ("sites", "site"),
    ("conditions", "condition"),
    ("routes", "route"),
    ("sexes", "sex"),
    ("age_groups", "age_group"),
)


def filter_columns(cohort: CohortFilter) -> tuple[str, ...]:
    """The per-patient columns that :func:`apply_filter` reads for ``cohort``."""
    listed = [column for field, column in _LIST_FILTERS if getattr(cohort, field)]
    dated = ["index_date"] if cohort.first_treated_from or cohort.first_treated_to else []
    return (*listed, *dated)


def apply_filter(query: Select[Any], cohort: CohortFilter) -> Select[Any]:
    """Restrict the per-patient query to a cohort; the filter is applied in SQL."""
    rows = query.subquery("patient_outcomes")
    conditions: list[ColumnElement[bool]] = [
        rows.c[column].in_(getattr(cohort, field))
        for field, column in _LIST_FILTERS
        if getattr(cohort, field)
    ]
    if cohort.first_treated_from:
        conditions.append(rows.c.index_date >= literal(cohort.first_treated_from, Date))
    if cohort.first_treated_to:
        conditions.append(rows.c.index_date <= literal(cohort.first_treated_to, Date))
    return select(rows).where(*conditions)


def resolve(engine: Engine, definition: OutcomeDefinition) -> OutcomeDefinition:
    """The definition with its cut-off filled in from the database when the user set none."""
    if definition.cutoff is not None:
        return definition
    return replace(definition, cutoff=data_cutoff(engine) or date.today())


def patient_outcomes(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    *,
    limit: int | None = None,
) -> pd.DataFrame:
    """Per-patient outcome rows (one per patient) for a cohort, as a DataFrame."""
    _, query = cohort_query(engine, definition, cohort)
    rows = query.subquery("cohort")
    query = select(rows).order_by(rows.c.patient_id)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query).mappings().all())
