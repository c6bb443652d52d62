"""A shared link shows the sender's numbers (issue #14 item 18), through ``AppTest``.

The URL itself across a page switch and a reload is a browser matter (AppTest runs a switched
page without the entry point): tests/e2e/test_screen.py checks it in Chromium. Here: a link's
definition is used and announced, a bad link is a message, and the Methods page's change is
what the other pages read.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.domain.definition import OutcomeDefinition
from analysis.queries.response import summarize
from tests.clinic import add_patient

ROOT = Path(__file__).resolve().parent.parent
NOTICE = "Non-default outcome definition"


@pytest.fixture
def clinic(sqlite_engine, monkeypatch):
    """30 patients; pain at day 60 and day 90 differ, so the time point changes the rate."""
    for i in range(30):
        add_patient(
            sqlite_engine,
            f"P{i:02d}",
            baseline_pain=10,
            followups=[{"day": 60, "pain": 2 if i < 20 else 9}, {"day": 90, "pain": 3 if i < 14 else 8}],
        )
    monkeypatch.setenv("DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    return sqlite_engine


def app(**query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params.update(query)
    return at.run()


def rate_shown(at: AppTest) -> str:
    return {m.label: m.value for m in at.metric}["Response rate (ITT)"]


def notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if NOTICE in w.value]


def test_a_link_with_a_time_point_shows_that_time_points_rate_and_says_so(clinic):
    expected = summarize(clinic, OutcomeDefinition(timepoint_days=60, window_days=15)).overall
    at = app(timepoint="60", window="15")
    assert not at.exception
    assert rate_shown(at) == f"{100 * expected.rate:.1f}%" == "66.7%"
    assert notices(at) == [
        f"**{NOTICE}:** day 60 ± 15 (default 90 ± 30). "
        "Set on the Methods page; a link to this page carries it."
    ]
    assert at.query_params == {"timepoint": "60", "window": "15"}


def test_the_default_definition_shows_no_notice_and_no_parameter(clinic):
    at = app()
    assert rate_shown(at) == "46.7%"
    assert notices(at) == []
    assert at.query_params == {}


@pytest.mark.parametrize(
    "query, reason",
    [
        ({"band_low": "0.5", "band_high": "0.4"}, "0 ≤ bottom < top ≤ 1"),
        ({"timepoint": "3000000"}, "the time point must be 1 to 3,650 days"),
        ({"threshold": "half"}, "could not convert"),
        ({"missing": "<img src=x>"}, "'itt' or 'completers'"),
    ],
)
def test_a_link_with_an_invalid_definition_is_a_message_and_the_defaults(clinic, query, reason):
    at = app(**query)
    assert not at.exception
    problem = next(e.value for e in at.error if "not valid" in e.value)
    assert reason in problem
    assert rate_shown(at) == "46.7%"  # the defaults
    assert notices(at) == []
    assert at.query_params == {}  # the link no longer carries what is not used


def test_a_change_on_methods_is_what_the_overview_shows(clinic):
    at = app()
    at.switch_page("pages/methods.py").run()
    at.number_input(key="methods_threshold").set_value(0.75).run()
    at.switch_page("pages/overview.py").run()
    expected = summarize(clinic, OutcomeDefinition(threshold=0.75)).overall
    assert rate_shown(at) == f"{100 * expected.rate:.1f}%" == "0.0%"
    assert "threshold 75% (default 30%)" in notices(at)[0]


def test_an_invalid_change_on_methods_keeps_the_last_valid_definition(clinic):
    at = app()
    at.switch_page("pages/methods.py").run()
    at.number_input(key="methods_band_low").set_value(0.5).run()
    assert "makes no valid definition" in at.error[0].value
    assert notices(at) == []
    next(b for b in at.button if b.label == "Reset to the defaults").click().run()
    assert at.number_input(key="methods_band_low").value == 0.3
    assert not at.error


def test_stepping_back_to_the_default_threshold_is_the_default_again(clinic):
    at = app()
    at.switch_page("pages/methods.py").run()
    at.number_input(key="methods_threshold").set_value(0.35 - 0.05).run()  # 0.29999999999999993
    assert at.session_state["_definition_settings"]["threshold"] == 0.3
    assert notices(at) == []
