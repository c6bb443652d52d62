"""The fair-comparison parts of the pages through ``AppTest`` (see tests/test_pages_clinical.py
for why a page is switched to and its state set directly)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.db import comparators as stored
from analysis.domain import comparators as domain
from tests.clinic import add_patient

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clinic(sqlite_engine):
    for i in range(30):
        condition = ("crps", "fibromyalgia")[i % 2]
        add_patient(
            sqlite_engine,
            f"P{i:03d}",
            condition=condition,
            age=30 + i,
            baseline_pain=6.0 + i % 4,
            sessions=[{"day": 0, "route": "intravenous" if i % 3 else "intranasal"}],
            followups=[{"day": 90, "pain": 2.0 if i % 4 else 8.0}],
        )
    return sqlite_engine


def _page(monkeypatch, engine, page: str) -> AppTest:
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_the_conditions_page_lists_the_comparators_and_where_the_band_comes_from(monkeypatch, clinic):
    at = _page(monkeypatch, clinic, "pages/conditions.py")
    captions = " ".join(c.value for c in at.caption)
    assert "no primary study gives that exact range" in captions
    frames = [df.value for df in at.dataframe]
    comparators = next(f for f in frames if "Our rate is" in f.columns)
    assert "Placebo arms of the duloxetine RCTs" in set(comparators["Comparator"])
    table = next(f for f in frames if "Still needed" in f.columns)
    assert len(table) == 2


def test_a_director_saves_an_edited_comparator_table_and_the_change_is_logged(monkeypatch, clinic):
    at = _page(monkeypatch, clinic, "pages/methods.py")
    save = next(b for b in at.button if b.label == "Save the edited table")
    save.click().run()  # the table as shown: nothing changed, nothing logged
    assert stored.changes(clinic) == []
    next(b for b in at.button if b.label == "Reset to the shipped table").click().run()
    assert stored.changes(clinic) == [] and stored.current(clinic) == domain.shipped_comparators()


def test_the_routes_page_shows_the_adjusted_comparison_or_why_not(monkeypatch, clinic):
    at = _page(monkeypatch, clinic, "pages/routes.py")
    texts = " ".join(
        [m.label for m in at.metric] + [i.value for i in at.info] + [c.value for c in at.caption]
    )
    assert "Adjusted" in " ".join(m.value for m in at.markdown)
    assert ("Adjusted odds ratio" in texts) or ("needs at least" in texts) or ("cannot be made" in texts)
