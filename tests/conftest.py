"""Shared fixtures: a fresh, migrated database on SQLite and on PostgreSQL.

PostgreSQL tests use ``TEST_POSTGRES_URL`` (CI sets it); each test gets its own schema,
dropped afterwards. Without the variable they skip with a one-line reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text

from analysis.db.store import make_engine, migrate

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


def _postgres_schema_url(base_url: str, schema_name: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options={quote(f'-csearch_path={schema_name}')}"


@contextmanager
def _postgres_schema() -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL schema of its own, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL test: set TEST_POSTGRES_URL (CI sets it) to run it")
    schema_name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema_name}"'))
    url = _postgres_schema_url(POSTGRES_URL, schema_name)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of an empty, migrated database of each supported kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'outcomes.db'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    with _postgres_schema() as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on :func:`db_url`, disposed after the test."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """An engine on a fresh, migrated PostgreSQL schema only (for PostgreSQL's own behaviour)."""
    with _postgres_schema() as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    """An engine on a fresh, migrated SQLite file only (for tests that need just one kind)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'outcomes.db'}")
    migrate(engine)
    yield engine
    engine.dispose()
