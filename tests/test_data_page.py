"""The Data page through ``AppTest``: import, refusal, data quality, downloads, empty database."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis import ingest
from analysis.db import store
from analysis.domain import errors
from pages import common
from tests.clinic import add_patient
from tests.clinic import stored_rows as snapshot

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
DATA = "pages/data.py"


@pytest.fixture
def open_data_page(monkeypatch):
    """Run the app on a database URL (the app reads DATABASE_URL) and switch to the Data page."""

    def run(engine) -> AppTest:
        monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
        common.clear_caches()
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
        at.run()
        at.switch_page(DATA).run()
        assert not at.exception, at.exception
        return at

    return run


def data_rows(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines()[1:] if line.strip())


def upload_and_import(at: AppTest, files: list[tuple[str, bytes]]) -> AppTest:
    uploader = at.file_uploader[0]
    for name, content in files:
        uploader.upload(name, content, "text/csv")
    next(b for b in at.button if b.label == "Import").click()
    at.run()
    assert not at.exception, at.exception
    return at


def sample_files() -> list[tuple[str, bytes]]:
    return [
        (name, (SAMPLE / name).read_bytes()) for name in ("patients.csv", "sessions.csv", "followups.csv")
    ]


def test_empty_database_shows_the_import_form(open_data_page, sqlite_engine):
    at = open_data_page(sqlite_engine)
    assert len(at.file_uploader) == 1
    assert at.file_uploader[0].allowed_type == [".csv", ".xlsx"]
    assert at.file_uploader[0].accept_multiple_files
    assert [b.label for b in at.button] == ["Import"]
    assert "Direct identifiers are refused" in at.markdown[0].value
    assert any("once the clinic's data is imported" in i.value for i in at.info)
    assert len(at.metric) == 0 and len(at.get("download_button")) == 0


def test_importing_the_sample_files_writes_them(open_data_page, sqlite_engine):
    at = upload_and_import(open_data_page(sqlite_engine), sample_files())
    counts = store.table_counts(sqlite_engine)
    assert counts == {
        "patients": data_rows(SAMPLE / "patients.csv"),
        "sessions": data_rows(SAMPLE / "sessions.csv"),
        "followups": data_rows(SAMPLE / "followups.csv"),
    }
    assert at.success[0].value.startswith(f"Imported {counts['patients']} patients")
    assert not at.error
    # The caches were cleared: the same run already shows quality and downloads for the new data.
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients in the selection"] == str(counts["patients"])


def test_an_identifier_column_is_refused_and_nothing_is_written(open_data_page, sqlite_engine):
    assert ingest.import_paths(sqlite_engine, sorted(SAMPLE.glob("*.csv"))).ok
    before = snapshot(sqlite_engine)
    patients = b"patient_id,condition,email\nKO-900,CRPS,someone@example.org\nKO-001,CRPS,x@example.org\n"
    at = upload_and_import(open_data_page(sqlite_engine), [("patients.csv", patients)])
    assert "Nothing was imported" in at.error[0].value
    problems = at.table[0].value.reset_index()
    assert list(problems.columns) == ["Table", "Row", "Column", "Value", "Why"]
    refusal = problems[problems["Column"] == "email"]
    assert len(refusal) == 1 and "identifier" in refusal["Why"].iloc[0]
    assert "someone@example.org" not in problems.to_string()  # identifying values are never echoed
    assert snapshot(sqlite_engine) == before


def test_a_follow_up_before_the_first_session_is_imported_and_noted(open_data_page, sqlite_engine):
    files = [
        ("patients.csv", b"patient_id,condition,baseline_pain\nP1,CRPS,8\n"),
        ("sessions.csv", b"patient_id,session_date,route,dose_mg\nP1,2025-03-10,IN,50\n"),
        ("followups.csv", b"patient_id,followup_date,pain\nP1,2025-03-01,6\n"),
    ]
    at = upload_and_import(open_data_page(sqlite_engine), files)
    assert at.success[0].value.endswith("1 data-quality note.")
    assert "please check" in at.info[0].value
    notes = at.table[0].value.reset_index()
    assert list(notes[["Table", "Row", "Value"]].itertuples(index=False, name=None)) == [
        ("followups", "2", "2025-03-01")
    ]
    assert store.table_counts(sqlite_engine) == {"patients": 1, "sessions": 1, "followups": 1}
    assert {m.label: m.value for m in at.metric}["Follow-ups before the first session"] == "1"


def test_every_problem_is_listed_with_its_row(open_data_page, sqlite_engine):
    patients = b"patient_id,condition,age\nP1,CRPS,17\nP2,unknown condition,40\nP3,CRPS,44\n"
    at = upload_and_import(open_data_page(sqlite_engine), [("patients.csv", patients)])
    problems = at.table[0].value.reset_index()
    assert sorted(zip(problems["Row"], problems["Column"], strict=True)) == [("2", "age"), ("3", "condition")]
    assert "2 problems" in at.error[0].value
    assert store.table_counts(sqlite_engine)["patients"] == 0


def test_after_a_refused_import_the_uploader_is_empty_for_the_corrected_file(open_data_page, sqlite_engine):
    """Issue #14 item 19: the corrected file must not join the refused one as "a second file"."""
    refused = b"patient_id,condition,age\nP1,CRPS,17\n"
    at = upload_and_import(open_data_page(sqlite_engine), [("patients.csv", refused)])
    assert "Nothing was imported" in at.error[0].value
    assert at.file_uploader[0].value in (None, [])  # emptied
    assert at.table[0].value.reset_index()["Column"].tolist() == ["age"]  # the problems stay in view
    fixed = b"patient_id,condition,age\nP1,CRPS,47\n"
    at = upload_and_import(at, [("patients.csv", fixed)])
    assert not at.error, [e.value for e in at.error]
    assert at.success[0].value.startswith("Imported 1 patient")
    assert store.table_counts(sqlite_engine)["patients"] == 1


def test_a_refusal_mixing_row_numbers_and_file_level_problems_converts_without_arrow_errors(
    open_data_page, sqlite_engine, monkeypatch
):
    """Issue #14 item 19: no ArrowTypeError in the server console on a mixed refusal."""
    import streamlit.dataframe_util as dataframe_util

    logged: list[str] = []
    monkeypatch.setattr(dataframe_util._LOGGER, "info", lambda message, *a, **k: logged.append(str(message)))
    patients = b"patient_id,condition,age,email\nP1,CRPS,17,a@example.org\nP2,CRPS,40,b@example.org\n"
    at = upload_and_import(open_data_page(sqlite_engine), [("patients.csv", patients)])
    problems = at.table[0].value.reset_index()
    assert "" in problems["Row"].tolist() and "2" in problems["Row"].tolist()  # file-level and row-level
    assert not [message for message in logged if "Arrow" in message]


def test_too_large_upload_is_refused_before_it_is_read(open_data_page, sqlite_engine, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_UPLOAD_BYTES", 100)

    def must_not_run(*args, **kwargs):
        raise AssertionError("the importer read a file above the limit")

    monkeypatch.setattr(ingest, "import_uploads", must_not_run)
    at = upload_and_import(open_data_page(sqlite_engine), sample_files())
    assert "Nothing was imported" in at.error[0].value
    assert "above the limit" in at.error[0].value
    assert store.table_counts(sqlite_engine)["patients"] == 0


def test_a_database_failure_is_a_message_not_a_traceback(open_data_page, sqlite_engine, monkeypatch):
    def broken(*args, **kwargs):
        raise errors.DatabaseError(
            "The import could not use the database at sqlite:///x; nothing was written."
        )

    monkeypatch.setattr(ingest, "import_uploads", broken)
    at = upload_and_import(open_data_page(sqlite_engine), sample_files())
    assert "the database could not be used" in at.error[0].value
    assert at.get("status")[0].proto.label == "Import failed"


def test_import_without_files_asks_for_them(open_data_page, sqlite_engine):
    at = upload_and_import(open_data_page(sqlite_engine), [])
    assert at.warning[0].value == "Choose the files to import first."


def test_data_quality_shows_the_counts(open_data_page, sqlite_engine):
    for i in range(12):
        add_patient(sqlite_engine, f"P{i:02d}", followups=[{"day": 90, "pain": 4}])
    add_patient(sqlite_engine, "Z-none", sessions=[])
    add_patient(sqlite_engine, "Z-zero", baseline_pain=0)
    add_patient(sqlite_engine, "Z-early", followups=[{"day": -3, "pain": 7}, {"day": 400, "pain": 7}])
    at = open_data_page(sqlite_engine)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {
        "Patients in the selection": "15",
        "Not evaluable": "2",
        "Follow-ups before the first session": "1",
        "Follow-ups outside every window": "2",
    }
    not_evaluable = at.dataframe[0].value.set_index("Reason")
    assert not_evaluable.loc["No session (no index date)", "Examples"] == "Z-none"
    assert not_evaluable.loc["Baseline pain 0", "Patients"] == 1
    outside = at.dataframe[1].value.set_index("Reason")
    assert outside.loc["After the last window", "Examples"] == "Z-early (day 400)"


def saved_files(at: AppTest) -> dict[str, dict]:
    """What each save button would hand the browser (``common.save_button``): label, file, bytes."""
    import json

    return {
        data["label"]: data
        for data in (json.loads(element.proto.json) for element in at.get("bidi_component"))
    }


def test_downloads_are_offered_with_small_cells_suppressed_by_default(open_data_page, sqlite_engine):
    add_patient(sqlite_engine, "P1", followups=[{"day": 90, "pain": 4}])
    at = open_data_page(sqlite_engine)
    assert len(at.get("download_button")) == 0  # no Streamlit media file (docs/security.md)
    saved = saved_files(at)
    assert list(saved) == [
        "Response by condition (CSV)",
        "Response by route (CSV)",
        "Response by condition × route (CSV)",
    ]
    assert saved["Response by condition (CSV)"]["file_name"] == "response-by-condition.csv"
    content = saved["Response by condition (CSV)"]["content"].splitlines()
    assert content[0].lstrip("\ufeff").startswith("# Responder") and content[2].startswith("CRPS,<11,")
    at.button(key="prepare_report").click().run()
    report = saved_files(at)["Save the board report (HTML)"]
    assert report["content"].startswith("<!DOCTYPE html>") and report["mime"] == "text/html"
    at.run()  # the report is sent with the run of the click only
    assert "Save the board report (HTML)" not in saved_files(at)
    checkbox = at.checkbox(key="show_small_cells")
    assert checkbox.label == "Show small cells (internal use)" and checkbox.value is False
    suppressed = "Small cells are suppressed (<11), with a sibling group"
    assert any(c.value.startswith(suppressed) for c in at.caption)
    checkbox.check().run()
    assert not at.exception
    assert any(c.value.startswith("**Small cells are shown: internal use only.**") for c in at.caption)


ACCESS_TOML = """
[users."director@example.org"]
role = "director"

[users."ana@example.org"]
role = "analyst"

[users."nurse@example.org"]
role = "clinician"
sites = ["main"]
"""


@pytest.mark.parametrize(
    ("email", "can_import", "sees_quality", "may_unsuppress"),
    [
        ("director@example.org", True, True, True),
        ("ana@example.org", False, False, False),
        ("nurse@example.org", False, True, False),
    ],
)
def test_each_role_sees_its_part_of_the_page(
    sqlite_engine, tmp_path, monkeypatch, email, can_import, sees_quality, may_unsuppress
):
    for i in range(3):
        add_patient(sqlite_engine, f"P{i}", followups=[{"day": 90, "pain": 4}])
    access_file = tmp_path / "access.toml"
    access_file.write_text(ACCESS_TOML, encoding="utf-8")
    monkeypatch.setenv("KETAMINE_ACCESS_FILE", str(access_file))
    monkeypatch.setenv("DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "test-secret",
        "client_id": "x",
        "client_secret": "y",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
    at.user = {"is_logged_in": True, "email": email, "email_verified": True}
    at.run()
    at.switch_page(DATA).run()
    assert not at.exception, at.exception
    assert (len(at.file_uploader) == 1) == can_import
    assert ("Import" in [b.label for b in at.button]) == can_import
    assert ("Not evaluable" in [m.label for m in at.metric]) == sees_quality
    assert (len(at.checkbox) == 1) == may_unsuppress
    assert len(saved_files(at)) == 3  # every role may download suppressed tables
    assert len(at.get("download_button")) == 0


def test_an_import_from_the_page_is_logged_with_who_and_listed_in_the_history(open_data_page, sqlite_engine):
    from analysis.db import audit

    files = [(p.name, p.read_bytes()) for p in sorted(SAMPLE.glob("*.csv"))]
    at = upload_and_import(open_data_page(sqlite_engine), files)
    assert "Imported 10 patients" in at.success[0].value
    log = audit.recent_imports(sqlite_engine)
    assert list(log[["user", "source", "status"]].itertuples(index=False, name=None)) == [
        ("(no login configured)", "app", "applied")
    ]
    at.run()
    history = at.dataframe[-1].value
    assert list(history["status"]) == ["applied"]
