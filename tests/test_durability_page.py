"""The Durability page through ``AppTest``: it shows what ``analysis.queries.durability`` computes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.queries.durability import durability
from tests.clinic import add_patient

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def open_durability(monkeypatch):
    def run(url: str) -> AppTest:
        monkeypatch.setenv("DATABASE_URL", url)
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
        at.run()
        at.switch_page("pages/durability.py").run()
        assert not at.exception, at.exception
        return at

    return run


def clinic(engine) -> None:
    """12 intranasal responders losing relief on days 40–95, 12 intramuscular keeping it to day 150."""
    for i in range(12):
        sessions = [{"day": 0, "route": "intranasal"}, {"day": 40, "route": "intranasal"}]
        sessions.append({"day": 70 + i, "route": "intranasal"})
        followups = [{"day": 10, "pain": 3}, {"day": 40 + 5 * i, "pain": 9}]
        add_patient(engine, f"N{i:02d}", baseline_pain=10, sessions=sessions, followups=followups)
    for i in range(12):
        sessions = [{"day": 0, "route": "intramuscular"}]
        followups = [{"day": 10, "pain": 3}, {"day": 150, "pain": 2}]
        add_patient(engine, f"M{i:02d}", baseline_pain=10, sessions=sessions, followups=followups)


def page_text(at: AppTest) -> str:
    return " ".join(str(m.value) for m in [*at.markdown, *at.caption])


def test_the_page_says_the_median_in_words_and_draws_one_curve(open_durability, sqlite_engine):
    clinic(sqlite_engine)
    expected = durability(sqlite_engine).overall.survival
    at = open_durability(sqlite_engine.url.render_as_string(hide_password=False))
    text = page_text(at)
    weeks = round(expected.median_days / 7)
    assert f"Half of the responders still had ≥30% relief {weeks} weeks after it began" in text
    assert "At 12 weeks" in text and "confounding by indication" in text
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    line = next(t for t in figure["data"] if t.get("name", "").startswith("All responders"))
    assert line["y"][1:] == pytest.approx([s.survival for s in expected.curve])
    risk = [a["text"] for a in figure["layout"]["annotations"] if a.get("xref") == "x"]
    assert risk[0] == "24"  # everyone is at risk on week 0
    assert not re.search(r"\bNone\b|\bnan\b|0\.000", text)


def test_by_route_draws_a_curve_per_route_and_the_booster_table(open_durability, sqlite_engine):
    clinic(sqlite_engine)
    at = open_durability(sqlite_engine.url.render_as_string(hide_password=False))
    at.radio(key="durability_by").set_value("Route").run()
    assert not at.exception, at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t["name"] for t in figure["data"] if t.get("name")]
    assert names == ["Intramuscular (12)", "Intranasal (12)"]
    assert "Log-rank test of equal curves across the routes: p" in page_text(at)
    curves, boosters = (frame.value for frame in at.dataframe)
    assert list(curves["Group"]) == ["Intramuscular", "Intranasal", "All responders"]
    intranasal = boosters.set_index("Group").loc["Intranasal"]
    assert intranasal["With ≥2 maintenance sessions"] == "12"
    assert intranasal["Median gap"] == "35.5 days"  # gaps 30…41 days: the median of 12 medians
