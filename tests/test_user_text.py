"""Text from the data is shown as text (docs/security.md): an image link in a site name, a
column header or a refused value never becomes an image that the viewer's browser fetches.

Streamlit renders Markdown in st.markdown, st.caption, alerts, subheaders and st.table cells;
each element's Markdown source is checked for an unescaped ``![`` (an image).
"""

from __future__ import annotations

import re

import pytest

from analysis.present.format import literal
from tests.clinic import add_patient
from tests.test_data_page import open_data_page, upload_and_import  # noqa: F401  (fixture)

IMAGE = "![x](http://evil.example/pixel.png)"
UNESCAPED_IMAGE = re.compile(r"(?<!\\)!(?<!\\)\[")


def markdown_sources(at) -> list[str]:
    """The Markdown source of every text element on the page, and of every st.table cell."""
    sources = [
        str(element.value)
        for kind in ("markdown", "caption", "warning", "error", "info", "success", "subheader", "title")
        for element in at.get(kind)
    ]
    for table in at.table:
        frame = table.value.reset_index()
        sources += [str(c) for c in frame.columns] + [str(v) for v in frame.to_numpy().ravel()]
    return sources


def assert_no_image(at) -> None:
    shown = [s for s in markdown_sources(at) if "evil.example" in s]
    assert shown, "the test value should be on the page"
    assert not any(UNESCAPED_IMAGE.search(s) for s in shown), shown


@pytest.mark.parametrize(
    "text",
    [
        IMAGE,
        "<img src=http://evil.example/x.png>",
        ":red[x] :material/home:",
        "# heading",
        "- list",
        "1. list",
    ],
)
def test_literal_text_has_no_markdown_left(text):
    escaped = literal(text)
    assert not UNESCAPED_IMAGE.search(escaped)
    assert not re.match(r"\s*([#>+=-]|\d+[.)])", escaped)
    assert "\n" not in literal("a\n" + text)
    assert re.sub(r"\\(.)", r"\1", escaped) == text  # unescaped, it reads exactly as typed


def test_an_unknown_columns_header_is_shown_as_text(open_data_page, sqlite_engine):  # noqa: F811
    patients = f"patient_id,condition,{IMAGE}\nP1,CRPS,1\n".encode()
    at = upload_and_import(open_data_page(sqlite_engine), [("patients.csv", patients)])
    assert_no_image(at)


def test_a_refused_value_is_shown_as_text_in_the_problem_table(open_data_page, sqlite_engine):  # noqa: F811
    patients = f"patient_id,condition\nP1,{IMAGE}\n".encode()
    at = upload_and_import(open_data_page(sqlite_engine), [("patients.csv", patients)])
    assert "Nothing was imported" in at.error[0].value
    assert_no_image(at)


def test_a_site_name_is_shown_as_text_on_the_patients_page(sqlite_engine, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    add_patient(sqlite_engine, "P1", site=IMAGE, followups=[{"day": 90, "pain": 2}])
    monkeypatch.setenv("DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/patients.py").run()
    assert not at.exception
    assert_no_image(at)
