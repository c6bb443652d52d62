"""No page reads whole tables: every query a page runs returns at most what a page can show.

Each page is rendered (AppTest) on a clinic of 8,000 patients with a listener on the database
cursor that counts the rows each query returns. A page that loaded sessions or patients into
Python would fetch thousands of rows and fail here. The largest list a page shows is the
Patients page's cohort list (500 rows). The one exemption: the covariate patterns a logistic
model is fitted to (docs/comparisons.md: the adjusted route comparison on the Routes page, the
response profile on the Patients page, counted or read as kept at import) — one row per distinct
combination of the covariates, with its patients and responders, which is never more than one
row per patient.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event
from streamlit.testing.v1 import AppTest

from analysis import demo
from analysis.db import store

ROOT = Path(__file__).resolve().parent.parent
PATIENTS = 8_000
ROW_BUDGET = 501  # the cohort list's 500 rows (+1 to learn whether there are more)
PAGES = ["overview", "conditions", "routes", "safety", "patients", "data", "methods"]
FETCHED: list[tuple[int, str]] = []
#: A statement that counts covariate patterns for a model (analysis.queries.comparisons, .profile),
#: or reads the profile's patterns kept at import (analysis.db.profile_cells).
PATTERN_QUERY = "AS responders"
PATTERN_COUNTS = ("count(*) AS n", "count(*) AS eligible")
KEPT_PATTERNS = "FROM profile_patterns"


class CountingCursor(sqlite3.Cursor):
    """Counts the rows each statement returns to Python."""

    def execute(self, sql, parameters=()):
        self._statement, self._rows = sql, 0
        FETCHED.append((0, sql))
        self._slot = len(FETCHED) - 1
        return super().execute(sql, parameters)

    def _count(self, rows: list) -> list:
        self._rows += len(rows)
        FETCHED[self._slot] = (self._rows, self._statement)
        return rows

    def fetchall(self):
        return self._count(super().fetchall())

    def fetchmany(self, size=None):
        return self._count(super().fetchmany(size) if size is not None else super().fetchmany())

    def fetchone(self):
        row = super().fetchone()
        if row is not None:
            self._count([row])
        return row


class CountingConnection(sqlite3.Connection):
    def cursor(self, factory=CountingCursor):
        return super().cursor(factory)


@pytest.fixture(scope="module")
def large_clinic(tmp_path_factory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("large") / "clinic.db"
    url = f"sqlite:///{path}"
    engine = store.open_database(url)
    report = demo.load_demo(engine, PATIENTS, seed=11, today=date(2026, 11, 1))
    assert report.ok
    engine.dispose()
    yield url


@pytest.fixture
def counting_engines(monkeypatch):
    """Make every engine the app opens count the rows its queries return."""

    def make_engine(url: str | None = None, *, serving: bool = False):  # SQLite: serving changes nothing
        engine = create_engine(store.resolve_url(url), connect_args={"factory": CountingConnection})
        event.listen(engine, "connect", store._sqlite_pragmas)
        return engine

    monkeypatch.setattr(store, "make_engine", make_engine)
    FETCHED.clear()
    return FETCHED


@pytest.mark.parametrize("name", PAGES)
def test_a_page_fetches_no_more_rows_than_it_can_show(large_clinic, counting_engines, monkeypatch, name):
    import streamlit as st

    st.cache_resource.clear()  # a fresh, counting engine and empty caches for every page
    st.cache_data.clear()
    monkeypatch.setenv("DATABASE_URL", large_clinic)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120).run()
    if name != "overview":
        at.switch_page(f"pages/{name}.py").run()
    assert not at.exception
    assert counting_engines, "the listener saw no query: the test is not measuring anything"
    patterns = [
        (rows, sql)
        for rows, sql in counting_engines
        if (PATTERN_QUERY in sql and any(count in sql for count in PATTERN_COUNTS)) or KEPT_PATTERNS in sql
    ]
    others = [item for item in counting_engines if item not in patterns]
    worst, statement = max(others, key=lambda item: item[0])
    assert worst <= ROW_BUDGET, f"{name}: a query returned {worst} rows:\n{statement[:400]}"
    for rows, sql in patterns:  # at most one row per patient, never the sessions
        assert rows <= PATIENTS, f"{name}: a pattern query returned {rows} rows:\n{sql[:400]}"
