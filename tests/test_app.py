"""The Streamlit app through ``AppTest``: it runs, and it shows what ``analysis`` computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.domain.definition import OutcomeDefinition
from analysis.queries.response import summarize
from tests.clinic import add_patient

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def app_on(monkeypatch):
    """Run the app on a given database URL (the app reads DATABASE_URL)."""

    def run(url: str) -> AppTest:
        monkeypatch.setenv("DATABASE_URL", url)
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
        at.run()
        return at

    return run


def test_overview_shows_the_rate_the_engine_computes(app_on, sqlite_engine):
    for i in range(30):
        add_patient(
            sqlite_engine, f"P{i}", baseline_pain=10, followups=[{"day": 90, "pain": 3 if i < 14 else 8}]
        )
    expected = summarize(sqlite_engine, OutcomeDefinition()).overall
    at = app_on(sqlite_engine.url.render_as_string(hide_password=False))
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Patients treated"] == "30"
    assert metrics["Response rate (ITT)"] == f"{100 * expected.rate:.1f}%" == "46.7%"
    assert metrics["95% interval"] == f"{100 * expected.ci_low:.0f}–{100 * expected.ci_high:.0f}%"
    assert metrics["Follow-up completeness"] == "100.0%"
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["data"][0]["x"][0] == pytest.approx(expected.rate)
    assert spec["layout"]["shapes"][0]["layer"] == "below"  # the band behind the data


def test_empty_database_says_what_to_do(app_on, sqlite_engine):
    at = app_on(sqlite_engine.url.render_as_string(hide_password=False))
    assert not at.exception
    assert "No patients yet" in at.info[0].value
    assert "Data" in at.info[0].value


def test_unreachable_database_is_a_message_not_a_traceback(app_on):
    at = app_on("postgresql://nobody@127.0.0.1:9/none")
    assert not at.exception
    assert "cannot be opened" in at.error[0].value
