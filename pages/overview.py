"""Overview: the director's page — response against the conventional-therapy band, at a glance."""

from __future__ import annotations

import streamlit as st

from analysis.present import disposition as disposition_tables
from analysis.present import figures
from analysis.present import format as fmt
from analysis.present.figures import overview as overview_figures
from analysis.queries import disposition, response, safety, secondary
from pages import common

#: How each verdict is shown: st.success, st.error or st.info.
VERDICT_KINDS = {"above": "success", "below": "error", "overlaps": "info", "no_data": "info"}


#: Short headers for the funnel steps of the disposition table (the long names in its caption).
_STEP_HEADERS = {
    "Registered, never treated": "Never treated",
    "Treated, no baseline pain score": "No baseline",
    "Evaluable, follow-up window not reached": "Window open",
    "Reached the window, no follow-up in it": "No follow-up",
    "Followed up, not a responder": "Not responding",
    "Responder": "Responder",
}


def why_patients_stop() -> None:
    """Issue #12: where each patient's path stopped and why (a trial-style disposition table)."""
    result = common.cohort_result(disposition.disposition)
    st.subheader("Why patients stop")
    # One column per funnel step and a row per reason: a column per reason (up to twelve) made
    # the table wider than the page at 1,440 px, hiding its last reasons behind a scroll bar.
    by_step = disposition_tables.disposition_frame(result).set_index("Stopped at").T
    by_step.columns = [_STEP_HEADERS.get(str(step), str(step)) for step in by_step.columns]
    # Every reason in view: at the default height (ten rows) hospice, "other" and an end without
    # a reason were behind the table's own scroll bar.
    st.dataframe(
        by_step.rename_axis("Patients, by end of care").reset_index(), hide_index=True, height="content"
    )
    st.caption(
        "Columns: where each patient's path stopped — "
        + "; ".join(f"{s}: {long}" for long, s in _STEP_HEADERS.items())
    )
    st.dataframe(disposition_tables.outcomes_frame(result), hide_index=True, height="content")
    st.caption(disposition_tables.CAPTION)


def overview() -> None:
    common.page_guard()
    st.title("Clinic overview")
    common.definition_notice()
    if common.empty_state():
        return
    # One database pass: the quarters add up to the overall row and to the funnel.
    by_quarter = common.response_table(by=("quarter",), funnel=True, missing="itt")
    completers = common.response_table(by=("quarter",), funnel=True, missing="completers")
    d, overall = by_quarter.definition, by_quarter.overall
    funnel = response.funnel_from_counts(common.group_counts(("quarter",), funnel=True, missing="itt"))
    adverse = common.cohort_result(safety.session_summary).any_ae
    st.caption(common.definition_caption(d))

    # Two rows of three: at 1,440 px six columns cut "Follow-up completeness" and "Adverse events
    # per session" short.
    columns = [*st.columns(3), *st.columns(3)]
    columns[0].metric("Patients treated", f"{funnel.treated:,}", help=f"{funnel.sessions:,} sessions in all.")
    columns[1].metric(
        "Response rate (ITT)",
        fmt.percent(overall.rate),
        help="Eligible patients without a follow-up in the window count as non-responders.",
    )
    columns[2].metric(
        "95% interval",
        "—" if overall.ci_low is None else f"{100 * overall.ci_low:.0f}–{100 * overall.ci_high:.0f}%",
        help=f"{overall.responders:,} responders of {overall.n:,} eligible patients.",
    )
    columns[3].metric(
        "Follow-up completeness",
        fmt.percent(overall.with_followup / overall.eligible if overall.eligible else None),
        help="Eligible patients with a follow-up in the window.",
    )
    columns[4].metric(
        "Pending", f"{overall.pending:,}", help="Window still open, no follow-up yet: in no rate."
    )
    columns[5].metric(
        "Adverse events per session",
        fmt.percent(adverse.rate),
        help=f"Sessions with any adverse event: {adverse.count:,} of {adverse.nobs:,} (see Safety).",
    )

    # Substantial relief (≥ 50 %) beside the ≥ 30 % rate (docs/methods.md, "Outcomes beyond pain").
    substantial = secondary.substantial_rate(overall, d)
    columns = st.columns(6)
    columns[1].metric(
        "≥50% relief (ITT)",
        fmt.percent(substantial.rate),
        help=f"{substantial.count:,} of {substantial.n:,} eligible patients with pain at least halved "
        "(IMMPACT: substantial). More on the Beyond pain page.",
    )
    columns[2].metric("95% interval (≥50%)", fmt.interval(substantial.ci_low, substantial.ci_high, 0))

    getattr(st, VERDICT_KINDS[overall.verdict])(fmt.verdict_sentence(overall.verdict, d.band, markdown=True))

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
        st.caption(overview_figures.funnel_caption(funnel))
    why_patients_stop()


overview()
