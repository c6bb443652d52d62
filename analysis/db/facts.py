"""Per-patient facts (``patient_facts``): derived from the stored rows, kept at import.

The outcome queries read one row per patient from this table instead of scanning every
session (docs/performance.md). The facts are what no outcome setting changes — index date,
session counts, the patient's route, baseline, the patient's attributes — plus the nearest
follow-up for the default time point and window. They are derived by the same query
as the straightforward computation (:func:`analysis.db.derivation.patient_outcomes_query`, over
all stored data), so the two cannot drift apart.

:func:`refresh` runs inside the importer's transaction for the patients an import wrote;
anything else that writes the three tables directly must call it too (the benchmark's bulk
loads and the tests' fixtures do).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from analysis.db import booster_gaps, durability, followup_days, measures, pain_days, schema
from analysis.db.derivation import ALL_DATA, narrow, patient_outcomes_query
from analysis.db.secondary_cells import Recount
from analysis.db.store import delete_patients_rows, stored_columns

#: Above this share of all patients (of the largest patient key: at least their number), one
#: rebuild of the whole table beats per-patient refreshes.
REBUILD_SHARE = 0.2
#: Pseudonyms per statement while staging on SQLite (bound parameters stay under its limit).
CHUNK = 2_000

#: The patients a refresh re-derives, staged for one join instead of thousands of IN lists.
_STAGED = Table(
    "facts_refresh_keys",
    MetaData(),
    Column("patient_key", Integer, primary_key=True, autoincrement=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def _derive(columns: Sequence[str], keys: Any = None) -> Any:
    """INSERT … SELECT of the facts of ``keys`` (a query of patient keys; every patient when None).

    ``columns``: those the stored table has. A migration before the one that added a column
    refreshes the facts with today's code (0004, 0009), so it writes only the columns of its day.
    """
    definition = schema.FACTS_DEFINITION
    # Narrowed to those columns, so that no column a migration has yet to add is read either
    # (``patients.end_date`` before 0006, when 0004 derives the facts).
    derived = patient_outcomes_query(definition, ALL_DATA, keys=keys, with_last_dates=True)
    rows = narrow(derived, columns).subquery("derived")
    return insert(schema.patient_facts).from_select(
        list(columns), select(*[rows.c[name] for name in columns])
    )


def _derive_durability(connection: Connection, columns: Sequence[str], keys: Any = None) -> Iterator[Any]:
    """INSERT … SELECTs of the durability facts of ``keys`` (every patient when None), one per kept
    threshold, from their freshly derived ``patient_facts`` rows (its stored ``columns``) and pain
    days, into the columns ``durability_facts`` has.

    Before migration 0018 the table has no ``threshold_pct`` and keeps the default threshold only
    (a migration before it derives these facts with today's code).
    """
    t = schema.patient_facts
    targets = stored_columns(connection, schema.durability_facts)
    stored = select(*[t.c[name] for name in columns])
    cohort = stored if keys is None else stored.where(t.c.patient_key.in_(keys))
    kept = inspect(connection).has_table(schema.pain_days.name)  # migration 0015 made both inputs
    copied = [name for name in targets if name in schema.DURABILITY_COPIED_COLUMNS]
    derived = [name for name in targets if name not in copied and name != "threshold_pct"]
    thresholds = schema.FACTS_THRESHOLDS if "threshold_pct" in targets else {schema.FACTS_THRESHOLD: None}
    for threshold, pct in thresholds.items():
        rows = durability.facts_rows(cohort, kept=kept, threshold=threshold).subquery("durability_derived")
        marked = [] if pct is None else [literal(pct).label("threshold_pct")]
        yield insert(schema.durability_facts).from_select(
            [*derived, *copied, *[m.name for m in marked]],
            select(*[rows.c[name] for name in derived], *[t.c[name] for name in copied], *marked).join_from(
                rows, t, t.c.patient_key == rows.c.patient_key
            ),
        )


def refresh_durability(
    connection: Connection, keys: Any = None, columns: Sequence[str] | None = None, *, replace: bool = True
) -> None:
    """Re-derive the durability facts of ``keys`` (a query of patient keys; every patient when
    None) from their stored ``patient_facts`` (its stored ``columns``, read when None) and pain
    days (``replace`` False: new patients, with no rows to delete): the step of :func:`refresh`,
    and migration 0018, which reshapes the table."""
    lasting = schema.durability_facts
    columns = stored_columns(connection, schema.patient_facts) if columns is None else columns
    delete_patients_rows(connection, lasting, keys, replace=replace)
    for statement in _derive_durability(connection, columns, keys):
        connection.execute(statement)


def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def refresh(
    connection: Connection,
    patient_ids: Collection[str] | None = None,
    *,
    durability_facts: bool = True,
    new: Collection[str] = (),
) -> int:
    """Re-derive the facts of these patients (by pseudonym; all patients when None).

    Runs in the caller's transaction, so the facts change together with the rows they come
    from. ``new``: those of them this transaction stored for the first time (the importer knows):
    they have no derived rows yet, so when all are new nothing is deleted first. Returns the
    number of patients whose facts were derived.
    """
    facts = schema.patient_facts
    if patient_ids is not None and not patient_ids:
        return 0
    p = schema.patients
    # The largest key, not a count, tells the share: keys are distinct positive numbers, so it is
    # at least the count, and it is read from the key's index. SQLite counts by reading every row
    # (at 10M sessions 0.62 s of an import; docs/performance.md, "Twelfth session: the importer").
    keys_at_most = connection.execute(select(func.coalesce(func.max(p.c.id), 0))).scalar_one()
    columns = stored_columns(connection, facts)
    if patient_ids is None or len(patient_ids) > REBUILD_SHARE * keys_at_most:
        total = connection.execute(select(func.count()).select_from(p)).scalar_one()
        recount = Recount(connection, None)  # the outcomes beyond pain, counted afresh
        recount.before()
        connection.execute(delete(facts))
        connection.execute(_derive(columns, None))
        followup_days.refresh(connection)  # any other time point's nearest follow-up
        pain_days.refresh(connection)  # durability at any definition
        booster_gaps.refresh(connection)  # durability's booster gaps at any cut-off
        durability.refresh_inputs(connection)
        measures.refresh_facts(connection)  # the outcomes beyond pain (docs/methods.md)
        if durability_facts:  # migrations before 0009 have no such table
            refresh_durability(connection, columns=columns)
        recount.after()
        return int(total)
    _STAGED.drop(connection, checkfirst=True)  # SQLite keeps temporary tables until disconnect
    _STAGED.create(connection)
    postgres = connection.dialect.name == "postgresql"
    ids = sorted(patient_ids)
    # PostgreSQL takes every pseudonym as one array; SQLite in chunks of bound parameters.
    matches = (
        [p.c.patient_id == any_(bindparam("ids", ids, type_=ARRAY(String)))]
        if postgres
        else [p.c.patient_id.in_(chunk) for chunk in _chunks(ids, CHUNK)]
    )
    for match in matches:
        connection.execute(insert(_STAGED).from_select(["patient_key"], select(p.c.id).where(match)))
    if postgres:
        connection.exec_driver_sql(f"ANALYZE {_STAGED.name}")  # a plan for its real size
    staged = select(_STAGED.c.patient_key)
    # The default view of the outcomes beyond pain changes by what these patients change.
    recount = Recount(connection, staged)
    recount.before()
    replace = not set(patient_ids) <= set(new)
    delete_patients_rows(connection, facts, staged, replace=replace)
    connection.execute(_derive(columns, staged))
    followup_days.refresh(connection, staged, replace=replace)
    pain_days.refresh(connection, staged, replace=replace)
    booster_gaps.refresh(connection, staged, replace=replace)
    durability.refresh_inputs(connection, staged, replace=replace)
    measures.refresh_facts(connection, staged, replace=replace)  # the outcomes beyond pain (docs/methods.md)
    if durability_facts:
        refresh_durability(connection, staged, columns, replace=replace)
    recount.after()
    count = connection.execute(select(func.count()).select_from(_STAGED)).scalar_one()
    if not postgres:  # PostgreSQL drops it at commit
        _STAGED.drop(connection)
    return int(count)


__all__ = ["refresh", "refresh_durability"]
