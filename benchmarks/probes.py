"""Measurements that run in a process of their own: cold means a new process, and the process's
peak resident memory (``VmHWM``, see :func:`peak_mb`) is the memory the approach needs.

Run as ``python -m benchmarks.probes NAME JSON``; the result is one JSON object on the last
line of standard output. :func:`run_probe` does that from the harness.

- ``summary``: :func:`analysis.db.derivation.summarize` by condition × route on a new engine (cold),
  then again (warm); with the counts, for the cross-check. With ``evict`` (SQLite files), the
  files are first dropped from the OS page cache, so that cold reads from the disk.
- ``pandas``: ``pd.read_sql`` of the three whole tables, then :func:`benchmarks.engines.pandas_counts`
  (cold = load + compute; warm = compute again on the frames in memory).
- ``duckdb``: the Parquet copies of the same stored tables into an in-memory DuckDB, then
  :func:`benchmarks.engines.duckdb_sql` (cold = first query on the new database; warm = second).
- ``app``: the overview page through Streamlit's ``AppTest`` on ``DATABASE_URL``: cold, a
  filter never seen, back to a filter the cache has seen, and the new one again.
- ``importer``: :func:`analysis.ingest.import_frames` (the full validator, one transaction) on
  a slice into an empty database, then the same files again (every row unchanged).
- ``import_floor``: the same import stopped where it would derive its tables, and rolled back
  there: what an import costs with none of the derived tables (docs/performance.md,
  "Fourteenth session: the import's floor").
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: A probe that takes longer than this is stopped (and reported as failed).
PROBE_TIMEOUT_S = 3 * 3600


class ProbeError(RuntimeError):
    """A probe process failed; the message carries the end of its error output."""


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (``VmHWM``).

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries that figure across ``execve``, so a
    probe would report the peak of the harness that started it.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_probe(name: str, args: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run probe ``name`` in a new Python process and return its JSON result."""
    command = [sys.executable, "-m", "benchmarks.probes", name, json.dumps(args)]
    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ProbeError(f"probe {name} failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1])


def evict_from_page_cache(path: Path) -> None:
    """Drop one file's pages from the OS page cache (flushed first), so that reads hit the disk.

    Only for files the harness made (the SQLite database); PostgreSQL's files belong to the
    server and are left alone.
    """
    if not path.exists() or not hasattr(os, "posix_fadvise"):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- the probes


def probe_summary(args: dict[str, Any]) -> dict[str, Any]:
    from analysis.db.store import make_engine
    from analysis.domain.definition import OutcomeDefinition
    from analysis.queries.response import summarize
    from benchmarks.engines import counts_from_summary, counts_to_records

    for path in args.get("evict", []):
        evict_from_page_cache(Path(path))
    engine = make_engine(args["url"])
    by = ("condition", "route")
    start = time.perf_counter()
    table = summarize(engine, OutcomeDefinition(), by=by)
    cold = time.perf_counter() - start
    warm_runs = []
    for _ in range(int(args.get("warm_runs", 1))):
        start = time.perf_counter()
        summarize(engine, OutcomeDefinition(), by=by)
        warm_runs.append(time.perf_counter() - start)
    engine.dispose()
    return {
        "cold_s": cold,
        "warm_s": warm_runs[0],
        "warm_runs_s": warm_runs,
        "cutoff": str(table.definition.cutoff),
        "counts": counts_to_records(counts_from_summary(table)),
        "peak_mb": peak_mb(),
    }


def probe_pandas(args: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd
    from sqlalchemy import text

    from analysis.db.store import make_engine
    from benchmarks.engines import counts_to_records, pandas_counts, prepare_frames

    engine = make_engine(args["url"])
    before = peak_mb()
    start = time.perf_counter()
    with engine.connect() as connection:
        raw = {
            table: pd.read_sql(text(f"SELECT * FROM {table}"), connection)
            for table in ("patients", "sessions", "followups")
        }
    tables = prepare_frames(raw)
    del raw
    loaded = time.perf_counter()
    counts = pandas_counts(tables)
    computed = time.perf_counter()
    pandas_counts(tables)
    warm = time.perf_counter() - computed
    engine.dispose()
    return {
        "load_s": loaded - start,
        "compute_s": computed - loaded,
        "cold_s": computed - start,
        "warm_s": warm,
        "counts": counts_to_records(counts),
        "baseline_mb": before,
        "peak_mb": peak_mb(),
    }


def probe_duckdb(args: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    from benchmarks.engines import counts_to_records, duckdb_counts

    folder = Path(args["parquet_dir"])
    before = peak_mb()
    connection = duckdb.connect(":memory:")
    start = time.perf_counter()
    rows = 0
    for table, date_column in (
        ("patients", None),
        ("sessions", "session_date"),
        ("followups", "followup_date"),
    ):
        source = f"read_parquet('{folder / (table + '.parquet')}')"
        columns = f"* REPLACE (CAST({date_column} AS DATE) AS {date_column})" if date_column else "*"
        connection.execute(f"CREATE TABLE {table} AS SELECT {columns} FROM {source}")
        rows += int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]
    loaded = time.perf_counter()
    counts = duckdb_counts(connection)
    cold = time.perf_counter() - loaded
    start_warm = time.perf_counter()
    duckdb_counts(connection)
    warm = time.perf_counter() - start_warm
    connection.close()
    return {
        "load_s": loaded - start,
        "rows": rows,
        "cold_s": cold,
        "warm_s": warm,
        "counts": counts_to_records(counts),
        "baseline_mb": before,
        "peak_mb": peak_mb(),
        "threads": os.cpu_count(),
    }


def _warm_streamlit(app: Any, workdir: Path) -> None:
    """One page run of ``app`` on a tiny clinic, so that cold below is this database's data.

    Python imports, the first use of Streamlit and Plotly, and AppTest's one-off scan of the
    installed packages for components (≈ 0.4 s, done once per server in production) are paid
    here. The tiny clinic is bulk-loaded (not imported), so that the page probe does not
    depend on the importer.
    """
    from analysis.db.store import open_database
    from benchmarks.clinic import contract_frames, stored_clinic
    from benchmarks.databases import Database, bulk_load

    path = workdir / f"warmup-{os.getpid()}.db"
    database = Database("sqlite", f"sqlite:///{path}", sqlite_path=path)
    open_database(database.url).dispose()
    bulk_load(database, stored_clinic(contract_frames(200, seed=11)))
    os.environ["DATABASE_URL"] = database.url
    try:
        app.run(timeout=120)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def probe_app(args: dict[str, Any]) -> dict[str, Any]:
    from streamlit.testing.v1 import AppTest

    timeout = float(args.get("timeout_s", 1800))
    # One app, as one server: warmed on a tiny clinic, then pointed at the benchmark's
    # database (every cache and the engine are keyed by the database URL, so nothing of the
    # warm-up is reused for it).
    app = AppTest.from_file(str(PROJECT_ROOT / "dashboard.py"), default_timeout=timeout)
    _warm_streamlit(app, Path(args["workdir"]))
    os.environ["DATABASE_URL"] = args["url"]
    gc.collect()
    timings: dict[str, float] = {}

    def timed(label: str, step: Callable[[], Any]) -> None:
        start = time.perf_counter()
        step()
        timings[label] = time.perf_counter() - start
        if app.exception:
            raise RuntimeError(f"the page raised during {label}: {app.exception[0].message}")
        # st.error also draws the "below the band" verdict; only database errors are failures.
        errors = [e.value for e in app.error if "database" in str(e.value).casefold()]
        if errors:
            raise RuntimeError(f"the page showed an error during {label}: {errors[0]}")

    # Filters are set through the session state: after a widget change AppTest's tree loses
    # the sidebar (the page itself runs with the new cohort, as the metrics show).
    condition = str(args.get("condition", "crps"))
    treated: dict[str, str] = {}

    def choose(values: list[str]) -> Callable[[], Any]:
        def step() -> None:
            app.session_state["condition"] = values
            app.run()

        return step

    for label, step in (
        ("cold_s", app.run),
        ("filter_new_s", choose([condition])),
        ("filter_back_s", choose([])),
        ("filter_seen_s", choose([condition])),
    ):
        timed(label, step)
        treated[label] = next((m.value for m in app.metric if m.label == "Patients treated"), "?")
    if treated["filter_back_s"] != treated["cold_s"] or treated["filter_new_s"] == treated["cold_s"]:
        raise RuntimeError(f"the condition filter did not change the page as expected: {treated}")
    return {
        **timings,
        "filter_cached_s": max(timings["filter_back_s"], timings["filter_seen_s"]),
        "patients_treated": treated,
        "peak_mb": peak_mb(),
    }


def probe_importer(args: dict[str, Any]) -> dict[str, Any]:
    from analysis.db.store import make_engine
    from analysis.ingest import import_frames
    from benchmarks.clinic import TODAY, import_slice

    frames = import_slice(int(args["sessions"]))
    rows = sum(len(frame) for frame in frames.values())
    engine = make_engine(args["url"])
    gc.collect()
    start = time.perf_counter()
    report = import_frames(engine, frames, today=TODAY)
    first = time.perf_counter() - start
    if not report.ok:
        raise RuntimeError(f"the importer refused the slice: {[str(p) for p in report.problems[:5]]}")
    start = time.perf_counter()
    again = import_frames(engine, frames, today=TODAY)
    second = time.perf_counter() - start
    engine.dispose()
    return {
        "rows": rows,
        "tables": {name: len(frame) for name, frame in frames.items()},
        "import_s": first,
        "rows_per_s": rows / first,
        "reimport_s": second,
        "reimport_rows_per_s": rows / second,
        "reimport_unchanged": sum(again.unchanged.values()),
        "peak_mb": peak_mb(),
    }


class _Floor(Exception):
    """Raised where the import would derive its tables, so that its transaction rolls back."""


def probe_import_floor(args: dict[str, Any]) -> dict[str, Any]:
    """The importer's validation, comparison and writes of the three tables, up to the derivation.

    :func:`analysis.db.facts.refresh` is replaced, in this process only, by a stop that takes
    the time and raises: the import's transaction rolls back, so the database is left as it was
    (the stored clinic can be measured again) and nothing derived is counted. The commit and
    the import-log row are not in the time.
    """
    from analysis.db import facts
    from analysis.db.store import make_engine
    from analysis.ingest import import_frames
    from benchmarks.clinic import TODAY, import_slice

    frames = import_slice(int(args["sessions"]))
    rows = sum(len(frame) for frame in frames.values())
    engine = make_engine(args["url"])
    reached: list[float] = []

    def stop(*_: Any, **__: Any) -> None:
        reached.append(time.perf_counter() - start)
        raise _Floor

    facts.refresh = stop  # type: ignore[assignment]  # this probe's process only
    gc.collect()
    start = time.perf_counter()
    try:
        report = import_frames(engine, frames, today=TODAY)
    except _Floor:
        pass
    else:
        raise RuntimeError(f"the import ended before deriving: {[str(p) for p in report.problems[:5]]}")
    finally:
        engine.dispose()
    return {"rows": rows, "floor_s": reached[0], "rows_per_s": rows / reached[0], "peak_mb": peak_mb()}


def probe_command(args: dict[str, Any]) -> dict[str, Any]:
    """One CLI command (``args["argv"]``, ``--db`` added) in this new process, output discarded."""
    import contextlib
    import io

    from analysis.cli import main as cli_main

    argv = [args["argv"][0], "--db", args["url"], *args["argv"][1:]]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = cli_main(argv)
    seconds = time.perf_counter() - start
    if code != 0:
        raise RuntimeError(f"{' '.join(args['argv'])} exited {code}")
    return {"cold_s": seconds, "bytes": len(out.getvalue()), "peak_mb": peak_mb()}


def probe_loadtest(args: dict[str, Any]) -> dict[str, Any]:
    """``args["sessions"]`` users changing filters for ``args["seconds"]`` against the dashboard's
    server on ``args["url"]`` (:func:`benchmarks.loadtest.drive`): every run's time and errors."""
    from benchmarks.loadtest import drive

    result = drive(args["url"], int(args["sessions"]), float(args["seconds"]))
    return {
        "p95_s": result["all"]["p95_s"],
        "median_s": result["all"]["median_s"],
        "runs": result["runs"],
        "errors": float(result["errors"]),
        "runs_per_s": result["runs_per_s"],
        "server_peak_mb": result["peak_mb"],
        "error_samples": result["error_samples"],
    }


PROBES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "command": probe_command,
    "summary": probe_summary,
    "pandas": probe_pandas,
    "duckdb": probe_duckdb,
    "app": probe_app,
    "importer": probe_importer,
    "import_floor": probe_import_floor,
    "loadtest": probe_loadtest,
}


def main(argv: list[str]) -> int:
    name, raw = argv[0], argv[1] if len(argv) > 1 else "{}"
    result = PROBES[name](json.loads(raw))
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
