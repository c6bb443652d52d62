"""Safety: adverse events per session, dissociation against four hours, events at follow-up.

The list of blood-pressure sessions names pseudonymous patients: it is shown only to roles with
the ``patients`` permission (docs/security.md); others see the count and a note.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.present import findings
from analysis.present import format as fmt
from analysis.present.figures import safety as charts
from analysis.queries import safety
from analysis.stats import ProportionEstimate
from pages import common


def _rate(estimate: ProportionEstimate) -> str:
    return "—" if estimate.rate is None else f"{100 * estimate.rate:.1f}%"


def _claim(claim: str, finding: str, note: str) -> None:
    with st.container(border=True):
        st.markdown(f"**Claim:** {claim}")
        st.markdown(f"**Our data:** {finding}")
        st.caption(note)


def safety_page() -> None:
    granted = common.page_guard()
    st.title("Safety")
    common.definition_notice()
    if common.empty_state():
        return
    sessions = common.cohort_result(safety.session_summary)
    if sessions.sessions == 0:
        st.info("No sessions for the patients in the current filters.", icon=":material/filter_alt_off:")
        return
    dissociation = common.cohort_result(safety.dissociation_durations)
    followups = common.cohort_result(safety.followup_events)
    long_term = common.cohort_result(safety.long_term_events)
    st.caption(
        f"{sessions.sessions:,} sessions of {sessions.patients:,} patients in the current filters, up to "
        f"{sessions.cutoff:%d %b %Y}. Each adverse event type counts once per session."
    )
    columns = st.columns(4)
    columns[0].metric("Sessions", f"{sessions.sessions:,}")
    columns[1].metric(
        "AE rate per session",
        _rate(sessions.any_ae),
        help="Sessions with at least one adverse event (AE), of all sessions.",
    )
    columns[2].metric("Dissociation per session", _rate(sessions.dissociation))
    columns[3].metric("Dissociation > 4 hours", f"{dissociation.over_limit:,}", help="Episodes over 240 min.")

    left, right = st.columns(2)
    with left:
        _claim(
            "dissociative effects last no more than about 4 hours.",
            findings.dissociation_finding(dissociation),
            "A session's recorded duration is that of its longest adverse event "
            f"({dissociation.with_other_events:,} of these sessions had another event too), so the share "
            "within 4 hours can only be understated. Exactly 240 min counts as within.",
        )
    with right:
        _claim(
            "no long-term effects are expected at the 3-month follow-up.",
            findings.long_term_finding(long_term),
            f"Follow-ups from day {long_term.from_day} after the first session on: the 3-month window "
            "and later. An event reported at follow-up is not necessarily caused by ketamine.",
        )

    events = common.cohort_result(safety.events_by_type)
    st.plotly_chart(
        charts.events_by_type_chart(events, route_label=common.label),
        theme=None,
        alt=charts.events_alt_text(events, route_label=common.label),
    )
    left, right = st.columns(2)
    left.plotly_chart(
        charts.dissociation_histogram(dissociation),
        theme=None,
        alt=charts.dissociation_alt_text(dissociation),
    )
    if followups.empty:
        right.info("No follow-ups recorded yet for these patients.")
    else:
        right.plotly_chart(
            charts.followup_events_chart(followups), theme=None, alt=charts.followup_alt_text(followups)
        )
    st.caption("Bars show 95% intervals that treat sessions (or follow-ups) as independent.")

    blood_pressure = common.cohort_result(safety.blood_pressure_sessions)
    if not granted.can("patients"):
        st.caption(
            f"{blood_pressure.total:,} session{'' if blood_pressure.total == 1 else 's'} with a "
            "blood-pressure event. The list of these sessions names patients, so it is shown only to "
            "roles with patient-level access."
        )
        return
    with st.expander(f"Sessions with a blood-pressure event ({blood_pressure.total:,})"):
        st.dataframe(_blood_pressure_frame(blood_pressure.sessions), hide_index=True, width="stretch")
        if blood_pressure.truncated:
            st.caption(f"The latest {len(blood_pressure.sessions):,} of {blood_pressure.total:,} are shown.")


def _blood_pressure_frame(sessions: pd.DataFrame) -> pd.DataFrame:
    """The sessions as read on screen: units in the values, an em dash where nothing is recorded."""
    return pd.DataFrame(
        {
            "Patient": sessions["patient_id"],
            "Session date": sessions["session_date"].map(fmt.date),
            "Route": sessions["route"].map(lambda v: common.label(v) if isinstance(v, str) else fmt.MISSING),
            "Dose": sessions["dose_mg"].map(lambda v: fmt.number(v, "mg")),
            "Dose per kg": sessions["dose_mg_per_kg"].map(lambda v: fmt.number(v, "mg/kg", decimals=2)),
            "Longest event": sessions["ae_duration_min"].map(lambda v: fmt.number(v, "min")),
            "All events of the session": sessions["adverse_events"].map(
                lambda v: v.replace(";", ", ") if isinstance(v, str) and v else fmt.MISSING
            ),
        }
    )


safety_page()
