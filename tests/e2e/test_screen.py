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


# The pages a director, a clinician and a statistician read; Methods is mostly prose.
LAYOUT_PAGES = ["", "conditions", "routes", "safety", "patients", "data", "methods"]

CUT_OR_OVERFLOWING = """() => {
  const found = [];
  // Streamlit shortens a metric label, a button label or a widget label with an ellipsis.
  document.querySelectorAll('.stMarkdownEllipsis, [data-testid=stMetricLabel] div').forEach(e => {
    if (e.scrollWidth > e.clientWidth + 1) found.push('label cut: ' + e.innerText);
  });
  document.querySelectorAll('button p').forEach(e => {
    if (e.scrollWidth > e.clientWidth + 1) found.push('button cut: ' + e.innerText);
  });
  // A table wider than its frame hides its last columns (the verdict) behind a scroll bar.
  document.querySelectorAll('[data-testid=stDataFrame] .dvn-scroller').forEach((e, i) => {
    if (e.scrollWidth > e.clientWidth + 1) found.push('table ' + i + ' wider than its frame');
  });
  return found;
}"""


def test_nothing_is_cut_short_or_off_screen_at_1440_px(app_server, page):
    """Issue #14 item 19: metric labels, buttons and tables fit at 1,440 px (verdict column on-screen)."""
    page.set_viewport_size({"width": 1440, "height": 900})
    for name in LAYOUT_PAGES:
        page.goto(f"{app_server.url}/{name}")
        wait_for_app_run(page)
        if name not in ("data", "methods"):
            page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible")
        page.wait_for_timeout(1500)  # the grids measure their columns after the run
        assert page.get_by_test_id("stException").count() == 0, name
        assert page.evaluate(CUT_OR_OVERFLOWING) == [], name or "overview"
        text = page.get_by_test_id("stMain").inner_text()
        for bad in ("None", "nan", "0.000", "Traceback"):
            assert bad not in text.split(), (name, bad)
        screenshot(page, f"layout-1440-{name or 'overview'}")
        page.set_viewport_size({"width": 1440, "height": 900})
