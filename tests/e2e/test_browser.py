"""The dashboard in a real Chromium against ``streamlit run`` on the demo clinic."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, AppServer, screenshot, wait_for_app_run

PAGES = ["conditions", "routes", "safety", "patients", "data", "methods"]


def cli_summary(database_url: str, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "analysis", "summary", "--db", database_url, "--format", "json", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout)


def metric(page, label: str) -> str:
    card = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").filter(has_text=label)
    )
    return card.get_by_test_id("stMetricValue").inner_text().strip()


def percent(rate: float) -> str:
    return f"{100 * rate:.1f}%"


def choose_in_multiselect(page, label: str, option: str) -> None:
    box = page.get_by_test_id("stMultiSelect").filter(has_text=label)
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")
    wait_for_app_run(page)


def test_overview_shows_the_demo_clinics_rate(app_server, demo_database, page):
    expected = cli_summary(demo_database)["overall"]
    page.goto(app_server.url)
    wait_for_app_run(page)
    assert metric(page, "Response rate (ITT)") == percent(expected["rate"])
    page.get_by_test_id("stPlotlyChart").nth(2).wait_for(state="visible")  # charts draw after the run
    assert page.get_by_test_id("stPlotlyChart").count() == 3
    page.wait_for_timeout(500)
    screenshot(page, "overview")


def test_sidebar_filter_changes_the_rate_and_the_url(app_server, demo_database, page):
    crps = cli_summary(demo_database, "--by", "condition")
    crps_rate = next(g["rate"] for g in crps["groups"] if g["condition"] == "crps")
    page.goto(app_server.url)
    wait_for_app_run(page)
    before = metric(page, "Response rate (ITT)")
    choose_in_multiselect(page, "Condition", "CRPS")
    after = metric(page, "Response rate (ITT)")
    assert after == percent(crps_rate)
    assert after != before
    assert re.search(r"[?&]condition=CRPS\b", page.url)  # the URL carries the label shown


def test_a_shared_url_reopens_the_same_filtered_view(app_server, demo_database, page):
    expected = cli_summary(demo_database, "--by", "condition,route")
    group = next(g for g in expected["groups"] if (g["condition"], g["route"]) == ("migraine", "intranasal"))
    page.goto(f"{app_server.url}/?condition=Migraine&route=Intranasal")
    wait_for_app_run(page)
    assert metric(page, "Response rate (ITT)") == percent(group["rate"])
    # ... and the filter survives a page switch.
    page.get_by_test_id("stSidebarNav").get_by_text("Conditions", exact=True).click()
    wait_for_app_run(page)
    assert "condition=Migraine" in page.url
    page.get_by_test_id("stSidebarNav").get_by_text("Overview", exact=True).click()
    wait_for_app_run(page)
    assert metric(page, "Response rate (ITT)") == percent(group["rate"])


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_a_chart_without_an_exception(app_server, page, name):
    page.goto(f"{app_server.url}/{name}")
    wait_for_app_run(page)
    assert page.get_by_test_id("stException").count() == 0
    if name not in ("data", "methods"):
        page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible")
    page.wait_for_timeout(500)  # let plotly finish drawing before the picture
    screenshot(page, name)


def test_a_deep_link_as_the_first_request_after_start_goes_through_the_entry_point(demo_database, page):
    """Streamlit's legacy pages/ mode handles the first run after start; the page must not run alone."""
    from playwright.sync_api import expect

    server = AppServer(demo_database)
    try:
        page.goto(f"{server.url}/conditions?condition=CRPS")
        wait_for_app_run(page)
        expect(page.get_by_test_id("stSidebar").get_by_text("Filters", exact=True)).to_be_visible()
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav.get_by_text("Overview", exact=True)).to_be_visible()
        assert nav.get_by_text("common", exact=True).count() == 0
        assert page.get_by_test_id("stException").count() == 0
        assert "condition=CRPS" in page.url
    finally:
        server.stop()


def test_uploading_a_file_with_an_identifier_column_is_refused_and_changes_nothing(
    app_server, demo_database, page, tmp_path
):
    from analysis.db import store

    engine = store.make_engine(demo_database)
    before = store.table_counts(engine)
    upload = tmp_path / "patients.csv"
    upload.write_text("patient_id,condition,email\nNEW-1,crps,someone@example.org\n", encoding="utf-8")
    page.goto(f"{app_server.url}/data")
    wait_for_app_run(page)
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(upload))
    page.get_by_test_id("stFileChipName").filter(has_text="patients.csv").wait_for()
    wait_for_app_run(page, settle_ms=1000)  # the upload's own rerun
    page.get_by_role("button", name="Import").click()
    wait_for_app_run(page)
    page.get_by_text("Nothing was imported", exact=False).first.wait_for()
    problems = page.get_by_test_id("stTable")
    assert "email" in problems.inner_text()
    assert "direct identifier" in problems.inner_text()
    assert "someone@example.org" not in page.content()  # the identifying value is never echoed
    screenshot(page, "data-refused-upload")
    assert store.table_counts(engine) == before
    engine.dispose()
