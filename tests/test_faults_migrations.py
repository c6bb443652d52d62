"""Migrations that fail leave nothing behind, run one at a time, and never touch a database of a
newer release (issue #14, items 11 and 12; docs/architecture.md, README "Command line")."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from alembic import op
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import OperationalError

from analysis.db import store
from analysis.demo import generate
from analysis.domain.errors import EXIT_DATABASE, DatabaseError
from analysis.ingest import import_frames
from tests.conftest import POSTGRES_URL, _postgres_schema_url
from tests.test_cli import cli

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 10, 31)


def _head() -> str:
    """The newest revision this release knows (Alembic's head)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(store.MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


HEAD = _head()


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def version(engine) -> str | None:
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """URL of a database that no release has written yet (a first run)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL test: set TEST_POSTGRES_URL (CI sets it) to run it")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield _postgres_schema_url(POSTGRES_URL, name)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


# --------------------------------------------------------------------------- atomic (item 11)


def test_a_migration_that_fails_half_way_leaves_the_database_as_it_was(db_url, monkeypatch):
    engine = store.make_engine(db_url)
    # The importer writes the current schema: import at the head, then take the rows back to 0004.
    assert import_frames(engine, generate(40, seed=3, today=TODAY), today=TODAY, source="demo").ok
    store.downgrade(engine, "0004")
    before = tables(engine)
    statements = []
    real_execute = op.execute

    def disk_full_on_the_third_statement(sql, *args, **kwargs):
        statements.append(sql)
        if len(statements) == 3:  # SQLite: after the new table is made
            raise OperationalError(str(sql), {}, Exception("database or disk is full"))
        return real_execute(sql, *args, **kwargs)

    monkeypatch.setattr(op, "execute", disk_full_on_the_third_statement)
    with pytest.raises(DatabaseError, match="disk is full"):
        store.migrate(engine)
    monkeypatch.undo()

    assert tables(engine) == before  # no _new_sessions left behind
    assert version(engine) == "0004"
    assert "id" in {c["name"] for c in inspect(engine).get_columns("sessions")}
    store.migrate(engine)  # the next start upgrades as if nothing had happened
    assert version(engine) == HEAD
    assert "_new_sessions" not in tables(engine)
    engine.dispose()


def test_leftovers_of_an_interrupted_old_upgrade_are_recovered_on_the_next_start(sqlite_engine):
    store.downgrade(sqlite_engine, "0004")
    with sqlite_engine.begin() as connection:  # what kill -9 left behind under the old code
        connection.execute(text("CREATE TABLE _new_sessions (patient_key INTEGER)"))
    store.migrate(sqlite_engine)
    assert version(sqlite_engine) == HEAD
    assert not {name for name in tables(sqlite_engine) if name.startswith("_new_")}


def test_several_first_runs_at_once_migrate_once_without_errors(blank_url):
    first_run = f"from analysis.db.store import open_database; open_database({blank_url!r})"
    starts = [
        subprocess.Popen(
            [sys.executable, "-c", first_run],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in starts]
    for p in starts:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in results] == [0, 0, 0, 0], [err[-600:] for _, err in results]
    engine = store.make_engine(blank_url)
    assert version(engine) == HEAD
    engine.dispose()


# --------------------------------------------------------------------------- a newer release (item 12)


def stamp_newer(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0042'"))


def test_a_database_of_a_newer_release_is_refused_untouched(engine):
    stamp_newer(engine)
    before = tables(engine)
    with pytest.raises(DatabaseError, match="newer release") as raised:
        store.migrate(engine)
    assert raised.value.exit_code == EXIT_DATABASE
    assert "0042" in str(raised.value)
    assert HEAD in str(raised.value)
    assert version(engine) == "0042"
    assert tables(engine) == before


def test_cli_on_a_database_of_a_newer_release_exits_3_with_a_message(db_url):
    engine = store.make_engine(db_url)
    stamp_newer(engine)
    engine.dispose()
    result = cli("summary", "--db", db_url)
    assert result.returncode == 3, result.stderr
    assert "newer release" in result.stderr and "0042" in result.stderr
    assert "Traceback" not in result.stderr
