"""Targets, the one results table (text and markdown), machine facts, and the doc block.

Ratios compare costs (seconds, MB, or seconds per row for throughputs), so both read the same
way whatever the unit: ``ours/DuckDB`` > 1 means we need more than DuckDB over the same data;
``pandas/ours`` > 1 means loading everything into pandas needs more than we do.
"""

from __future__ import annotations

import os
import platform
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from benchmarks.commands import COMMANDS

MEASURES: dict[str, tuple[str, str]] = {
    # key: (label, unit)
    "bulk": ("bulk load (COPY / executemany)", "rows/s"),
    "import": ("import via real importer", "rows/s"),
    "reimport": ("re-import, all unchanged", "rows/s"),
    "import_into": ("import into this clinic (new patients)", "rows/s"),
    # The same imports stopped before deriving and rolled back: the three tables alone.
    "import_floor": ("import, tables only (no derived tables)", "rows/s"),
    "import_into_floor": ("import into this clinic, tables only", "rows/s"),
    "summary_cold": ("summary condition×route, cold", "s"),
    "summary_disk": ("summary condition×route, cold from disk", "s"),
    "summary_warm": ("summary condition×route, warm", "s"),
    "overview_cold": ("overview page, cold", "s"),
    "filter_new": ("filter change, new filter", "s"),
    "filter_cached": ("filter change, cache has seen it", "s"),
    "app_peak": ("app process peak memory", "MB"),
    "load_p95": ("20 users changing filters at once, p95 of a run", "s"),
    "load_errors": ("20 users changing filters at once, errors", "errors"),
    **{key: (label, "s") for key, (label, _) in COMMANDS.items()},
    **{
        f"{key}_peak": (f"{label.removesuffix(', cold')}, peak memory", "MB")
        for key, (label, _) in COMMANDS.items()
    },
}
#: Sizes the 1M targets apply to: a clinic of 1M sessions or fewer.
UP_TO_1M = ("100k", "1m")


@dataclass(frozen=True)
class Target:
    """``value`` must be at most (``"<="``) or at least (``">="``) ``limit``."""

    op: str
    limit: float

    def met(self, value: float) -> bool:
        return value <= self.limit if self.op == "<=" else value >= self.limit

    def factor(self, value: float) -> float:
        """How far off the target a failing value is (> 1), as a multiple."""
        if value <= 0 or self.limit <= 0:
            return float("inf")
        return value / self.limit if self.op == "<=" else self.limit / value

    def off(self, value: float) -> str:
        """How far off, in words: a multiple, or "missed" where none means anything (0 errors)."""
        factor = self.factor(value)
        return "missed" if factor == float("inf") else f"{factor:.1f}× off"


def target(measure: str, engine: str, size: str) -> Target | None:
    """The issue's targets (2-core machine); the 1M targets also hold for smaller clinics."""
    if measure == "import":
        return Target(">=", 100_000)
    if measure == "import_into" and size == "10m":  # issue #16: into a stored 10M clinic, both databases
        return Target(">=", 100_000)
    if measure == "app_peak" or (measure.startswith("cmd_") and measure.endswith("_peak")):
        return Target("<=", 300)
    if measure.startswith("cmd_"):  # CLI commands (benchmarks/commands.py)
        if size in UP_TO_1M:
            return Target("<=", 1.0)
        if size == "10m" and engine == "postgresql":
            return Target("<=", 2.0)
        return None
    if measure == "summary_cold":
        if size in UP_TO_1M:
            return Target("<=", 0.5 if engine == "sqlite" else 0.3)
        if size == "10m" and engine == "postgresql":
            return Target("<=", 1.0)
    if measure == "overview_cold" and size in UP_TO_1M:
        return Target("<=", 1.5)
    if measure == "filter_cached" and size in UP_TO_1M:
        return Target("<=", 0.3)
    if measure == "load_p95":  # issue #16: the 20-session load test at 1M
        return Target("<=", 2.0)
    if measure == "load_errors":
        return Target("<=", 0)
    return None


@dataclass
class Row:
    """One measurement of one engine at one size, with its DuckDB and pandas counterparts."""

    measure: str
    engine: str
    size: str
    value: float | None
    duckdb: float | None = None
    pandas: float | None = None
    check: str = ""
    note: str = ""

    @property
    def label(self) -> str:
        return MEASURES[self.measure][0]

    @property
    def unit(self) -> str:
        return MEASURES[self.measure][1]

    @property
    def target(self) -> Target | None:
        return target(self.measure, self.engine, self.size)

    def _cost(self, value: float | None) -> float | None:
        if value is None or value <= 0:
            return None
        return 1 / value if self.unit == "rows/s" else value

    def ratio_duckdb(self) -> float | None:
        ours, duck = self._cost(self.value), self._cost(self.duckdb)
        return None if ours is None or duck is None else ours / duck

    def ratio_pandas(self) -> float | None:
        ours, pandas = self._cost(self.value), self._cost(self.pandas)
        return None if ours is None or pandas is None else pandas / ours

    def result(self) -> str:
        goal = self.target
        if self.value is None:
            return "not run" if goal is None else "NOT RUN"
        if goal is None:
            return ""
        if goal.met(self.value):
            return "pass"
        return f"FAIL ({goal.off(self.value)})"


def fmt(value: float | None, unit: str) -> str:
    """A number for the table, with its unit."""
    if value is None:
        return "—"
    if unit == "rows/s":
        return f"{value:,.0f}/s"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit == "errors":
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:,.0f} s"
    if value >= 10:
        return f"{value:.1f} s"
    return f"{value:.3f} s" if value < 1 else f"{value:.2f} s"


def _ratio(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}×" if value >= 100 else f"{value:.1f}×"


HEADERS = (
    "measurement",
    "engine",
    "size",
    "measured",
    "target",
    "result",
    "DuckDB",
    "pandas",
    "ours/DuckDB",
    "pandas/ours",
    "counts",
)


def cells(row: Row) -> list[str]:
    goal = row.target
    return [
        row.label,
        row.engine,
        row.size,
        fmt(row.value, row.unit),
        "—" if goal is None else f"{'≤' if goal.op == '<=' else '≥'} {fmt(goal.limit, row.unit)}",
        row.result(),
        fmt(row.duckdb, row.unit),
        fmt(row.pandas, row.unit),
        _ratio(row.ratio_duckdb()),
        _ratio(row.ratio_pandas()),
        row.check,
    ]


def text_table(rows: list[Row]) -> str:
    """The table for a terminal (fixed-width columns)."""
    body = [list(HEADERS), *[cells(r) for r in rows]]
    widths = [max(len(line[i]) for line in body) for i in range(len(HEADERS))]
    numeric = {3, 4, 6, 7, 8, 9}
    lines = []
    for n, line in enumerate(body):
        lines.append(
            "  ".join(
                c.rjust(w) if i in numeric and n else c.ljust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[Row]) -> str:
    """The same table in GitHub markdown."""
    align = ["---", "---", "---", "---:", "---:", "---", "---:", "---:", "---:", "---:", "---"]
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def failures(rows: list[Row]) -> list[str]:
    """One line per target missed."""
    out = []
    for row in rows:
        goal = row.target
        if goal is None or row.value is None or goal.met(row.value):
            continue
        sign = "≤" if goal.op == "<=" else "≥"
        out.append(
            f"{row.label} — {row.engine} {row.size}: {fmt(row.value, row.unit)} against "
            f"{sign} {fmt(goal.limit, row.unit)} ({goal.off(row.value)})"
        )
    return out


# --------------------------------------------------------------------------- machine facts


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


#: The issue's reference figure for loading the 100k clinic into pandas and computing, measured
#: on "a 2-core machine like ours": the benchmark compares this machine's speed against it.
REFERENCE_PANDAS_100K_S = 0.47


def calibration(pandas_100k_s: float | None) -> str | None:
    """How fast this machine is against the issue's reference machine, from the pandas probe."""
    if pandas_100k_s is None:
        return None
    return (
        f"machine speed: loading the 100k clinic into pandas took {pandas_100k_s:.2f} s here, "
        f"{REFERENCE_PANDAS_100K_S:.2f} s on the issue's reference machine "
        f"({pandas_100k_s / REFERENCE_PANDAS_100K_S:.1f}× its time)"
    )


def machine_facts(postgres: dict[str, str] | None) -> list[str]:
    """Lines describing where the numbers were measured."""
    facts = [
        f"date: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"CPU: {os.cpu_count()} cores ({_cpu_model()}); RAM {_memory_gib()}; "
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; "
        + "; ".join(
            f"{name} {_package(name)}"
            for name in (
                "pandas",
                "numpy",
                "pyarrow",
                "SQLAlchemy",
                "psycopg",
                "streamlit",
                "duckdb",
                "statsmodels",
            )
        ),
    ]
    if postgres:
        version_text = postgres.get("server_version", "?")
        settings = ", ".join(f"{k}={v}" for k, v in postgres.items() if k != "server_version")
        facts.append(f"PostgreSQL {version_text} (server defaults: {settings})")
    return facts


def _markers(block_id: str) -> tuple[str, str]:
    return (
        f"<!-- benchmark results {block_id}: begin (written by `python -m benchmarks`) -->",
        f"<!-- benchmark results {block_id}: end -->",
    )


def results_block(block_id: str, command: str, rows: list[Row], facts: list[str], notes: list[str]) -> str:
    """The generated part of docs/performance.md for one kind of run (``block_id``)."""
    begin, end = _markers(block_id)
    lines = [
        begin,
        "",
        f"Command: `{command}`",
        "",
        *[f"- {fact}" for fact in facts],
        "",
        markdown_table(rows),
        "",
    ]
    missed = failures(rows)
    lines += ["Targets missed:", ""] + ([f"- {line}" for line in missed] or ["- none"]) + [""]
    if notes:
        lines += ["Notes from this run:", "", *[f"- {note}" for note in notes], ""]
    lines.append(end)
    return "\n".join(lines)


RESULTS_HEADING = "## Results"


def write_doc(path: Path, block_id: str, block: str) -> None:
    """Replace the block ``block_id`` of ``path``; else add it at the end of the results section."""
    begin, end = _markers(block_id)
    current = path.read_text() if path.exists() else "# Performance\n"
    if begin in current and end in current:
        before, rest = current.split(begin, 1)
        path.write_text(before + block + rest.split(end, 1)[1])
        return
    if RESULTS_HEADING in current:  # after the section's last block, before the next heading
        before, after = current.split(RESULTS_HEADING, 1)
        cut = after.find("\n## ")
        section, rest = (after, "") if cut < 0 else (after[: cut + 1], after[cut + 1 :])
        path.write_text(f"{before}{RESULTS_HEADING}{section.rstrip()}\n\n{block}\n\n{rest}")
        return
    path.write_text(current.rstrip() + f"\n\n{RESULTS_HEADING}\n\n{block}\n")
