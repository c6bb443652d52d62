"""Hostile workbooks and identifiers in names: refused cleanly, logged, nothing lost, nothing
identifying kept (issue #14, items 10 and 15; docs/import.md)."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import pytest
from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import Engine, func, select

from analysis.db import audit, schema
from analysis.ingest import import_uploads, limits

# --------------------------------------------------------------------------- crafted workbooks


def cell(column: int, row: int, value: str | float | None) -> str:
    ref = f"{get_column_letter(column)}{row}"
    if value is None:
        return f'<c r="{ref}" s="0"/>'  # an empty, formatted cell
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def workbook(rows: dict[int, list[tuple[int, str | float | None]]], dimension: str | None) -> bytes:
    """A one-sheet workbook ``patients`` whose sheet XML is written by hand (as a hostile or a
    careless program would): ``rows`` maps a row number to its (column, value) cells."""
    book = Workbook()
    book.active.title = "patients"
    skeleton = io.BytesIO()
    book.save(skeleton)
    body = "".join(
        f'<row r="{number}">' + "".join(cell(c, number, v) for c, v in cells) + "</row>"
        for number, cells in sorted(rows.items())
    )
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"{declared}<sheetData>{body}</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(skeleton) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            target.writestr(info, sheet.encode() if info.filename == "xl/worksheets/sheet1.xml" else data)
    return out.getvalue()


HEADER = [(1, "patient_id"), (2, "condition")]


def patients(n: int, first_row: int = 2) -> dict[int, list[tuple[int, str | float | None]]]:
    return {first_row + i: [(1, f"W{i}"), (2, "crps")] for i in range(n)}


def stored_patients(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(schema.patients)).scalar_one()


def last_attempt(engine: Engine) -> dict:
    return audit.recent_imports(engine, limit=1).iloc[0].to_dict()


# --------------------------------------------------------------------------- item 10


def test_a_tiny_workbook_declaring_a_whole_sheet_is_refused_before_reading_and_logged(engine):
    data = workbook({1: HEADER, **patients(2), 1048576: [(16384, "x")]}, "A1:XFD1048576")
    assert len(data) < 8192  # a few kilobytes that declare 17 billion cells
    tracemalloc.start()
    report = import_uploads(engine, [("clinic.xlsx", data)], user="tester")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert not report.ok
    assert "range A1:XFD1048576" in report.problems[0].reason
    assert "16,384 columns" in report.problems[0].reason
    assert peak < 50 * 1024**2
    assert stored_patients(engine) == 0
    attempt = last_attempt(engine)
    assert (attempt["status"], attempt["files"], attempt["problem_count"]) == ("refused", "clinic.xlsx", 1)


def test_a_sheet_that_declares_too_many_cells_is_refused_before_reading(engine, monkeypatch):
    monkeypatch.setattr(limits, "MAX_SHEET_CELLS", 100)
    report = import_uploads(engine, [("clinic.xlsx", workbook({1: HEADER, **patients(60)}, "A1:B61"))])
    assert not report.ok
    assert "spans A1:B61 61 rows × 2 columns, more than the 100 cells" in report.problems[0].reason


def test_empty_formatted_cells_far_right_are_refused_while_reading_when_undeclared(engine):
    rows = {1: HEADER, **patients(2), 4: [(2000, None)]}
    report = import_uploads(engine, [("clinic.xlsx", workbook(rows, dimension=None))])
    assert not report.ok
    assert "has cells in more than 1,000 columns" in report.problems[0].reason


def test_rows_of_formatted_empty_cells_cost_no_memory(engine):
    rows = {1: HEADER, **patients(3), **{r: [(900, None)] for r in range(5, 20_000)}}
    data = workbook(rows, dimension=None)
    tracemalloc.start()
    report = import_uploads(engine, [("clinic.xlsx", data)])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.ok, report.problems
    assert stored_patients(engine) == 3
    assert peak < 60 * 1024**2  # padded, the 20,000 × 900 empty cells alone took 144 MB


def test_a_sheet_declaring_less_than_it_holds_loses_no_row_and_no_column(engine):
    rows = {1: [*HEADER, (3, "site")], **{2 + i: [(1, f"W{i}"), (2, "crps"), (3, "north")] for i in range(5)}}
    report = import_uploads(engine, [("clinic.xlsx", workbook(rows, "A1:B2"))])
    assert report.ok, report.problems
    assert report.inserted["patients"] == 5
    with engine.connect() as connection:
        sites = set(connection.execute(select(schema.patients.c.site)).scalars())
    assert sites == {"north"}


def test_the_refusal_log_keeps_sizes_and_hashes(engine):
    data = workbook({1: HEADER, 1048576: [(16384, "x")]}, "A1:XFD1048576")
    import_uploads(engine, [("clinic.xlsx", data)])
    details = last_attempt(engine)["file_details"]
    assert details[0]["bytes"] == len(data) and len(details[0]["sha256"]) == 64
