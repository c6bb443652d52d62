"""The importer's limits and fixed names: tables, natural keys, sizes, waits."""

from __future__ import annotations

from sqlalchemy import Table

from analysis.db import schema
from analysis.domain import definition

#: Largest input accepted, all files of one import together; larger inputs are refused unread.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
#: Largest total uncompressed size of a workbook (guards against zip bombs).
MAX_WORKBOOK_UNCOMPRESSED_BYTES = 1024 * 1024 * 1024
#: Problems listed in a report; beyond it one final problem says how many more were found.
MAX_PROBLEMS = 1000
#: Most columns one table may have (the contract needs at most 9); wider files are refused
#: before they are parsed, so that width cannot be used to make an import take hours.
MAX_COLUMNS = 1000
#: Most cells one workbook sheet may span (rows to the last row with a value × columns): an
#: Excel sheet of 1,048,576 rows and 19 columns. A sheet's declared size is checked before any
#: row is read, and the real size while reading (the declaration can be wrong): a 2 KB file
#: declaring A1:XFD1048576 would otherwise make the importer allocate about 137 GB.
MAX_SHEET_CELLS = 20_000_000
#: Rows of an Excel sheet; a workbook claiming more is not one a spreadsheet wrote.
MAX_SHEET_ROWS = 1_048_576
#: A CSV header (the first record) must end within this many characters.
MAX_HEADER_CHARS = 1024 * 1024
#: Dates before this are refused as typos (ketamine was approved in 1970).
EARLIEST_DATE = definition.EARLIEST_DATE
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

TABLE_LABELS = {"patients": "patients", "sessions": "sessions", "followups": "follow-ups"}
SQL_TABLES: dict[str, Table] = {
    "patients": schema.patients,
    "sessions": schema.sessions,
    "followups": schema.followups,
}
