"""Conditions: response by condition against the band, and one condition's pain over time."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.db import comparators as stored_comparators
from analysis.domain.comparators import Comparator
from analysis.present import figures
from analysis.present import format as fmt
from analysis.present.figures import comparisons as comparison_figures
from analysis.present.figures import trajectories as trajectory_figures
from analysis.queries import comparators as matching
from analysis.queries import response, trajectories
from pages import common

BAND_ORIGIN = (
    "The grey band is the clinic's stated benchmark for conventional therapy ({band}); no primary "
    "study gives that exact range, so it stays the headline and the markers on each row are the "
    "evidence: published drug, placebo and ketamine arms for that condition at ≥{threshold} relief "
    "(hollow: indirect — another outcome or population). See docs/comparisons.md."
)


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def _comparators(url: str) -> list[Comparator]:
    return stored_comparators.current(common.engine_for(url))


def comparators() -> list[Comparator]:
    """The comparators in use (the director edits them on the Methods page)."""
    common.engine()
    return common.guarded(_comparators, common.database_url())


def _marks(groups: list[response.GroupResult], threshold: float) -> list[comparison_figures.ComparatorMark]:
    table = comparators()
    marks = []
    for g in groups:
        if g.rate is None:
            continue  # no row is drawn for a group without data
        row = common.label(g.keys["condition"]) + (" (small n)" if g.small_n else "")
        for result in matching.for_group(g, table, threshold):
            c = result.comparator
            marks.append(
                comparison_figures.ComparatorMark(row, c.rate, c.kind, c.label, c.citation, c.indirect)
            )
    return marks


def _comparator_table(groups: list[response.GroupResult], threshold: float) -> None:
    table = comparators()
    records = []
    for g in groups:
        name = common.label(g.keys["condition"])
        results = matching.for_group(g, table, threshold)
        if not results:
            records.append(
                {"Condition": name, "Comparator": fmt.no_comparator(g.keys["condition"], table, threshold)}
            )
        for result in results:
            c = result.comparator
            records.append(
                {
                    "Condition": name,
                    "Our rate is": fmt.COMPARATOR_VERDICTS[result.verdict],
                    "Rate": fmt.percent(c.rate),
                    "Kind": c.kind,
                    "Comparator": c.label + (" (indirect)" if c.indirect else ""),
                    "Source": c.citation + (f" ({c.doi_or_pmid})" if c.doi_or_pmid else ""),
                }
            )
    columns = ["Condition", "Our rate is", "Rate", "Kind", "Comparator", "Source"]
    st.dataframe(
        pd.DataFrame.from_records(records, columns=columns).fillna(""),
        hide_index=True,
        width="stretch",
        column_config={
            "Our rate is": st.column_config.TextColumn(
                help="Where this condition's 95% interval lies against the comparator's rate."
            ),
            # Every column sized, so that the table fits the page at 1,440 px (text is cut in cells, with
            # the whole of it on hover), not pushed behind a scroll bar.
            "Condition": st.column_config.TextColumn(width="small"),
            "Rate": st.column_config.TextColumn(width="small"),
            "Kind": st.column_config.TextColumn(width="small"),
            "Comparator": st.column_config.TextColumn(width="medium"),
            "Source": st.column_config.TextColumn(width="medium"),
        },
    )


def _table(groups: list[response.GroupResult], band: tuple[float, float]) -> None:
    """The table under the forest plot: ten columns, so that all fit at 1,440 px (verdict included).

    Rates, intervals and p-values are text from analysis.present.format (so they read as in the
    CSV and the board report, "< 0.001" rather than 0.000); counts stay numbers for sorting.
    """
    bottom, top = (f"{100 * edge:.0f}%" for edge in band)
    frame = pd.DataFrame(
        {
            "Condition": [common.label(g.keys["condition"]) for g in groups],
            "Patients": [g.patients for g in groups],
            "Eligible": [g.eligible for g in groups],
            "Responders": [g.responders for g in groups],
            "Rate": [fmt.percent(g.rate) for g in groups],
            "≥50% rate": [fmt.percent(g.substantial / g.n if g.n else None) for g in groups],
            "95% CI": [fmt.interval(g.ci_low, g.ci_high) for g in groups],
            f"p > {bottom}": [fmt.p_value(g.p_gt_lower_holm) for g in groups],
            f"p > {top}": [fmt.p_value(g.p_gt_upper_holm) for g in groups],
            "Verdict": [
                fmt.VERDICT_LABELS.get(g.verdict, g.verdict) + (" (small n)" if g.small_n else "")
                for g in groups
            ],
        }
    )
    count = st.column_config.NumberColumn(format="localized")
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            **{name: count for name in ("Patients", "Eligible", "Responders")},
            "Rate": st.column_config.TextColumn(help="Responders ÷ n."),
            "≥50% rate": st.column_config.TextColumn(help="Pain at least halved ÷ n."),
            f"p > {bottom}": st.column_config.TextColumn(help=f"Holm-adjusted p for a rate above {bottom}."),
            f"p > {top}": st.column_config.TextColumn(help=f"Holm-adjusted p for a rate above {top}."),
        },
    )
    # The precision planner apart: twelve columns in one table did not fit the page at 1,440 px.
    st.dataframe(
        pd.DataFrame(
            {
                "Condition": [common.label(g.keys["condition"]) for g in groups],
                "n": [g.n for g in groups],
                "Still needed": [fmt.more_needed(g.more_needed) for g in groups],
                "Expected": [
                    fmt.expected_month(g.more_needed, g.pace_per_month, g.expected_month) for g in groups
                ],
            }
        ),
        hide_index=True,
        column_config={
            "n": count,
            "Still needed": st.column_config.TextColumn(help=fmt.MORE_NEEDED_HELP),
            "Expected": st.column_config.TextColumn(help=fmt.EXPECTED_HELP),
        },
    )


def _condition_detail(table: response.ResponseTable, codes: list[str]) -> None:
    d = table.definition
    st.subheader("One condition over time")
    code = st.selectbox("Condition", codes, format_func=common.label, key="trajectory_condition")
    name = common.label(code)
    left, right = st.columns([3, 2])
    frame = common.cohort_result(trajectories.mean_trajectory, code)
    if frame.empty:
        left.info(f"No pain scores recorded for {name} in this selection.")
    else:
        left.plotly_chart(
            trajectory_figures.mean_trajectory_chart(frame, title=f"{name}: mean pain over time"),
            theme=None,
            alt=trajectory_figures.mean_trajectory_alt_text(frame, name),
        )
        left.caption(
            "Pain before each of the first 8 sessions, then at follow-ups near 1, 3 and 6 months "
            "(days 15–45, 60–120, 150–210; one per patient). The shaded band is the 95% interval "
            "of the mean. Fewer patients reach later points, so the line mixes different patients."
        )
    by_route = common.response_table(by=("condition", "route"))
    rows = [
        figures.RateRow.from_group(common.label(g.keys["route"]), g)
        for g in by_route.groups
        if g.keys["condition"] == code
    ]
    right.plotly_chart(
        figures.forest_plot(rows, d.band, title="Response by route", threshold=d.threshold, compact=True),
        theme=None,
        alt=figures.forest_alt_text(rows, d.band),
    )
    right.caption("Routes are not randomised; small groups (hollow markers) are uncertain.")


def conditions() -> None:
    common.page_guard()
    st.title("Conditions")
    common.definition_notice()
    if common.empty_state():
        return
    table = common.response_table(by=("condition",))
    d = table.definition
    st.caption(common.definition_caption(d))
    if not table.groups:
        st.info("No patients match the filters in the sidebar.")
        return
    rows = [figures.RateRow.from_group(common.label(g.keys["condition"]), g) for g in table.groups]
    marks = _marks(table.groups, d.threshold)
    forest = figures.forest_plot(rows, d.band, title="Response rate by condition", threshold=d.threshold)
    st.plotly_chart(
        comparison_figures.add_comparators(forest, marks),
        theme=None,
        alt=figures.forest_alt_text(rows, d.band) + comparison_figures.comparators_alt_text(marks),
    )
    st.caption(BAND_ORIGIN.format(band=fmt.band(d.band), threshold=fmt.percent(d.threshold, 0)))
    _table(table.groups, d.band)
    st.caption(
        "p: one-sided exact binomial p-value for a rate above the band's bottom and top, Holm-adjusted "
        "across the conditions of this table (the unadjusted ones are in the CSV on the Data page). "
        "Hollow markers and “small n”: n under 11."
    )
    st.subheader("Published comparators")
    _comparator_table(table.groups, d.threshold)
    _condition_detail(table, [g.keys["condition"] for g in table.groups])


conditions()
