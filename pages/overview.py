"""Overview: the director's page — response against the conventional-therapy band, at a glance."""

from __future__ import annotations

import streamlit as st

from analysis import figures, outcomes, safety
from analysis.figures import overview as overview_figures
from pages import common

VERDICTS = {
    "above": ("success", "**Above the conventional-therapy band**: the whole 95% interval lies above {top}."),
    "below": (
        "error",
        "**Below the conventional-therapy band**: the whole 95% interval lies below {bottom}.",
    ),
    "overlaps": (
        "info",
        "**Not distinguishable from conventional therapy**: the 95% interval overlaps the "
        "{bottom}–{top} band.",
    ),
    "no_data": ("info", "**Not measurable yet**: no patient has reached the follow-up window."),
}


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def overview() -> None:
    common.page_guard()
    st.title("Clinic overview")
    if common.empty_state():
        return
    # One database pass: the quarters add up to the overall row and to the funnel.
    by_quarter = common.response_table(by=("quarter",), funnel=True, missing="itt")
    completers = common.response_table(by=("quarter",), funnel=True, missing="completers")
    d, overall = by_quarter.definition, by_quarter.overall
    funnel = outcomes.funnel_from_counts(common.group_counts(("quarter",), funnel=True, missing="itt"))
    adverse = common.cohort_result(safety.session_summary).any_ae
    st.caption(common.definition_caption(d))

    band = {"bottom": f"{100 * d.band[0]:.0f}%", "top": f"{100 * d.band[1]:.0f}%"}
    columns = st.columns(6)
    columns[0].metric("Patients treated", f"{funnel.treated:,}", help=f"{funnel.sessions:,} sessions in all.")
    columns[1].metric(
        "Response rate (ITT)",
        _percent(overall.rate),
        help="Eligible patients without a follow-up in the window count as non-responders.",
    )
    columns[2].metric(
        "95% interval",
        "—" if overall.ci_low is None else f"{100 * overall.ci_low:.0f}–{100 * overall.ci_high:.0f}%",
        help=f"{overall.responders:,} responders of {overall.n:,} eligible patients.",
    )
    columns[3].metric(
        "Follow-up completeness",
        _percent(overall.with_followup / overall.eligible if overall.eligible else None),
        help="Eligible patients with a follow-up in the window.",
    )
    columns[4].metric(
        "Pending", f"{overall.pending:,}", help="Window still open, no follow-up yet: in no rate."
    )
    columns[5].metric(
        "Adverse events per session",
        _percent(adverse.rate),
        help=f"Sessions with any adverse event: {adverse.count:,} of {adverse.nobs:,} (see Safety).",
    )

    kind, text = VERDICTS[overall.verdict]
    getattr(st, kind)(text.format(**band))

    rows = [
        figures.RateRow.from_group("All eligible patients (ITT)", overall),
        figures.RateRow.from_group("Patients with a follow-up (completers)", completers.overall),
    ]
    st.plotly_chart(
        figures.forest_plot(
            rows, d.band, title="Response rate against conventional therapy", threshold=d.threshold
        ),
        theme=None,
        alt=figures.forest_alt_text(rows, d.band),
    )
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            overview_figures.quarterly_trend(by_quarter.groups, d.band, threshold=d.threshold),
            theme=None,
            alt=overview_figures.trend_alt_text(by_quarter.groups),
        )
    with right:
        st.plotly_chart(
            overview_figures.patient_funnel(funnel), theme=None, alt=overview_figures.funnel_alt_text(funnel)
        )


overview()
