"""Fresh benchmark databases and the fastest correct bulk loads into them.

Every database is created empty and brought to the current schema by
:func:`analysis.db.store.open_database` (the real Alembic migrations), so it has exactly the
tables, constraints and indexes the app uses:

- SQLite: a file in the benchmark's temporary folder.
- PostgreSQL: a fresh schema ``bench_<label>_<random>`` in the given database, selected with
  ``?options=-csearch_path%3D<schema>`` in the URL (as ``tests/conftest.py`` does), dropped
  afterwards.

Bulk loads write :class:`benchmarks.clinic.StoredClinic` frames in natural-key order, so index
maintenance only appends:

- SQLite: ``executemany`` in one transaction, ``journal_mode=OFF``, ``synchronous=OFF``,
  foreign-key checks off during the load (the rows are consistent by construction; WAL mode
  is restored afterwards), then ``ANALYZE``.
- PostgreSQL: ``COPY … FROM STDIN (FORMAT csv)`` through psycopg 3's ``cursor.copy``, the CSV
  written by pyarrow, sequences moved past the loaded ids, then ``VACUUM (ANALYZE)`` so that
  the first query does not pay for hint bits and statistics a running clinic would have.

:func:`check_bulk_load` proves on a small clinic that a bulk load stores what the real
importer (:func:`analysis.ingest.import_frames`) stores.
"""

from __future__ import annotations

import io
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from analysis.db import facts
from analysis.db.store import make_engine, open_database, resolve_url
from benchmarks.clinic import TODAY, StoredClinic, contract_frames, stored_clinic

ENGINES: tuple[str, ...] = ("sqlite", "postgresql")
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: Rows per executemany call / per COPY write.
_CHUNK_ROWS = 250_000
_TABLES = ("patients", "sessions", "followups")
#: The derived tables the importer keeps (docs/performance.md): per patient, and the counted view.
_FACTS = (
    "patient_facts",
    "followup_days",
    "pain_days",
    "booster_gaps",
    "durability_inputs",
    "measure_facts",
    "durability_facts",
    "secondary_cells",
    "secondary_changes",
)


@dataclass(frozen=True)
class Database:
    """A fresh, migrated database: its kind and the URL the app and the probes use."""

    kind: str
    url: str
    sqlite_path: Path | None = None
    schema: str | None = None


def _schema_url(base_url: str, schema: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options={quote(f'-csearch_path={schema}')}"


def _admin_engine(postgres_url: str) -> Engine:
    return create_engine(resolve_url(postgres_url), isolation_level="AUTOCOMMIT")


@contextmanager
def fresh_database(kind: str, label: str, workdir: Path, postgres_url: str) -> Iterator[Database]:
    """An empty database of ``kind`` at the current schema; removed on exit."""
    if kind == "sqlite":
        path = workdir / f"{label}-{uuid.uuid4().hex[:6]}.db"
        database = Database(kind, f"sqlite:///{path}", sqlite_path=path)
        open_database(database.url).dispose()
        try:
            yield database
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    if kind != "postgresql":
        raise ValueError(f"unknown engine {kind!r}; use one of {', '.join(ENGINES)}")
    schema = f"bench_{label}_{uuid.uuid4().hex[:8]}".lower().replace("-", "_")
    admin = _admin_engine(postgres_url)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        database = Database(kind, _schema_url(postgres_url, schema), schema=schema)
        try:
            open_database(database.url).dispose()
            yield database
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


def check_postgres(postgres_url: str) -> str | None:
    """None when PostgreSQL answers at ``postgres_url``, else the reason it does not."""
    engine = _admin_engine(postgres_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect is reported, not raised
        return str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    finally:
        engine.dispose()
    return None


# --------------------------------------------------------------------------- bulk loads


def bulk_load(database: Database, clinic: StoredClinic) -> float:
    """Write ``clinic`` into the empty ``database``; returns the seconds taken.

    Includes ``ANALYZE`` and deriving the per-patient facts (:func:`analysis.db.facts.refresh`),
    which the importer does in its own transaction.
    """
    start = time.perf_counter()
    if database.kind == "sqlite":
        assert database.sqlite_path is not None
        _load_sqlite(database.sqlite_path, clinic)
    else:
        _load_postgresql(database.url, clinic)
    _derive_facts(database)
    return time.perf_counter() - start


def _derive_facts(database: Database) -> None:
    engine = make_engine(database.url)
    try:
        with engine.begin() as connection:
            facts.refresh(connection)
        options = {"isolation_level": "AUTOCOMMIT"} if database.kind == "postgresql" else {}
        with engine.connect().execution_options(**options) as connection:
            for table in _FACTS:  # as autovacuum would have, in a running clinic
                connection.execute(text(f"VACUUM (ANALYZE) {table}" if options else f"ANALYZE {table}"))
            connection.commit()
    finally:
        engine.dispose()


def _python_rows(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows of plain Python values (None for missing, ISO text for dates), as SQLite stores them."""
    columns: list[list[Any]] = []
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            days = values.to_numpy().astype("datetime64[D]")
            columns.append(np.datetime_as_string(days).astype(object).tolist())
        else:
            columns.append(values.to_numpy(dtype=object, na_value=None).tolist())
    return list(zip(*columns, strict=True))


def _load_sqlite(path: Path, clinic: StoredClinic) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "foreign_keys=OFF",
            "cache_size=-262144",  # 256 MB while loading
            "temp_store=MEMORY",
        ):
            connection.execute(f"PRAGMA {pragma}")
        connection.execute("BEGIN")
        for table, frame in clinic.tables().items():
            columns = ", ".join(frame.columns)
            marks = ", ".join("?" for _ in frame.columns)
            statement = f"INSERT INTO {table} ({columns}) VALUES ({marks})"
            for start in range(0, len(frame), _CHUNK_ROWS):
                connection.executemany(statement, _python_rows(frame.iloc[start : start + _CHUNK_ROWS]))
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        connection.execute("PRAGMA journal_mode=WAL")  # as analysis.db.store opens it
    finally:
        connection.close()


def _csv_chunk(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for position, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(position, field.name, table.column(position).cast(pa.date32()))
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return buffer.getvalue()


def _load_postgresql(url: str, clinic: StoredClinic) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            cursor = connection.connection.driver_connection.cursor()  # the psycopg 3 connection
            for table, frame in clinic.tables().items():
                columns = ", ".join(frame.columns)
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
                    for start in range(0, len(frame), _CHUNK_ROWS):
                        copy.write(_csv_chunk(frame.iloc[start : start + _CHUNK_ROWS]))
                if "id" in frame.columns:  # patients: the key sequence continues after the loaded keys
                    connection.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                        )
                    )
            connection.commit()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in _TABLES:
                connection.execute(text(f"VACUUM (ANALYZE) {table}"))
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- self-check


def _stored_tables(url: str) -> dict[str, pd.DataFrame]:
    engine = make_engine(url)
    order = {
        "patients": "id",
        "sessions": "patient_key, session_date",
        "followups": "patient_key, followup_date",
        "patient_facts": "patient_key",
        "measure_facts": "patient_key",
        "durability_facts": "patient_key, threshold_pct",
        "followup_days": "patient_key, day",
        "pain_days": "patient_key, day",
        "booster_gaps": "patient_key, session_date",
        "durability_inputs": "patient_key",
        "secondary_cells": "grouping, group_key, settled_by",
        "secondary_changes": "grouping, group_key, settled_by, kind, value",
    }
    try:
        with engine.connect() as connection:
            tables = {
                table: pd.read_sql(text(f"SELECT * FROM {table} ORDER BY {order[table]}"), connection)
                for table in (*_TABLES, *_FACTS)
            }
    finally:
        engine.dispose()
    for frame in tables.values():
        for column in frame.columns:
            if column.endswith("_date"):
                text_dates = frame[column].map(lambda v: None if v is None else str(v))
                frame[column] = pd.to_datetime(text_dates).astype("datetime64[s]")
    return tables


def check_bulk_load(kind: str, workdir: Path, postgres_url: str, n_patients: int = 2000) -> str | None:
    """None when a bulk load stores exactly what the real importer stores, else the difference."""
    from analysis.ingest import import_frames  # here: only the self-check needs the importer

    frames = contract_frames(n_patients, seed=7)
    with (
        fresh_database(kind, "check_import", workdir, postgres_url) as imported,
        fresh_database(kind, "check_bulk", workdir, postgres_url) as bulk,
    ):
        engine = make_engine(imported.url)
        try:
            report = import_frames(engine, frames, today=TODAY)
        finally:
            engine.dispose()
        if not report.ok:
            return f"the importer refused the generated clinic: {report.problems[:3]}"
        bulk_load(bulk, stored_clinic(frames))
        by_importer, by_bulk = _stored_tables(imported.url), _stored_tables(bulk.url)
    for table in (*_TABLES, *_FACTS):
        try:
            pd.testing.assert_frame_equal(
                by_importer[table].astype(object),
                by_bulk[table].astype(object),
                check_dtype=False,
                check_exact=True,
            )
        except AssertionError as exc:
            first = str(exc).strip().splitlines()
            return f"{table} differs: {' '.join(first[:4])}"
    return None


def postgres_settings(postgres_url: str) -> dict[str, str]:
    """Server settings that shape query plans and speed (shown with the results)."""
    names = (
        "server_version",
        "shared_buffers",
        "work_mem",
        "max_parallel_workers_per_gather",
        "jit",
        "effective_cache_size",
        "random_page_cost",
    )
    engine = _admin_engine(postgres_url)
    try:
        with engine.connect() as connection:
            return {name: str(connection.execute(text(f"SHOW {name}")).scalar_one()) for name in names}
    finally:
        engine.dispose()


def display_url(url: str) -> str:
    """``url`` without a password, for printing."""
    return make_url(resolve_url(url)).render_as_string(hide_password=True)
