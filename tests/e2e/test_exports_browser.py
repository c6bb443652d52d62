"""What leaves the app, in Chromium: no built-in table export, no download left at a /media URL,
no traceback (docs/security.md)."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

from tests.e2e.conftest import ROOT, screenshot, wait_for_app_run


def test_a_download_is_saved_from_the_session_and_never_served_from_media(app_server, demo_database, page):
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{app_server.url}/data")
    wait_for_app_run(page)
    button = page.get_by_role("button", name="Response by condition (CSV)")
    button.wait_for()
    with page.expect_download() as download_info:
        button.click()
    download = download_info.value
    assert download.suggested_filename == "response-by-condition.csv"
    assert download.url.startswith("blob:")  # made in the browser from the session's message
    content = download.path().read_text(encoding="utf-8")
    # The Data page's CSV is the people's export (docs/methods.md, "Exports"): the project's
    # director_csv of the same table, with its suppression and formula neutralisation.
    script = (
        "import sys; from analysis.db.store import make_engine; "
        "from analysis.present.exports import director_csv; from analysis.queries.response import summarize; "
        f"sys.stdout.write(director_csv(summarize(make_engine({demo_database!r}), by=('condition',))))"
    )
    expected = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, encoding="utf-8"
    ).stdout
    assert content == expected  # the project's export: suppression and formula neutralisation
    # Streamlit's own fonts live under /static/media/; a stored file would be under /media/.
    assert not [url for url in requests if urllib.parse.urlsplit(url).path.startswith("/media/")]
    # Where st.download_button would have put these bytes: nothing answers there, with or
    # without the session's cookies.
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    file_id = _calculate_file_id(content.encode(), "text/csv", "response-by-condition.csv")
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{app_server.port}/media/{file_id}.csv", timeout=10)
        raise AssertionError("the export is served at a /media URL")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404


def test_a_table_has_no_built_in_download_or_copy(app_server, page):
    page.goto(f"{app_server.url}/patients")
    wait_for_app_run(page)
    grid = page.get_by_test_id("stDataFrame").first
    grid.wait_for()
    grid.hover()
    page.wait_for_timeout(300)
    toolbar = page.get_by_test_id("stElementToolbar").first
    assert toolbar.get_by_role("button", name="Search").count() == 1  # the toolbar is there…
    assert page.get_by_role("button", name="Download as CSV").count() == 0  # …without the download
    screenshot(page, "patients-table-toolbar")
