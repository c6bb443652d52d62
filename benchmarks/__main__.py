"""``python -m benchmarks``: build the clinics, measure, print one table, write the doc block.

Default: the 100k and 1m clinics on SQLite and PostgreSQL (6–8 minutes on 2 cores).
``--sizes 100k,1m,10m`` adds the 10M clinic; ``--quick`` runs 100k only and leaves the doc
alone. Progress goes to standard error; the table goes to standard output.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import clinic as clinics
from benchmarks.commands import COMMANDS
from benchmarks.databases import (
    DEFAULT_POSTGRES_URL,
    ENGINES,
    bulk_load,
    check_bulk_load,
    check_postgres,
    display_url,
    fresh_database,
    postgres_settings,
)
from benchmarks.engines import counts_from_records, same_counts
from benchmarks.probes import PROJECT_ROOT, ProbeError, run_probe
from benchmarks.report import Row, calibration, failures, machine_facts, results_block, text_table, write_doc

DEFAULT_DOC = PROJECT_ROOT / "docs" / "performance.md"
#: The clinic the load test runs on (issue #16).
LOAD_TEST_SIZE = "1m"
_START = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def _list(value: str, allowed: tuple[str, ...]) -> list[str]:
    items = [v.strip().lower() for v in value.split(",") if v.strip()]
    unknown = [v for v in items if v not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {', '.join(allowed)}")
    return items


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--sizes",
        type=lambda v: _list(v, tuple(clinics.SIZES)),
        default=["100k", "1m"],
        help="clinic sizes by sessions: 100k, 1m, 10m (default 100k,1m)",
    )
    parser.add_argument(
        "--engines",
        type=lambda v: _list(v, ENGINES),
        default=list(ENGINES),
        help="sqlite, postgresql (default both)",
    )
    parser.add_argument("--quick", action="store_true", help="100k only, and do not write the doc")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help=f"PostgreSQL database where fresh schemas are made and dropped (default {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument(
        "--import-sessions",
        type=int,
        default=200_000,
        help="sessions in the slice imported through the real importer (default 200000)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs (a new process each) of the importer, summary, DuckDB, page and command probes; the "
        "median is shown (default 3; at 10m the summary, DuckDB and page probes run once)",
    )
    parser.add_argument(
        "--load-sessions",
        type=int,
        default=20,
        help=f"users of the load test on the {LOAD_TEST_SIZE} PostgreSQL clinic (default 20)",
    )
    parser.add_argument(
        "--load-seconds",
        type=float,
        default=60.0,
        help="how long the users change filters; 0 skips the load test (default 60)",
    )
    parser.add_argument(
        "--doc", type=Path, default=None, help=f"markdown file to update (default {DEFAULT_DOC})"
    )
    parser.add_argument("--no-doc", action="store_true", help="do not write the doc")
    parser.add_argument("--json", type=Path, default=None, help="also write every raw measurement here")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = ["100k"]
    return args


def _counts_check(ours: dict[str, Any], other: dict[str, Any] | None) -> bool | None:
    if other is None:
        return None
    return same_counts(counts_from_records(ours["counts"]), counts_from_records(other["counts"]))


def _check_text(duck: bool | None, pandas: bool | None) -> str:
    parts = []
    for name, ok in (("DuckDB", duck), ("pandas", pandas)):
        if ok is not None:
            parts.append(f"{name} {'OK' if ok else 'MISMATCH'}")
    return ", ".join(parts)


class Bench:
    """One benchmark run: its settings, its temporary folder, and the rows it measured."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.raw: dict[str, Any] = {}
        self.mismatches = 0

    def probe(self, name: str, args: dict[str, Any], key: str, repeat: int = 1) -> dict[str, Any] | None:
        """Run a probe ``repeat`` times (each in a new process); times are the median of the runs."""
        return self.probe_each(name, [args] * repeat, key)

    def probe_each(self, name: str, runs_args: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
        """Run a probe once per argument set; times are the median, memory the maximum."""
        runs: list[dict[str, Any]] = []
        for attempt, args in enumerate(runs_args):
            log(f"  probe {name} ({key}) {attempt + 1}/{len(runs_args)} …")
            try:
                runs.append(run_probe(name, args))
            except ProbeError as exc:
                log(f"  probe {name} failed: {exc}")
                self.notes.append(f"{key}: probe {name} failed: {str(exc).splitlines()[-1]}")
                return None
        result = dict(runs[0])
        for field, value in runs[0].items():
            if isinstance(value, float) and (field.endswith("_s") or field.endswith("_per_s")):
                result[field] = statistics.median(run[field] for run in runs)
            elif field == "peak_mb":
                result[field] = max(run[field] for run in runs)
        self.raw[key] = {
            "median": {k: v for k, v in result.items() if k != "counts"},
            "runs": [{k: v for k, v in run.items() if k != "counts"} for run in runs],
        }
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.raw[key]["median"].items()}
        log(f"  {name}: {shown}")
        return result

    def self_check(self) -> None:
        for engine in self.args.engines:
            log(f"self-check: a bulk load stores what the importer stores ({engine}) …")
            problem = check_bulk_load(engine, self.workdir, self.args.postgres_url)
            if problem:
                self.mismatches += 1
                self.notes.append(f"bulk load differs from the importer on {engine}: {problem}")
            log(f"  {engine}: {'OK' if problem is None else 'MISMATCH: ' + problem}")

    def importer(self) -> None:
        sessions = self.args.import_sessions
        for engine in self.args.engines:
            log(f"import through the real importer: {sessions:,} sessions ({engine}) …")
            with ExitStack() as stack:  # each run imports into its own empty database
                urls = [
                    stack.enter_context(
                        fresh_database(engine, f"import{n}", self.workdir, self.args.postgres_url)
                    ).url
                    for n in range(self.args.repeat)
                ]
                runs = [{"url": url, "sessions": sessions} for url in urls]
                # The floor first: it rolls back, leaving the databases empty for the import.
                floor = self.probe_each("import_floor", runs, f"import-floor/{engine}")
                result = self.probe_each("importer", runs, f"import/{engine}")
            size = f"{result['rows'] / 1000:,.0f}k rows" if result else "slice"
            self.rows.append(Row("import", engine, size, result["rows_per_s"] if result else None))
            self.rows.append(Row("import_floor", engine, size, floor["rows_per_s"] if floor else None))
            self.rows.append(Row("reimport", engine, size, result["reimport_rows_per_s"] if result else None))

    def size(self, name: str) -> None:
        size = clinics.SIZES[name]
        log(f"clinic {name}: generating about {size.sessions:,} sessions ({size.patients:,} patients) …")
        clinic, _ = clinics.build(size)
        log(f"  {clinic.describe()}")
        self.raw[f"clinic/{name}"] = {
            "patients": len(clinic.patients),
            "sessions": len(clinic.sessions),
            "followups": len(clinic.followups),
        }
        parquet = self.workdir / f"parquet-{name}"
        parquet.mkdir(exist_ok=True)
        for table, frame in clinic.tables().items():
            frame.to_parquet(parquet / f"{table}.parquet", index=False)
        repeat = self.args.repeat if name != "10m" else 1
        duck = self.probe("duckdb", {"parquet_dir": str(parquet)}, f"duckdb/{name}", repeat)
        duck_load = duck["rows"] / duck["load_s"] if duck else None

        for engine in self.args.engines:
            with fresh_database(engine, name, self.workdir, self.args.postgres_url) as database:
                log(f"clinic {name} on {engine}: bulk load …")
                seconds = bulk_load(database, clinic)
                log(f"  loaded {clinic.rows:,} rows in {seconds:.1f} s ({clinic.rows / seconds:,.0f} rows/s)")
                self.raw[f"bulk/{engine}/{name}"] = {"seconds": seconds, "rows": clinic.rows}
                self.rows.append(Row("bulk", engine, name, clinic.rows / seconds, duckdb=duck_load))
                self._measure(engine, name, database.url, duck, database.sqlite_path)
        shutil.rmtree(parquet, ignore_errors=True)
        del clinic

    def _measure(
        self, engine: str, size: str, url: str, duck: dict[str, Any] | None, sqlite_path: Path | None
    ) -> None:
        key = f"{engine}/{size}"
        repeat = self.args.repeat if size != "10m" else 1
        summary = self.probe("summary", {"url": url}, f"summary/{key}", repeat)
        disk = None
        if sqlite_path is not None:
            files = [str(sqlite_path), f"{sqlite_path}-wal"]
            disk = self.probe("summary", {"url": url, "evict": files}, f"summary-disk/{key}", repeat)
        pandas = self.probe("pandas", {"url": url}, f"pandas/{key}")
        check = ""
        if summary:
            duck_ok, pandas_ok = _counts_check(summary, duck), _counts_check(summary, pandas)
            check = _check_text(duck_ok, pandas_ok)
            self.mismatches += sum(1 for ok in (duck_ok, pandas_ok) if ok is False)
            log(f"  counts: {check or 'not compared'}")

        def value(result: dict[str, Any] | None, name: str) -> float | None:
            return None if result is None else float(result[name])

        self.rows += [
            Row(
                "summary_cold",
                engine,
                size,
                value(summary, "cold_s"),
                value(duck, "cold_s"),
                value(pandas, "cold_s"),
                check,
            ),
            Row(
                "summary_warm",
                engine,
                size,
                value(summary, "warm_s"),
                value(duck, "warm_s"),
                value(pandas, "warm_s"),
                check,
            ),
        ]
        if sqlite_path is not None:
            self.rows.append(Row("summary_disk", engine, size, value(disk, "cold_s")))
        app = self.probe("app", {"url": url, "workdir": str(self.workdir)}, f"app/{key}", repeat)
        self.rows += [
            Row("overview_cold", engine, size, value(app, "cold_s")),
            Row("filter_new", engine, size, value(app, "filter_new_s")),
            Row("filter_cached", engine, size, value(app, "filter_cached_s")),
            Row(
                "app_peak",
                engine,
                size,
                value(app, "peak_mb"),
                value(duck, "peak_mb"),
                value(pandas, "peak_mb"),
            ),
        ]
        # The commands are the targets: the median of --repeat cold runs at every size, the
        # 10M clinic's too (one cold run of the same command there varies by ±15 %, once by 4×;
        # docs/performance.md, "make bench, seventh session").
        for measure, (_, argv) in COMMANDS.items():
            timed = self.probe("command", {"url": url, "argv": argv}, f"{measure}/{key}", self.args.repeat)
            self.rows.append(Row(measure, engine, size, value(timed, "cold_s")))
            self.rows.append(Row(f"{measure}_peak", engine, size, value(timed, "peak_mb")))
        # Many users at once (issue #16: 20 sessions at 1M, p95 <= 2 s, no error), on PostgreSQL,
        # the database a clinic network serves from (docs/performance.md, "Many users at once").
        if engine == "postgresql" and size == LOAD_TEST_SIZE and self.args.load_seconds > 0:
            arguments = {"url": url, "sessions": self.args.load_sessions, "seconds": self.args.load_seconds}
            load = self.probe("loadtest", arguments, f"loadtest/{key}")
            self.rows.append(Row("load_p95", engine, size, value(load, "p95_s")))
            self.rows.append(Row("load_errors", engine, size, value(load, "errors")))
            for sample in [] if load is None else load["error_samples"][:3]:
                self.notes.append(f"loadtest/{key}: {sample}")
        # Last, because it changes the clinic: the importer's slice added to it (one run), after
        # the same import stopped before its derivation and rolled back (the clinic unchanged).
        arguments = {"url": url, "sessions": self.args.import_sessions}
        floor = self.probe("import_floor", arguments, f"import-into-floor/{key}")
        self.rows.append(Row("import_into_floor", engine, size, value(floor, "rows_per_s")))
        into = self.probe("importer", arguments, f"import-into/{key}")
        self.rows.append(Row("import_into", engine, size, value(into, "rows_per_s")))


def _order(rows: list[Row], engines: list[str], sizes: list[str]) -> list[Row]:
    measures = ["import", "import_floor", "reimport", "import_into", "import_into_floor", "bulk"]
    measures += ["summary_cold", "summary_disk", "summary_warm"]
    measures += ["overview_cold", "filter_new", "filter_cached", "app_peak", "load_p95", "load_errors"]
    measures += [m for key in COMMANDS for m in (key, f"{key}_peak")]  # the commands' rows
    size_rank = {s: i for i, s in enumerate(sizes)}
    return sorted(
        rows,
        key=lambda r: (measures.index(r.measure), engines.index(r.engine), size_rank.get(r.size, -1)),
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    command = ".venv/bin/python -m benchmarks" + (
        "" if not argv else " " + " ".join(shlex.quote(a) for a in argv)
    )
    postgres: dict[str, str] | None = None
    if "postgresql" in args.engines:
        reason = check_postgres(args.postgres_url)
        if reason:
            print(
                f"PostgreSQL is not reachable at {display_url(args.postgres_url)} ({reason}); "
                "start it, give --postgres-url, or run with --engines sqlite.",
                file=sys.stderr,
            )
            return 2
        postgres = postgres_settings(args.postgres_url)

    load_at_start = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="ko-bench-"))
    bench = Bench(args, workdir)
    log(f"sizes {','.join(args.sizes)}; engines {','.join(args.engines)}; work folder {workdir}")
    try:
        bench.self_check()
        bench.importer()
        for name in args.sizes:
            bench.size(name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows = _order(bench.rows, args.engines, args.sizes)
    facts = machine_facts(postgres)
    clinics_line = "; ".join(
        f"{name}: {c['patients']:,} patients, {c['sessions']:,} sessions, {c['followups']:,} follow-ups"
        for name, c in ((k.split("/", 1)[1], v) for k, v in bench.raw.items() if k.startswith("clinic/"))
    )
    facts.append(f"clinics: {clinics_line}")
    pandas_100k = next(
        (
            bench.raw[k]["median"]["cold_s"]
            for k in ("pandas/sqlite/100k", "pandas/postgresql/100k")
            if k in bench.raw
        ),
        None,
    )
    if (speed := calibration(pandas_100k)) is not None:
        facts.append(speed)
    facts.append(f"total run time: {time.perf_counter() - _START:,.0f} s")
    loads = " / ".join(", ".join(f"{v:.1f}" for v in load) for load in (load_at_start, os.getloadavg()))
    facts.append(
        f"load average (1, 5, 15 min) at start / end: {loads} — above 0 means other processes "
        "shared the cores during the run"
    )
    print()
    print(text_table(rows))
    print()
    for line in failures(rows):
        print(f"target missed: {line}")
    for note in bench.notes:
        print(f"note: {note}")
    for fact in facts:
        print(f"# {fact}")

    write = not args.no_doc and (args.doc is not None or not args.quick)
    if write:
        path = args.doc or DEFAULT_DOC
        block_id = f"sizes={','.join(args.sizes)} engines={','.join(args.engines)}"
        write_doc(path, block_id, results_block(block_id, command, rows, facts, bench.notes))
        log(f"wrote the results into {path}")
    if args.json:
        args.json.write_text(
            json.dumps({"command": command, "rows": [asdict(r) for r in rows], "raw": bench.raw}, indent=2)
        )
    return 1 if bench.mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
