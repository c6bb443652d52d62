"""The import log (audit trail): every import records who, when, which files and what it did.

On SQLite and on PostgreSQL. An applied import's log row is written in the import's own
transaction (both or neither); a refused import is logged in a small transaction of its own.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, delete, inspect, select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from analysis.db import audit, schema
from analysis.db.store import downgrade, migrate
from analysis.domain.errors import DatabaseError
from analysis.ingest import import_frames, import_paths, import_uploads, importer, limits, transaction
from tests.clinic import stored_rows as data_snapshot

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
SAMPLE_FILES = [SAMPLE / "patients.csv", SAMPLE / "sessions.csv", SAMPLE / "followups.csv"]
TODAY = date(2026, 1, 15)


def log_rows(engine: Engine) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(select(schema.imports).order_by(schema.imports.c.id)).mappings().all()
    return [{**row, "files": json.loads(row["files"]), "counts": json.loads(row["counts"])} for row in rows]


def upload(name: str, *lines: str) -> tuple[str, bytes]:
    return name, ("\n".join(lines) + "\n").encode("utf-8")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- the schema


def test_migration_0002_matches_the_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "include_object": lambda _, name, kind, *__: schema.made_on(engine.dialect.name, name, kind)
            },
        )
        differences = compare_metadata(context, schema.metadata)
    assert differences == []
    assert "imports" in inspect(engine).get_table_names()


def test_migration_0002_downgrades_and_upgrades_again(engine: Engine) -> None:
    downgrade(engine, "0001")
    assert "imports" not in inspect(engine).get_table_names()
    migrate(engine)
    assert import_paths(engine, SAMPLE_FILES, today=TODAY).ok
    assert [r["status"] for r in log_rows(engine)] == ["applied"]


def test_the_log_is_append_only(engine: Engine) -> None:
    assert import_paths(engine, SAMPLE_FILES, today=TODAY, user="a@clinic.example").ok
    for statement in (
        update(schema.imports).values(user="someone else"),
        delete(schema.imports),
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(statement)
    assert [r["user"] for r in log_rows(engine)] == ["a@clinic.example"]


# --------------------------------------------------------------------------- applied imports


def test_applied_import_records_who_when_files_and_counts(engine: Engine) -> None:
    uploads = [(p.name, p.read_bytes()) for p in SAMPLE_FILES]
    before = datetime.now(UTC)
    report = import_uploads(engine, uploads, today=TODAY, user="director@clinic.example", source="app")
    after = datetime.now(UTC)
    assert report.ok
    [row] = log_rows(engine)
    assert row["id"] == report.import_id
    assert row["user"] == "director@clinic.example" and row["source"] == "app"
    assert row["status"] == "applied" and row["problem_count"] == 0
    assert row["files"] == [{"name": n, "sha256": sha(d), "bytes": len(d)} for n, d in uploads]
    assert row["counts"] == {
        "patients": {"inserted": 10, "updated": 0, "unchanged": 0},
        "sessions": {"inserted": 40, "updated": 0, "unchanged": 0},
        "followups": {"inserted": 19, "updated": 0, "unchanged": 0},
    }
    stamped = row["imported_at"]
    stamped = stamped.replace(tzinfo=UTC) if stamped.tzinfo is None else stamped  # SQLite: naive UTC
    assert before - timedelta(seconds=1) <= stamped <= after + timedelta(seconds=1)


def test_reimport_is_logged_as_unchanged(engine: Engine) -> None:
    assert import_paths(engine, SAMPLE_FILES, today=TODAY).ok
    report = import_paths(engine, SAMPLE_FILES, today=TODAY, user="cli:alex", source="cli")
    assert report.ok
    first, second = log_rows(engine)
    assert first["files"] == second["files"]  # same files, same hashes
    assert second["user"] == "cli:alex" and second["source"] == "cli"
    assert second["counts"]["sessions"] == {"inserted": 0, "updated": 0, "unchanged": 40}


def test_updates_are_counted_and_rows_missing_from_a_file_are_kept(engine: Engine) -> None:
    assert import_paths(engine, SAMPLE_FILES, today=TODAY).ok
    report = import_uploads(engine, [upload("patients.csv", "patient_id,condition", "KO-001,lyme")])
    assert report.ok
    assert log_rows(engine)[-1]["counts"] == {"patients": {"inserted": 0, "updated": 1, "unchanged": 0}}
    # the other nine patients were not in the file: the importer never deletes
    assert len(data_snapshot(engine)["patients"]) == 10


def test_user_defaults_to_unknown_and_source_is_checked(engine: Engine) -> None:
    assert import_paths(engine, SAMPLE_FILES, today=TODAY).ok
    assert import_paths(engine, SAMPLE_FILES, today=TODAY, user="   ", source="demo").ok
    assert [(r["user"], r["source"]) for r in log_rows(engine)] == [("unknown", "app"), ("unknown", "demo")]
    with pytest.raises(ValueError, match="source must be one of cli, app, demo"):
        import_paths(engine, SAMPLE_FILES, today=TODAY, source="cron")
    with pytest.raises(ValueError, match="source"):
        import_uploads(engine, [], source="")
    assert len(log_rows(engine)) == 2


def test_frames_are_logged_by_the_hash_of_their_canonical_csv(engine: Engine) -> None:
    # The canonical rendering is Arrow's CSV writer: text quoted, numbers and dates bare.
    frames = {
        "patients": pd.DataFrame(
            {"patient_id": ["F1", "F2"], "condition": ["crps", "lyme"], "age": [40, None]}
        ),
        "sessions": pd.DataFrame(
            {
                "patient_id": ["F1"],
                "session_date": [pd.Timestamp("2025-03-01")],
                "route": ["IN"],
                "dose_mg": [25.0],
            }
        ),
    }
    assert import_frames(engine, frames, today=TODAY, source="demo").ok
    [row] = log_rows(engine)
    expected = {
        "patients": b'"patient_id","condition","age"\n"F1","crps",40\n"F2","lyme",\n',
        "sessions": b'"patient_id","session_date","route","dose_mg"\n'
        b'"F1",2025-03-01 00:00:00.000000,"IN",25\n',
    }
    assert row["files"] == [{"name": n, "sha256": sha(d), "bytes": len(d)} for n, d in expected.items()]


def test_a_frame_arrow_cannot_type_is_rendered_by_pandas() -> None:
    mixed = pd.DataFrame({"patient_id": ["A", 7], "condition": ["crps", "lyme"]})
    assert audit.canonical_csv(mixed) == b"patient_id,condition\nA,crps\n7,lyme\n"


# --------------------------------------------------------------------------- refused imports


def test_refused_import_is_logged_and_writes_no_data(engine: Engine) -> None:
    assert import_paths(engine, SAMPLE_FILES, today=TODAY).ok
    before = data_snapshot(engine)
    bad = upload("sessions.csv", "patient_id,session_date,route,dose_mg", "KO-001,2025-02-30,IN,0")
    report = import_uploads(engine, [bad], today=TODAY, user="nurse@clinic.example")
    assert not report.ok and report.problem_count == 2
    assert data_snapshot(engine) == before
    row = log_rows(engine)[-1]
    assert row["id"] == report.import_id
    assert (row["status"], row["user"], row["problem_count"], row["counts"]) == (
        "refused",
        "nurse@clinic.example",
        2,
        {},
    )
    assert row["files"] == [{"name": "sessions.csv", "sha256": sha(bad[1]), "bytes": len(bad[1])}]


def test_too_large_upload_is_logged_without_being_parsed(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", 100)
    monkeypatch.setattr(importer, "_read_csv", lambda *a: pytest.fail("parsed a file above the limit"))
    data = b"patient_id,condition\n" + b"P1,crps\n" * 20
    report = import_uploads(engine, [("patients.csv", data)], user="x@clinic.example")
    assert not report.ok and "above the limit" in report.problems[0].reason
    [row] = log_rows(engine)
    assert row["status"] == "refused"
    assert row["files"] == [{"name": "patients.csv", "sha256": sha(data), "bytes": len(data)}]


def test_paths_are_hashed_and_a_missing_path_is_logged(engine: Engine, tmp_path: Path) -> None:
    report = import_paths(engine, [SAMPLE / "patients.csv", tmp_path / "sessions.csv"], source="cli")
    assert not report.ok
    [row] = log_rows(engine)
    data = (SAMPLE / "patients.csv").read_bytes()
    assert row["files"] == [
        {"name": "sessions.csv", "sha256": None, "bytes": None},
        {"name": "patients.csv", "sha256": sha(data), "bytes": len(data)},
    ]


def test_a_log_that_cannot_be_written_for_a_refusal_is_a_warning(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args, **_kwargs):
        raise OperationalError("INSERT INTO imports", {}, Exception("disk I/O error"))

    monkeypatch.setattr(audit, "record", broken)
    report = import_uploads(engine, [upload("patients.csv", "patient_id,condition", "P1,flu")])
    assert not report.ok and report.problems[0].column == "condition"
    assert any("could not be recorded in the import log (disk I/O error)" in w for w in report.warnings)
    assert report.import_id is None


# --------------------------------------------------------------------------- data and log together


def test_no_data_without_its_log_row(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The log row is written in the import's transaction: if it fails, no data is stored."""
    assert import_paths(engine, SAMPLE_FILES, today=TODAY).ok
    before, log_before = data_snapshot(engine), log_rows(engine)
    real = audit.record

    def failing(connection, attempt, *, applied, **kwargs):
        if applied:
            raise OperationalError("INSERT INTO imports", {}, Exception("disk I/O error"))
        return real(connection, attempt, applied=applied, **kwargs)

    monkeypatch.setattr(audit, "record", failing)
    with pytest.raises(DatabaseError, match="nothing was written"):
        import_uploads(engine, [upload("patients.csv", "patient_id,condition", "NEW-1,crps", "KO-001,lyme")])
    assert data_snapshot(engine) == before
    assert log_rows(engine) == log_before


def test_no_log_row_without_its_data(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails half-way leaves neither data nor an 'applied' row."""
    assert import_paths(engine, SAMPLE_FILES, today=TODAY).ok
    before, log_before = data_snapshot(engine), log_rows(engine)
    real = transaction._write_table

    def failing(connection, checked, *args):
        written = real(connection, checked, *args)  # the patients are written, then the sessions fail
        if checked.table == "sessions":
            raise OperationalError("INSERT INTO sessions", {}, Exception("disk full"))
        return written

    monkeypatch.setattr(transaction, "_write_table", failing)
    with pytest.raises(DatabaseError, match="disk full"):
        import_uploads(
            engine,
            [
                upload("patients.csv", "patient_id,condition", "NEW-1,crps"),
                upload("sessions.csv", "patient_id,session_date,route,dose_mg", "NEW-1,2025-06-01,IN,20"),
            ],
            today=TODAY,
        )
    assert data_snapshot(engine) == before
    assert log_rows(engine) == log_before


# --------------------------------------------------------------------------- reading the log


def test_recent_imports_lists_the_newest_first(engine: Engine) -> None:
    assert import_paths(engine, SAMPLE_FILES, today=TODAY, user="a@clinic.example").ok
    assert not import_uploads(
        engine, [upload("patients.csv", "patient_id", "P1")], user="b@clinic.example"
    ).ok
    assert import_paths(engine, SAMPLE_FILES, today=TODAY, user="cli:root", source="cli").ok
    frame = audit.recent_imports(engine)
    assert list(frame.columns) == list(audit.RECENT_COLUMNS)
    assert frame["user"].tolist() == ["cli:root", "b@clinic.example", "a@clinic.example"]
    assert frame["status"].tolist() == ["applied", "refused", "applied"]
    assert frame["files"].iloc[0] == "patients.csv, sessions.csv, followups.csv"
    assert frame[["inserted", "updated", "unchanged", "problem_count"]].to_numpy().tolist() == [
        [0, 0, 69, 0],
        [0, 0, 0, 1],
        [69, 0, 0, 0],
    ]
    assert str(frame["imported_at"].dt.tz) == "UTC"
    assert frame["imported_at"].is_monotonic_decreasing
    assert frame["file_details"].iloc[0][0]["name"] == "patients.csv"
    assert frame["counts"].iloc[2]["sessions"]["inserted"] == 40
    assert audit.recent_imports(engine, limit=1)["user"].tolist() == ["cli:root"]


def test_recent_imports_of_an_empty_log(engine: Engine) -> None:
    frame = audit.recent_imports(engine)
    assert frame.empty and list(frame.columns) == list(audit.RECENT_COLUMNS)


@pytest.mark.parametrize("limit", [0, -3, 2.5, True])
def test_recent_imports_limit_must_be_positive(sqlite_engine: Engine, limit) -> None:
    with pytest.raises(ValueError, match="limit"):
        audit.recent_imports(sqlite_engine, limit=limit)


def test_recent_imports_of_an_unreachable_database_raises_database_error() -> None:
    from analysis.db.store import make_engine

    with pytest.raises(DatabaseError, match="import log"):
        audit.recent_imports(make_engine("postgresql://nobody@127.0.0.1:1/none"))


def test_the_module_never_imports_streamlit() -> None:
    source = Path(audit.__file__).read_text()
    assert "import streamlit" not in source and "from streamlit" not in source
