"""Patients: one pseudonymous patient's sessions and follow-ups, and the cohort's outcome list."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.db import cohorts
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.present import comparisons_text
from analysis.present import format as fmt
from analysis.present.figures import comparisons as comparison_figures
from analysis.present.figures import trajectories as trajectory_figures
from analysis.queries import profile, trajectories
from pages import common

LIST_LIMIT = 500
STATUS_BADGES = {
    trajectories.RESPONDER: ":green-badge[Responder]",
    trajectories.NON_RESPONDER: ":orange-badge[Non-responder]",
    trajectories.PENDING: ":blue-badge[Pending]",
    trajectories.NOT_EVALUABLE: ":gray-badge[Not evaluable]",
    trajectories.NO_FOLLOWUP: ":gray-badge[No follow-up]",
}


@st.cache_data(ttl=60, max_entries=64, show_spinner=False)
def _resolved(url: str, definition: OutcomeDefinition) -> OutcomeDefinition:
    return cohorts.resolve(common.engine_for(url), definition)


@st.cache_data(**common.CACHE)
def _cohort_list(
    url: str, definition: OutcomeDefinition, cohort: CohortFilter, search: str, limit: int
) -> tuple[pd.DataFrame, int]:
    return trajectories.cohort_list(common.engine_for(url), definition, cohort, search=search, limit=limit)


@st.cache_data(**common.CACHE)
def _timeline(url: str, definition: OutcomeDefinition, patient_id: str) -> trajectories.PatientTimeline:
    return trajectories.patient_timeline(common.engine_for(url), patient_id, definition)


def _patient(url: str, d: OutcomeDefinition, patient_id: str) -> None:
    try:
        timeline = common.guarded(_timeline, url, d, patient_id)
    except LookupError:
        st.warning(
            f"Patient {common.plain(patient_id)} is no longer in the database (the data changed); "
            "pick another."
        )
        return
    o = timeline.outcome
    allowed = common.current_access().sites
    if allowed is not None and o["site"] not in allowed:  # defence in depth: the list is scoped already
        st.error("This patient belongs to a site your role does not cover.", icon=":material/lock:")
        return
    st.subheader(f"Patient {common.plain(patient_id)}")
    st.markdown(
        f"{STATUS_BADGES[timeline.status]} {common.plain(common.label(o['condition']))} · "
        f"site {common.plain(o['site'])} · "
        f"route {common.label(o['route'])} · {o['n_sessions']} session{'' if o['n_sessions'] == 1 else 's'}"
        + (f" · first session {o['index_date']:%d %b %Y}" if o["index_date"] else "")
    )
    st.caption(timeline.reason)
    st.plotly_chart(
        trajectory_figures.patient_timeline_chart(timeline, title=f"{patient_id}: pain over time"),
        theme=None,
        alt=trajectory_figures.patient_timeline_alt_text(timeline),
    )
    st.caption(
        "Circles: pain before a session, triangles: after it. Diamonds: follow-ups; the larger one "
        "is the follow-up the outcome uses. Hover a point for route, dose and adverse events."
    )
    st.dataframe(_events_frame(timeline.events()), hide_index=True, width="stretch")


def _events_frame(events: pd.DataFrame) -> pd.DataFrame:
    """The timeline's rows as the clinician reads them: what is not recorded is an em dash."""
    return pd.DataFrame(
        {
            "Day": events["day"].map(fmt.count),
            "Date": events["date"].map(fmt.date),
            "Event": events["event"],
            "Route": events["route"].map(lambda v: common.label(v) if isinstance(v, str) else fmt.MISSING),
            "Dose": events["dose_mg"].map(lambda v: fmt.number(v, "mg")),
            "Pain before": events["pre_pain"].map(fmt.number),
            "Pain after": events["post_pain"].map(fmt.number),
            "Follow-up pain": events["pain"].map(fmt.number),
            "PGIC": events["pgic"].map(fmt.number),
            "Adverse events": events["adverse_events"].map(
                lambda v: v.replace(";", ", ") if isinstance(v, str) and v else fmt.MISSING
            ),
            "AE duration": events["ae_duration_min"].map(lambda v: fmt.number(v, "min")),
        }
    )


def _cohort_table(rows: pd.DataFrame, total: int) -> None:
    st.subheader("Cohort")
    shown = f"Showing {len(rows):,} of {total:,} patients" if total > len(rows) else f"{total:,} patients"
    st.caption(f"{shown} in the sidebar's selection, by ID; search by ID to narrow.")
    frame = pd.DataFrame(
        {
            "Patient": rows["patient_id"],
            "Status": rows["status"],
            "Condition": rows["condition"].map(common.label),
            "Site": rows["site"],
            "Route": rows["route"].map(common.label),
            "First session": rows["index_date"].map(fmt.date),
            "Sessions": rows["n_sessions"].map(fmt.count),
            "Baseline": rows["baseline"].map(fmt.number),
            "FU day": rows["followup_day"].map(fmt.count),
            "FU pain": rows["followup_pain"].map(fmt.number),
            "Reduction": rows["reduction"].map(lambda v: fmt.percent(v, 0)),
        }
    )
    st.dataframe(frame, hide_index=True, width="stretch")
    st.caption("Baseline and follow-up (FU) pain on the 0–10 scale; — where nothing is recorded.")


def _search_example(url: str) -> str:
    """A real patient ID's first characters, so the placeholder shows the clinic's own format."""
    rows, _ = common.guarded(_cohort_list, url, common.definition(), common.cohort(), "", 1)
    if rows.empty:
        return "Start of a patient ID"
    first = str(rows["patient_id"].iloc[0])
    return f"Start of a patient ID, e.g. {first[: max(3, len(first) - 2)]}"


def _who_responds() -> None:
    """Baseline characteristics associated with response (docs/comparisons.md): association only."""
    st.subheader(comparisons_text.PROFILE_HEADING)
    st.caption(
        "A logistic model of response on baseline characteristics, in this clinic's patients of the "
        "sidebar's selection. An odds ratio above 1 means patients with that characteristic responded "
        "more often, the others held equal. It describes who has responded here; it does not predict "
        "one patient's response and must never be used to refuse treatment."
    )
    result = common.cohort_result(profile.response_profile)
    if result.associations:
        frame = pd.DataFrame(
            {
                "Characteristic": [a.label for a in result.associations],
                "Odds ratio": [f"{a.odds_ratio:.2f}" for a in result.associations],
                "95% CI": [f"{a.ci_low:.2f} to {a.ci_high:.2f}" for a in result.associations],
                "p": [comparisons_text.fmt.p_value(a.p) for a in result.associations],
            }
        )
        left, right = st.columns([3, 2])
        left.dataframe(frame, hide_index=True, width="stretch")
        if result.calibration:
            right.plotly_chart(
                comparison_figures.calibration_chart(result.calibration, title="Calibration"),
                theme=None,
                alt=comparison_figures.calibration_alt_text(result.calibration),
            )
    if result.auc is not None or result.not_fitted:
        st.markdown(comparisons_text.auc_sentence(result))
    for note in comparisons_text.profile_notes(result):
        st.caption(note)


def patients() -> None:
    common.page_guard("patients")
    st.title("Patients")
    common.definition_notice()
    if common.empty_state():
        return
    common.engine()
    url = common.database_url()
    d = common.guarded(_resolved, url, common.definition())
    st.caption(common.definition_caption(d))
    search = st.text_input("Find a patient", key="patient_search", placeholder=_search_example(url))
    rows, total = common.guarded(_cohort_list, url, d, common.cohort(), search.strip(), LIST_LIMIT)
    if rows.empty:
        st.info("No patient matches the search and the sidebar filters.")
        return
    options = rows["patient_id"].tolist()
    if st.session_state.get("patient") not in options:
        st.session_state["patient"] = options[0]  # the filters excluded the last choice
    patient_id = st.selectbox("Patient", options, key="patient")
    _patient(url, d, patient_id)
    _cohort_table(rows, total)
    _who_responds()


patients()
