"""Writing a validated import: staging its patient ids, comparing with stored rows, upserts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Date, Float, Integer, String, Table
from sqlalchemy.exc import DBAPIError

from analysis.db import schema
from analysis.domain.contract import NATURAL_KEYS, TABLES
from analysis.ingest import limits
from analysis.ingest.report import ImportReport, Problem, _display, _Problems
from analysis.ingest.validate import _Checked

# --------------------------------------------------------------------------- the database
#
# Reads and writes go to the driver directly, in the import's transaction: SQLAlchemy's
# per-row work (parameter dicts, Row objects, expanding IN lists compiled per chunk) was most
# of the import's time (docs/performance.md). Driver errors are wrapped as SQLAlchemy would
# wrap them, so that a busy database is retried and any other failure is a DatabaseError.

#: The temporary table of the patient ids an import names, with the tables that name them.
_ID_TABLE = "import_ids"
#: Rows per driver call when writing.
_WRITE_BATCH = 5000
#: PostgreSQL binary COPY types of the stored columns, by SQLAlchemy type.
_PG_COPY_TYPES: dict[type, str] = {Integer: "int4", Float: "float8", Date: "date", String: "text"}


def _ids(*series: pd.Series) -> list[str]:
    values = pd.concat([s.dropna() for s in series], ignore_index=True) if series else pd.Series([])
    return [str(v) for v in pd.unique(values.to_numpy(dtype=object))]


@contextmanager
def _driver_cursor(connection: Connection, statement: str) -> Iterator[Any]:
    """A DBAPI cursor in the connection's transaction; driver errors raised as SQLAlchemy's."""
    dbapi_error = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.cursor()
    try:
        yield cursor
    except dbapi_error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi_error, dialect=connection.dialect) from exc
    finally:
        cursor.close()


def _query(connection: Connection, statement: str, columns: Sequence[str]) -> pd.DataFrame:
    """Rows of ``statement`` as a frame (values as the driver returns them)."""
    with _driver_cursor(connection, statement) as cursor:
        cursor.execute(statement)
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=list(columns))


def _driver_values(values: pd.Series, postgres: bool) -> list[Any]:
    """A column as plain Python values, None for missing; dates as ``date`` for PostgreSQL and
    as ISO text for SQLite (what SQLAlchemy's ``Date`` stores there)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        codes, days = pd.factorize(values)  # few distinct days: convert each once
        shown = [d.date() if postgres else d.strftime("%Y-%m-%d") for d in days]
        return np.array([*shown, None], dtype=object)[codes].tolist()  # code -1 (NaT) → None
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64")
        plain = numbers.astype(object)
        plain[np.isnan(numbers)] = None
        return plain.tolist()
    return values.to_numpy(dtype=object, na_value=None).tolist()


def _insert_rows(
    connection: Connection, table: Table | str, frame: pd.DataFrame, types: Sequence[str] = ()
) -> None:
    """Append ``frame``'s rows to ``table`` (its columns by name): SQLite ``executemany`` of
    tuples, PostgreSQL binary ``COPY`` (``types``: the COPY type of each column of a table
    given by name; a :class:`Table` says them itself)."""
    if frame.empty:
        return
    postgres = connection.dialect.name == "postgresql"
    if isinstance(table, Table):
        types = [_PG_COPY_TYPES[type(table.c[str(name)].type)] for name in frame.columns]
        table = table.name
    names = ", ".join(str(name) for name in frame.columns)
    rows = list(zip(*(_driver_values(frame[name], postgres) for name in frame.columns), strict=True))
    if not postgres:
        marks = ", ".join("?" for _ in frame.columns)
        statement = f"INSERT INTO {table} ({names}) VALUES ({marks})"
        for start in range(0, len(rows), _WRITE_BATCH):
            connection.exec_driver_sql(statement, rows[start : start + _WRITE_BATCH])
        return
    statement = f"COPY {table} ({names}) FROM STDIN (FORMAT binary)"
    with _driver_cursor(connection, statement) as cursor, cursor.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def _update_rows(connection: Connection, table: Table, frame: pd.DataFrame, keys: Sequence[str]) -> None:
    """Set the non-key columns of ``frame`` on the stored rows with the same ``keys``."""
    if frame.empty:
        return
    values = [str(name) for name in frame.columns if name not in keys]
    if connection.dialect.name == "postgresql":
        staged = f"import_rows_{table.name}"
        columns = ", ".join(str(name) for name in frame.columns)
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE {staged} ON COMMIT DROP AS SELECT {columns} FROM {table.name} WITH NO DATA"
        )
        types = [_PG_COPY_TYPES[type(table.c[str(name)].type)] for name in frame.columns]
        _insert_rows(connection, staged, frame, types)
        assignments = ", ".join(f"{name} = s.{name}" for name in values)
        matches = " AND ".join(f"t.{name} = s.{name}" for name in keys)
        connection.exec_driver_sql(
            f"UPDATE {table.name} AS t SET {assignments} FROM {staged} AS s WHERE {matches}"
        )
        return
    assignments = ", ".join(f"{name} = ?" for name in values)
    matches = " AND ".join(f"{name} = ?" for name in keys)
    ordered = frame[[*values, *keys]]
    rows = list(zip(*(_driver_values(ordered[name], False) for name in ordered.columns), strict=True))
    statement = f"UPDATE {table.name} SET {assignments} WHERE {matches}"
    for start in range(0, len(rows), _WRITE_BATCH):
        connection.exec_driver_sql(statement, rows[start : start + _WRITE_BATCH])


def _stage_ids(connection: Connection, roles: Mapping[str, list[str]]) -> None:
    """Fill the temporary :data:`_ID_TABLE`: every patient id the import names, and in which
    tables. The lookups below join it instead of sending the ids in ``IN`` lists."""
    everyone = pd.Series(_ids(*(pd.Series(ids, dtype=object) for ids in roles.values())), dtype=object)
    frame = pd.DataFrame({"patient_id": everyone})
    for table in TABLES:
        frame[f"in_{table}"] = everyone.isin(roles.get(table, [])).astype("int64")
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE {_ID_TABLE} (patient_id text PRIMARY KEY, in_patients int2 NOT NULL, "
            "in_sessions int2 NOT NULL, in_followups int2 NOT NULL) ON COMMIT DROP"
        )
        _insert_rows(connection, _ID_TABLE, frame, ["text", "int2", "int2", "int2"])
        connection.exec_driver_sql(f"ANALYZE {_ID_TABLE}")  # a plan for its real size
        return
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{_ID_TABLE}")
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE {_ID_TABLE} (patient_id TEXT PRIMARY KEY, in_patients INTEGER NOT NULL, "
        "in_sessions INTEGER NOT NULL, in_followups INTEGER NOT NULL)"
    )
    _insert_rows(connection, _ID_TABLE, frame)


def _unstage_ids(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":  # PostgreSQL drops it at commit
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{_ID_TABLE}")


def _stored_patients(connection: Connection) -> pd.DataFrame:
    """Stored patients named anywhere in the import (all columns, ``id`` included)."""
    names = [c.name for c in schema.patients.c]
    columns = ", ".join(f"p.{name}" for name in names)
    return _query(
        connection,
        f"SELECT {columns} FROM {_ID_TABLE} AS i JOIN patients AS p ON p.patient_id = i.patient_id",
        names,
    )


def _key_map(connection: Connection, role: str) -> pd.Series:
    """Surrogate ``patients.id`` by ``patient_id``, for the patients the ``role`` table names."""
    found = _query(
        connection,
        f"SELECT i.patient_id, p.id FROM {_ID_TABLE} AS i "
        f"JOIN patients AS p ON p.patient_id = i.patient_id WHERE i.in_{role} = 1",
        ["patient_id", "id"],
    )
    return found.set_index("patient_id")["id"]


def _stored_rows(connection: Connection, table: Table) -> pd.DataFrame:
    """Stored rows of ``table`` for the patients the import's ``table`` names, with ``patient_id``."""
    names = [c.name for c in table.c]
    columns = ", ".join(f"t.{name}" for name in names)
    return _query(
        connection,
        f"SELECT i.patient_id, {columns} FROM {_ID_TABLE} AS i "
        "JOIN patients AS p ON p.patient_id = i.patient_id "
        f"JOIN {table.name} AS t ON t.patient_key = p.id WHERE i.in_{table.name} = 1",
        ["patient_id", *names],
    )


def _first_sessions(connection: Connection) -> pd.DataFrame:
    """Each stored first session date of the patients the import names (follow-ups before it are
    reported; an end of care before it is refused)."""
    return _query(
        connection,
        f"SELECT i.patient_id, MIN(s.session_date) FROM {_ID_TABLE} AS i "
        "JOIN patients AS p ON p.patient_id = i.patient_id "
        "JOIN sessions AS s ON s.patient_key = p.id GROUP BY i.patient_id",
        ["patient_id", "first_session"],
    )


def _as_days(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).astype("datetime64[us]")


def _check_patients_exist(checked: Mapping[str, _Checked], known: set[str], problems: _Problems) -> None:
    for table in ("sessions", "followups"):
        c = checked.get(table)
        if c is None or "patient_id" not in c.data:
            continue
        ids = c.data["patient_id"]
        unknown = (ids.notna() & ~ids.isin(known)).to_numpy()
        problems.cells(
            table,
            "patient_id",
            unknown,
            c.data["_row"].to_numpy(),
            ids,
            "unknown patient: not in the database nor in this import's patients",
        )


def _followups_before_first_session(
    checked: Mapping[str, _Checked], stored_first: pd.DataFrame
) -> list[Problem]:
    """Data quality (accepted): a follow-up dated before the patient's first session."""
    f = checked.get("followups")
    if f is None or f.data.empty or not {"patient_id", "followup_date"} <= set(f.data.columns):
        return []
    firsts = [stored_first.assign(first_session=_as_days(stored_first["first_session"]))]
    s = checked.get("sessions")
    if s is not None and {"patient_id", "session_date"} <= set(s.data.columns):
        firsts.append(
            s.data[["patient_id", "session_date"]].rename(columns={"session_date": "first_session"})
        )
    first = pd.concat(firsts, ignore_index=True).dropna().groupby("patient_id")["first_session"].min()
    if first.empty:  # no session anywhere: mapping onto an empty date lookup makes pandas raise
        return []
    followup_first = f.data["patient_id"].map(first)
    early = (f.data["followup_date"] < followup_first).to_numpy()
    return [
        Problem(
            "followups",
            int(row),
            "followup_date",
            _display(day),
            f"the follow-up is dated before the patient's first session ({_display(first_day)}); "
            "accepted, please check the date",
        )
        for row, day, first_day in zip(
            f.data["_row"][early], f.data["followup_date"][early], followup_first[early], strict=True
        )
    ]


def _differs(new: pd.Series, old: pd.Series) -> np.ndarray:
    """Element-wise 'the value changed', with missing equal to missing."""
    if pd.api.types.is_datetime64_any_dtype(new.dtype):
        old = _as_days(old)
    elif pd.api.types.is_numeric_dtype(new.dtype):
        new, old = new.astype("float64"), pd.to_numeric(old, errors="coerce").astype("float64")
    else:
        new, old = new.astype(object), old.astype(object)
    both_missing = new.isna().to_numpy() & old.isna().to_numpy()
    same = (new == old).fillna(False).to_numpy(dtype=bool)
    return ~(same | both_missing)


def _write_table(
    connection: Connection, c: _Checked, stored: pd.DataFrame, db_keys: Sequence[str], counts: ImportReport
) -> list[str]:
    """Write one validated table: insert new rows, update changed ones in place; rows identical
    to the stored ones are not written. Returns the ``patient_id`` of every row written."""
    natural = list(NATURAL_KEYS[c.table])
    data = c.data.drop(columns="_row")
    if c.table == "patients" and "site" not in c.supplied:
        data["site"] = "main"  # for new patients only: not in the update set below
    compared = [n for n in c.supplied if n not in natural]
    old = stored[[*natural, *compared]].rename(columns={n: f"{n}__old" for n in compared})
    for name in natural:
        if name.endswith("_date"):
            old[name] = _as_days(old[name])
    merged = data.merge(old.assign(__exists=True), on=natural, how="left", validate="one_to_one")
    exists = merged["__exists"].eq(True).to_numpy()
    changed = np.zeros(len(merged), dtype=bool)
    if exists.any():  # only stored rows can be unchanged
        both = merged.loc[exists]
        for name in compared:
            changed[exists] |= _differs(both[name], both[f"{name}__old"])
    counts.inserted[c.table] = int((~exists).sum())
    counts.updated[c.table] = int((exists & changed).sum())
    counts.unchanged[c.table] = int((exists & ~changed).sum())

    table = limits.SQL_TABLES[c.table]
    new = data.loc[~exists]
    updated = data.loc[exists & changed, [*natural, *compared]]
    if c.table != "patients" and (len(new) or len(updated)):
        key_map = _key_map(connection, c.table)
        new = new.assign(patient_id=new["patient_id"].map(key_map)).rename(
            columns={"patient_id": "patient_key"}
        )
        updated = updated.assign(patient_id=updated["patient_id"].map(key_map)).rename(
            columns={"patient_id": "patient_key"}
        )
    _insert_rows(connection, table, new)
    _update_rows(connection, table, updated, db_keys)
    return _ids(data.loc[~exists | changed, "patient_id"])
