"""Two imports started at once on the same database (SQLite and PostgreSQL).

They end with both applied or one cleanly refused — never a corrupt, mixed or duplicated
state. Each import runs in a thread with its own engine; a barrier starts them together.
The two clinics overlap: shared patients (the same natural keys with different values) and
patients of their own. The final state must be exactly what one of the serial orders gives,
worked out by running the two imports one after the other on fresh databases.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError

from analysis.db import schema
from analysis.db.store import make_engine, migrate
from analysis.domain.errors import DatabaseError
from analysis.ingest import ImportReport, import_paths, import_uploads, limits, transaction
from analysis.ingest.limits import BUSY_REASON

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
SAMPLE_FILES = [SAMPLE / "patients.csv", SAMPLE / "sessions.csv", SAMPLE / "followups.csv"]
TODAY = date(2026, 1, 15)
SHARED, OWN, SESSIONS, FOLLOWUPS = 300, 150, 4, 2
ROUNDS = 3

Uploads = list[tuple[str, bytes]]
State = dict[str, frozenset[tuple]]


# --------------------------------------------------------------------------- the two clinics


def clinic(label: str) -> Uploads:
    """Files of one import: SHARED patients whose keys the other import also has, OWN of its own."""
    a = label == "A"
    ids = [f"S{i:04d}" for i in range(SHARED)] + [f"{label}{i:04d}" for i in range(OWN)]
    patients = ["patient_id,condition,site,age,baseline_pain"]
    sessions = ["patient_id,session_date,route,dose_mg,pre_pain"]
    followups = ["patient_id,followup_date,pain,pgic"]
    start = date(2025, 1, 6)
    for n, pid in enumerate(ids):
        patients.append(f"{pid},{'crps' if a else 'lyme'},site-{label},{40 if a else 50},{7 if a else 8}")
        for k in range(SESSIONS):
            day = start + timedelta(days=n % 50 + 7 * k)
            sessions.append(f"{pid},{day},{'IN' if a else 'IM'},{20 + k if a else 30 + k},{6 if a else 7}")
        for k in range(FOLLOWUPS):
            day = start + timedelta(days=n % 50 + 30 + 60 * k)
            followups.append(f"{pid},{day},{3 if a else 4},{2 if a else 3}")
    return [
        (name, ("\n".join(lines) + "\n").encode())
        for name, lines in (
            ("patients.csv", patients),
            ("sessions.csv", sessions),
            ("followups.csv", followups),
        )
    ]


A, B = clinic("A"), clinic("B")


def state(engine: Engine) -> State:
    """What is stored, by natural key and without surrogate ids; the sample clinic left out."""
    p, s, f = schema.patients, schema.sessions, schema.followups
    mine = ~p.c.patient_id.like("KO-%")
    queries = {
        "patients": select(p.c.patient_id, p.c.condition, p.c.site, p.c.age, p.c.baseline_pain).where(mine),
        "sessions": select(p.c.patient_id, s.c.session_date, s.c.route, s.c.dose_mg, s.c.pre_pain)
        .join_from(s, p, s.c.patient_key == p.c.id)
        .where(mine),
        "followups": select(p.c.patient_id, f.c.followup_date, f.c.pain, f.c.pgic)
        .join_from(f, p, f.c.patient_key == p.c.id)
        .where(mine),
    }
    with engine.connect() as connection:
        return {name: frozenset(tuple(r) for r in connection.execute(q)) for name, q in queries.items()}


def duplicated_keys(engine: Engine) -> list[tuple]:
    p, s, f = schema.patients, schema.sessions, schema.followups
    checks = [
        select(p.c.patient_id).group_by(p.c.patient_id).having(func.count() > 1),
        select(s.c.patient_key, s.c.session_date)
        .group_by(s.c.patient_key, s.c.session_date)
        .having(func.count() > 1),
        select(f.c.patient_key, f.c.followup_date)
        .group_by(f.c.patient_key, f.c.followup_date)
        .having(func.count() > 1),
    ]
    with engine.connect() as connection:
        return [tuple(r) for q in checks for r in connection.execute(q)]


def log(engine: Engine) -> list[tuple]:
    i = schema.imports
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(select(i.c.id, i.c.status, i.c.user).order_by(i.c.id))]


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, State]:
    """The states the serial orders give: A then B, B then A, A alone, B alone."""
    results = {}
    for name, order in {"AB": (A, B), "BA": (B, A), "A": (A,), "B": (B,)}.items():
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('serial') / 'outcomes.db'}")
        migrate(engine)
        for uploads in order:
            assert import_uploads(engine, uploads, today=TODAY).ok
        results[name] = state(engine)
        engine.dispose()
    assert results["AB"] != results["BA"]  # the orders are told apart
    return results


def at_once(url: str, imports: list[Uploads]) -> list[ImportReport | BaseException]:
    """Run the imports in threads, each with its own engine, released together by a barrier."""
    barrier = threading.Barrier(len(imports))
    results: list[ImportReport | BaseException] = [RuntimeError("did not finish")] * len(imports)

    def worker(number: int) -> None:
        engine = make_engine(url)
        try:
            engine.dispose()  # no connection is opened before the barrier
            barrier.wait(timeout=30)
            results[number] = import_uploads(
                engine, imports[number], today=TODAY, user=f"user{number}@clinic.example"
            )
        except BaseException as exc:  # reported by the test, never swallowed
            results[number] = exc
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(imports))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.fixture
def populated_url(db_url: str) -> str:
    engine = make_engine(db_url)
    assert import_paths(engine, SAMPLE_FILES, today=TODAY).ok
    engine.dispose()
    return db_url


# --------------------------------------------------------------------------- at once


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_overlapping_imports_end_in_one_serial_order(
    populated_url: str, serial: dict[str, State], round_: int
) -> None:
    reports = at_once(populated_url, [A, B])
    assert all(isinstance(r, ImportReport) for r in reports), reports  # never a traceback
    engine = make_engine(populated_url)
    try:
        applied = [label for label, r in zip("AB", reports, strict=True) if r.ok]
        for report in reports:
            assert report.ok or [p.reason for p in report.problems] == [BUSY_REASON]
        assert applied, "at least one import must be applied"
        assert duplicated_keys(engine) == []
        entries = log(engine)[1:]  # the first row is the sample clinic's import
        assert sorted(e[0] for e in entries if e[1] == "applied") == sorted(
            r.import_id for r in reports if r.ok
        )
        if len(applied) == 2:
            # the log's order is the commit order: the state is that serial order's
            first, _ = sorted(zip(reports, "AB", strict=True), key=lambda rl: rl[0].import_id)
            assert state(engine) == serial["AB" if first[1] == "A" else "BA"]
            a, b = reports
            for table in ("patients", "sessions", "followups"):
                # every stored row was inserted once: no import counted another's row as new
                assert a.inserted[table] + b.inserted[table] == len(state(engine)[table])
        else:
            assert state(engine) == serial[applied[0]]
    finally:
        engine.dispose()


def test_the_same_files_imported_twice_at_once(populated_url: str, serial: dict[str, State]) -> None:
    reports = at_once(populated_url, [A, A])
    assert all(isinstance(r, ImportReport) and r.ok for r in reports), reports
    engine = make_engine(populated_url)
    try:
        assert state(engine) == serial["A"]
        assert duplicated_keys(engine) == []
        first, second = sorted(reports, key=lambda r: r.import_id)
        assert first.inserted["sessions"] == (SHARED + OWN) * SESSIONS
        assert second.inserted == {"patients": 0, "sessions": 0, "followups": 0}
        assert second.unchanged["followups"] == (SHARED + OWN) * FOLLOWUPS
        assert [e[1] for e in log(engine)] == ["applied"] * 3
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- a busy database


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short waits, so that 'busy' is reached in a fraction of a second."""
    monkeypatch.setattr(limits, "LOCK_WAIT_SECONDS", 0.2)
    monkeypatch.setattr(limits, "BUSY_BACKOFF_SECONDS", 0.01)


def hold_import_lock(url: str) -> Callable[[], None]:
    """Hold what an import must wait for, from another connection; returns the release."""
    if url.startswith("sqlite"):
        holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")

        def release() -> None:
            holder.execute("ROLLBACK")
            holder.close()

        return release
    engine = make_engine(url)
    connection = engine.connect()
    # The importer's advisory lock (ingest._PG_IMPORT_LOCK), held at session level.
    connection.execute(
        text("SELECT pg_advisory_lock(hashtextextended('ketamine-outcomes import ' || current_schema(), 0))")
    )

    def release_pg() -> None:
        connection.close()
        engine.dispose()

    return release_pg


def test_an_import_that_waits_too_long_is_refused_cleanly(populated_url: str, quick: None) -> None:
    engine = make_engine(populated_url)
    before, log_before = state(engine), log(engine)
    release = hold_import_lock(populated_url)
    try:
        started = time.monotonic()
        report = import_uploads(engine, A, today=TODAY)
        elapsed = time.monotonic() - started
    finally:
        release()
    try:
        assert not report.ok
        assert [str(p) for p in report.problems] == [f"import: {BUSY_REASON}"]
        assert report.summary_line() == "Import refused: 1 problem found; nothing was written."
        assert elapsed < 5
        assert state(engine) == before
        if populated_url.startswith("sqlite"):  # the log needs the write lock too: a warning
            assert log(engine) == log_before
            assert any("could not be recorded in the import log" in w for w in report.warnings)
        else:  # the log needs no import lock on PostgreSQL
            assert log(engine)[len(log_before) :] == [(report.import_id, "refused", "unknown")]
        assert import_uploads(engine, A, today=TODAY).ok  # and once the way is clear, it applies
    finally:
        engine.dispose()


def _transient(dialect: str) -> OperationalError:
    if dialect == "postgresql":
        import psycopg.errors

        return OperationalError("INSERT ...", {}, psycopg.errors.DeadlockDetected("deadlock detected"))
    return OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))


@pytest.mark.parametrize("failures", [1, 2])
def test_a_deadlock_or_lock_is_retried(
    populated_url: str, serial: dict[str, State], monkeypatch: pytest.MonkeyPatch, quick: None, failures: int
) -> None:
    engine = make_engine(populated_url)
    real, calls = transaction._write_table, []

    def flaky(connection, checked, *args):
        written = real(connection, checked, *args)
        if checked.table == "sessions":  # half-way through: patients already written
            calls.append(1)
            if len(calls) <= failures:
                raise _transient(engine.dialect.name)
        return written

    monkeypatch.setattr(transaction, "_write_table", flaky)
    try:
        report = import_uploads(engine, A, today=TODAY)
        assert report.ok and len(calls) == failures + 1
        assert report.inserted["patients"] == SHARED + OWN  # counted once, by the attempt that stuck
        assert state(engine) == serial["A"]
        assert [e[1] for e in log(engine)] == ["applied", "applied"]
    finally:
        engine.dispose()


def test_a_database_that_stays_busy_refuses_after_the_last_attempt(
    populated_url: str, monkeypatch: pytest.MonkeyPatch, quick: None
) -> None:
    engine = make_engine(populated_url)
    before = state(engine)
    real, calls = transaction._write_table, []

    def busy(connection, checked, *args):
        real(connection, checked, *args)
        calls.append(1)
        raise _transient(engine.dialect.name)

    monkeypatch.setattr(transaction, "_write_table", busy)
    try:
        report = import_uploads(engine, A, today=TODAY)
        assert not report.ok and report.problems[0].reason == BUSY_REASON
        assert len(calls) == limits.BUSY_ATTEMPTS
        assert state(engine) == before
        assert [e[1] for e in log(engine)] == ["applied", "refused"]
    finally:
        engine.dispose()


def test_other_database_errors_are_not_retried(
    populated_url: str, monkeypatch: pytest.MonkeyPatch, quick: None
) -> None:
    engine = make_engine(populated_url)
    calls = []

    def broken(*_args):
        calls.append(1)
        raise OperationalError("INSERT ...", {}, Exception("disk I/O error"))

    monkeypatch.setattr(transaction, "_write_table", broken)
    try:
        with pytest.raises(DatabaseError, match=r"nothing was written \(disk I/O error\)"):
            import_uploads(engine, A, today=TODAY)
        assert len(calls) == 1
    finally:
        engine.dispose()


def test_the_importers_sqlite_connection_goes_back_to_the_pool_as_it_was(sqlite_engine: Engine) -> None:
    """BEGIN IMMEDIATE and the shorter lock wait apply to the importer's transaction only."""
    assert import_uploads(sqlite_engine, A, today=TODAY).ok
    assert not import_uploads(sqlite_engine, [("patients.csv", b"patient_id\nX\n")]).ok
    with sqlite_engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw.isolation_level == ""  # pysqlite's default: it begins transactions itself
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 10000
