"""The import's entry points: frames (the demo), paths (the CLI), uploads (the Data page)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path, PurePath

import pandas as pd
from sqlalchemy import Engine

from analysis.db import audit
from analysis.domain.contract import TABLES
from analysis.ingest import limits
from analysis.ingest.identifiers import name_identifier_kind
from analysis.ingest.readers import _read_csv, _read_workbook, _Sheet
from analysis.ingest.report import ImportReport, _Problems
from analysis.ingest.transaction import _refused, _run

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
    of its canonical CSV rendering (:func:`analysis.db.audit.canonical_csv`).
    """
    problems = _Problems()
    attempt = audit.Attempt.of(
        user, source, _screen_names([audit.digest_frame(str(n), f) for n, f in frames.items()], problems)
    )
    sheets: list[_Sheet] = []
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
    if total > limits.MAX_UPLOAD_BYTES:
        problems.file("import", _too_large(total))
    if problems or any(name_identifier_kind(p.name) for p in files):
        # refused unread (the log hashes the files that exist, streaming them)
        logged = _screen_names([*digests, *(audit.digest_path(p) for p in files)], problems)
        return _refused(problems, [], engine, audit.Attempt.of(user, source, logged))
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
    problems = _Problems()
    digests = [audit.digest_bytes(PurePath(name).name, data) for name, data in uploads]
    attempt = audit.Attempt.of(user, source, _screen_names(digests, problems))
    total = sum(len(data) for _, data in uploads)
    if total > limits.MAX_UPLOAD_BYTES:
        problems.file("import", _too_large(total))
    if problems:  # a file name that identifies, or too large: refused unread
        return _refused(problems, [], engine, attempt)
    files = [(PurePath(name).name, data) for name, data in uploads]
    return _import_files(engine, files, today, problems, attempt)


#: What the import log keeps instead of a file name that looks identifying.
HIDDEN_NAME = "(file name hidden: it looked identifying)"


def _screen_names(digests: list[audit.FileDigest], problems: _Problems) -> list[audit.FileDigest]:
    """The files as the import log may keep them: a name that looks identifying (an e-mail
    address, a phone number, an SSN, a person's name) refuses the import and is never stored —
    the log keeps the file's size and SHA-256 under :data:`HIDDEN_NAME`."""
    screened = []
    for digest in digests:
        kind = name_identifier_kind(digest.name)
        if kind is None:
            screened.append(digest)
            continue
        problems.file(
            "import",
            f"a file name looks like {kind} (name hidden: it would identify a person, and file names "
            "are kept in the import log); rename the file, e.g. patients.csv or clinic.xlsx",
        )
        screened.append(replace(digest, name=HIDDEN_NAME))
    return screened


def _too_large(size: int) -> str:
    return (
        f"the files are {size / 1024**2:.0f} MB together, above the limit of "
        f"{limits.MAX_UPLOAD_BYTES // 1024**2} MB; split the import into smaller files"
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
