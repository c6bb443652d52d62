"""An import made elsewhere (the command line, another session) shows on the next page load, not
after the caches' ten minutes (issue #14, item 9; pages/common.py, "following the stored data")."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from analysis.db import audit
from analysis.ingest import import_uploads

ROOT = Path(__file__).resolve().parent.parent


def clinic_csv(first: int, count: int) -> list[tuple[str, bytes]]:
    """patients.csv and sessions.csv for ``count`` patients, one session each."""
    ids = [f"F{i}" for i in range(first, first + count)]
    patients = "patient_id,condition,site\n" + "".join(f"{i},crps,main\n" for i in ids)
    sessions = "patient_id,session_date,route,dose_mg,pre_pain,post_pain\n" + "".join(
        f"{i},2025-01-06,intravenous,35,8,6\n" for i in ids
    )
    return [("patients.csv", patients.encode()), ("sessions.csv", sessions.encode())]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_a_cli_import_shows_on_the_next_page_load(monkeypatch, engine):
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    files = clinic_csv(0, 12)
    assert import_uploads(engine, files, source="cli").ok
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not at.exception
    assert metrics(at)["Patients treated"] == "12"

    files = clinic_csv(12, 30)  # the command line, while the page stays open
    assert import_uploads(engine, files, source="cli").ok
    # The next page load (a reload is a new session; the cached results are the server's).
    # AppTest reruns only the page script of a session, not the entry point that follows the data.
    again = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not again.exception
    assert metrics(again)["Patients treated"] == "42"


def test_a_refused_import_does_not_change_the_data_version(engine):
    files = clinic_csv(0, 12)
    assert import_uploads(engine, files, source="cli").ok
    version = audit.latest_applied_import(engine)
    assert version is not None
    assert not import_uploads(engine, [("patients.csv", b"patient_id,condition\nX1,no such\n")]).ok
    assert audit.latest_applied_import(engine) == version


def test_an_empty_database_has_no_data_version(engine):
    assert audit.latest_applied_import(engine) is None
