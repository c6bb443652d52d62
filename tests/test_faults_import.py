"""Hostile workbooks and identifiers in names: refused cleanly, logged, nothing lost, nothing
identifying kept (issue #14, items 10 and 15; docs/import.md)."""

from __future__ import annotations

import io
import json
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


# --------------------------------------------------------------------------- item 15

SAMPLE = "patient_id,condition,site\nW1,crps,main\n"


def import_one(engine: Engine, patient_id: str = "W1", site: str = "main"):
    """Import one patient from a patients.csv upload (the site quoted as a spreadsheet would)."""
    data = f'patient_id,condition,site\n{patient_id},crps,"{site}"\n'.encode()
    return import_uploads(engine, [("patients.csv", data)])


def logged_names(engine: Engine) -> str:
    attempt = last_attempt(engine)
    return json.dumps(attempt["file_details"]) + attempt["files"]


@pytest.mark.parametrize(
    "file_name", ["Doe, Jane.xlsx", "jane.doe@example.com.xlsx", "555-123-4567.xlsx", "SSN 123456789.csv"]
)
def test_a_file_named_after_a_patient_is_refused_and_its_name_never_logged(engine, file_name):
    report = import_uploads(engine, [(file_name, SAMPLE.encode())])
    assert not report.ok
    assert "a file name looks like" in report.problems[0].reason
    assert file_name not in str(report.problems)
    logged = logged_names(engine)
    assert file_name not in logged and "file name hidden" in logged
    assert last_attempt(engine)["status"] == "refused" and stored_patients(engine) == 0


def test_a_file_path_named_after_a_patient_is_refused_unread_and_hidden(engine, tmp_path):
    path = tmp_path / "Smith, John.xlsx"
    path.write_bytes(b"not read")
    from analysis.ingest import import_paths

    report = import_paths(engine, [path])
    assert not report.ok and "a person's name" in report.problems[0].reason
    assert "Smith" not in logged_names(engine)


def test_a_sheet_named_after_a_patient_is_refused_and_not_repeated(engine):
    book = Workbook()
    book.active.title = "patients"
    book.active.append(["patient_id", "condition"])
    book.active.append(["W1", "crps"])
    book.create_sheet("Doe, Jane")
    data = io.BytesIO()
    book.save(data)
    report = import_uploads(engine, [("clinic.xlsx", data.getvalue())])
    assert not report.ok
    assert "a sheet's name looks like a person's name" in report.problems[0].reason
    assert "Jane" not in str(report.problems) + str(report.warnings)
    assert stored_patients(engine) == 0


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("555 123-4567", "a phone number"),
        ("555/123-4567", "a phone number"),
        ("020 7946 0958", "a phone number"),
        ("tel 5551234567", "a phone number"),
        ("SSN 123456789", "an SSN"),
        ("123 45 6789", "an SSN"),
        ("123.45.6789", "an SSN"),
    ],
)
def test_other_phone_and_ssn_forms_in_site_are_refused_and_hidden(engine, value, kind):
    report = import_one(engine, site=value)
    assert not report.ok
    assert f"looks like {kind}" in report.problems[0].reason
    assert value not in str(report.problems)


@pytest.mark.parametrize("patient_id", ["SSN123456789", "123.45.6789", "tel5551234567"])
def test_identifier_forms_as_patient_id_are_refused(engine, patient_id):
    report = import_one(engine, patient_id=patient_id)
    assert not report.ok and "looks like" in report.problems[0].reason


@pytest.mark.parametrize(
    "patient_id", ["123456789", "5551234567", "KO-001", "P-2024-06-30", "100.5", "CRPS_0042", "W123456789"]
)
def test_pseudonyms_made_of_digits_are_still_accepted(engine, patient_id):
    report = import_one(engine, patient_id=patient_id, site="Clinic 2")
    assert report.ok, report.problems


@pytest.mark.parametrize("site", ["Smith, John", "SMITH, JOHN", "Mrs Smith"])
def test_a_person_s_name_in_site_is_refused_and_hidden(engine, site):
    report = import_one(engine, site=site)
    assert not report.ok
    assert "site looks like a person's name" in report.problems[0].reason
    assert site not in str(report.problems)


@pytest.mark.parametrize("site", ["North Clinic", "Boston, MA", "MS clinic", "St. Mary's", "Site 2"])
def test_place_names_in_site_are_accepted(engine, site):
    report = import_one(engine, site=site)
    assert report.ok, report.problems


@pytest.mark.parametrize("mark", ["\u200e", "\u200f", "\u061c", "\u200b", "\ufeff"])
def test_a_site_with_a_bidi_or_invisible_mark_is_refused(engine, mark):
    report = import_one(engine, site=f"North{mark}")
    assert not report.ok
    assert "control or text-direction character" in report.problems[0].reason
