"""Import de-identified clinic data (SPEC §3): read → validate → refuse identifiers → one transaction.

Inputs are the three contract tables (``patients``, ``sessions``, ``followups``) as CSV files
named after them, as one ``.xlsx`` workbook with sheets of those names, or as pandas frames
(the demo generator). Every user-facing failure is a :class:`Problem` in the returned
:class:`ImportReport`; nothing is raised for bad input. A database that cannot be used raises
:class:`analysis.store.DatabaseError`.

Rules the SPEC leaves open, decided here:

- Headers: case-insensitive, surrounding spaces ignored, and inner spaces, hyphens and dots
  count as underscores (``Session Date`` is ``session_date``). A column without a header and
  without values is ignored; one with values is dropped with a warning (its cells are still
  screened for identifiers). Two columns with the same name are an error.
- Cells are trimmed. Empty cells and the markers ``NA``, ``N/A``, ``null``, ``none``, ``nan``
  and ``-`` (case-insensitive) mean "missing". Rows whose cells are all missing are skipped
  silently; row numbers still count them, as a spreadsheet would.
- Numbers use a decimal point; integers (``age``, ``pgic``, ``phq9``) accept ``7.0``.
  Dates are written ``YYYY-MM-DD`` (typed dates from a workbook or a frame are accepted; a
  time of day is ignored) and must fall between 1970-01-01 and the day of the import.
- ``patient_id`` is case-sensitive. ``site`` is at most 64 characters; missing → ``main``.
  A site containing a control character or a bidi override/isolate mark is refused (value
  hidden). Any other site text is stored verbatim, also one that starts with ``=``, ``+``,
  ``-`` or ``@``: it is never evaluated here, and exports neutralise such cells
  (:func:`analysis.report.neutralise_formula`). Every value reaches the database as a bound
  parameter, so SQL fragments in cells are plain text.
- Adverse-event codes are case-insensitive; spaces and hyphens inside a code count as
  underscores (``visual disturbance``).
- Upserts: a column absent from the file leaves the stored value of an existing row as it is
  (a new row gets NULL, or ``main`` for ``site``); a column present with an empty cell stores
  NULL. Rows identical to the stored ones are not written and are counted as ``unchanged``,
  so re-importing the same files writes nothing.
- Identifiers: a column whose name contains an identifier word (see
  :data:`IDENTIFIER_WORDS`) is refused; text cells that look like an e-mail address, a
  phone number (North-American forms, or ``+`` followed by 8–15 digits) or an SSN
  (``123-45-6789``) are refused with the value hidden. A bare run of digits is not treated as
  a phone number, so that pseudonyms such as ``5551234567`` stay possible.
- A workbook sheet whose name is not a table is ignored with a warning (clinics keep notes
  sheets); a CSV file whose name is not a table is an error.
- A follow-up dated before the patient's first session (stored or imported) is accepted and
  listed in ``data_quality``; a patient without any session is not flagged here (the outcome
  rules count it as not evaluable).
- Files: at most :data:`MAX_UPLOAD_BYTES` (200 MB) for all files of one import together,
  refused unread; a workbook may unpack to at most 1 GB. Two files for one table, a CSV with a
  workbook, or several workbooks are errors. A sheet or file without a header row is an error;
  a header alone imports zero rows.
- At most :data:`MAX_PROBLEMS` problems are listed, ordered by table and row; a final problem
  says how many more were found (``ImportReport.problem_count`` has the total). Problems not
  tied to one table (size, file mix) carry the table name ``import``, and a file whose name is
  not a table carries the file name.

Transactions, concurrency and the log:

- One import is one transaction, and nothing is ever deleted: rows are inserted or updated
  in place (upserts), never removed.
- Two imports at once run one after the other (SQLite ``BEGIN IMMEDIATE``; a PostgreSQL
  advisory lock), so the result is always that of one serial order. An import waits up to
  :data:`LOCK_WAIT_SECONDS` for another; when the database stays busy (locked, deadlock,
  serialization failure) it is tried :data:`BUSY_ATTEMPTS` times with a growing pause, then
  refused with :data:`BUSY_REASON`: nothing written, try again.
- Every attempt is recorded in the import log (:mod:`analysis.audit`): an applied import in
  its own transaction (data and log row, or neither), a refused one in a small transaction
  of its own afterwards. ``user`` (default ``unknown``) and ``source`` (``cli``, ``app``,
  ``demo``; default ``app``) are keyword arguments of the three entry points.

Validation works on whole columns (pandas/pyarrow string kernels, lookups once per distinct
value); Python loops run only over problems, over distinct candidate cells of the identifier
screen, over mixed-type columns of workbooks, and to build the row tuples the driver takes.

The database part: the patient ids the import names go into a temporary table
(``import_ids``, gone when the transaction ends) that every lookup joins; the stored rows of
those patients are compared with the import in pandas; new rows are appended (PostgreSQL: one
binary ``COPY`` per table; SQLite: ``executemany`` of tuples) and changed rows updated in place
by natural key (PostgreSQL: ``COPY`` into a temporary table, then ``UPDATE … FROM``).
"""

from __future__ import annotations

import codecs
import io
import random
import re
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Date, Engine, Float, Integer, String, Table, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from analysis import audit, facts, schema, vocabulary
from analysis.store import DatabaseError

TABLES: tuple[str, ...] = ("patients", "sessions", "followups")

#: Largest input accepted, all files of one import together; larger inputs are refused unread.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
#: Largest total uncompressed size of a workbook (guards against zip bombs).
MAX_WORKBOOK_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
#: Problems listed in a report; beyond it one final problem says how many more were found.
MAX_PROBLEMS = 1000
#: Most columns one table may have (the contract needs at most 9); wider files are refused
#: before they are parsed, so that width cannot be used to make an import take hours.
MAX_COLUMNS = 1000
#: A CSV header (the first record) must end within this many characters.
MAX_HEADER_CHARS = 1024 * 1024
#: Dates before this are refused as typos (ketamine was approved in 1970).
EARLIEST_DATE = date(1970, 1, 1)
#: Cell texts that mean "missing" (compared case-insensitively).
MISSING_MARKERS = frozenset({"na", "n/a", "null", "none", "nan", "-"})
#: How long one attempt waits for another import to finish before it gives up (seconds).
LOCK_WAIT_SECONDS = 10.0
#: Attempts at the database when it is busy (locked, deadlock, serialization failure).
BUSY_ATTEMPTS = 3
#: First pause between attempts (seconds); doubled each time, with a random jitter.
BUSY_BACKOFF_SECONDS = 0.25
#: The problem given when every attempt found the database busy.
BUSY_REASON = "the database was busy with another import and nothing was written; try again in a moment"

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id",),
    "sessions": ("patient_id", "session_date"),
    "followups": ("patient_id", "followup_date"),
}
_TABLE_LABELS = {"patients": "patients", "sessions": "sessions", "followups": "follow-ups"}
_SQL_TABLES: dict[str, Table] = {
    "patients": schema.patients,
    "sessions": schema.sessions,
    "followups": schema.followups,
}


# --------------------------------------------------------------------------- public results


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an import, located as a spreadsheet shows it (header = row 1)."""

    table: str
    row: int | None
    column: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = [self.table]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        return f"{', '.join(where)}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did, or why it wrote nothing.

    ``inserted``/``updated``/``unchanged`` are per imported table; an updated row existed and
    had a changed value, an unchanged row existed with the same values and was not written.
    ``problem_count`` counts every problem found, also those beyond the listed
    :data:`MAX_PROBLEMS`.
    """

    ok: bool
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    data_quality: list[Problem] = field(default_factory=list)
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    problem_count: int = 0
    #: The row of the import log (:mod:`analysis.audit`) that records this attempt, if any.
    import_id: int | None = None

    def summary_line(self) -> str:
        """One line for the CLI and the upload page."""
        if not self.ok:
            n = self.problem_count or len(self.problems)
            return f"Import refused: {n} problem{'s' if n != 1 else ''} found; nothing was written."
        parts = []
        for table in TABLES:
            if table not in self.inserted:
                continue
            new, upd = self.inserted[table], self.updated.get(table, 0)
            same = self.unchanged.get(table, 0)
            details = [
                f"{k} {label}" for k, label in ((new, "new"), (upd, "updated"), (same, "unchanged")) if k
            ]
            text = f"{new + upd + same} {_TABLE_LABELS[table]}"
            parts.append(f"{text} ({', '.join(details)})" if details else text)
        line = f"Imported {', '.join(parts) or 'nothing'}."
        if self.data_quality:
            n = len(self.data_quality)
            line += f" {n} data-quality note{'s' if n != 1 else ''}."
        return line


# --------------------------------------------------------------------------- entry points


def import_frames(
    engine: Engine,
    frames: Mapping[str, pd.DataFrame],
    *,
    today: date | None = None,
    user: str | None = None,
    source: str = "app",
) -> ImportReport:
    """Import tables given as frames keyed by table name (any subset of the three).

    Cells may be text (as read from CSV) or typed (dates, numbers, NaN/None). Row numbers in
    problems are spreadsheet rows: the frame's first row is row 2. ``user`` and ``source``
    (``cli``, ``app`` or ``demo``) go to the import log; each frame is logged with the SHA-256
    of its canonical CSV rendering (:func:`analysis.audit.canonical_csv`).
    """
    attempt = audit.Attempt.of(user, source, [audit.digest_frame(n, f) for n, f in frames.items()])
    problems = _Problems()
    sheets = []
    if not frames:
        problems.file("import", "nothing to import: give at least one of patients, sessions, followups")
    for name, frame in frames.items():
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frames[{name!r}] must be a pandas DataFrame, not {type(frame).__name__}")
        table = str(name).strip().casefold()
        if table not in TABLES:
            problems.file(str(name), "not a table of the import; use patients, sessions or followups")
            continue
        if any(sheet.table == table for sheet in sheets):
            problems.file(table, f"{table} is given twice")
            continue
        sheets.append(_Sheet.from_frame(table, frame, source=table))
    return _run(engine, sheets, today or date.today(), problems, [], attempt)


def import_paths(
    engine: Engine,
    paths: Sequence[str | Path],
    *,
    today: date | None = None,
    user: str | None = None,
    source: str = "app",
) -> ImportReport:
    """Import CSV files named ``patients``/``sessions``/``followups`` (``.csv``), or one ``.xlsx``.

    ``user`` and ``source`` go to the import log with each file's name, size and SHA-256.
    """
    audit.Attempt.of(user, source, [])  # a wrong source is a programming error: say so first
    problems = _Problems()
    files: list[Path] = []
    digests: list[audit.FileDigest] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            problems.file(path.name or str(path), f"file not found: {path}")
            digests.append(audit.FileDigest(path.name or str(path), None, None))
        else:
            files.append(path)
    total = sum(p.stat().st_size for p in files)
    if total > MAX_UPLOAD_BYTES:
        problems.file("import", _too_large(total))
    if problems:  # refused unread (the log hashes the files that exist, streaming them)
        attempt = audit.Attempt.of(user, source, [*digests, *(audit.digest_path(p) for p in files)])
        return _refused(problems, [], engine, attempt)
    uploads = [(p.name, p.read_bytes()) for p in files]
    attempt = audit.Attempt.of(user, source, [audit.digest_bytes(n, d) for n, d in uploads])
    return _import_files(engine, uploads, today, problems, attempt)


def import_uploads(
    engine: Engine,
    uploads: Sequence[tuple[str, bytes]],
    *,
    today: date | None = None,
    user: str | None = None,
    source: str = "app",
) -> ImportReport:
    """Import ``(file name, bytes)`` pairs, as :func:`import_paths` does files.

    Above :data:`MAX_UPLOAD_BYTES` (all files together) the import is refused before any file
    is parsed; the attempt is still logged, with each file's size and SHA-256.
    """
    attempt = audit.Attempt.of(
        user, source, [audit.digest_bytes(PurePath(name).name, data) for name, data in uploads]
    )
    problems = _Problems()
    total = sum(len(data) for _, data in uploads)
    if total > MAX_UPLOAD_BYTES:
        problems.file("import", _too_large(total))
        return _refused(problems, [], engine, attempt)
    files = [(PurePath(name).name, data) for name, data in uploads]
    return _import_files(engine, files, today, problems, attempt)


def _too_large(size: int) -> str:
    return (
        f"the files are {size / 1024**2:.0f} MB together, above the limit of "
        f"{MAX_UPLOAD_BYTES // 1024**2} MB; split the import into smaller files"
    )


def _import_files(
    engine: Engine,
    files: list[tuple[str, bytes]],
    today: date | None,
    problems: _Problems,
    attempt: audit.Attempt,
) -> ImportReport:
    warnings: list[str] = []
    sheets: list[_Sheet] = []
    if not files:
        problems.file("import", "no file given: give patients.csv, sessions.csv, followups.csv or one .xlsx")
    workbooks = [f for f in files if f[0].casefold().endswith(".xlsx")]
    if workbooks and (len(workbooks) > 1 or len(files) > 1):
        problems.file(
            "import", "give either CSV files or one .xlsx workbook, not several files with a workbook"
        )
        return _refused(problems, warnings, engine, attempt)
    seen: dict[str, str] = {}
    for name, data in files:
        suffix = PurePath(name).suffix.casefold()
        if suffix == ".xlsx":
            sheets.extend(_read_workbook(name, data, problems, warnings))
            continue
        if suffix != ".csv":
            problems.file(name, "unsupported file type; give .csv files or one .xlsx workbook")
            continue
        table = PurePath(name).stem.strip().casefold()
        if table not in TABLES:
            problems.file(name, "the file name must be patients.csv, sessions.csv or followups.csv")
            continue
        if table in seen:
            problems.file(name, f"a second file for {table} (the first was {seen[table]})")
            continue
        seen[table] = name
        sheet = _read_csv(name, table, data, problems)
        if sheet is not None:
            sheets.append(sheet)
    return _run(engine, sheets, today or date.today(), problems, warnings, attempt)


# --------------------------------------------------------------------------- reading files


@dataclass
class _Sheet:
    """One table as read: header texts, cells by position, and spreadsheet row numbers."""

    table: str
    headers: list[str]
    frame: pd.DataFrame  # columns 0..n-1 in header order
    rows: np.ndarray
    source: str

    @classmethod
    def from_frame(cls, table: str, frame: pd.DataFrame, source: str) -> _Sheet:
        headers = [_header_text(c) for c in frame.columns]
        body = frame.set_axis(range(frame.shape[1]), axis=1).reset_index(drop=True)
        return cls(table, headers, body, np.arange(2, len(body) + 2), source)


def _header_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()


_CSV_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _read_csv(name: str, table: str, data: bytes, problems: _Problems) -> _Sheet | None:
    """Decode and parse one CSV file; any failure becomes a file-level problem."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        problems.file(table, f"{name} is UTF-16 text; save it as 'CSV UTF-8'")
        return None
    if data.startswith(b"PK\x03\x04"):
        problems.file(table, f"{name} is a workbook or archive, not CSV text; name a workbook .xlsx")
        return None
    if b"\x00" in data:
        problems.file(table, f"{name} is a binary file, not CSV text")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.file(
            table,
            f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}, e.g. "
            "Latin-1/Windows encoding); save it as 'CSV UTF-8'",
        )
        return None
    if not text.strip():
        problems.file(table, f"{name} is empty: it needs at least a header row")
        return None
    width = _header_width(text)
    if width is None:
        problems.file(
            table,
            f"the first line of {name} is longer than {MAX_HEADER_CHARS:,} characters; "
            "it must hold the column names only",
        )
        return None
    if width > MAX_COLUMNS:
        problems.file(table, _too_wide(name, table, f"more than {MAX_COLUMNS:,}"))
        return None
    try:
        # header=None: the header is read as row 1 so that duplicate names are not mangled;
        # blank lines are kept so that row numbers match what a spreadsheet shows.
        frame = pd.read_csv(
            io.StringIO(text), header=None, dtype=str, keep_default_na=False, skip_blank_lines=False
        )
    except (pd.errors.ParserError, ValueError) as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        match = _CSV_FIELDS.search(str(exc))
        if match:
            expected, line, saw = match.groups()
            message = f"line {line} has {saw} fields but the first line has {expected}"
        problems.file(table, f"{name} is not a well-formed CSV file: {message}")
        return None
    headers = [_header_text(v) for v in frame.iloc[0].tolist()]
    if len(headers) == 1 and (";" in headers[0] or "\t" in headers[0]):
        separator = "';'" if ";" in headers[0] else "tabs"
        problems.file(table, f"{name} uses {separator} between columns; save it with commas (CSV)")
        return None
    body = frame.iloc[1:].reset_index(drop=True)
    return _Sheet(table, headers, body, np.arange(2, len(body) + 2), name)


def _read_workbook(name: str, data: bytes, problems: _Problems, warnings: list[str]) -> list[_Sheet]:
    """Sheets named after the tables (case-insensitive) from one .xlsx workbook."""
    from openpyxl import load_workbook  # imported here: only workbook imports pay for it

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_WORKBOOK_UNCOMPRESSED_BYTES:
            problems.file(name, "the workbook unpacks to more than 1 GB; split it into CSV files")
            return []
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or foreign file
        problems.file(name, f"{name} is not a readable .xlsx workbook ({type(exc).__name__})")
        return []
    sheets: list[_Sheet] = []
    seen: dict[str, str] = {}
    try:
        for sheet in book.worksheets:
            table = sheet.title.strip().casefold()
            if table not in TABLES:
                warnings.append(f"{name}: sheet {sheet.title!r} is not a table of the import and was ignored")
                continue
            if table in seen:
                problems.file(
                    table, f"{name} has two sheets for {table}: {seen[table]!r} and {sheet.title!r}"
                )
                continue
            seen[table] = sheet.title
            try:
                rows = list(sheet.iter_rows(min_row=1, values_only=True))
            except Exception as exc:  # a damaged sheet inside a readable archive
                problems.file(table, f"sheet {sheet.title!r} of {name} cannot be read ({type(exc).__name__})")
                continue
            sheet_rows = _sheet_from_rows(table, rows, f"{name}:{sheet.title}")
            if sheet_rows is None:
                problems.file(table, f"sheet {sheet.title!r} of {name} is empty: it needs a header row")
            else:
                sheets.append(sheet_rows)
    finally:
        book.close()
    if not seen:
        problems.file(name, "the workbook has no sheet named patients, sessions or followups")
    return sheets


_CSV_SPECIAL = re.compile(r'[,"\r\n]')


def _header_width(text: str) -> int | None:
    """Fields in the first CSV record, counted up to ``MAX_COLUMNS + 1`` without parsing.

    None when that record does not end within :data:`MAX_HEADER_CHARS` characters. Quotes
    are followed (a quoted comma or line break is part of a name); the scan is linear and
    looks at no more than the first :data:`MAX_HEADER_CHARS` characters.
    """
    fields, quoted = 1, False
    for match in _CSV_SPECIAL.finditer(text, 0, MAX_HEADER_CHARS):
        char = match.group()
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == ",":
            fields += 1
            if fields > MAX_COLUMNS:
                return fields
        else:
            return fields
    return fields if len(text) <= MAX_HEADER_CHARS else None


def _too_wide(name: str, table: str, columns: str) -> str:
    return (
        f"{name} has {columns} columns; a table may have at most {MAX_COLUMNS:,} "
        f"({table} needs at most {len(FIELDS[table])}): remove the extra columns"
    )


def _sheet_from_rows(table: str, rows: list[tuple], source: str) -> _Sheet | None:
    """The first non-empty row is the header; row numbers are the sheet's own."""
    first = next((i for i, r in enumerate(rows) if any(v is not None for v in r)), None)
    if first is None:
        return None
    width = max(len(r) for r in rows)
    padded = [list(r) + [None] * (width - len(r)) for r in rows]
    body = pd.DataFrame(padded[first + 1 :], columns=range(width), dtype=object)
    headers = [_header_text(v) for v in padded[first]]
    numbers = np.arange(first + 2, first + 2 + len(body))
    return _Sheet(table, headers, body, numbers, source)


# --------------------------------------------------------------------------- problems


class _Problems:
    """Problems found so far, gathered as small frames so that large counts stay cheap."""

    def __init__(self) -> None:
        self._chunks: list[pd.DataFrame] = []
        self._hidden: list[pd.DataFrame] = []

    def __bool__(self) -> bool:
        return bool(self._chunks)

    def copy(self) -> _Problems:
        """An independent list holding the problems found so far (one per database attempt)."""
        other = _Problems()
        other._chunks, other._hidden = list(self._chunks), list(self._hidden)
        return other

    def file(self, table: str, reason: str, column: str | None = None) -> None:
        self._chunks.append(
            pd.DataFrame([{"table": table, "row": 0, "column": column, "value": None, "reason": reason}])
        )

    def cells(
        self,
        table: str,
        column: str,
        mask: pd.Series | np.ndarray,
        rows: np.ndarray,
        values: pd.Series | None,
        reason: str | pd.Series,
    ) -> None:
        """A problem for each row where ``mask`` holds, echoing ``values`` (None: hidden)."""
        index = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(index):
            return
        shown = [None] * len(index) if values is None else [_display(v) for v in values.iloc[index].tolist()]
        reasons = reason if isinstance(reason, str) else reason.iloc[index].to_numpy(dtype=object)
        chunk = {"table": table, "row": rows[index], "column": column, "value": shown, "reason": reasons}
        self._chunks.append(pd.DataFrame(chunk))

    def hide(self, table: str, column: str, mask: pd.Series | np.ndarray, rows: np.ndarray) -> None:
        """Never echo these cells' values: they look identifying."""
        index = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(index):
            self._hidden.append(pd.DataFrame({"table": table, "row": rows[index], "column": column}))

    def build(self) -> tuple[list[Problem], int]:
        """Problems ordered by table, row, then the order found; capped at :data:`MAX_PROBLEMS`."""
        if not self._chunks:
            return [], 0
        found = pd.concat(self._chunks, ignore_index=True)
        if self._hidden:
            hidden = pd.concat(self._hidden, ignore_index=True)
            keys = ["table", "row", "column"]
            secret = pd.MultiIndex.from_frame(found[keys].astype(object)).isin(
                pd.MultiIndex.from_frame(hidden[keys].astype(object))
            )
            found.loc[secret, "value"] = None
            # A natural-key problem names several columns ("patient_id, session_date").
            multi = np.flatnonzero(found["column"].fillna("").str.contains(", ", regex=False).to_numpy())
            if len(multi):
                cells = set(hidden[keys].itertuples(index=False, name=None))
                for i in multi:
                    table, row, columns = found.loc[i, keys]
                    if any((table, row, column) in cells for column in columns.split(", ")):
                        found.loc[i, "value"] = None
        rank = {t: i for i, t in enumerate(("import", *TABLES))}
        found["_rank"] = found["table"].map(lambda t: rank.get(t, 0))
        found = found.sort_values(["_rank", "row"], kind="stable")
        total = len(found)
        listed = found.head(MAX_PROBLEMS).astype(object).where(found.head(MAX_PROBLEMS).notna(), None)
        result = [
            Problem(r["table"], int(r["row"]) or None, r["column"], r["value"], r["reason"])
            for r in listed.to_dict("records")
        ]
        if total > MAX_PROBLEMS:
            more = total - MAX_PROBLEMS
            result.append(Problem("import", None, None, None, f"and {more} more problems not listed"))
        return result, total


def _display(value: Any) -> str | None:
    """A cell as text for a problem message (long values shortened)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
    if isinstance(value, (pd.Timestamp, datetime)):
        value = value.date()
    text = value.isoformat() if isinstance(value, date) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _refused(
    problems: _Problems, warnings: list[str], engine: Engine, attempt: audit.Attempt
) -> ImportReport:
    listed, total = problems.build()
    report = ImportReport(ok=False, problems=listed, warnings=warnings, problem_count=total)
    _log_refusal(engine, report, attempt)
    return report


def _log_refusal(engine: Engine, report: ImportReport, attempt: audit.Attempt) -> None:
    """Record a refused attempt in the import log, in a small transaction of its own.

    The data tables are untouched whatever happens here; a log that cannot be written (the
    database unreachable, still busy) becomes a warning on the report, not an exception that
    would hide the problem list.
    """
    try:
        with _import_transaction(engine, exclusive=False) as connection:
            report.import_id = audit.record(
                connection, attempt, applied=False, problem_count=report.problem_count
            )
    except SQLAlchemyError as exc:
        report.warnings.append(
            f"the refused import could not be recorded in the import log ({_first_line(exc)})"
        )


def _first_line(exc: BaseException) -> str:
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return detail[0] if detail else type(exc).__name__


# --------------------------------------------------------------------------- identifiers

#: Words that make a column name a direct identifier (HIPAA Safe Harbor list and kin).
#: Matched against the name's words, so that ``condition`` does not match ``ip``.
IDENTIFIER_WORDS = frozenset(
    {
        "name", "names", "initials", "email", "emails", "mail", "phone", "phones", "telephone", "tel",
        "mobile", "cellphone", "fax", "ssn", "sin", "mrn", "address", "addresses", "street", "city",
        "county", "zip", "zipcode", "postcode", "postal", "dob", "birth", "birthdate", "birthday", "ip",
        "account", "acct", "licence", "license", "serial", "url", "uri", "website", "beneficiary",
        "certificate", "vehicle", "plate", "photo", "photos", "photograph", "picture", "biometric",
        "biometrics", "fingerprint", "passport", "nhs", "medicare", "medicaid",
    }
)  # fmt: skip
#: Word sequences that are identifiers although each word alone is not.
IDENTIFIER_PHRASES: tuple[tuple[str, ...], ...] = (
    ("e", "mail"), ("social", "security"), ("medical", "record"), ("record", "number"),
    ("chart", "number"), ("health", "plan"), ("device", "id"), ("cell", "phone"), ("cell", "number"),
    ("post", "code"), ("national", "id"), ("member", "id"), ("subscriber", "id"), ("policy", "number"),
    ("insurance", "number"),
)  # fmt: skip
#: Fragments that identify inside a longer word (``PatientEmail``, ``homephone``, ``dateofbirth``).
_IDENTIFIER_FRAGMENTS = (
    "email", "phone", "address", "surname", "firstname", "lastname", "fullname", "dateofbirth",
    "birthdate", "zipcode", "postcode", "postalcode", "socialsecurity", "medicalrecord", "ipaddress",
    "healthplan", "serialnumber", "beneficiary", "certificate", "biometric", "fingerprint", "licence",
    "license", "passport",
)  # fmt: skip


def identifier_reason(header: str) -> str | None:
    """Why a column name looks like a direct identifier, or None when it does not."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", header)
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.casefold()) if w]
    for i, word in enumerate(words):
        if word in IDENTIFIER_WORDS:
            return f"'{word}'"
        for phrase in IDENTIFIER_PHRASES:
            if tuple(words[i : i + len(phrase)]) == phrase:
                return f"'{' '.join(phrase)}'"
        if word.endswith("name"):
            return f"'{word}'"
        for fragment in _IDENTIFIER_FRAGMENTS:
            if fragment in word:
                return f"'{fragment}'"
    return None


# Bounded repeats (RFC 5321 lengths): an unbounded local part made a 1 MB cell like
# "aaaa…@b" take quadratic time (hours) in re.search; bounded, it stays linear.
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,63}"
)
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])", re.ASCII)
# Separators must repeat (555-123-4567, 555.123.4567, 555 123 4567) so that ISO dates and
# decimal numbers, which have at most one dot, never match.
_PHONES = (
    re.compile(r"(?<![\d.])(?:\+?1[\s.-]?)?\(\d{3}\)[\s.-]?\d{3}[\s.-]?\d{4}(?![.,]?\d)", re.ASCII),
    re.compile(r"(?<![\d.])(?:\+?1[\s.-]?)?\d{3}(?P<sep>[\s.-])\d{3}(?P=sep)\d{4}(?![.,]?\d)", re.ASCII),
    re.compile(r"(?<![\w+])\+(?:\d[\s.()-]{0,2}){8,15}(?!\d)", re.ASCII),
)


# Plain ASCII classes keep this on pyarrow's RE2 engine (pandas falls back to Python's re
# for \d, \s and lookarounds); the detailed patterns are ASCII-only to match it.
_CANDIDATE = r"@|[0-9 \t\r\n\f\v().+\-]{9,}"


def identifying_kind(text: str) -> str | None:
    """'an e-mail address', 'an SSN' or 'a phone number' when ``text`` contains one."""
    if "@" in text and _EMAIL.search(text):
        return "an e-mail address"
    if _SSN.search(text):
        return "an SSN"
    if any(p.search(text) for p in _PHONES):
        return "a phone number"
    return None


def _screen_cells(table: str, header: str, cells: pd.Series, rows: np.ndarray, problems: _Problems) -> None:
    """Refuse text cells that look identifying, hiding their values."""
    if not _is_text(cells):
        return
    present = cells.dropna()
    if present.empty:
        return
    # Only cells with an '@' or a run of 9+ digits and separators can match (one linear-time
    # regex over the column); the detailed regexes then run once per distinct candidate.
    candidates = present[present.str.contains(_CANDIDATE)]
    if candidates.empty:
        return
    kinds = {v: identifying_kind(v) for v in pd.unique(candidates.to_numpy(dtype=object))}
    found = cells.map({v: k for v, k in kinds.items() if k}).astype(object)
    mask = found.notna().to_numpy()
    reason = found.map(
        lambda kind: f"looks like {kind} (value hidden: it would identify a person); remove it from the file",
        na_action="ignore",
    )
    problems.cells(table, header, mask, rows, None, reason)
    problems.hide(table, header, mask, rows)


# --------------------------------------------------------------------------- cell parsing


def _is_text(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.StringDtype)


def _cell_text(value: Any) -> str:
    """One typed cell (from a workbook or a frame) as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):  # includes pandas Timestamp; a time of day is ignored
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _cells(raw: pd.Series) -> pd.Series:
    """Cells as stripped text with missing → NaN, unless the column is already typed.

    Typed numbers stay float64 and typed dates become datetime64; everything else is text.
    """
    dtype = raw.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raw = raw.astype(object)
    elif pd.api.types.is_numeric_dtype(dtype):
        return raw.astype("float64")
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        return _naive_days(raw)
    kind = pd.api.types.infer_dtype(raw, skipna=True)
    if kind in ("date", "datetime", "datetime64"):
        converted = pd.to_datetime(raw, errors="coerce")
        if converted.notna().sum() == raw.notna().sum():
            return _naive_days(converted)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return pd.to_numeric(raw, errors="coerce").astype("float64")
    if kind in ("string", "empty"):
        text = raw.astype("str")
    else:  # mixed types: the slow, per-cell path (workbooks and hand-made frames only)
        text = raw.map(_cell_text, na_action="ignore").astype("str")
    text = text.str.strip()
    return text.mask((text == "") | text.str.lower().isin(MISSING_MARKERS))


def _naive_days(values: pd.Series) -> pd.Series:
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    return values.dt.normalize()


def _as_text(cells: pd.Series) -> pd.Series:
    """Typed cells as text, for columns that hold codes or identifiers."""
    if _is_text(cells):
        return cells
    if pd.api.types.is_datetime64_any_dtype(cells.dtype):
        return cells.dt.strftime("%Y-%m-%d").astype("str")
    return cells.astype(object).map(_cell_text, na_action="ignore").astype("str")


# --------------------------------------------------------------------------- the contract

_Kind = Literal["patient_id", "site", "condition", "route", "sex", "date", "number", "integer", "events"]


@dataclass(frozen=True)
class _Field:
    """One contract column: how it is parsed and which values are allowed."""

    name: str
    kind: _Kind
    required: bool = False
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    rule: str = ""


def _pain(name: str, label: str, required: bool = False) -> _Field:
    return _Field(name, "number", required, 0, 10, rule=f"{label} must be from 0 to 10 (NRS)")


FIELDS: dict[str, tuple[_Field, ...]] = {
    "patients": (
        _Field("patient_id", "patient_id", True),
        _Field("condition", "condition", True),
        _Field("site", "site"),
        _Field("age", "integer", low=18, high=120, rule="age must be a whole number of years from 18 to 120"),
        _Field("sex", "sex"),
        _pain("baseline_pain", "baseline pain"),
        _Field("baseline_mme", "number", low=0, rule="baseline MME must be 0 or more (mg/day)"),
    ),
    "sessions": (
        _Field("patient_id", "patient_id", True),
        _Field("session_date", "date", True),
        _Field("route", "route", True),
        _Field("dose_mg", "number", True, 0, 1000, low_exclusive=True,
               rule="dose must be above 0 and at most 1000 mg"),
        _Field("weight_kg", "number", low=30, high=300, rule="weight must be from 30 to 300 kg"),
        _pain("pre_pain", "pre-session pain"),
        _pain("post_pain", "post-session pain"),
        _Field("adverse_events", "events"),
        _Field("ae_duration_min", "number", low=0, rule="adverse-event duration must be 0 minutes or more"),
    ),
    "followups": (
        _Field("patient_id", "patient_id", True),
        _Field("followup_date", "date", True),
        _pain("pain", "pain", required=True),
        _Field("pgic", "integer", low=1, high=7, rule="PGIC must be a whole number from 1 to 7"),
        _pain("bpi_interference", "BPI interference"),
        _Field("phq9", "integer", low=0, high=27, rule="PHQ-9 must be a whole number from 0 to 27"),
        _Field("mme", "number", low=0, rule="MME must be 0 or more (mg/day)"),
        _Field("adverse_events", "events"),
    ),
}  # fmt: skip

_PATIENT_ID = r"[A-Za-z0-9_.\-]{1,64}"
# C0/C1 control characters and the Unicode bidi embedding/override/isolate marks (text that
# displays differently from what it is): never part of a site name.
_CONTROL = "[\\x00-\\x1f\\x7f-\\x9f\u202a-\u202e\u2066-\u2069]"  # RE2 and re alike
_ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_AGE_CAP = 90


def _normalise_header(header: str) -> str:
    return re.sub(r"[\s.\-]+", "_", header.strip().casefold())


def _vocabulary_hint(lookup: Mapping[str, tuple[str, ...]]) -> str:
    return ", ".join(lookup)


_CONDITION_RULE = (
    f"unknown condition; use one of {_vocabulary_hint(vocabulary.CONDITION_LABELS)} "
    "(or a label such as CRPS, PHN, migraines)"
)
_ROUTE_RULE = (
    f"unknown route; use one of {_vocabulary_hint(vocabulary.ROUTE_LABELS)} (or IN, IM, IV, PO, SL, SC)"
)
_SEX_RULE = f"sex must be one of {', '.join(vocabulary.SEXES)}"


def _events(label: str) -> tuple[str | None, str | None]:
    """(canonical codes or None, problem or None) for one ``;``-separated adverse-event cell."""
    codes = [re.sub(r"[\s\-]+", "_", c.strip().casefold()) for c in label.split(";")]
    codes = [c for c in codes if c]
    unknown = [c for c in codes if c not in vocabulary.ADVERSE_EVENT_LOOKUP]
    if unknown:
        if identifying_kind(label):  # never echo an identifier, not even inside a reason
            named = "(value hidden)"
        else:
            named = ", ".join(repr(_display(c)) for c in unknown[:5])
            named += f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        return None, (
            f"unknown adverse event {named}; use codes separated by ';' "
            f"from: {', '.join(vocabulary.ADVERSE_EVENTS)}"
        )
    canonical = sorted({vocabulary.ADVERSE_EVENT_LOOKUP[c] for c in codes})
    return (";".join(canonical) or None), None


def _by_unique(cells: pd.Series, parse: Callable[[str], Any]) -> pd.Series:
    """Apply ``parse`` once per distinct value (vocabularies repeat heavily)."""
    codes, distinct = pd.factorize(cells)  # missing cells get code -1
    parsed = np.empty(len(distinct) + 1, dtype=object)
    for i, value in enumerate(distinct):
        parsed[i] = parse(value)
    parsed[-1] = np.nan
    return pd.Series(parsed[codes], index=cells.index, dtype=object)


def _parse_field(
    table: str, spec: _Field, raw_cells: pd.Series, rows: np.ndarray, today: date, problems: _Problems
) -> pd.Series:
    """Typed values of one column; a cell with a problem becomes missing (and is reported)."""
    name = spec.name
    present = raw_cells.notna().to_numpy()
    if spec.required:
        problems.cells(table, name, ~present, rows, None, f"{name} is required")

    if spec.kind in ("number", "integer"):
        numeric = raw_cells
        if not pd.api.types.is_float_dtype(numeric.dtype):
            numeric = pd.to_numeric(_as_text(raw_cells), errors="coerce").astype("float64")
        values = numeric.to_numpy(dtype="float64")
        not_number = present & np.isnan(values)
        problems.cells(table, name, not_number, rows, raw_cells, f"not a number; {spec.rule}")
        with np.errstate(invalid="ignore"):
            low_ok = (
                True
                if spec.low is None
                else (values > spec.low if spec.low_exclusive else values >= spec.low)
            )
            high_ok = True if spec.high is None else values <= spec.high
            in_range = low_ok & high_ok & np.isfinite(values)
            if spec.kind == "integer":
                in_range &= np.mod(values, 1) == 0
        bad = present & ~not_number & ~in_range
        problems.cells(table, name, bad, rows, raw_cells, spec.rule)
        cleaned = pd.Series(np.where(bad, np.nan, values), dtype="float64")
        if spec.kind == "integer":
            if name == "age":  # SPEC §3: stored capped at 90 ("90+", HIPAA Safe Harbor)
                cleaned = cleaned.clip(upper=_AGE_CAP)
            return cleaned.astype("Int64")
        return cleaned

    if spec.kind == "date":
        if pd.api.types.is_datetime64_any_dtype(raw_cells.dtype):
            parsed = raw_cells.astype("datetime64[us]")
        else:
            text = _as_text(raw_cells)
            iso = text.str.fullmatch(_ISO_DATE).to_numpy(dtype=bool)
            problems.cells(
                table, name, present & ~iso, rows, raw_cells, f"{name} must be a date written YYYY-MM-DD"
            )
            parsed = pd.to_datetime(text.where(iso), format="%Y-%m-%d", errors="coerce").astype(
                "datetime64[us]"
            )
            problems.cells(
                table, name, iso & parsed.isna().to_numpy(), rows, raw_cells, "not a real date (no such day)"
            )
        too_early = (parsed < pd.Timestamp(EARLIEST_DATE)).to_numpy()
        problems.cells(table, name, too_early, rows, raw_cells, "the date is before 1970; check the year")
        future = (parsed > pd.Timestamp(today)).to_numpy()
        problems.cells(
            table,
            name,
            future,
            rows,
            raw_cells,
            f"the date is after the day of the import ({today.isoformat()})",
        )
        return parsed.mask(too_early | future)

    text = _as_text(raw_cells)
    if spec.kind == "patient_id":
        ok = text.str.fullmatch(_PATIENT_ID).to_numpy(dtype=bool)
        problems.cells(
            table,
            name,
            present & ~ok,
            rows,
            raw_cells,
            "patient_id must be 1 to 64 letters, digits, '_', '.' or '-' (a pseudonym)",
        )
        return text.where(ok).astype(object)
    if spec.kind == "site":
        long = (text.str.len() > 64).to_numpy(dtype=bool)
        problems.cells(table, name, long, rows, raw_cells, "site must be at most 64 characters")
        control = text.str.contains(_CONTROL).to_numpy(dtype=bool) & ~long
        problems.cells(
            table,
            name,
            control,
            rows,
            None,
            "site contains a control or text-direction character (value hidden); retype the site name",
        )
        return text.mask(long | control).fillna("main").astype(object)
    if spec.kind == "events":
        parsed = _by_unique(text, _events)
        codes = parsed.map(lambda p: p[0], na_action="ignore")
        errors = parsed.map(lambda p: p[1], na_action="ignore")
        problems.cells(table, name, errors.notna().to_numpy(), rows, raw_cells, errors)
        return codes.where(errors.isna()).astype(object)
    lookups: dict[str, tuple[Callable[[str], str | None], str]] = {
        "condition": (vocabulary.canonical_condition, _CONDITION_RULE),
        "route": (vocabulary.canonical_route, _ROUTE_RULE),
        "sex": (lambda v: vocabulary.SEX_LOOKUP.get(v.casefold()), _SEX_RULE),
    }
    canonical, rule = lookups[spec.kind]
    codes = _by_unique(text, canonical)
    problems.cells(table, name, present & codes.isna().to_numpy(), rows, raw_cells, rule)
    return codes


# --------------------------------------------------------------------------- one table


@dataclass
class _Checked:
    """A validated table: typed contract columns present in the input, plus ``_row``."""

    table: str
    data: pd.DataFrame
    supplied: tuple[str, ...]


_LISTED_COLUMNS = 20  # unknown columns named in the warning; the rest are counted


def _check_sheet(sheet: _Sheet, today: date, problems: _Problems, warnings: list[str]) -> _Checked:
    table, fields = sheet.table, {f.name: f for f in FIELDS[sheet.table]}
    contract: dict[str, int] = {}
    unknown: list[str] = []
    screened: list[int] = []
    for position, header in enumerate(sheet.headers):
        if header and identifying_kind(header):
            problems.file(table, "a column name looks identifying (name hidden); remove the column")
            continue
        key = _normalise_header(header)
        if key in fields:
            if key in contract:
                problems.file(table, f"two columns are named {key}; keep one", column=_display(header))
                continue
            contract[key] = position
            screened.append(position)
        elif not header:
            screened.append(position)
        elif (why := identifier_reason(header)) is not None:
            problems.file(
                table,
                f"the column name looks like a direct identifier ({why}); remove the column: "
                "identifiers must not be imported",
                column=_display(header),
            )
        else:
            unknown.append(header)
            screened.append(position)

    # Contract columns are parsed one by one; every other screened column (unknown or without
    # a header) only needs its missing cells and the identifier screen, so those are stacked
    # into one long column and done in one pass, however wide the file.
    in_contract = set(contract.values())
    cells = {position: _cells(sheet.frame[position]) for position in screened if position in in_contract}
    extra = [position for position in screened if position not in in_contract]
    missing = [c.isna().to_numpy() for c in cells.values()]
    n_rows = len(sheet.frame)
    if extra:
        block = sheet.frame.iloc[:, extra].to_numpy(dtype=object).ravel(order="F")
        stacked = _cells(pd.Series(block, dtype=object))
        missing.extend(stacked.isna().to_numpy().reshape(len(extra), n_rows))
    # A row whose cells are all missing is an empty spreadsheet row: skipped, numbering kept.
    empty = np.logical_and.reduce(missing) if missing else np.ones(n_rows, dtype=bool)
    keep = ~empty
    rows = sheet.rows[keep]
    n_kept = len(rows)
    cells = {p: c[keep].reset_index(drop=True) for p, c in cells.items()}
    extra_cells: dict[int, pd.Series] = {}
    if extra:
        stacked = stacked[np.tile(keep, len(extra))].reset_index(drop=True)
        present = stacked.notna().to_numpy().reshape(len(extra), n_kept)
        if _is_text(stacked):
            candidate = stacked.str.contains(_CANDIDATE).fillna(False).to_numpy(dtype=bool)
            flagged = candidate.reshape(len(extra), n_kept).any(axis=1)
        else:
            flagged = np.zeros(len(extra), dtype=bool)
        for i, position in enumerate(extra):
            if not sheet.headers[position] and present[i].any():
                warnings.append(f"{table}: column {_letter(position)} has no header and was dropped")
            if flagged[i]:
                extra_cells[position] = stacked.iloc[i * n_kept : (i + 1) * n_kept].reset_index(drop=True)

    for position in screened:
        series = cells.get(position, extra_cells.get(position))
        if series is not None:
            label = _display(sheet.headers[position]) or f"column {_letter(position)}"
            _screen_cells(table, label, series, rows, problems)
    if unknown:
        listed = ", ".join(repr(_display(h)) for h in unknown[:_LISTED_COLUMNS])
        if len(unknown) > _LISTED_COLUMNS:
            listed += f" and {len(unknown) - _LISTED_COLUMNS:,} more"
        warnings.append(
            f"{table}: column(s) {listed} are not part of the import and were dropped (not stored)"
        )

    for name, spec in fields.items():
        if spec.required and name not in contract:
            problems.file(table, f"the required column {name} is missing", column=name)

    data = pd.DataFrame({"_row": rows})
    for name, position in contract.items():
        parsed = _parse_field(table, fields[name], cells[position], rows, today, problems)
        data[name] = parsed.set_axis(data.index)
    supplied = tuple(n for n in fields if n in contract)
    return _Checked(table, data, supplied)


def _letter(position: int) -> str:
    """Spreadsheet column letter(s) for a 0-based position: 0 → A, 26 → AA."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _check_duplicates(checked: Mapping[str, _Checked], problems: _Problems) -> None:
    """Two rows with the same natural key in one import: report every row of the pair/group."""
    for table, keys in NATURAL_KEYS.items():
        c = checked.get(table)
        if c is None or not set(keys) <= set(c.data.columns):
            continue
        key_frame = c.data[list(keys)]
        twice = (key_frame.notna().all(axis=1) & key_frame.duplicated(keep=False)).to_numpy()
        if not twice.any():
            continue
        dup = c.data.loc[twice, [*keys, "_row"]]
        together = dup.groupby(list(keys), sort=False)["_row"].transform(lambda r: ", ".join(map(str, r)))
        shown = dup[list(keys)].astype(object).map(_display).agg(", ".join, axis=1)
        what = {"patients": "patient", "sessions": "session", "followups": "follow-up"}[table]
        reason = (
            f"the same {' and '.join(keys)} appear in rows " + together + f"; each {what} must appear once"
        )
        problems.cells(table, ", ".join(keys), np.ones(len(dup), bool), dup["_row"].to_numpy(), shown, reason)


# --------------------------------------------------------------------------- the database
#
# Reads and writes go to the driver directly, in the import's transaction: SQLAlchemy's
# per-row work (parameter dicts, Row objects, expanding IN lists compiled per chunk) was most
# of the import's time (docs/performance.md). Driver errors are wrapped as SQLAlchemy would
# wrap them, so that a busy database is retried and any other failure is a DatabaseError.

#: The temporary table of the patient ids an import names, with the tables that name them.
_ID_TABLE = "import_ids"
#: Rows per driver call when writing.
_WRITE_BATCH = 5000
#: PostgreSQL binary COPY types of the stored columns, by SQLAlchemy type.
_PG_COPY_TYPES: dict[type, str] = {Integer: "int4", Float: "float8", Date: "date", String: "text"}


def _ids(*series: pd.Series) -> list[str]:
    values = pd.concat([s.dropna() for s in series], ignore_index=True) if series else pd.Series([])
    return [str(v) for v in pd.unique(values.to_numpy(dtype=object))]


@contextmanager
def _driver_cursor(connection: Connection, statement: str) -> Iterator[Any]:
    """A DBAPI cursor in the connection's transaction; driver errors raised as SQLAlchemy's."""
    dbapi_error = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.cursor()
    try:
        yield cursor
    except dbapi_error as exc:
        raise DBAPIError.instance(statement, None, exc, dbapi_error, dialect=connection.dialect) from exc
    finally:
        cursor.close()


def _query(connection: Connection, statement: str, columns: Sequence[str]) -> pd.DataFrame:
    """Rows of ``statement`` as a frame (values as the driver returns them)."""
    with _driver_cursor(connection, statement) as cursor:
        cursor.execute(statement)
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=list(columns))


def _driver_values(values: pd.Series, postgres: bool) -> list[Any]:
    """A column as plain Python values, None for missing; dates as ``date`` for PostgreSQL and
    as ISO text for SQLite (what SQLAlchemy's ``Date`` stores there)."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        codes, days = pd.factorize(values)  # few distinct days: convert each once
        shown = [d.date() if postgres else d.strftime("%Y-%m-%d") for d in days]
        return np.array([*shown, None], dtype=object)[codes].tolist()  # code -1 (NaT) → None
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64")
        plain = numbers.astype(object)
        plain[np.isnan(numbers)] = None
        return plain.tolist()
    return values.to_numpy(dtype=object, na_value=None).tolist()


def _insert_rows(
    connection: Connection, table: Table | str, frame: pd.DataFrame, types: Sequence[str] = ()
) -> None:
    """Append ``frame``'s rows to ``table`` (its columns by name): SQLite ``executemany`` of
    tuples, PostgreSQL binary ``COPY`` (``types``: the COPY type of each column of a table
    given by name; a :class:`Table` says them itself)."""
    if frame.empty:
        return
    postgres = connection.dialect.name == "postgresql"
    if isinstance(table, Table):
        types = [_PG_COPY_TYPES[type(table.c[str(name)].type)] for name in frame.columns]
        table = table.name
    names = ", ".join(str(name) for name in frame.columns)
    rows = list(zip(*(_driver_values(frame[name], postgres) for name in frame.columns), strict=True))
    if not postgres:
        marks = ", ".join("?" for _ in frame.columns)
        statement = f"INSERT INTO {table} ({names}) VALUES ({marks})"
        for start in range(0, len(rows), _WRITE_BATCH):
            connection.exec_driver_sql(statement, rows[start : start + _WRITE_BATCH])
        return
    statement = f"COPY {table} ({names}) FROM STDIN (FORMAT binary)"
    with _driver_cursor(connection, statement) as cursor, cursor.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def _update_rows(connection: Connection, table: Table, frame: pd.DataFrame, keys: Sequence[str]) -> None:
    """Set the non-key columns of ``frame`` on the stored rows with the same ``keys``."""
    if frame.empty:
        return
    values = [str(name) for name in frame.columns if name not in keys]
    if connection.dialect.name == "postgresql":
        staged = f"import_rows_{table.name}"
        columns = ", ".join(str(name) for name in frame.columns)
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE {staged} ON COMMIT DROP AS SELECT {columns} FROM {table.name} WITH NO DATA"
        )
        types = [_PG_COPY_TYPES[type(table.c[str(name)].type)] for name in frame.columns]
        _insert_rows(connection, staged, frame, types)
        assignments = ", ".join(f"{name} = s.{name}" for name in values)
        matches = " AND ".join(f"t.{name} = s.{name}" for name in keys)
        connection.exec_driver_sql(
            f"UPDATE {table.name} AS t SET {assignments} FROM {staged} AS s WHERE {matches}"
        )
        return
    assignments = ", ".join(f"{name} = ?" for name in values)
    matches = " AND ".join(f"{name} = ?" for name in keys)
    ordered = frame[[*values, *keys]]
    rows = list(zip(*(_driver_values(ordered[name], False) for name in ordered.columns), strict=True))
    statement = f"UPDATE {table.name} SET {assignments} WHERE {matches}"
    for start in range(0, len(rows), _WRITE_BATCH):
        connection.exec_driver_sql(statement, rows[start : start + _WRITE_BATCH])


def _stage_ids(connection: Connection, roles: Mapping[str, list[str]]) -> None:
    """Fill the temporary :data:`_ID_TABLE`: every patient id the import names, and in which
    tables. The lookups below join it instead of sending the ids in ``IN`` lists."""
    everyone = pd.Series(_ids(*(pd.Series(ids, dtype=object) for ids in roles.values())), dtype=object)
    frame = pd.DataFrame({"patient_id": everyone})
    for table in TABLES:
        frame[f"in_{table}"] = everyone.isin(roles.get(table, [])).astype("int64")
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE {_ID_TABLE} (patient_id text PRIMARY KEY, in_patients int2 NOT NULL, "
            "in_sessions int2 NOT NULL, in_followups int2 NOT NULL) ON COMMIT DROP"
        )
        _insert_rows(connection, _ID_TABLE, frame, ["text", "int2", "int2", "int2"])
        connection.exec_driver_sql(f"ANALYZE {_ID_TABLE}")  # a plan for its real size
        return
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{_ID_TABLE}")
    connection.exec_driver_sql(
        f"CREATE TEMP TABLE {_ID_TABLE} (patient_id TEXT PRIMARY KEY, in_patients INTEGER NOT NULL, "
        "in_sessions INTEGER NOT NULL, in_followups INTEGER NOT NULL)"
    )
    _insert_rows(connection, _ID_TABLE, frame)


def _unstage_ids(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":  # PostgreSQL drops it at commit
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{_ID_TABLE}")


def _stored_patients(connection: Connection) -> pd.DataFrame:
    """Stored patients named anywhere in the import (all columns, ``id`` included)."""
    names = [c.name for c in schema.patients.c]
    columns = ", ".join(f"p.{name}" for name in names)
    return _query(
        connection,
        f"SELECT {columns} FROM {_ID_TABLE} AS i JOIN patients AS p ON p.patient_id = i.patient_id",
        names,
    )


def _key_map(connection: Connection, role: str) -> pd.Series:
    """Surrogate ``patients.id`` by ``patient_id``, for the patients the ``role`` table names."""
    found = _query(
        connection,
        f"SELECT i.patient_id, p.id FROM {_ID_TABLE} AS i "
        f"JOIN patients AS p ON p.patient_id = i.patient_id WHERE i.in_{role} = 1",
        ["patient_id", "id"],
    )
    return found.set_index("patient_id")["id"]


def _stored_rows(connection: Connection, table: Table) -> pd.DataFrame:
    """Stored rows of ``table`` for the patients the import's ``table`` names, with ``patient_id``."""
    names = [c.name for c in table.c]
    columns = ", ".join(f"t.{name}" for name in names)
    return _query(
        connection,
        f"SELECT i.patient_id, {columns} FROM {_ID_TABLE} AS i "
        "JOIN patients AS p ON p.patient_id = i.patient_id "
        f"JOIN {table.name} AS t ON t.patient_key = p.id WHERE i.in_{table.name} = 1",
        ["patient_id", *names],
    )


def _first_sessions(connection: Connection) -> pd.DataFrame:
    """Each stored first session date of the patients the import's follow-ups name."""
    return _query(
        connection,
        f"SELECT i.patient_id, MIN(s.session_date) FROM {_ID_TABLE} AS i "
        "JOIN patients AS p ON p.patient_id = i.patient_id "
        "JOIN sessions AS s ON s.patient_key = p.id WHERE i.in_followups = 1 GROUP BY i.patient_id",
        ["patient_id", "first_session"],
    )


def _as_days(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).astype("datetime64[us]")


def _check_patients_exist(checked: Mapping[str, _Checked], known: set[str], problems: _Problems) -> None:
    for table in ("sessions", "followups"):
        c = checked.get(table)
        if c is None or "patient_id" not in c.data:
            continue
        ids = c.data["patient_id"]
        unknown = (ids.notna() & ~ids.isin(known)).to_numpy()
        problems.cells(
            table,
            "patient_id",
            unknown,
            c.data["_row"].to_numpy(),
            ids,
            "unknown patient: not in the database nor in this import's patients",
        )


def _followups_before_first_session(
    checked: Mapping[str, _Checked], stored_first: pd.DataFrame
) -> list[Problem]:
    """Data quality (accepted): a follow-up dated before the patient's first session."""
    f = checked.get("followups")
    if f is None or f.data.empty or not {"patient_id", "followup_date"} <= set(f.data.columns):
        return []
    firsts = [stored_first.assign(first_session=_as_days(stored_first["first_session"]))]
    s = checked.get("sessions")
    if s is not None and {"patient_id", "session_date"} <= set(s.data.columns):
        firsts.append(
            s.data[["patient_id", "session_date"]].rename(columns={"session_date": "first_session"})
        )
    first = pd.concat(firsts, ignore_index=True).dropna().groupby("patient_id")["first_session"].min()
    if first.empty:  # no session anywhere: mapping onto an empty date lookup makes pandas raise
        return []
    followup_first = f.data["patient_id"].map(first)
    early = (f.data["followup_date"] < followup_first).to_numpy()
    return [
        Problem(
            "followups",
            int(row),
            "followup_date",
            _display(day),
            f"the follow-up is dated before the patient's first session ({_display(first_day)}); "
            "accepted, please check the date",
        )
        for row, day, first_day in zip(
            f.data["_row"][early], f.data["followup_date"][early], followup_first[early], strict=True
        )
    ]


def _differs(new: pd.Series, old: pd.Series) -> np.ndarray:
    """Element-wise 'the value changed', with missing equal to missing."""
    if pd.api.types.is_datetime64_any_dtype(new.dtype):
        old = _as_days(old)
    elif pd.api.types.is_numeric_dtype(new.dtype):
        new, old = new.astype("float64"), pd.to_numeric(old, errors="coerce").astype("float64")
    else:
        new, old = new.astype(object), old.astype(object)
    both_missing = new.isna().to_numpy() & old.isna().to_numpy()
    same = (new == old).fillna(False).to_numpy(dtype=bool)
    return ~(same | both_missing)


def _write_table(
    connection: Connection, c: _Checked, stored: pd.DataFrame, db_keys: Sequence[str], counts: ImportReport
) -> list[str]:
    """Write one validated table: insert new rows, update changed ones in place; rows identical
    to the stored ones are not written. Returns the ``patient_id`` of every row written."""
    natural = list(NATURAL_KEYS[c.table])
    data = c.data.drop(columns="_row")
    if c.table == "patients" and "site" not in c.supplied:
        data["site"] = "main"  # for new patients only: not in the update set below
    compared = [n for n in c.supplied if n not in natural]
    old = stored[[*natural, *compared]].rename(columns={n: f"{n}__old" for n in compared})
    for name in natural:
        if name.endswith("_date"):
            old[name] = _as_days(old[name])
    merged = data.merge(old.assign(__exists=True), on=natural, how="left", validate="one_to_one")
    exists = merged["__exists"].eq(True).to_numpy()
    changed = np.zeros(len(merged), dtype=bool)
    if exists.any():  # only stored rows can be unchanged
        both = merged.loc[exists]
        for name in compared:
            changed[exists] |= _differs(both[name], both[f"{name}__old"])
    counts.inserted[c.table] = int((~exists).sum())
    counts.updated[c.table] = int((exists & changed).sum())
    counts.unchanged[c.table] = int((exists & ~changed).sum())

    table = _SQL_TABLES[c.table]
    new = data.loc[~exists]
    updated = data.loc[exists & changed, [*natural, *compared]]
    if c.table != "patients" and (len(new) or len(updated)):
        key_map = _key_map(connection, c.table)
        new = new.assign(patient_id=new["patient_id"].map(key_map)).rename(
            columns={"patient_id": "patient_key"}
        )
        updated = updated.assign(patient_id=updated["patient_id"].map(key_map)).rename(
            columns={"patient_id": "patient_key"}
        )
    _insert_rows(connection, table, new)
    _update_rows(connection, table, updated, db_keys)
    return _ids(data.loc[~exists | changed, "patient_id"])


# --------------------------------------------------------------------------- the import


@contextmanager
def _import_transaction(engine: Engine, exclusive: bool = True) -> Iterator[Connection]:
    """One transaction that holds the importers' write lock from its first statement.

    Two imports at once then run one after the other, each reading what the other committed,
    so the result is always the result of one serial order (never a mix of the two).

    - SQLite: ``BEGIN IMMEDIATE`` takes the write lock before the first read. pysqlite would
      otherwise start the transaction only at the first write, after the reads, and a reader
      that becomes a writer can fail at once in WAL mode. This connection alone is switched to
      driver-level autocommit (SQLAlchemy's documented recipe for emitting ``BEGIN``) while
      the transaction runs, and waits at most :data:`LOCK_WAIT_SECONDS` for the lock.
    - PostgreSQL: a transaction-scoped advisory lock per schema, taken before the first read
      (READ COMMITTED: every later statement sees the other import's commit), waited for at
      most :data:`LOCK_WAIT_SECONDS` (``lock_timeout``).

    ``exclusive=False`` (logging a refusal) skips the PostgreSQL advisory lock: a log row
    needs no serial order. On SQLite every write needs the database's one write lock anyway.
    """
    wait_ms = max(1, round(LOCK_WAIT_SECONDS * 1000))
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                connection.execute(select(func.set_config("lock_timeout", f"{wait_ms}ms", True)))
                connection.execute(_PG_LOOKUP_PLANS)
                if exclusive:
                    connection.execute(_PG_IMPORT_LOCK)
                yield connection
            return
        raw = connection.connection.driver_connection
        saved_level = raw.isolation_level
        saved_wait = raw.execute("PRAGMA busy_timeout").fetchone()[0]
        raw.isolation_level = None  # pysqlite issues no BEGIN of its own; we issue ours
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


#: The import's queries read and derive the rows of the patients it names, a few among many in
#: a large clinic: index lookups, not scans of every stored row. With the server defaults
#: (``random_page_cost`` 4, meant for spinning disks; ``jit`` on) PostgreSQL scanned the 10M
#: sessions to derive the facts of 32,787 new patients and compiled the plan: 2.26 s, against
#: 0.65 s as lookups. Local to the import's transaction (docs/performance.md).
_PG_LOOKUP_PLANS = sql_text(
    "SELECT set_config('random_page_cost', '1.1', true), set_config('jit', 'off', true)"
)
_PG_IMPORT_LOCK = sql_text(
    "SELECT pg_advisory_xact_lock(hashtextextended('ketamine-outcomes import ' || current_schema(), 0))"
)
#: PostgreSQL SQLSTATEs worth another attempt: serialization failure, deadlock, lock timeout.
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
#: SQLite result codes worth another attempt: SQLITE_BUSY, SQLITE_LOCKED (low byte).
_RETRY_SQLITE_CODES = frozenset({5, 6})


def _is_busy(exc: SQLAlchemyError) -> bool:
    """True when ``exc`` means "another transaction was in the way", not "the database is broken"."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _RETRY_SQLITE_CODES:
        return True
    message = str(orig or exc).casefold()
    return "database is locked" in message or "database table is locked" in message


def _run(
    engine: Engine,
    sheets: list[_Sheet],
    today: date,
    problems: _Problems,
    warnings: list[str],
    attempt: audit.Attempt,
) -> ImportReport:
    """Validate everything, then write it in one transaction if nothing is wrong.

    The database part is tried up to :data:`BUSY_ATTEMPTS` times when another transaction is
    in the way (SQLite busy, PostgreSQL deadlock, serialization failure or lock timeout), with
    a growing pause; then the import is refused with :data:`BUSY_REASON`. Any other database
    failure raises :class:`DatabaseError`. Either way nothing was written.
    """
    checked: dict[str, _Checked] = {}
    for sheet in sheets:
        if len(sheet.headers) > MAX_COLUMNS:  # workbooks and frames; CSV files are checked unparsed
            problems.file(sheet.table, _too_wide(sheet.source, sheet.table, f"{len(sheet.headers):,}"))
            continue
        checked[sheet.table] = _check_sheet(sheet, today, problems, warnings)
    _check_duplicates(checked, problems)

    report = ImportReport(ok=False, warnings=warnings)
    for number in range(1, BUSY_ATTEMPTS + 1):
        report = ImportReport(ok=False, warnings=list(warnings))
        try:
            _write(engine, checked, problems.copy(), report, attempt)
        except SQLAlchemyError as exc:
            if not _is_busy(exc):
                where = engine.url.render_as_string(hide_password=True)
                raise DatabaseError(
                    f"The import could not use the database at {where}; nothing was written "
                    f"({_first_line(exc)})."
                ) from exc
            if number < BUSY_ATTEMPTS:
                pause = BUSY_BACKOFF_SECONDS * 2 ** (number - 1)
                time.sleep(pause * random.uniform(0.5, 1.5))
                continue
            report = ImportReport(
                ok=False,
                problems=[Problem("import", None, None, None, BUSY_REASON)],
                warnings=list(warnings),
                problem_count=1,
            )
        break
    if not report.ok:
        _log_refusal(engine, report, attempt)
    return report


def _write(
    engine: Engine,
    checked: Mapping[str, _Checked],
    problems: _Problems,
    report: ImportReport,
    attempt: audit.Attempt,
) -> None:
    """One attempt: the checks that need the database, then the writes and the log row."""

    def column(table: str, name: str) -> pd.Series:
        c = checked.get(table)
        return c.data[name] if c is not None and name in c.data else pd.Series([], dtype=object)

    with _import_transaction(engine) as connection:
        _stage_ids(connection, {table: _ids(column(table, "patient_id")) for table in checked})
        stored_patients = _stored_patients(connection)
        known = set(stored_patients["patient_id"]) | set(_ids(column("patients", "patient_id")))
        _check_patients_exist(checked, known, problems)
        stored_first = _first_sessions(connection)
        report.data_quality = _followups_before_first_session(checked, stored_first)
        if problems:
            _unstage_ids(connection)
            report.problems, report.problem_count = problems.build()
            return  # nothing was written; the transaction ends empty
        written_ids: set[str] = set()
        if "patients" in checked:
            imported = stored_patients["patient_id"].isin(_ids(column("patients", "patient_id")))
            written_ids.update(
                _write_table(
                    connection, checked["patients"], stored_patients[imported], ["patient_id"], report
                )
            )
        for table, date_column in (("sessions", "session_date"), ("followups", "followup_date")):
            if table in checked:
                stored = _stored_rows(connection, _SQL_TABLES[table])
                keys = ["patient_key", date_column]
                written_ids.update(_write_table(connection, checked[table], stored, keys, report))
        _unstage_ids(connection)
        counts = {
            table: {
                "inserted": report.inserted[table],
                "updated": report.updated[table],
                "unchanged": report.unchanged[table],
            }
            for table in TABLES
            if table in report.inserted
        }
        # The per-patient facts follow the rows they come from, in the same transaction; a
        # patient's facts depend on that patient's rows only, so unchanged patients keep theirs.
        facts.refresh(connection, written_ids)
        # The log row is part of the import's transaction: data and log, or neither.
        report.import_id = audit.record(connection, attempt, applied=True, counts=counts)
    report.ok = not report.problems


__all__ = [
    "FIELDS",
    "IDENTIFIER_PHRASES",
    "IDENTIFIER_WORDS",
    "MAX_PROBLEMS",
    "MAX_UPLOAD_BYTES",
    "ImportReport",
    "Problem",
    "identifier_reason",
    "identifying_kind",
    "import_frames",
    "import_paths",
    "import_uploads",
]
