"""The import contract's second edition (docs/contract.md): baselines of mood, function and
headache days, follow-up headache days, and the end of care — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from analysis.db import schema
from analysis.db.store import downgrade, migrate
from analysis.domain import vocabulary
from analysis.ingest import ImportReport, import_paths, import_uploads
from tests.test_ingest import SAMPLE_FILES, TODAY, csv_upload, snapshot

NEW_PATIENTS = (
    "patient_id,condition,baseline_pain,baseline_phq9,baseline_bpi_interference,"
    "baseline_headache_days,end_date,end_reason"
)


@pytest.fixture
def populated(engine: Engine) -> dict:
    report = import_paths(engine, SAMPLE_FILES, today=TODAY)
    assert report.ok, [str(p) for p in report.problems]
    return snapshot(engine)


def refused(engine: Engine, before: dict, upload: Callable[[], ImportReport]) -> ImportReport:
    report = upload()
    assert not report.ok and report.problems
    assert snapshot(engine) == before
    return report


def patient(engine: Engine, patient_id: str) -> dict:
    p = schema.patients
    with engine.connect() as connection:
        row = connection.execute(select(p).where(p.c.patient_id == patient_id)).mappings().one()
    return dict(row)


def test_every_new_column_is_imported_and_stored(engine: Engine, populated: dict) -> None:
    report = import_uploads(
        engine,
        [
            csv_upload("patients.csv", NEW_PATIENTS, "KO-001,CRPS,8,14,6.4,0,2025-12-01,Side effects"),
            csv_upload(
                "followups.csv", "patient_id,followup_date,pain,headache_days", "KO-001,2025-06-01,4,3"
            ),
        ],
        today=TODAY,
    )
    assert report.ok, [str(p) for p in report.problems]
    stored = patient(engine, "KO-001")
    assert (
        stored["baseline_phq9"],
        stored["baseline_bpi_interference"],
        stored["baseline_headache_days"],
    ) == (
        14,
        6.4,
        0,
    )
    assert (stored["end_date"], stored["end_reason"]) == (date(2025, 12, 1), "adverse_event")


@pytest.mark.parametrize(
    ("label", "code"),
    [("died", "death"), ("Deceased", "death"), ("ineffective", "lack_of_effect"), ("AE", "adverse_event"),
     ("Lost to follow-up", "lost_to_follow_up"), ("hospice", "hospice"),
     ("patient choice", "patient_choice")],
)  # fmt: skip
def test_end_reason_synonyms_map_to_their_code(label: str, code: str) -> None:
    assert vocabulary.canonical_end_reason(label) == code


def test_files_of_the_first_edition_stay_valid(engine: Engine, populated: dict) -> None:
    stored = patient(engine, "KO-001")
    assert stored["end_date"] is None and stored["baseline_phq9"] is None


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("KO-001,CRPS,8,28,,,,", "baseline_phq9", "baseline PHQ-9 must be a whole number from 0 to 27"),
        (
            "KO-001,CRPS,8,,11,,,",
            "baseline_bpi_interference",
            "baseline BPI interference must be from 0 to 10",
        ),
        ("KO-001,CRPS,8,,,40,,", "baseline_headache_days", "baseline headache days must be a whole number"),
        ("KO-001,CRPS,8,,,,2025-12-01,abducted", "end_reason", "unknown end reason"),
        ("KO-001,CRPS,8,,,,,death", "end_reason", "an end reason needs the day the patient left care"),
        ("KO-001,CRPS,8,,,,2027-01-01,completed", "end_date", "after the day of the import"),
        (
            "KO-001,CRPS,8,,,,2024-12-31,completed",
            "end_date",
            "before the patient's first session (2025-01-06)",
        ),
    ],
)
def test_a_bad_new_cell_is_refused_with_its_row_column_value_and_reason(
    engine: Engine, populated: dict, row: str, column: str, reason: str
) -> None:
    report = refused(
        engine,
        populated,
        lambda: import_uploads(engine, [csv_upload("patients.csv", NEW_PATIENTS, row)], today=TODAY),
    )
    [problem] = report.problems
    assert (problem.table, problem.row, problem.column) == ("patients", 2, column)
    assert reason in problem.reason
    assert problem.value is not None


def test_headache_days_of_40_at_a_follow_up_are_refused(engine: Engine, populated: dict) -> None:
    upload = csv_upload(
        "followups.csv", "patient_id,followup_date,pain,headache_days", "KO-001,2025-06-01,4,40"
    )
    report = refused(engine, populated, lambda: import_uploads(engine, [upload], today=TODAY))
    assert [(p.table, p.row, p.column, p.value) for p in report.problems] == [
        ("followups", 2, "headache_days", "40")
    ]


def test_an_end_reason_with_the_end_date_already_stored_is_accepted(engine: Engine, populated: dict) -> None:
    first = csv_upload("patients.csv", "patient_id,condition,end_date", "KO-002,PHN,2025-09-30")
    assert import_uploads(engine, [first], today=TODAY).ok
    second = csv_upload("patients.csv", "patient_id,condition,end_reason", "KO-002,PHN,moved")
    assert import_uploads(engine, [second], today=TODAY).ok
    assert (patient(engine, "KO-002")["end_date"], patient(engine, "KO-002")["end_reason"]) == (
        date(2025, 9, 30),
        "moved",
    )


def test_sessions_that_would_start_after_a_stored_end_of_care_are_refused(engine: Engine) -> None:
    """The end date is stored first (no session yet); sessions that begin after it are refused."""
    upload = csv_upload(
        "patients.csv", "patient_id,condition,end_date,end_reason", "N-1,crps,2025-03-01,cost"
    )
    assert import_uploads(engine, [upload], today=TODAY).ok
    before = snapshot(engine)
    sessions = csv_upload(
        "sessions.csv",
        "patient_id,session_date,route,dose_mg",
        "N-1,2025-03-10,IV,50",
        "N-1,2025-03-05,IV,50",
    )
    report = refused(engine, before, lambda: import_uploads(engine, [sessions], today=TODAY))
    assert [(p.table, p.row, p.column, p.value) for p in report.problems] == [
        ("sessions", 3, "session_date", "2025-03-05")
    ]
    assert "left care on 2025-03-01" in report.problems[0].reason


def test_an_end_date_on_the_first_session_day_is_accepted(engine: Engine, populated: dict) -> None:
    upload = csv_upload("patients.csv", NEW_PATIENTS, "KO-001,CRPS,8,,,,2025-01-06,lack of effect")
    report = import_uploads(engine, [upload], today=TODAY)
    assert report.ok and patient(engine, "KO-001")["end_reason"] == "lack_of_effect"


def test_migration_0006_keeps_every_stored_row_and_its_downgrade_too(db_url: str) -> None:
    from analysis.db.store import make_engine

    engine = make_engine(db_url)
    try:
        assert import_paths(engine, SAMPLE_FILES, today=TODAY).ok
        before = snapshot(engine)
        downgrade(engine, "0005")
        with engine.connect() as connection:
            columns = pd.read_sql("SELECT * FROM patients", connection).columns
        assert "end_date" not in columns and "baseline_pain" in columns
        migrate(engine)
        assert snapshot(engine) == before
    finally:
        engine.dispose()
