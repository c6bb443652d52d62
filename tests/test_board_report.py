"""The board report (analysis.present.board_report): self-contained, same numbers, small cells, escaping."""

from __future__ import annotations

import re
from datetime import date

from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.present.board_report import overview_html
from analysis.queries.response import summarize
from tests.clinic import add_patient

SCRIPT_ALERT = "<script>alert(1)</script>"


def clinic(engine, *, crps: int = 30, migraine: int = 5) -> None:
    """CRPS: 14 of 30 respond; migraine: a small group (2 of 5 respond), first treated later."""
    for i in range(crps):
        add_patient(
            engine, f"C{i:02d}", baseline_pain=10, followups=[{"day": 90, "pain": 3 if i < 14 else 8}]
        )
    for i in range(migraine):
        add_patient(
            engine,
            f"M{i:02d}",
            condition="migraine",
            baseline_pain=10,
            sessions=[{"day": 200}],
            followups=[{"day": 290, "pain": 3 if i < 2 else 8}],
        )


def row_cells(document: str, label: str) -> list[str]:
    """The cells of the first table row whose first cell is ``label`` (as escaped HTML)."""
    match = re.search(rf"<tr[^>]*><td>{re.escape(label)}</td>(.*?)</tr>", document)
    assert match, f"no row {label!r}"
    return re.findall(r"<td>(.*?)</td>", match.group(1))


def test_headline_rate_is_the_outcome_engines(engine):
    clinic(engine, migraine=0)
    expected = summarize(engine, OutcomeDefinition()).overall
    document = overview_html(engine, OutcomeDefinition(), CohortFilter())
    headline = re.search(r'id="headline-rate">([^<]*)<', document).group(1)
    assert headline == f"{100 * expected.rate:.1f}%" == "46.7%"
    assert f"95% CI {100 * expected.ci_low:.1f}–{100 * expected.ci_high:.1f}%" in document
    assert "14 of 30 patients" in document


def test_funnel_last_step_is_the_headline_responders_and_rate(engine):
    """Issue #14 item 17: one answer on the page (each patient here had a single session)."""
    clinic(engine, migraine=0)
    document = overview_html(engine, OutcomeDefinition(), CohortFilter())
    assert "…and responded: 14 · 46.7% of eligible" in document  # the funnel's screen-reader text
    assert "…and had a follow-up in it: 30 · 100.0% of eligible" in document
    assert row_cells(document, "Follow-up completeness") == ["100.0%"]


def test_document_is_self_contained(sqlite_engine):
    clinic(sqlite_engine, migraine=12)
    document = overview_html(sqlite_engine, OutcomeDefinition(), CohortFilter())
    assert document.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]*\bsrc\s*=", document, re.IGNORECASE)
    # The markup outside the inline scripts (plotly.js itself names map-tile hosts in strings
    # it only uses for map charts, which the report has none of).
    markup = re.sub(r"<script\b[^>]*>.*?</script>", "", document, flags=re.S | re.IGNORECASE)
    assert "<div" in markup and "<table>" in markup
    assert not re.search(r"<link\b|<img\b|<iframe\b|<object\b|<embed\b", markup, re.IGNORECASE)
    assert not re.search(r"""(src|href)\s*=""", markup, re.IGNORECASE)
    assert "http" not in markup
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", document, flags=re.S | re.IGNORECASE)
    assert not any("http" in script for script in scripts if "* plotly.js v" not in script)
    style = re.search(r"<style>(.*?)</style>", document, re.S).group(1)
    assert "http" not in style and "@import" not in style and "url(" not in style
    assert document.count("* plotly.js v") == 1  # the library inline, once
    assert document.count("Plotly.newPlot(") == 3  # forest, trend, funnel


def test_a_small_group_hides_its_rate_interval_and_verdict_and_its_sibling_too(sqlite_engine):
    """Migraine (n = 5) alone hidden would be 35 − 30 from the overall row: CRPS is hidden too."""
    clinic(sqlite_engine)
    document = overview_html(sqlite_engine, OutcomeDefinition(), CohortFilter())
    migraine = row_cells(document, "Migraine")
    assert migraine == ["&lt;11"] * 10  # six counts, rate, interval, the >=50% rate, verdict
    assert row_cells(document, "CRPS") == ["&lt;11"] * 10  # complementary suppression
    assert "40.0%" not in document and "2 of 5" not in document
    # The two quarters add up to the headline: both are left out of the trend chart.
    assert "No quarter can be shown." in document
    assert "\\u003c11" not in document and '"customdata":[[14,30]' not in document
    assert "Internal use only" not in document


def test_a_third_group_stays_visible_when_the_next_smallest_protects_the_small_one(sqlite_engine):
    clinic(sqlite_engine)
    for i in range(20):
        add_patient(sqlite_engine, f"F{i:02d}", condition="fibromyalgia", followups=[{"day": 90, "pain": 2}])
    document = overview_html(sqlite_engine, OutcomeDefinition(), CohortFilter())
    assert row_cells(document, "Migraine")[0] == "&lt;11"
    assert row_cells(document, "Fibromyalgia")[0] == "&lt;11"  # 20 < 30: the next-smallest
    assert row_cells(document, "CRPS")[:6] == ["30", "0", "30", "30", "30", "14"]
    assert row_cells(document, "CRPS")[6] == "46.7%"


def test_small_groups_show_their_counts_when_suppression_is_off(sqlite_engine):
    clinic(sqlite_engine)
    document = overview_html(sqlite_engine, OutcomeDefinition(), CohortFilter(), suppress=False)
    assert row_cells(document, "Migraine")[:6] == ["5", "0", "5", "5", "5", "2"]
    assert "\\u003c11" not in document
    assert '"customdata":[[14,30],[2,5]]' in document  # the trend's hover counts, migraine's quarter
    assert row_cells(document, "Migraine")[6] == "40.0%"
    assert "Internal use only" in document


def test_small_whole_cohort_hides_every_count(sqlite_engine):
    clinic(sqlite_engine, crps=0, migraine=5)
    document = overview_html(sqlite_engine, OutcomeDefinition(), CohortFilter())
    assert "&lt;11 of &lt;11 patients (small n)" in document
    assert re.search(r'id="headline-rate">&lt;11<', document)  # 2 of 5 is 40.0%: not shown
    assert "40.0%" not in document and "Not shown: fewer than 11" in document
    assert row_cells(document, "Patients registered") == ["&lt;11"]
    assert "The patient funnel is not shown" in document
    assert document.count("Plotly.newPlot(") == 0  # every chart would show the small rate
    assert "2 of 5" not in document


def test_names_from_the_data_are_escaped(sqlite_engine):
    clinic(sqlite_engine)
    add_patient(sqlite_engine, "X1", condition=SCRIPT_ALERT, site="<b>north</b>", baseline_pain=10)
    document = overview_html(
        sqlite_engine,
        OutcomeDefinition(),
        CohortFilter(sites=("main", "<b>north</b>")),
        clinic_name='St <Eve> "&" clinic',
    )
    assert SCRIPT_ALERT not in document
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document  # the condition's table row
    assert "<b>north</b>" not in document
    assert "Site: main, &lt;b&gt;north&lt;/b&gt;" in document
    assert "<title>Ketamine outcomes report — St &lt;Eve&gt; &quot;&amp;&quot; clinic</title>" in document


def test_report_states_definition_date_and_limitations(sqlite_engine):
    clinic(sqlite_engine)
    definition = OutcomeDefinition(timepoint_days=180, window_days=14, missing="completers")
    document = overview_html(sqlite_engine, definition, CohortFilter(), generated=date(2026, 3, 2))
    assert "Prepared 02 March 2026" in document
    assert "nearest day 180" in document and "from day 166 to day 194" in document
    assert "Only patients with a follow-up in the window are counted (completers)." in document
    assert "Routes are not randomised" in document
    assert "Denominator n: completers." in document
