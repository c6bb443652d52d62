"""Many users at once: concurrent sessions of the dashboard changing filters against PostgreSQL.

``python -m benchmarks.loadtest [--size 1m|100k] [--sessions 20] [--seconds 60] [--postgres-url …]``

1. Builds the clinic of ``--size`` and bulk-loads it into a fresh PostgreSQL schema
   (:mod:`benchmarks.clinic`, :mod:`benchmarks.databases`); the schema is dropped afterwards.
2. Starts the server: ``streamlit run dashboard.py`` on 127.0.0.1 (headless, a free port),
   ``DATABASE_URL`` set to that schema. One session opens the overview (cold); then
   ``--sessions`` browser-less users connect to ``/_stcore/stream`` (asyncio + ``websockets``,
   Streamlit's ``BackMsg``/``ForwardMsg`` protobufs) in this process.
3. Each user loops until the deadline: it picks a random filter (condition, site, route, sex or
   age group; the options the page's own multiselects list), sets it to one value or clears it,
   sends ``rerun_script`` with those widget states and times the run up to ``script_finished``.
   Errors: an exception element, a database error shown on the page, a failed connection or
   message. No run starts after the deadline; a run in flight is waited for (``overrun_s``).

Why not ``AppTest`` in threads: it is not thread-safe. ``AppTest._run`` swaps process globals
(``Runtime._instance`` to a mock, then back to None after each run;
``PagesManager.uses_pages_directory``; the ``global.appTest`` config option). With 20 threads
on the 100k clinic, 14,965 of 15,039 runs failed within seconds (``KeyError: '$$ID-…-site'``,
``st.session_state has no key "$$STREAMLIT_INTERNAL_KEY_SCRIPT_RUN_WITHOUT_ERRORS"``); one
thread ran clean.

The report (also the last line of standard output, as JSON): runs, errors, median and 95th
percentile response time (all runs, and split into cohorts new to the server vs. cohorts some
session had already asked for), distinct cohorts hit, and the server process's peak resident
memory (``VmHWM`` from ``/proc/<pid>/status``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FILTERS: tuple[str, ...] = ("condition", "site", "route", "sex", "age")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_s": statistics.median(values) if values else float("nan"),
        "p95_s": _percentile(values, 95),
        "max_s": max(values) if values else float("nan"),
    }


# --------------------------------------------------------------------------- the server


def _cpu_seconds(pid: int) -> float:
    """User and system CPU seconds process ``pid`` has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _vm(pid: int, field: str) -> float:
    """``field`` (``VmHWM``, ``VmRSS``) of process ``pid`` from ``/proc/<pid>/status``, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Session:
    """One browser-less user: a websocket to ``/_stcore/stream`` speaking Streamlit's protobufs."""

    def __init__(self, port: int, timeout: float) -> None:
        self.port = port
        self.timeout = timeout
        self.widgets: dict[str, tuple[str, list[str]]] = {}  # filter key -> (widget id, options)
        self.ws: Any = None
        self.treated = ""  # the "Patients treated" metric of the last run

    async def __aenter__(self) -> _Session:
        import websockets

        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/_stcore/stream",
            subprotocols=["streamlit"],  # type: ignore[list-item]
            max_size=None,
            open_timeout=self.timeout,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def run(self, chosen: dict[str, list[str]]) -> str | None:
        """Rerun the script with the filters ``chosen``; the error it showed, if any."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        message = BackMsg()
        state = message.rerun_script
        state.query_string = ""
        for key, values in chosen.items():
            if key in self.widgets:
                widget = state.widget_states.widgets.add()
                widget.id = self.widgets[key][0]
                widget.string_array_value.data.extend(values)
        await self.ws.send(message.SerializeToString())
        error: str | None = None
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout=self.timeout)
            forward = ForwardMsg()
            forward.ParseFromString(raw)
            kind = forward.WhichOneof("type")
            if kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                which = element.WhichOneof("type")
                if which == "multiselect" and element.multiselect.label in _LABELS:
                    key = _LABELS[element.multiselect.label]
                    self.widgets[key] = (element.multiselect.id, list(element.multiselect.options))
                elif which == "metric" and element.metric.label == "Patients treated":
                    self.treated = element.metric.body
                elif which == "exception" and error is None:
                    error = f"exception: {element.exception.type}: {element.exception.message}"
                elif which == "alert" and "database" in element.alert.body.casefold() and error is None:
                    error = f"page error: {element.alert.body[:200]}"
            elif kind == "script_finished":
                status = forward.script_finished
                if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                    continue
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    error = error or "compile error"
                return error


_LABELS = {"Site": "site", "Condition": "condition", "Route": "route", "Sex": "sex", "Age group": "age"}


async def _user(
    index: int,
    port: int,
    deadline: float,
    timeout: float,
    seen: set[tuple[Any, ...]],
    records: list[dict[str, Any]],
) -> None:
    rng = random.Random(1000 + index)
    chosen: dict[str, list[str]] = {key: [] for key in FILTERS}

    async def one_run(session: _Session, change: str) -> None:
        cohort = tuple((key, tuple(chosen[key])) for key in FILTERS)
        first = cohort not in seen
        seen.add(cohort)
        start = time.perf_counter()
        try:
            error = await session.run(chosen)
        except Exception as exc:  # a failed run is an error, and the session goes on
            error = f"{type(exc).__name__}: {exc}"
        records.append(
            {
                "session": index,
                "change": change,
                "cohort": cohort,
                "first_seen": first,
                "seconds": time.perf_counter() - start,
                "ended": time.monotonic(),
                "error": error,
                "treated": session.treated,
            }
        )

    try:
        async with _Session(port, timeout) as session:
            await one_run(session, "open")
            if len(session.widgets) != len(FILTERS):
                raise RuntimeError(f"the sidebar filters were not found: {sorted(session.widgets)}")
            while time.monotonic() < deadline:
                key = rng.choice(FILTERS)
                values = [v for v in session.widgets[key][1] if [v] != chosen[key]]
                if chosen[key] and rng.random() < 0.3:
                    chosen[key] = []
                else:
                    chosen[key] = [rng.choice(values)]
                await one_run(session, key)
    except Exception as exc:
        records.append(
            {
                "session": index,
                "change": "connect",
                "cohort": (),
                "first_seen": False,
                "seconds": 0.0,
                "ended": time.monotonic(),
                "error": f"{type(exc).__name__}: {exc}",
            }
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(url: str, port: int, timeout: float) -> subprocess.Popen[bytes]:
    """``streamlit run dashboard.py`` on loopback, headless; returns once it answers."""
    import httpx

    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PROJECT_ROOT / "dashboard.py"),
        "--server.headless=true",
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
    ]
    server = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    limit = time.monotonic() + timeout
    while time.monotonic() < limit:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise RuntimeError("streamlit did not answer within the start-up timeout")


def drive(url: str, sessions: int, seconds: float) -> dict[str, Any]:
    """Start the server, open one session (cold), then ``sessions`` users until the deadline."""
    timeout = seconds + 300
    port = _free_port()
    server = _start_server(url, port, timeout=120)
    try:
        seen: set[tuple[Any, ...]] = set()
        cold_records: list[dict[str, Any]] = []
        asyncio.run(_user(-1, port, time.monotonic(), timeout, seen, cold_records))
        if any(r["error"] for r in cold_records):
            raise RuntimeError(f"the cold run failed: {cold_records[0]['error']}")
        cold = cold_records[0]["seconds"]
        rss_before = _vm(server.pid, "VmRSS")
        hwm_before = _vm(server.pid, "VmHWM")
        cpu_before = _cpu_seconds(server.pid)
        records: list[dict[str, Any]] = []
        began = time.monotonic()
        deadline = began + seconds

        async def everyone() -> None:
            await asyncio.gather(*(_user(i, port, deadline, timeout, seen, records) for i in range(sessions)))

        asyncio.run(everyone())
        finished = time.monotonic()
        cpu = _cpu_seconds(server.pid) - cpu_before
        hwm = _vm(server.pid, "VmHWM")
        rss_after = _vm(server.pid, "VmRSS")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    runs = [r for r in records if r["change"] not in ("open", "connect")]
    errors = [r for r in records if r["error"]]
    ok = [r["seconds"] for r in runs if not r["error"]]
    return {
        "sessions": sessions,
        "duration_s": seconds,
        "wall_s": finished - began,
        "overrun_s": max(0.0, max((r["ended"] for r in records), default=deadline) - deadline),
        "cold_s": cold,
        "opens": _stats([r["seconds"] for r in records if r["change"] == "open" and not r["error"]]),
        "runs": len(runs),
        "errors": len(errors),
        "error_samples": sorted({str(r["error"])[:300] for r in errors})[:5],
        "all": _stats(ok),
        "first_seen": _stats([r["seconds"] for r in runs if r["first_seen"] and not r["error"]]),
        "seen_before": _stats([r["seconds"] for r in runs if not r["first_seen"] and not r["error"]]),
        "distinct_cohorts": len({r["cohort"] for r in records if r["cohort"]}),
        "distinct_patients_treated": len({r.get("treated") for r in records if r.get("treated")}),
        "runs_per_s": len(runs) / max(finished - began, 1e-9),
        # The server is one process whose Python runs one thread at a time: its CPU per run
        # bounds the runs per second it can serve (docs/performance.md, "Many users at once:
        # parallel workers").
        "server_cpu_s": cpu,
        "server_cpu_ms_per_run": 1000 * cpu / max(sum(r["change"] != "connect" for r in records), 1),
        "rss_mb_before_sessions": rss_before,
        "peak_mb_before_sessions": hwm_before,
        "rss_mb_after": rss_after,
        "peak_mb": hwm,
    }


# --------------------------------------------------------------------------- the harness


def _print_report(size: str, load_s: float, described: str, result: dict[str, Any]) -> None:
    def line(label: str, s: dict[str, float]) -> str:
        return (
            f"  {label:<34} n={s['n']:>5}  median {s['median_s']:.3f} s  "
            f"p95 {s['p95_s']:.3f} s  max {s['max_s']:.3f} s"
        )

    print(f"clinic {size}: {described}; bulk load {load_s:.1f} s")
    print(
        f"server: streamlit run, {result['sessions']} websocket sessions, {result['duration_s']:.0f} s "
        f"(wall {result['wall_s']:.1f} s, last run ended {result['overrun_s']:.1f} s after the deadline)"
    )
    print(f"  cold overview (first run in the process)  {result['cold_s']:.3f} s")
    print(line("session opens (cached cohort)", result["opens"]))
    print(
        f"  filter-change runs {result['runs']}  errors {result['errors']}  "
        f"({result['runs_per_s']:.1f} runs/s; server CPU {result['server_cpu_ms_per_run']:.0f} ms per run)"
    )
    print(line("all filter changes", result["all"]))
    print(line("cohort new to the process", result["first_seen"]))
    print(line("cohort seen before (cache)", result["seen_before"]))
    print(
        f"  distinct cohorts hit {result['distinct_cohorts']} "
        f"(distinct 'Patients treated' values shown: {result['distinct_patients_treated']})"
    )
    print(
        f"  server peak memory (VmHWM) {result['peak_mb']:.0f} MB "
        f"({result['peak_mb_before_sessions']:.0f} MB after the cold run; RSS "
        f"{result['rss_mb_before_sessions']:.0f} -> {result['rss_mb_after']:.0f} MB)"
    )
    for sample in result["error_samples"]:
        print(f"  error: {sample}")


def main(argv: list[str]) -> int:
    from benchmarks.clinic import SIZES, build
    from benchmarks.databases import DEFAULT_POSTGRES_URL, bulk_load, check_postgres, fresh_database

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.loadtest", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--size", choices=["100k", "1m"], default="1m")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    options = parser.parse_args(argv)

    problem = check_postgres(options.postgres_url)
    if problem:
        print(f"PostgreSQL is not reachable at {options.postgres_url}: {problem}", file=sys.stderr)
        return 2
    clinic, _ = build(SIZES[options.size])
    described = clinic.describe()
    with (
        tempfile.TemporaryDirectory(prefix="loadtest-") as workdir,
        fresh_database("postgresql", f"load_{options.size}", Path(workdir), options.postgres_url) as database,
    ):
        load_s = bulk_load(database, clinic)
        del clinic
        gc.collect()
        result = drive(database.url, options.sessions, options.seconds)
    _print_report(options.size, load_s, described, result)
    print(json.dumps(result))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
