"""Database access: an engine from a URL, the schema brought up to date, small helpers.

The URL comes from ``--db``, then the ``DATABASE_URL`` environment variable, then the
embedded SQLite file ``data/outcomes.db`` (README, "Command line"). SQLite runs in WAL mode with foreign
keys enforced; PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import functools
import os
import re
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Select,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

from analysis.db import schema
from analysis.domain import paths
from analysis.domain.errors import DatabaseError, SettingError, first_line

PROJECT_ROOT = paths.project_root()  # the checkout, or the current folder when installed
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "data" / "outcomes.db"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def default_url() -> str:
    """The URL used when none is given: ``DATABASE_URL``, else the embedded SQLite file."""
    return os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_PATH}"


def resolve_url(url: str | None) -> str:
    """Normalise a user-given URL; ``postgresql://`` means psycopg 3 here."""
    url = url or default_url()
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


#: Memory per sort or hash of the app's own sessions on PostgreSQL (the server's default is
#: 4 MB). The comparisons group about 800,000 patients of a 10M-session clinic into 90,000
#: covariate patterns: with 4 MB the sort spills to disk (3.8 s), with 64 MB it does not (1.4 s)
#: (docs/performance.md, "The planner and the flags"). Set for these sessions only.
POSTGRESQL_WORK_MEM = "64MB"
#: No just-in-time compilation of the app's queries. PostgreSQL compiles any query it costs
#: above ``jit_above_cost`` — every aggregate over a 10M-session clinic — and the compiling
#: took 1.15 s of the 5.5 s of ``secondary --by condition`` there, more than it saved
#: (docs/performance.md, "Just-in-time compilation"). Set for these sessions only.
POSTGRESQL_JIT = "off"
#: Connections each server process keeps open to PostgreSQL. SQLAlchemy's default keeps 5 and
#: closes every connection beyond them when it is handed back, so 20 users at once opened a new
#: connection (and a new server process) for most queries (docs/performance.md, "Many users at
#: once: the server's own work"). Connections beyond these (up to 10 more) are still opened when needed.
POSTGRESQL_POOL_SIZE = 20
#: Parallel workers per query for the dashboard's server (``make_engine(serving=True)``). With
#: many users at once every core is already busy with someone's query; a parallel plan then only
#: adds worker processes that compete with the other users' queries. The 20-user load test at 1M
#: sessions on 2 cores, paired runs: 11–13 runs/s and p95 2.1–2.3 s with PostgreSQL's default of
#: 2 workers, 15.6–15.8 runs/s and p95 1.7–1.8 s with none; in a slower spell of the machine 10.5
#: against 13.3 runs/s (docs/performance.md, "Many users at once: parallel workers"). The command
#: line keeps the default: it asks one question at a time.
POSTGRESQL_SERVING_PARALLEL_WORKERS = 0
#: Statements one question may run at once on PostgreSQL, each on its own connection, when its
#: work splits into parts whose counts add up (:func:`shards`). PostgreSQL runs a correlated
#: search — one per patient, such as durability's as of an earlier cut-off — in its leader
#: process only, whatever its parallel workers do for the scans: at 10M sessions 2 × 191,211
#: index searches took ~1.5 s of one core while the other waited. Two statements, each over half
#: the patients, use both cores (docs/performance.md, "Durability as of a cut-off, from the kept
#: rows alone"). The dashboard's server runs one at a time, as it runs no parallel workers.
POSTGRESQL_COMMAND_SHARDS = 2

#: The engines made for the dashboard's server (``make_engine(serving=True)``).
_SERVING: weakref.WeakSet[Engine] = weakref.WeakSet()


def _postgresql_settings(dbapi_connection, _record, *, serving: bool = False) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"SET work_mem = '{POSTGRESQL_WORK_MEM}'")
    cursor.execute(f"SET jit = {POSTGRESQL_JIT}")
    if serving:
        cursor.execute(f"SET max_parallel_workers_per_gather = {POSTGRESQL_SERVING_PARALLEL_WORKERS}")
    cursor.close()
    dbapi_connection.commit()  # psycopg opened a transaction for the SET; keep it, end that


def make_engine(url: str | None = None, *, serving: bool = False) -> Engine:
    """Create an engine for ``url`` (see :func:`resolve_url`) without touching the schema.

    ``serving``: for the dashboard's server, which answers many users at once (on PostgreSQL,
    no parallel workers: :data:`POSTGRESQL_SERVING_PARALLEL_WORKERS`).

    An address that is not a usable database URL (malformed, an unsupported database, a port
    that is not a number from 1 to 65535, an SQLite URL naming no file) is a
    :class:`SettingError` (exit code 2); a database that cannot be reached is a
    :class:`DatabaseError` (exit code 3), raised when it is first used.
    """
    resolved = resolve_url(url)
    shown = _shown(url or default_url())
    try:
        parsed = make_url(resolved)  # a port that is not a number is a ValueError here
    except (ArgumentError, ValueError) as exc:
        raise SettingError(
            f"The database address {shown} is not a valid database URL; write it as "
            "sqlite:///path/to/file.db or postgresql://user@host:5432/database."
        ) from exc
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise SettingError(f"The database address {shown} has port {parsed.port}; a port is 1 to 65535.")
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database:
            # ``sqlite:///`` (e.g. ``sqlite:///$UNSET``) would be a database in memory: an import
            # would report success and vanish when the command ends.
            raise SettingError(
                f"The database address {shown} names no database file (an unset variable?); "
                "give a path such as sqlite:///data/outcomes.db."
            )
        if database != ":memory:" and not database.startswith("file:"):
            folder = Path(database).expanduser().resolve().parent
            if not folder.is_dir():
                raise DatabaseError(f"The folder for the database file does not exist: {folder}")
        engine = create_engine(parsed)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(
            parsed, pool_pre_ping=True, pool_size=POSTGRESQL_POOL_SIZE, connect_args={"connect_timeout": 5}
        )
        event.listen(engine, "connect", functools.partial(_postgresql_settings, serving=serving))
        if serving:
            _SERVING.add(engine)
        return engine
    raise SettingError(
        f"Database type {parsed.get_backend_name()!r} is not supported; use SQLite or PostgreSQL."
    )


def shards(engine: Engine) -> int:
    """How many statements a question whose counts add up may run at once on ``engine``:
    :data:`POSTGRESQL_COMMAND_SHARDS` on PostgreSQL for the command line, else one."""
    if engine.dialect.name != "postgresql" or engine in _SERVING:
        return 1
    return POSTGRESQL_COMMAND_SHARDS


def _shown(url: str) -> str:
    """``url`` as a message may show it: without its password, even when it cannot be parsed."""
    try:
        return repr(make_url(url).render_as_string(hide_password=True))
    except (ArgumentError, ValueError):
        return repr(re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url))


#: How long a start waits for another process that is bringing the same database up to date
#: (a large clinic's upgrade can take a minute); then it gives up with a message (exit code 3).
MIGRATION_WAIT_SECONDS = 300.0
_PG_MIGRATION_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('ketamine-outcomes migrate ' || current_schema(), 0))"
)


def _alembic(engine: Engine, direction: str, revision: str) -> None:
    """Run Alembic's ``upgrade`` or ``downgrade`` to ``revision``: atomic and one at a time.

    - Atomic: the whole run is one transaction, DDL included, on both databases (SQLite has
      transactional DDL; pysqlite only needs to be told to issue ``BEGIN``): a failure half-way
      (disk full, a killed process) leaves the schema and the data as they were.
    - One at a time: the run holds the database's migration lock (SQLite ``BEGIN IMMEDIATE``,
      PostgreSQL an advisory lock per schema), and Alembic reads the stored revision under it,
      so several first starts at once upgrade once and the others find the work done.
    - A database already up to date is checked without the lock (every command and page start).
    - A revision this release does not know (a newer release wrote the database) is refused
      before anything is written: :class:`DatabaseError`, exit code 3.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    try:
        if direction == "upgrade":
            with engine.connect() as connection:
                stored = _stored_revisions(connection)
            _refuse_unknown(engine, script, stored)
            if stored == set(script.get_heads()):
                return
        with _migration_lock(engine) as connection:
            _refuse_unknown(engine, script, _stored_revisions(connection))
            config.attributes["connection"] = connection
            getattr(command, direction)(config, revision)
    except OperationalError as exc:
        raise DatabaseError(_unreachable_message(engine, exc)) from exc


def _stored_revisions(connection: Connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    return set(MigrationContext.configure(connection).get_current_heads())


def _refuse_unknown(engine: Engine, script, stored: set[str]) -> None:
    """A stored revision this release does not know means a newer release wrote the database."""
    known = {r.revision for r in script.walk_revisions()}
    unknown = sorted(stored - known)
    if unknown:
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseError(
            f"The database at {where} was written by a newer release of Ketamine Outcomes: its "
            f"schema is at revision {', '.join(unknown)}, and this release knows revisions up to "
            f"{', '.join(sorted(script.get_heads()))}. Nothing was changed. Use that newer release "
            "(or a copy of the database made before the upgrade) with this one's data."
        )


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction that holds the database's migration lock."""
    wait_ms = round(MIGRATION_WAIT_SECONDS * 1000)
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                connection.execute(select(func.set_config("lock_timeout", f"{wait_ms}ms", True)))
                connection.execute(_PG_MIGRATION_LOCK)
                yield connection
            return
        with sqlite_immediate(connection, wait_ms):
            yield connection


def stored_columns(connection: Connection, table: Table) -> list[str]:
    """The columns of ``table`` that the stored schema has, in the table's order.

    A migration before the one that added a column refreshes the derived tables with today's
    code (0004, 0009, 0013), so it writes only the columns of its day.
    """
    stored = {column["name"] for column in inspect(connection).get_columns(table.name)}
    return [column.name for column in table.columns if column.name in stored]


def delete_patients_rows(connection: Connection, table: Table, keys: Any, *, replace: bool = True) -> None:
    """Delete the rows of ``keys`` (a query of patient keys; every row when None) from a derived
    per-patient ``table``, before they are derived again; nothing when ``replace`` is False (the
    patients are new to the clinic). PostgreSQL planned each such delete of an import's new
    patients as a scan of the whole table: 0.2–0.36 s each at 10M sessions, for no row
    (docs/performance.md, "Twelfth session: the importer")."""
    if not replace:
        return
    connection.execute(delete(table) if keys is None else delete(table).where(table.c.patient_key.in_(keys)))


def replace_patients_rows(
    connection: Connection,
    table: Table,
    keys: Any,
    rows: Select[Any],
    names: Sequence[str],
    *,
    replace: bool = True,
) -> None:
    """Replace the rows of a derived per-patient ``table`` of ``keys`` (a query of patient keys;
    every row when None) by ``rows`` (their columns ``names``, which ``rows`` selects in that
    order); ``replace`` False: the patients are new to the clinic, with no rows to delete (see
    :func:`delete_patients_rows`). Nothing to do before the migration that made the table: an
    earlier one refreshes the facts with today's code."""
    if not inspect(connection).has_table(table.name):
        return
    delete_patients_rows(connection, table, keys, replace=replace)
    connection.execute(insert(table).from_select(list(names), rows))


def temporary_table(name: str, columns: list[Column[Any]]) -> Table:
    """A temporary table of one transaction (PostgreSQL drops it at commit; SQLite keeps it until
    the connection closes, so its user drops it)."""
    return Table(name, MetaData(), *columns, prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


def temporary_like(table: Table, suffix: str) -> Table:
    """A :func:`temporary_table` with ``table``'s columns, named ``<table>_<suffix>``."""
    columns = [Column(c.name, c.type, nullable=c.nullable) for c in table.columns]
    return temporary_table(f"{table.name}_{suffix}", columns)


def add_in_place(
    connection: Connection,
    table: Table,
    sums: Table,
    keys: Sequence[str],
    summed: Sequence[str],
    count: str,
    *,
    fresh: bool = False,
) -> None:
    """Add ``sums`` (one row per key ``keys``, signed ``summed`` columns) to the kept ``table``:
    a kept row is changed by its sum, a new key inserted, and rows left with no one (``count``
    0) deleted. Only the rows the sums name are written (docs/performance.md, "Settled by
    quarter": rewriting every touched group's rows cost an import twice as much).

    One ``INSERT … ON CONFLICT (keys) DO UPDATE`` (SQLite ≥ 3.24), through the unique index on
    ``keys`` (migration 0025): each sum finds its kept row once. An ``UPDATE … FROM`` followed by
    an insert of the keys it did not find read each row twice, and the second time from the
    table, not the index (docs/performance.md, "Thirteenth session: the kept counts").
    ``fresh``: ``table`` was just emptied (the counts are counted afresh), so every sum is a new
    row; a plain insert, which also runs before migration 0025 (0021 and 0023 count afresh)."""
    changed = or_(*[sums.c[n] != 0 for n in summed])  # also SQLite's WHERE before ON CONFLICT
    rows = select(*[sums.c[n] for n in (*keys, *summed)]).where(changed)
    if fresh:
        connection.execute(insert(table).from_select([*keys, *summed], rows.where(sums.c[count] != 0)))
        return
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table).from_select([*keys, *summed], rows)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=list(keys), set_={n: table.c[n] + statement.excluded[n] for n in summed}
        )
    )
    connection.execute(delete(table).where(table.c[count] == 0))


#: The newest migration; ``tests/test_migrations.py`` holds it to Alembic's head. A database at
#: this revision is opened without Alembic, whose import and scan of the migrations cost every
#: command and page start ≈ 0.25 s of CPU (docs/performance.md, "Start-up").
SCHEMA_HEAD = "0025"


def _at_head(engine: Engine) -> bool:
    """Whether the stored schema is :data:`SCHEMA_HEAD` (False when it cannot be read: Alembic
    then makes the table, or says why the database cannot be opened)."""
    try:
        with engine.connect() as connection:
            stored = {row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")}
    except DBAPIError:
        return False
    return stored == {SCHEMA_HEAD}


def migrate(engine: Engine) -> None:
    """Bring the database to the current schema with Alembic (idempotent)."""
    if _at_head(engine):
        return
    _alembic(engine, "upgrade", "head")


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (rolling back a release; the migration tests)."""
    _alembic(engine, "downgrade", revision)


def open_database(url: str | None = None, *, serving: bool = False) -> Engine:
    """Engine for ``url`` with the schema brought to the current version (``serving``: see
    :func:`make_engine`)."""
    engine = make_engine(url, serving=serving)
    migrate(engine)
    return engine


def _unreachable_message(engine: Engine, exc: Exception) -> str:
    where = engine.url.render_as_string(hide_password=True)
    return f"The database at {where} cannot be reached or opened ({first_line(exc)})."


def data_cutoff(engine: Engine, sites: tuple[str, ...] | None = None) -> date | None:
    """docs/methods.md data cut-off: the latest session or follow-up date in the whole database.

    With ``sites``, the latest date of those sites' patients: a user limited to some sites sees
    their own data cut-off, never a date that only another site's data gives away
    (docs/security.md).
    """
    try:
        with engine.connect() as connection:
            return latest_date(connection, sites)
    except SQLAlchemyError as exc:
        raise DatabaseError(_unreachable_message(engine, exc)) from exc


def latest_date(connection: Connection, sites: tuple[str, ...] | None = None) -> date | None:
    """:func:`data_cutoff` as ``connection`` sees it (inside an import's transaction, say)."""
    s, f = schema.sessions, schema.followups
    if sites is None:
        parts = (
            select(func.max(s.c.session_date).label("d")),
            select(func.max(f.c.followup_date).label("d")),
        )
    else:
        mine = select(schema.patients.c.id).where(schema.patients.c.site.in_(sites))
        parts = (
            select(func.max(s.c.session_date).label("d")).where(s.c.patient_key.in_(mine)),
            select(func.max(f.c.followup_date).label("d")).where(f.c.patient_key.in_(mine)),
        )
    latest = union_all(*parts).subquery()
    value = connection.execute(select(func.max(latest.c.d))).scalar()
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def table_counts(engine: Engine) -> dict[str, int]:
    """Number of stored rows per table."""
    with engine.connect() as connection:
        return {
            table.name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (schema.patients, schema.sessions, schema.followups)
        }


def is_empty(engine: Engine) -> bool:
    """True when no patient is stored."""
    with engine.connect() as connection:
        return connection.execute(select(schema.patients.c.id).limit(1)).first() is None


__all__ = [
    "DatabaseError",
    "data_cutoff",
    "default_url",
    "downgrade",
    "is_empty",
    "make_engine",
    "migrate",
    "open_database",
    "resolve_url",
    "table_counts",
]


@contextmanager
def sqlite_immediate(connection: Connection, wait_ms: int) -> Iterator[Connection]:
    """One SQLite transaction that holds the write lock from its start (``BEGIN IMMEDIATE``),
    waiting up to ``wait_ms`` for it; commits at the end, rolls back on any error.

    SQLAlchemy's documented recipe for SQLite transactions: pysqlite issues no BEGIN of its own
    (it would not before DDL, so each CREATE committed on its own); we issue ours. Used by the
    migration lock here and by the import lock (analysis.ingest.transaction).
    """
    raw = connection.connection.driver_connection
    assert raw is not None  # a checked-out connection always has its driver connection
    saved_level = raw.isolation_level
    saved_wait = raw.execute("PRAGMA busy_timeout").fetchone()[0]
    raw.isolation_level = None
    raw.execute(f"PRAGMA busy_timeout={wait_ms}")
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield connection
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    finally:
        try:  # hand the connection back to the pool as it was
            raw.execute(f"PRAGMA busy_timeout={int(saved_wait)}")
            raw.isolation_level = saved_level
        except Exception:  # it cannot be restored: the pool must not reuse it
            connection.invalidate()
