"""One import, one transaction: locking, retries when busy, the import log, the facts refresh."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date

import pandas as pd
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import SQLAlchemyError

from analysis.db import audit, facts
from analysis.db.store import sqlite_immediate
from analysis.domain.contract import TABLES
from analysis.domain.errors import DatabaseError, first_line
from analysis.ingest import limits
from analysis.ingest.end_of_care import check_end_of_care
from analysis.ingest.readers import _Sheet, _too_wide
from analysis.ingest.report import ImportReport, Problem, _Problems
from analysis.ingest.validate import _check_duplicates, _check_sheet, _Checked
from analysis.ingest.writer import (
    _check_patients_exist,
    _first_sessions,
    _followups_before_first_session,
    _ids,
    _stage_ids,
    _stored_patients,
    _stored_rows,
    _unstage_ids,
    _write_table,
)

# --------------------------------------------------------------------------- the import


@contextmanager
def _import_transaction(engine: Engine, exclusive: bool = True) -> Iterator[Connection]:
    """One transaction that holds the importers' write lock from its first statement.

    Two imports at once then run one after the other, each reading what the other committed,
    so the result is always the result of one serial order (never a mix of the two).

    - SQLite: ``BEGIN IMMEDIATE`` takes the write lock before the first read. pysqlite would
      otherwise start the transaction only at the first write, after the reads, and a reader
      that becomes a writer can fail at once in WAL mode. This connection alone is switched to
      driver-level autocommit (SQLAlchemy's documented recipe for emitting ``BEGIN``) while
      the transaction runs, and waits at most :data:`LOCK_WAIT_SECONDS` for the lock.
    - PostgreSQL: a transaction-scoped advisory lock per schema, taken before the first read
      (READ COMMITTED: every later statement sees the other import's commit), waited for at
      most :data:`LOCK_WAIT_SECONDS` (``lock_timeout``).

    ``exclusive=False`` (logging a refusal) skips the PostgreSQL advisory lock: a log row
    needs no serial order. On SQLite every write needs the database's one write lock anyway.
    """
    wait_ms = max(1, round(limits.LOCK_WAIT_SECONDS * 1000))
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                connection.execute(select(func.set_config("lock_timeout", f"{wait_ms}ms", True)))
                connection.execute(_PG_LOOKUP_PLANS)
                if exclusive:
                    connection.execute(_PG_IMPORT_LOCK)
                yield connection
            return
        with sqlite_immediate(connection, wait_ms):
            yield connection


#: The import's queries read and derive the rows of the patients it names, a few among many in
#: a large clinic: index lookups, not scans of every stored row. With the server defaults
#: (``random_page_cost`` 4, meant for spinning disks; ``jit`` on) PostgreSQL scanned the 10M
#: sessions to derive the facts of 32,787 new patients and compiled the plan: 2.26 s, against
#: 0.65 s as lookups. Local to the import's transaction (docs/performance.md).
_PG_LOOKUP_PLANS = sql_text(
    "SELECT set_config('random_page_cost', '1.1', true), set_config('jit', 'off', true)"
)
_PG_IMPORT_LOCK = sql_text(
    "SELECT pg_advisory_xact_lock(hashtextextended('ketamine-outcomes import ' || current_schema(), 0))"
)
#: PostgreSQL SQLSTATEs worth another attempt: serialization failure, deadlock, lock timeout.
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
#: SQLite result codes worth another attempt: SQLITE_BUSY, SQLITE_LOCKED (low byte).
_RETRY_SQLITE_CODES = frozenset({5, 6})


def _is_busy(exc: SQLAlchemyError) -> bool:
    """True when ``exc`` means "another transaction was in the way", not "the database is broken"."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _RETRY_SQLITE_CODES:
        return True
    message = str(orig or exc).casefold()
    return "database is locked" in message or "database table is locked" in message


def _run(
    engine: Engine,
    sheets: list[_Sheet],
    today: date,
    problems: _Problems,
    warnings: list[str],
    attempt: audit.Attempt,
) -> ImportReport:
    """Validate everything, then write it in one transaction if nothing is wrong.

    The database part is tried up to :data:`BUSY_ATTEMPTS` times when another transaction is
    in the way (SQLite busy, PostgreSQL deadlock, serialization failure or lock timeout), with
    a growing pause; then the import is refused with :data:`BUSY_REASON`. Any other database
    failure raises :class:`DatabaseError`. Either way nothing was written.
    """
    checked: dict[str, _Checked] = {}
    for sheet in sheets:
        if len(sheet.headers) > limits.MAX_COLUMNS:  # workbooks and frames; CSV files are checked unparsed
            problems.file(sheet.table, _too_wide(sheet.source, sheet.table, f"{len(sheet.headers):,}"))
            continue
        checked[sheet.table] = _check_sheet(sheet, today, problems, warnings)
    _check_duplicates(checked, problems)

    report = ImportReport(ok=False, warnings=warnings)
    for number in range(1, limits.BUSY_ATTEMPTS + 1):
        report = ImportReport(ok=False, warnings=list(warnings))
        try:
            _write(engine, checked, problems.copy(), report, attempt)
        except SQLAlchemyError as exc:
            if not _is_busy(exc):
                where = engine.url.render_as_string(hide_password=True)
                raise DatabaseError(
                    f"The import could not use the database at {where}; nothing was written "
                    f"({first_line(exc)})."
                ) from exc
            if number < limits.BUSY_ATTEMPTS:
                pause = limits.BUSY_BACKOFF_SECONDS * 2 ** (number - 1)
                time.sleep(pause * random.uniform(0.5, 1.5))
                continue
            report = ImportReport(
                ok=False,
                problems=[Problem("import", None, None, None, limits.BUSY_REASON)],
                warnings=list(warnings),
                problem_count=1,
            )
        break
    if not report.ok:
        _log_refusal(engine, report, attempt)
    return report


def _write(
    engine: Engine,
    checked: Mapping[str, _Checked],
    problems: _Problems,
    report: ImportReport,
    attempt: audit.Attempt,
) -> None:
    """One attempt: the checks that need the database, then the writes and the log row."""

    def column(table: str, name: str) -> pd.Series:
        c = checked.get(table)
        return c.data[name] if c is not None and name in c.data else pd.Series([], dtype=object)

    with _import_transaction(engine) as connection:
        _stage_ids(connection, {table: _ids(column(table, "patient_id")) for table in checked})
        stored_patients = _stored_patients(connection)
        stored_ids = set(stored_patients["patient_id"])  # before this import wrote anything
        known = stored_ids | set(_ids(column("patients", "patient_id")))
        _check_patients_exist(checked, known, problems)
        stored_first = _first_sessions(connection)
        report.data_quality = _followups_before_first_session(checked, stored_first)
        check_end_of_care(checked, stored_patients, stored_first, problems)
        if problems:
            _unstage_ids(connection)
            report.problems, report.problem_count = problems.build()
            return  # nothing was written; the transaction ends empty
        written_ids: set[str] = set()
        if "patients" in checked:
            imported = stored_patients["patient_id"].isin(_ids(column("patients", "patient_id")))
            written_ids.update(
                _write_table(
                    connection, checked["patients"], stored_patients[imported], ["patient_id"], report
                )
            )
        for table, date_column in (("sessions", "session_date"), ("followups", "followup_date")):
            if table in checked:
                stored = _stored_rows(connection, limits.SQL_TABLES[table])
                keys = ["patient_key", date_column]
                written_ids.update(_write_table(connection, checked[table], stored, keys, report))
        _unstage_ids(connection)
        counts = {
            table: {
                "inserted": report.inserted[table],
                "updated": report.updated[table],
                "unchanged": report.unchanged[table],
            }
            for table in TABLES
            if table in report.inserted
        }
        # The per-patient facts follow the rows they come from, in the same transaction; a
        # patient's facts depend on that patient's rows only, so unchanged patients keep theirs.
        new_ids = written_ids - stored_ids  # no derived rows to replace
        facts.refresh(connection, written_ids, new=new_ids)
        # The log row is part of the import's transaction: data and log, or neither.
        report.import_id = audit.record(connection, attempt, applied=True, counts=counts)
    report.ok = not report.problems


def _refused(
    problems: _Problems, warnings: list[str], engine: Engine, attempt: audit.Attempt
) -> ImportReport:
    listed, total = problems.build()
    report = ImportReport(ok=False, problems=listed, warnings=warnings, problem_count=total)
    _log_refusal(engine, report, attempt)
    return report


def _log_refusal(engine: Engine, report: ImportReport, attempt: audit.Attempt) -> None:
    """Record a refused attempt in the import log, in a small transaction of its own.

    The data tables are untouched whatever happens here; a log that cannot be written (the
    database unreachable, still busy) becomes a warning on the report, not an exception that
    would hide the problem list.
    """
    try:
        with _import_transaction(engine, exclusive=False) as connection:
            report.import_id = audit.record(
                connection, attempt, applied=False, problem_count=report.problem_count
            )
    except SQLAlchemyError as exc:
        report.warnings.append(
            f"the refused import could not be recorded in the import log ({first_line(exc)})"
        )
