"""The import contract (docs/contract.md): every rule, on SQLite and on PostgreSQL.

Failure tests start from a database holding the sample clinic and check that the whole
database is exactly as before: one import is one transaction.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from analysis import ingest
from analysis.db import facts, schema
from analysis.db.store import make_engine, table_counts
from analysis.domain import contract
from analysis.domain.errors import DatabaseError
from analysis.ingest import (
    ImportReport,
    Problem,
    import_frames,
    import_paths,
    import_uploads,
    importer,
    limits,
    transaction,
    writer,
)
from tests.clinic import stored_rows as snapshot

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
SAMPLE_FILES = [SAMPLE / "patients.csv", SAMPLE / "sessions.csv", SAMPLE / "followups.csv"]
TODAY = date(2026, 1, 15)

PATIENTS_HEADER = "patient_id,condition,site,age,sex,baseline_pain,baseline_mme"
SESSIONS_HEADER = (
    "patient_id,session_date,route,dose_mg,weight_kg,pre_pain,post_pain,adverse_events,ae_duration_min"
)
FOLLOWUPS_HEADER = "patient_id,followup_date,pain,pgic,bpi_interference,phq9,mme,adverse_events"


# --------------------------------------------------------------------------- helpers


def csv_upload(name: str, *lines: str) -> tuple[str, bytes]:
    return name, ("\n".join(lines) + "\n").encode("utf-8")


def stored(engine: Engine, table, *columns: str) -> list[tuple]:
    t = getattr(schema, table)
    with engine.connect() as connection:
        rows = connection.execute(select(*(t.c[c] for c in columns)).order_by(*t.primary_key))
        return [tuple(r) for r in rows]


def sessions_of(engine: Engine, patient_id: str) -> list[tuple]:
    p, s = schema.patients, schema.sessions
    query = (
        select(s.c.session_date, s.c.route, s.c.dose_mg, s.c.adverse_events)
        .join_from(s, p, s.c.patient_key == p.c.id)
        .where(p.c.patient_id == patient_id)
        .order_by(s.c.session_date)
    )
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(query)]


@pytest.fixture
def populated(engine: Engine) -> dict[str, list[tuple]]:
    """The engine holds the sample clinic; returns its snapshot."""
    report = import_paths(engine, SAMPLE_FILES, today=TODAY)
    assert report.ok, [str(p) for p in report.problems]
    return snapshot(engine)


def refused(engine: Engine, before: dict, upload: Callable[[], ImportReport]) -> ImportReport:
    """Run an import that must fail and check that nothing at all was written."""
    report = upload()
    assert not report.ok
    assert report.problems
    assert report.inserted == {} and report.updated == {}
    assert snapshot(engine) == before
    return report


def where(report: ImportReport) -> set[tuple]:
    return {(p.table, p.row, p.column) for p in report.problems}


# --------------------------------------------------------------------------- a good import


def test_valid_import_stores_every_row(engine: Engine) -> None:
    report = import_paths(engine, SAMPLE_FILES, today=TODAY)
    assert report.ok and report.problems == []
    assert table_counts(engine) == {"patients": 10, "sessions": 40, "followups": 19}
    assert report.inserted == {"patients": 10, "sessions": 40, "followups": 19}
    assert report.updated == {"patients": 0, "sessions": 0, "followups": 0}
    assert report.summary_line() == (
        "Imported 10 patients (10 new), 40 sessions (40 new), 19 follow-ups (19 new)."
    )


def test_the_imports_planner_settings_end_with_its_transaction(postgres_engine: Engine, monkeypatch) -> None:
    """PostgreSQL: the import plans its lookups with its own settings; the pool's connections
    keep the server's (the settings are local to the import's transaction)."""
    engine = postgres_engine
    settings = "SELECT current_setting('random_page_cost'), current_setting('jit')"
    with engine.connect() as connection:
        before = tuple(connection.exec_driver_sql(settings).one())
    seen: list[tuple] = []
    real = facts.refresh

    def spy(connection, patient_ids=None, **options):
        seen.append(tuple(connection.exec_driver_sql(settings).one()))
        return real(connection, patient_ids, **options)

    monkeypatch.setattr(facts, "refresh", spy)
    assert import_paths(engine, SAMPLE_FILES, today=TODAY).ok
    assert seen == [("1.1", "off")] and before != ("1.1", "off")
    with engine.connect() as connection:
        assert tuple(connection.exec_driver_sql(settings).one()) == before


def test_synonyms_are_stored_as_canonical_codes(engine: Engine, populated: dict) -> None:
    conditions = dict(stored(engine, "patients", "patient_id", "condition"))
    assert conditions["KO-001"] == "crps"  # CRPS
    assert conditions["KO-002"] == "postherpetic_neuralgia"  # PHN
    assert conditions["KO-004"] == "crohns"  # Crohn's disease
    assert conditions["KO-005"] == "migraine"  # migraines
    assert conditions["KO-009"] == "other_neuropathic"  # neuropathic pain
    assert conditions["KO-010"] == "crps"  # complex regional pain syndrome
    sexes = dict(stored(engine, "patients", "patient_id", "sex"))
    assert sexes["KO-005"] == "F" and sexes["KO-009"] == "unknown"
    assert {r[1] for r in sessions_of(engine, "KO-001")} == {"intranasal"}  # IN
    assert {r[1] for r in sessions_of(engine, "KO-002")} == {"intramuscular"}  # IM
    assert {r[1] for r in sessions_of(engine, "KO-005")} == {"oral"}  # PO
    # "Nausea; dissociation" → canonical, sorted; empty → NULL
    assert [r[3] for r in sessions_of(engine, "KO-001")] == [
        "dissociation", None, "dissociation;nausea", None,
    ]  # fmt: skip


def test_adverse_events_are_canonical_deduplicated_and_sorted(engine: Engine, populated: dict) -> None:
    report = import_uploads(
        engine,
        [
            csv_upload(
                "sessions.csv",
                "patient_id,session_date,route,dose_mg,adverse_events",
                "KO-001,2025-06-02,in,20, HEADACHE ;nausea;;Nausea ; visual disturbance",
                "KO-001,2025-06-09,in,20,none",
            )
        ],
        today=TODAY,
    )
    assert report.ok, [str(p) for p in report.problems]
    events = [r[3] for r in sessions_of(engine, "KO-001")[-2:]]
    assert events == ["headache;nausea;visual_disturbance", None]


def test_headers_are_case_and_space_insensitive(engine: Engine) -> None:
    report = import_uploads(
        engine,
        [
            csv_upload("Patients.CSV", " PATIENT_ID , Condition ,Baseline Pain", "A1,crps,7"),
            csv_upload(
                "sessions.csv", "Patient_Id,SESSION-DATE , route,Dose_MG", " A1 , 2025-03-04 , IN , 25 "
            ),
        ],
        today=TODAY,
    )
    assert report.ok, [str(p) for p in report.problems]
    assert stored(engine, "patients", "patient_id", "condition", "baseline_pain", "site") == [
        ("A1", "crps", 7.0, "main")
    ]
    assert sessions_of(engine, "A1") == [(date(2025, 3, 4), "intranasal", 25.0, None)]


def test_utf8_bom_is_accepted(engine: Engine) -> None:
    data = "\ufeffpatient_id,condition\nB1,Lyme disease\n".encode()
    report = import_uploads(engine, [("patients.csv", data)], today=TODAY)
    assert report.ok, [str(p) for p in report.problems]
    assert stored(engine, "patients", "patient_id", "condition") == [("B1", "lyme")]


def test_header_only_file_imports_zero_rows(engine: Engine) -> None:
    report = import_uploads(engine, [csv_upload("patients.csv", PATIENTS_HEADER)], today=TODAY)
    assert report.ok
    assert report.inserted == {"patients": 0}
    assert table_counts(engine)["patients"] == 0


def test_blank_lines_keep_spreadsheet_row_numbers(engine: Engine) -> None:
    report = import_uploads(
        engine,
        [csv_upload("patients.csv", "patient_id,condition", "C1,crps", "", ",", "C2,flu")],
        today=TODAY,
    )
    assert where(report) == {("patients", 5, "condition")}


def test_age_is_capped_at_90(engine: Engine) -> None:
    report = import_uploads(
        engine,
        [csv_upload("patients.csv", "patient_id,condition,age", "D1,crps,95", "D2,crps,90", "D3,crps,18")],
        today=TODAY,
    )
    assert report.ok
    assert stored(engine, "patients", "patient_id", "age") == [("D1", 90), ("D2", 90), ("D3", 18)]


# --------------------------------------------------------------------------- idempotence


def test_reimport_changes_nothing(engine: Engine, populated: dict) -> None:
    report = import_paths(engine, SAMPLE_FILES, today=TODAY)
    assert report.ok
    assert report.inserted == {"patients": 0, "sessions": 0, "followups": 0}
    assert report.updated == {"patients": 0, "sessions": 0, "followups": 0}
    assert report.unchanged == {"patients": 10, "sessions": 40, "followups": 19}
    assert snapshot(engine) == populated
    assert "10 unchanged" in report.summary_line()


def test_reimport_updates_changed_rows_in_place(engine: Engine, populated: dict, tmp_path: Path) -> None:
    sessions = pd.read_csv(SAMPLE / "sessions.csv", dtype=str, keep_default_na=False)
    sessions.loc[0, "dose_mg"] = "75"  # KO-001, 2025-01-06
    sessions.loc[1, "adverse_events"] = "sedation"
    sessions.to_csv(tmp_path / "sessions.csv", index=False)
    report = import_paths(engine, [SAMPLE / "patients.csv", tmp_path / "sessions.csv"], today=TODAY)
    assert report.ok
    assert report.updated["sessions"] == 2 and report.inserted["sessions"] == 0
    assert report.unchanged == {"patients": 10, "sessions": 38}
    after = snapshot(engine)
    assert len(after["sessions"]) == len(populated["sessions"])
    assert [r[0] for r in after["sessions"]] == [r[0] for r in populated["sessions"]]  # same ids
    assert sessions_of(engine, "KO-001")[0][2] == 75.0
    assert sessions_of(engine, "KO-001")[1][3] == "sedation"
    assert after["patients"] == populated["patients"] and after["followups"] == populated["followups"]


def test_absent_optional_column_keeps_the_stored_value(engine: Engine, populated: dict) -> None:
    report = import_uploads(
        engine, [csv_upload("patients.csv", "patient_id,condition", "KO-001,PHN")], today=TODAY
    )
    assert report.ok and report.updated == {"patients": 1}
    row = stored(engine, "patients", "patient_id", "condition", "site", "age", "baseline_pain")[0]
    assert row == ("KO-001", "postherpetic_neuralgia", "main", 34, 8.0)


def test_empty_optional_cell_clears_the_stored_value(engine: Engine, populated: dict) -> None:
    report = import_uploads(
        engine, [csv_upload("patients.csv", "patient_id,condition,age", "KO-001,CRPS,")], today=TODAY
    )
    assert report.ok and report.updated == {"patients": 1}
    assert stored(engine, "patients", "patient_id", "age")[0] == ("KO-001", None)


def test_each_table_write_names_the_patients_it_wrote(
    engine: Engine, populated: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_write_table`` returns the patient_id of every row inserted or updated, none unchanged."""
    real, written = transaction._write_table, {}

    def spy(connection, checked, *args):
        written[checked.table] = ids = real(connection, checked, *args)
        return ids

    monkeypatch.setattr(transaction, "_write_table", spy)
    sessions = pd.read_csv(SAMPLE / "sessions.csv", dtype=str, keep_default_na=False)
    sessions.loc[0, "dose_mg"] = "75"  # KO-001: updated
    new_session = {**sessions.iloc[0].to_dict(), "patient_id": "KO-002", "session_date": "2025-12-30"}
    sessions = pd.concat([sessions, pd.DataFrame([new_session])], ignore_index=True)  # KO-002: inserted
    sessions.to_csv(tmp_path / "sessions.csv", index=False)
    report = import_paths(engine, [*SAMPLE_FILES[::2], tmp_path / "sessions.csv"], today=TODAY)
    assert report.ok and report.updated["sessions"] == 1 and report.inserted["sessions"] == 1
    assert sorted(written["sessions"]) == ["KO-001", "KO-002"]
    assert written["patients"] == [] and written["followups"] == []


def test_the_import_leaves_no_temporary_table_behind(sqlite_engine: Engine) -> None:
    """The staged ids live in the import's transaction only (the pool reuses the connection)."""
    assert import_paths(sqlite_engine, SAMPLE_FILES, today=TODAY).ok
    unknown = [csv_upload("sessions.csv", "patient_id,session_date,route,dose_mg", "NOBODY,2025-01-01,IN,20")]
    assert not import_uploads(sqlite_engine, unknown, today=TODAY).ok
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT name FROM sqlite_temp_master").all() == []


def test_a_busy_driver_call_is_retried_like_any_other(
    engine: Engine, populated: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads and writes that go to the driver directly raise SQLAlchemy's errors, so that a
    busy database is retried and a broken one is a DatabaseError with nothing written."""
    import psycopg

    real, calls = writer._query, []
    busy = {
        "sqlite": lambda dbapi: dbapi.OperationalError("database is locked"),
        "postgresql": lambda dbapi: psycopg.errors.DeadlockDetected("deadlock detected"),
    }

    def flaky(connection, statement, columns):
        calls.append(statement)
        if len(calls) == 1:
            with writer._driver_cursor(connection, statement):
                raise busy[connection.dialect.name](connection.dialect.loaded_dbapi)
        return real(connection, statement, columns)

    monkeypatch.setattr(limits, "BUSY_BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(writer, "_query", flaky)
    upload = [csv_upload("patients.csv", "patient_id,condition", "NEW-1,crps")]
    report = import_uploads(engine, upload, today=TODAY)
    assert report.ok and report.inserted == {"patients": 1}

    def broken(connection, statement, columns):
        return real(connection, "SELECT no_such_column FROM patients", columns)

    monkeypatch.setattr(writer, "_query", broken)
    before = snapshot(engine)
    with pytest.raises(DatabaseError, match="nothing was written"):
        import_uploads(
            engine, [csv_upload("patients.csv", "patient_id,condition", "NEW-2,crps")], today=TODAY
        )
    assert snapshot(engine) == before


def test_typed_frames_import_like_the_demo_generator(engine: Engine) -> None:
    frames = {
        "patients": pd.DataFrame(
            {"patient_id": ["T1", "T2"], "condition": ["crps", "migraine"], "site": ["main", None],
             "age": [40, np.nan], "sex": ["F", None], "baseline_pain": [7.0, np.nan],
             "baseline_mme": [0.0, 12.5]}
        ),
        "sessions": pd.DataFrame(
            {"patient_id": ["T1", "T1", "T2"],
             "session_date": [date(2025, 1, 2), date(2025, 1, 9), date(2025, 1, 3)],
             "route": ["intranasal", "intranasal", "oral"], "dose_mg": [50, 50.5, 30],
             "weight_kg": [70.0, np.nan, 60.0], "pre_pain": [7, 6, np.nan], "post_pain": [5, np.nan, 4],
             "adverse_events": ["dissociation;nausea", None, np.nan], "ae_duration_min": [30.0, np.nan, None]}
        ),
        "followups": pd.DataFrame(
            {"patient_id": ["T1"], "followup_date": pd.to_datetime(["2025-04-02"]), "pain": [3],
             "pgic": [2.0], "bpi_interference": [np.nan], "phq9": [5], "mme": [np.nan],
             "adverse_events": [None]}
        ),
    }  # fmt: skip
    report = import_frames(engine, frames, today=TODAY)
    assert report.ok, [str(p) for p in report.problems]
    assert report.inserted == {"patients": 2, "sessions": 3, "followups": 1}
    assert stored(engine, "patients", "patient_id", "site", "age") == [
        ("T1", "main", 40),
        ("T2", "main", None),
    ]
    assert sessions_of(engine, "T1")[1] == (date(2025, 1, 9), "intranasal", 50.5, None)
    assert stored(engine, "followups", "followup_date", "pain", "pgic", "phq9") == [
        (date(2025, 4, 2), 3.0, 2, 5)
    ]
    again = import_frames(engine, frames, today=TODAY)
    assert again.unchanged == {"patients": 2, "sessions": 3, "followups": 1}


# --------------------------------------------------------------------------- every problem reported


def test_duplicate_natural_key_in_one_import_is_an_error(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine,
            [
                csv_upload(
                    "sessions.csv",
                    "patient_id,session_date,route,dose_mg",
                    "KO-001,2025-06-02,IN,20",
                    "KO-002,2025-06-02,IN,20",
                    "KO-001,2025-06-02,IM,25",
                ),
                csv_upload("patients.csv", "patient_id,condition", "Z1,crps", "Z1,PHN"),
            ],
            today=TODAY,
        ),
    )
    dup = [p for p in report.problems if "appear in rows" in p.reason]
    assert {(p.table, p.row) for p in dup} == {
        ("sessions", 2),
        ("sessions", 4),
        ("patients", 2),
        ("patients", 3),
    }
    assert all("rows 2, 4" in p.reason for p in dup if p.table == "sessions")


def test_every_problem_is_reported_with_its_row_and_column(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine,
            [
                csv_upload(
                    "sessions.csv",
                    SESSIONS_HEADER,
                    "KO-001,2025-06-02,IN,0,70,5,3,,",  # row 2: dose
                    "KO-001,2025-06-09,IN,20,70,5,3,,",  # row 3: fine
                    "KO-001,2025-06-16,nasal,20,20,11,3,nausea,-5",  # row 4: route, weight, pre, duration
                    ",2025-06-23,IN,abc,70,5,3,sneezing,",  # row 5: patient_id, dose, events
                ),
                csv_upload("followups.csv", FOLLOWUPS_HEADER, "KO-001,2025-07-01,,8,11,28,-1,"),  # row 2
            ],
            today=TODAY,
        ),
    )
    assert where(report) == {
        ("sessions", 2, "dose_mg"),
        ("sessions", 4, "route"),
        ("sessions", 4, "weight_kg"),
        ("sessions", 4, "pre_pain"),
        ("sessions", 4, "ae_duration_min"),
        ("sessions", 5, "patient_id"),
        ("sessions", 5, "dose_mg"),
        ("sessions", 5, "adverse_events"),
        ("followups", 2, "pain"),
        ("followups", 2, "pgic"),
        ("followups", 2, "bpi_interference"),
        ("followups", 2, "phq9"),
        ("followups", 2, "mme"),
    }
    dose = next(p for p in report.problems if (p.row, p.column) == (2, "dose_mg"))
    assert str(dose) == "sessions, row 2, column dose_mg, value '0': dose must be above 0 and at most 1000 mg"
    assert report.problem_count == 13
    assert report.summary_line() == "Import refused: 13 problems found; nothing was written."
    rows = [(p.table, p.row) for p in report.problems]
    assert rows == sorted(rows, key=lambda r: (("sessions", "followups").index(r[0]), r[1]))


def test_problem_list_is_capped_with_a_final_count(
    engine: Engine, populated: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_PROBLEMS", 5)
    lines = [f"KO-001,2025-06-{day:02d},IN,0" for day in range(1, 13)]
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine, [csv_upload("sessions.csv", "patient_id,session_date,route,dose_mg", *lines)]
        ),
    )
    assert [p.row for p in report.problems[:5]] == [2, 3, 4, 5, 6]
    assert report.problems[-1].reason == "and 7 more problems not listed"
    assert report.problem_count == 12


@pytest.mark.parametrize(
    ("table", "line", "column"),
    [
        ("patients", "E1,crps,main,17,F,5,0", "age"),
        ("patients", "E1,crps,main,121,F,5,0", "age"),
        ("patients", "E1,crps,main,40.5,F,5,0", "age"),
        ("patients", "E1,crps,main,40,female,5,0", "sex"),
        ("patients", "E1,crps,main,40,F,10.5,0", "baseline_pain"),
        ("patients", "E1,crps,main,40,F,5,-0.1", "baseline_mme"),
        ("patients", "E 1,crps,main,40,F,5,0", "patient_id"),
        ("patients", f"{'E' * 65},crps,main,40,F,5,0", "patient_id"),
        ("patients", "E1,gout,main,40,F,5,0", "condition"),
        ("sessions", "KO-001,2025-06-02,IN,1000.5,70,5,3,,", "dose_mg"),
        ("sessions", "KO-001,2025-06-02,IN,-3,70,5,3,,", "dose_mg"),
        ("sessions", "KO-001,2025-06-02,IN,20,29,5,3,,", "weight_kg"),
        ("sessions", "KO-001,2025-06-02,IN,20,301,5,3,,", "weight_kg"),
        ("sessions", "KO-001,2025-06-02,IN,20,70,-1,3,,", "pre_pain"),
        ("sessions", "KO-001,2025-06-02,IN,20,70,5,10.01,,", "post_pain"),
        ("sessions", "KO-001,2025-06-02,IN,20,70,5,3,nausea,inf", "ae_duration_min"),
        ("followups", "KO-001,2025-06-02,5,0,5,5,0,", "pgic"),
        ("followups", "KO-001,2025-06-02,5,8,5,5,0,", "pgic"),
        ("followups", "KO-001,2025-06-02,5,2.5,5,5,0,", "pgic"),
        ("followups", "KO-001,2025-06-02,5,2,5,27.5,0,", "phq9"),
        ("followups", "KO-001,2025-06-02,-0.5,2,5,5,0,", "pain"),
        ("followups", "KO-001,2025-06-02,5,2,5,5,0,itching", "adverse_events"),
    ],
)
def test_out_of_range_numbers_are_errors(
    engine: Engine, populated: dict, table: str, line: str, column: str
) -> None:
    header = {"patients": PATIENTS_HEADER, "sessions": SESSIONS_HEADER, "followups": FOLLOWUPS_HEADER}[table]
    report = refused(
        engine,
        populated,
        lambda: import_uploads(engine, [csv_upload(f"{table}.csv", header, line)], today=TODAY),
    )
    assert where(report) == {(table, 2, column)}
    assert report.problems[0].value == line.split(",")[header.split(",").index(column)]


def test_unknown_patient_is_an_error(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine,
            [
                csv_upload(
                    "sessions.csv", "patient_id,session_date,route,dose_mg", "NOPE-1,2025-06-02,IN,20"
                ),
                csv_upload("followups.csv", "patient_id,followup_date,pain", "ko-001,2025-06-02,4"),
            ],
            today=TODAY,
        ),
    )
    assert where(report) == {("sessions", 2, "patient_id"), ("followups", 2, "patient_id")}
    assert "unknown patient" in report.problems[0].reason


def test_patient_in_the_same_import_is_known(engine: Engine) -> None:
    report = import_uploads(
        engine,
        [
            csv_upload("sessions.csv", "patient_id,session_date,route,dose_mg", "F1,2025-06-02,IN,20"),
            csv_upload("patients.csv", "patient_id,condition", "F1,crps"),
        ],
        today=TODAY,
    )
    assert report.ok and report.inserted == {"patients": 1, "sessions": 1}


def test_future_date_is_an_error(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine,
            [
                csv_upload(
                    "sessions.csv",
                    "patient_id,session_date,route,dose_mg",
                    "KO-001,2026-01-15,IN,20",  # the day of the import: fine
                    "KO-001,2026-01-16,IN,20",
                )
            ],
            today=TODAY,
        ),
    )
    assert where(report) == {("sessions", 3, "session_date")}
    assert "after the day of the import" in report.problems[0].reason


@pytest.mark.parametrize(
    "value", ["2025-02-30", "2025-13-01", "02/03/2025", "2025-2-3", "March 3", "1969-12-31"]
)
def test_impossible_date_is_an_error(engine: Engine, populated: dict, value: str) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine,
            [csv_upload("followups.csv", "patient_id,followup_date,pain", f"KO-001,{value},4")],
            today=TODAY,
        ),
    )
    assert where(report) == {("followups", 2, "followup_date")}
    assert report.problems[0].value == value


def test_missing_required_column_is_an_error(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine, [csv_upload("sessions.csv", "patient_id,session_date,dose_mg", "KO-001,2025-06-02,20")]
        ),
    )
    assert where(report) == {("sessions", None, "route")}
    assert str(report.problems[0]) == "sessions, column route: the required column route is missing"


def test_required_value_left_empty_is_an_error(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine, [csv_upload("patients.csv", "patient_id,condition", "G1,", "G2, NA ")]
        ),
    )
    assert where(report) == {("patients", 2, "condition"), ("patients", 3, "condition")}


def test_duplicate_column_is_an_error(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine, [csv_upload("patients.csv", "patient_id,Condition,condition ", "G1,crps,crps")]
        ),
    )
    assert "two columns are named condition" in report.problems[0].reason


# --------------------------------------------------------------------------- identifiers


@pytest.mark.parametrize(
    "header",
    [
        "name", "Patient Name", "first_name", "LastName", "surname", "e-mail", "Email Address", "eMail",
        "phone", "Telephone", "mobile", "fax", "SSN", "social security number", "MRN",
        "medical record number", "address", "street", "ZIP", "zip code", "postal code", "postcode",
        "DOB", "date of birth", "birth_date", "IP", "ip address", "IPAddress", "account", "licence",
        "License Number", "device serial", "serial number", "URL", "health plan", "beneficiary",
        "certificate", "vehicle", "plate", "photo", "biometric", "HomePhone", "patient.email",
    ],
)  # fmt: skip
def test_identifier_column_names_are_recognised(header: str) -> None:
    assert ingest.identifier_reason(header) is not None


@pytest.mark.parametrize(
    "header",
    [
        *sorted({c for columns in schema.CONTRACT_COLUMNS.values() for c in columns}),  # one order everywhere
        "Patient ID", "notes", "clinician", "visit", "description", "gender", "ethnicity", "diagnosis",
        "prescription", "shipping", "position", "zipper", "dosing", "ipsilateral", "session date",
    ],
)  # fmt: skip
def test_ordinary_column_names_are_not_identifiers(header: str) -> None:
    assert ingest.identifier_reason(header) is None


def test_identifier_column_is_refused(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine,
            [csv_upload("patients.csv", "patient_id,condition,Last Name", "H1,crps,Smith")],
            today=TODAY,
        ),
    )
    assert where(report) == {("patients", None, "Last Name")}
    assert "identifier" in report.problems[0].reason
    assert "Smith" not in " ".join(str(p) for p in report.problems)


@pytest.mark.parametrize(
    ("cell", "kind"),
    [
        ("jane.doe@example.org", "an e-mail address"),
        ("write to jane@clinic.co.uk", "an e-mail address"),
        ("(555) 123-4567", "a phone number"),
        ("+1 555 123 4567", "a phone number"),
        ("555-123-4567", "a phone number"),
        ("555.123.4567", "a phone number"),
        ("call 555 123 4567 after 5", "a phone number"),
        ("+44 20 7946 0958", "a phone number"),
        ("123-45-6789", "an SSN"),
    ],
)
def test_identifying_cells_are_refused_without_echoing_the_value(
    engine: Engine, populated: dict, cell: str, kind: str
) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine,
            [
                csv_upload(
                    "sessions.csv",
                    "patient_id,session_date,route,dose_mg,notes",
                    "KO-001,2025-06-02,IN,20,fine",
                    f'KO-001,2025-06-09,IN,20,"{cell}"',
                    f'KO-001,2025-06-16,IN,"{cell}",ok',
                )
            ],
            today=TODAY,
        ),
    )
    assert ("sessions", 3, "notes") in where(report)
    assert ("sessions", 4, "dose_mg") in where(report)
    text = "\n".join(str(p) for p in report.problems)
    assert cell not in text and all(p.value is None for p in report.problems)
    assert f"looks like {kind}" in text and "value hidden" in text


def test_identifying_value_is_hidden_in_every_problem_of_the_cell(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine,
            [
                csv_upload("patients.csv", "patient_id,condition", "555-123-4567,crps", "555-123-4567,gout"),
                csv_upload(
                    "sessions.csv", "patient_id,session_date,route,dose_mg", "555-867-5309,2025-06-02,IN,20"
                ),
            ],
            today=TODAY,
        ),
    )
    reasons = " ".join(p.reason for p in report.problems)
    assert "appear in rows 2, 3" in reasons and "unknown patient" in reasons and "a phone number" in reasons
    assert "555" not in "\n".join(str(p) for p in report.problems)
    assert (
        next(p for p in report.problems if p.column == "condition").value == "gout"
    )  # other cells still shown


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)))
def test_iso_dates_never_look_identifying(day: date) -> None:
    assert ingest.identifying_kind(day.isoformat()) is None
    assert ingest.identifying_kind(f"{day.isoformat()} 12:30:00") is None


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_decimal_numbers_never_look_identifying(number: float) -> None:
    assert ingest.identifying_kind(repr(number)) is None
    assert ingest.identifying_kind(f"{number:.4f}") is None


def test_unknown_column_is_dropped_with_a_warning(engine: Engine) -> None:
    report = import_uploads(
        engine,
        [csv_upload("patients.csv", "patient_id,condition,Notes,favourite colour", "J1,crps,likes tea,blue")],
    )
    assert report.ok
    assert len(report.warnings) == 1
    assert "'Notes'" in report.warnings[0] and "'favourite colour'" in report.warnings[0]
    everything = str(snapshot(engine))
    assert "likes tea" not in everything and "blue" not in everything
    assert stored(engine, "patients", "patient_id", "condition") == [("J1", "crps")]


# --------------------------------------------------------------------------- files


def test_wrong_encoding_is_refused(engine: Engine, populated: dict) -> None:
    data = "patient_id,condition,site\nK1,crps,Zürich\n".encode("latin-1")
    report = refused(engine, populated, lambda: import_uploads(engine, [("patients.csv", data)]))
    assert "not UTF-8" in report.problems[0].reason and "CSV UTF-8" in report.problems[0].reason


def test_binary_garbage_is_refused(engine: Engine, populated: dict) -> None:
    garbage = bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8))
    report = refused(engine, populated, lambda: import_uploads(engine, [("sessions.csv", garbage)]))
    assert "binary" in report.problems[0].reason


@pytest.mark.parametrize("data", [b"", b"  \n\n"])
def test_empty_file_is_refused(engine: Engine, populated: dict, data: bytes) -> None:
    report = refused(engine, populated, lambda: import_uploads(engine, [("followups.csv", data)]))
    assert "empty" in report.problems[0].reason


def test_malformed_csv_is_refused(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine, [csv_upload("patients.csv", "patient_id,condition", "L1,crps,extra,cells")]
        ),
    )
    assert "not a well-formed CSV" in report.problems[0].reason
    unclosed = refused(
        engine,
        populated,
        lambda: import_uploads(engine, [csv_upload("patients.csv", "patient_id,condition", 'L1,"crps')]),
    )
    assert "not a well-formed CSV" in unclosed.problems[0].reason


def test_semicolon_separated_file_gets_a_hint(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(engine, [csv_upload("patients.csv", "patient_id;condition", "M1;crps")]),
    )
    assert "';'" in report.problems[0].reason


def test_file_with_unknown_name_is_refused(engine: Engine, populated: dict) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(
            engine,
            [
                csv_upload("visits.csv", "patient_id", "KO-001"),
                csv_upload("patients.csv", "patient_id,condition", "N1,crps"),
            ],
        ),
    )
    assert [(p.table, p.row) for p in report.problems] == [("visits.csv", None)]


def test_unsupported_file_type_is_refused(engine: Engine, populated: dict) -> None:
    report = refused(engine, populated, lambda: import_uploads(engine, [("patients.txt", b"patient_id\n")]))
    assert "unsupported file type" in report.problems[0].reason


def test_missing_path_is_refused(engine: Engine, populated: dict, tmp_path: Path) -> None:
    report = refused(engine, populated, lambda: import_paths(engine, [tmp_path / "patients.csv"]))
    assert "file not found" in report.problems[0].reason


def test_too_large_upload_is_refused_before_parsing(
    engine: Engine, populated: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", 100)
    monkeypatch.setattr(importer, "_read_csv", lambda *a: pytest.fail("parsed a file above the limit"))
    report = refused(engine, populated, lambda: import_uploads(engine, [("patients.csv", b"x" * 101)]))
    assert "above the limit" in report.problems[0].reason
    report = refused(engine, populated, lambda: import_paths(engine, [SAMPLE / "patients.csv"]))
    assert "above the limit" in report.problems[0].reason
    assert limits.MAX_UPLOAD_BYTES == 100


def _workbook(sheets: dict[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_xlsx_workbook_is_imported(engine: Engine, tmp_path: Path) -> None:
    data = _workbook(
        {
            "Read me": [["This sheet is ignored"]],
            "Patients": [
                ["Patient_ID", "condition", "age"],
                ["X1", "PHN", 91],
                ["X2", "CRPS", None],
                [7, "lyme", 40],
            ],
            "SESSIONS": [
                ["patient_id", "session_date", "route", "dose_mg", "pre_pain"],
                ["X1", datetime(2025, 5, 6), "IM", 40, 6],
                ["X1", "2025-05-13", "im", "42.5", None],
                [None, None, None, None, None],
                ["X2", date(2025, 5, 7), "IN", 30, 8],
            ],
            "followups": [["patient_id", "followup_date", "pain"], ["X1", datetime(2025, 8, 5, 9, 30), 3]],
        }
    )
    path = tmp_path / "clinic.xlsx"
    path.write_bytes(data)
    report = import_paths(engine, [path], today=TODAY)
    assert report.ok, [str(p) for p in report.problems]
    assert report.inserted == {"patients": 3, "sessions": 3, "followups": 1}
    assert any("'Read me'" in w for w in report.warnings)
    assert stored(engine, "patients", "patient_id", "condition", "age") == [
        ("X1", "postherpetic_neuralgia", 90), ("X2", "crps", None), ("7", "lyme", 40),
    ]  # fmt: skip
    assert sessions_of(engine, "X1") == [
        (date(2025, 5, 6), "intramuscular", 40.0, None), (date(2025, 5, 13), "intramuscular", 42.5, None),
    ]  # fmt: skip
    assert stored(engine, "followups", "followup_date", "pain") == [(date(2025, 8, 5), 3.0)]


def test_xlsx_problems_use_sheet_row_numbers(engine: Engine, populated: dict) -> None:
    data = _workbook(
        {
            "sessions": [
                ["patient_id", "session_date", "route", "dose_mg"],
                ["KO-001", date(2025, 6, 2), "IN", 0],
            ]
        }
    )
    report = refused(engine, populated, lambda: import_uploads(engine, [("clinic.xlsx", data)], today=TODAY))
    assert where(report) == {("sessions", 2, "dose_mg")}


def test_damaged_workbook_is_refused(engine: Engine, populated: dict) -> None:
    report = refused(
        engine, populated, lambda: import_uploads(engine, [("clinic.xlsx", b"PK\x03\x04 not really")])
    )
    assert "not a readable .xlsx workbook" in report.problems[0].reason


def test_workbook_without_table_sheets_is_refused(engine: Engine, populated: dict) -> None:
    data = _workbook({"Sheet1": [["patient_id", "condition"], ["P1", "crps"]]})
    report = refused(engine, populated, lambda: import_uploads(engine, [("clinic.xlsx", data)]))
    assert "no sheet named" in report.problems[0].reason


def test_workbook_with_csv_files_is_refused(engine: Engine, populated: dict) -> None:
    data = _workbook({"patients": [["patient_id", "condition"], ["P1", "crps"]]})
    report = refused(
        engine,
        populated,
        lambda: import_uploads(engine, [("clinic.xlsx", data), csv_upload("sessions.csv", SESSIONS_HEADER)]),
    )
    assert "not several files" in report.problems[0].reason


# --------------------------------------------------------------------------- data quality


def test_followup_before_first_session_is_reported_as_data_quality(engine: Engine, populated: dict) -> None:
    # KO-001's first stored session is 2025-01-06; Q1's first session comes in this import.
    report = import_uploads(
        engine,
        [
            csv_upload("patients.csv", "patient_id,condition", "Q1,crps"),
            csv_upload("sessions.csv", "patient_id,session_date,route,dose_mg", "Q1,2025-03-10,IN,20"),
            csv_upload(
                "followups.csv",
                "patient_id,followup_date,pain",
                "KO-001,2025-01-01,6",
                "KO-001,2025-01-06,6",  # the day of the first session: fine
                "Q1,2025-03-09,5",
                "Q1,2025-06-09,3",
            ),
        ],
        today=TODAY,
    )
    assert report.ok and report.problems == []
    assert [(p.table, p.row, p.column, p.value) for p in report.data_quality] == [
        ("followups", 2, "followup_date", "2025-01-01"),
        ("followups", 4, "followup_date", "2025-03-09"),
    ]
    assert "before the patient's first session (2025-01-06)" in report.data_quality[0].reason
    assert report.inserted["followups"] == 4
    assert "2 data-quality notes" in report.summary_line()


# --------------------------------------------------------------------------- the API


def test_problem_reads_like_a_sentence() -> None:
    assert str(Problem("sessions", 14, "dose_mg", "0", "dose must be above 0 and at most 1000 mg")) == (
        "sessions, row 14, column dose_mg, value '0': dose must be above 0 and at most 1000 mg"
    )
    assert str(Problem("sessions", None, None, None, "empty")) == "sessions: empty"


def test_fields_follow_the_schema_contract() -> None:
    assert {
        t: tuple(f.name for f in fields) for t, fields in contract.FIELDS.items()
    } == schema.CONTRACT_COLUMNS


def test_unknown_frame_name_is_refused(engine: Engine) -> None:
    report = import_frames(engine, {"visits": pd.DataFrame({"patient_id": ["A"]})})
    assert not report.ok and report.problems[0].table == "visits"
    assert not import_frames(engine, {}).ok


def test_unreachable_database_raises_database_error(tmp_path: Path) -> None:
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(DatabaseError, match="nothing was written"):
        import_paths(engine, SAMPLE_FILES, today=TODAY)


def test_the_package_never_imports_streamlit() -> None:
    sources = [path.read_text() for path in Path(ingest.__file__).parent.glob("*.py")]
    assert len(sources) > 5
    assert not any("import streamlit" in source or "from streamlit" in source for source in sources)
