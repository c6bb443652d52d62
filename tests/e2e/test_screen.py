"""The screen agrees with itself in Chromium (issue #14 items 17-19): links, widths, labels."""

from __future__ import annotations

from tests.e2e.conftest import screenshot, wait_for_app_run
from tests.e2e.test_browser import cli_summary, metric, percent

NOTICE = "Non-default outcome definition"


def nav_to(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    wait_for_app_run(page)


def test_a_definition_set_on_methods_travels_in_the_url_to_other_pages_a_reload_and_a_link(
    app_server, demo_database, page, browser
):
    from playwright.sync_api import expect

    expected = percent(cli_summary(demo_database, "--threshold", "0.5")["overall"]["rate"])
    page.goto(f"{app_server.url}/methods")
    wait_for_app_run(page)
    box = page.get_by_test_id("stNumberInput").filter(has_text="Responder threshold").locator("input")
    box.fill("0.50")
    box.press("Enter")
    wait_for_app_run(page, settle_ms=500)
    nav_to(page, "Overview")
    assert "threshold=0.5" in page.url
    assert metric(page, "Response rate (ITT)") == expected
    expect(page.get_by_text(NOTICE)).to_be_visible()
    nav_to(page, "Safety")
    assert "threshold=0.5" in page.url
    expect(page.get_by_text(NOTICE)).to_be_visible()
    nav_to(page, "Overview")
    page.reload()
    wait_for_app_run(page)
    assert metric(page, "Response rate (ITT)") == expected
    screenshot(page, "overview-non-default-definition")
    shared = page.url
    other = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        colleague = other.new_page()
        colleague.goto(shared)
        wait_for_app_run(colleague)
        assert metric(colleague, "Response rate (ITT)") == expected
        expect(colleague.get_by_text(NOTICE)).to_be_visible()
    finally:
        other.close()
