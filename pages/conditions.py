"""Conditions: response by condition against the band, and one condition's pain over time."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.present import figures
from analysis.present import format as fmt
from analysis.present.figures import trajectories as trajectory_figures
from analysis.queries import response, trajectories
from pages import common


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
            "With follow-up": [g.with_followup for g in groups],
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
            **{name: count for name in ("Patients", "Eligible", "With follow-up", "Responders")},
            "Rate": st.column_config.TextColumn(help="Responders ÷ n."),
            "≥50% rate": st.column_config.TextColumn(help="Pain at least halved ÷ n."),
            f"p > {bottom}": st.column_config.TextColumn(help=f"Holm-adjusted p for a rate above {bottom}."),
            f"p > {top}": st.column_config.TextColumn(help=f"Holm-adjusted p for a rate above {top}."),
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
    st.plotly_chart(
        figures.forest_plot(rows, d.band, title="Response rate by condition", threshold=d.threshold),
        theme=None,
        alt=figures.forest_alt_text(rows, d.band),
    )
    _table(table.groups, d.band)
    st.caption(
        "p: one-sided exact binomial p-value for a rate above the band's bottom and top, Holm-adjusted "
        "across the conditions of this table (the unadjusted ones are in the CSV on the Data page). "
        "Hollow markers and “small n”: n under 11."
    )
    _condition_detail(table, [g.keys["condition"] for g in table.groups])


conditions()
