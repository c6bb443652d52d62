"""Reading the files of one import: CSV per table, or one .xlsx workbook with a sheet per table."""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.domain.contract import FIELDS, TABLES
from analysis.ingest import limits
from analysis.ingest.identifiers import name_identifier_kind
from analysis.ingest.report import _Problems

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
            f"the first line of {name} is longer than {limits.MAX_HEADER_CHARS:,} characters; "
            "it must hold the column names only",
        )
        return None
    if width > limits.MAX_COLUMNS:
        problems.file(table, _too_wide(name, table, f"more than {limits.MAX_COLUMNS:,}"))
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
        if unpacked > limits.MAX_WORKBOOK_UNCOMPRESSED_BYTES:
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
            if (kind := name_identifier_kind(sheet.title)) is not None:
                problems.file(
                    name,
                    f"a sheet's name looks like {kind} (name hidden: it would identify a person); "
                    "rename or delete the sheet",
                )
                continue
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
            where = f"sheet {sheet.title!r} of {name}"
            too_large = _declared_too_large(sheet, where, table)
            if too_large:
                problems.file(table, too_large)
                continue
            try:
                rows, too_large = _bounded_rows(sheet, where, table)
            except Exception as exc:  # a damaged sheet inside a readable archive
                problems.file(table, f"{where} cannot be read ({type(exc).__name__})")
                continue
            if too_large:
                problems.file(table, too_large)
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


def _declared_too_large(sheet: Any, where: str, table: str) -> str | None:
    """Why the size a sheet declares (its ``<dimension ref=…>``) is refused before reading, or None."""
    columns, rows = sheet.max_column, sheet.max_row
    if columns is None or rows is None:  # no declaration: the rows are bounded while read
        return None
    from openpyxl.utils import get_column_letter

    declared = f"A1:{get_column_letter(columns)}{rows}"
    if columns > limits.MAX_COLUMNS:
        return _too_wide(f"{where} (range {declared})", table, f"{columns:,}")
    if rows * columns > limits.MAX_SHEET_CELLS:
        return _too_many_cells(f"{where} spans {declared}", rows, columns)
    return None


def _bounded_rows(sheet: Any, where: str, table: str) -> tuple[list[tuple], str | None]:
    """The sheet's rows up to its last row with a value, or why it is refused, found while reading.

    The declared size is not trusted (an understated one would cut rows and columns off, an
    absent one says nothing): a row with cells beyond :data:`MAX_COLUMNS` columns (even empty,
    formatted ones), more rows than a spreadsheet can have, or more than
    :data:`MAX_SHEET_CELLS` cells up to the last row with a value stop the reading at once.
    Rows without a value are kept as empty tuples, so what is held stays within those limits.
    """
    sheet.reset_dimensions()  # read every cell there is, whatever the declaration says
    rows: list[tuple] = []
    width = 0
    last = -1  # index of the last row with a value
    for row in sheet.iter_rows(values_only=True):
        if len(row) > limits.MAX_COLUMNS:
            return [], _too_wide(where, table, f"cells in more than {limits.MAX_COLUMNS:,}")
        if len(rows) >= limits.MAX_SHEET_ROWS:
            return [], f"{where} has more than {limits.MAX_SHEET_ROWS:,} rows, more than a sheet can hold"
        if row.count(None) == len(row):
            rows.append(())
            continue
        rows.append(tuple(row))
        last = len(rows) - 1
        width = max(width, len(row))
        if (last + 1) * width > limits.MAX_SHEET_CELLS:
            return [], _too_many_cells(f"{where} has", last + 1, width)
    return rows[: last + 1], None


def _too_many_cells(what: str, rows: int, columns: int) -> str:
    return (
        f"{what} {rows:,} rows × {columns:,} columns, more than the "
        f"{limits.MAX_SHEET_CELLS:,} cells a sheet may span: delete the unused rows and columns "
        "(select them, Delete), or save each table as a CSV file"
    )


_CSV_SPECIAL = re.compile(r'[,"\r\n]')


def _header_width(text: str) -> int | None:
    """Fields in the first CSV record, counted up to ``MAX_COLUMNS + 1`` without parsing.

    None when that record does not end within :data:`MAX_HEADER_CHARS` characters. Quotes
    are followed (a quoted comma or line break is part of a name); the scan is linear and
    looks at no more than the first :data:`MAX_HEADER_CHARS` characters.
    """
    fields, quoted = 1, False
    for match in _CSV_SPECIAL.finditer(text, 0, limits.MAX_HEADER_CHARS):
        char = match.group()
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char == ",":
            fields += 1
            if fields > limits.MAX_COLUMNS:
                return fields
        else:
            return fields
    return fields if len(text) <= limits.MAX_HEADER_CHARS else None


def _too_wide(name: str, table: str, columns: str) -> str:
    return (
        f"{name} has {columns} columns; a table may have at most {limits.MAX_COLUMNS:,} "
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
