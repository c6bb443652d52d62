"""The settings the app gives its own PostgreSQL sessions (analysis.db.store; docs/performance.md,
"The planner and the flags" and "Many users at once: parallel workers")."""

from __future__ import annotations

from sqlalchemy import Engine

from analysis.db import store


def _shown(engine: Engine, setting: str) -> str:
    with engine.connect() as connection:
        return str(connection.exec_driver_sql(f"SHOW {setting}").scalar_one())


def test_the_dashboard_server_plans_without_parallel_workers_and_the_command_line_with_them(postgres_engine):
    from pages import common  # the engine every page reads through

    url = postgres_engine.url.render_as_string(hide_password=False)
    served = common.engine_for(url)
    try:
        assert _shown(served, "max_parallel_workers_per_gather") == str(
            store.POSTGRESQL_SERVING_PARALLEL_WORKERS
        )
        # The command line (and the importer it runs) keeps PostgreSQL's own default.
        assert int(_shown(postgres_engine, "max_parallel_workers_per_gather")) > 0
        for engine in (served, postgres_engine):  # both keep the app's own memory and JIT settings
            assert _shown(engine, "work_mem") == store.POSTGRESQL_WORK_MEM
            assert _shown(engine, "jit") == store.POSTGRESQL_JIT
    finally:
        common.engine_for.clear()
        served.dispose()
