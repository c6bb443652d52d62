"""Durability: how long relief lasts after it begins, and how often boosters are given."""

from __future__ import annotations

import streamlit as st

from analysis.present import durability as words
from analysis.present import format as fmt
from analysis.present.figures import durability as durability_figures
from analysis.queries import durability
from pages import common

BREAKDOWNS = {"All responders": None, "Route": "route", "Condition": "condition"}


def durability_page() -> None:
    common.page_guard()
    st.title("Durability of response")
    if common.empty_state():
        return
    choice = st.radio("Curves by", list(BREAKDOWNS), horizontal=True, key="durability_by")
    by = BREAKDOWNS[choice]
    table = common.cohort_result(durability.durability, by)
    d = table.definition
    st.caption(
        f"Patients whose pain fell by ≥{100 * d.threshold:.0f}% from baseline at a follow-up or "
        f"before a session by day {d.window_end}; the response is lost at the first later "
        f"measurement below that. Kaplan–Meier with 95% log(−log) intervals"
        + (f" · data up to {d.cutoff:%d %b %Y}" if d.cutoff else "")
        + ". See Methods, “Durability”."
    )
    overall = table.overall
    if overall.survival.patients == 0:
        st.info("No patient in this selection has had a response yet: there is no relief to follow.")
        return
    st.markdown(f"**{words.median_sentence(overall, d.threshold)}** {words.landmark_sentence(overall)}")

    drawn = [c for c in table.groups if not c.small_n] if by else []
    curves = [(words.group_label(c, by), c) for c in drawn] if by else [("All responders", overall)]
    bands = st.toggle("Show 95% bands", value=len(curves) <= 3, key=f"durability_bands_{by}")
    st.plotly_chart(
        durability_figures.survival_figure(curves, threshold=d.threshold, bands=bands),
        theme=None,
        alt=durability_figures.survival_alt_text(curves),
    )
    if by and len(drawn) < len(table.groups):
        st.caption(
            "Not drawn (fewer than 11 responders, too few for a curve): "
            + ", ".join(words.group_label(c, by) for c in table.groups if c.small_n)
            + ". They are in the table below."
        )
    if by:
        st.caption(
            f"Log-rank test of equal curves across the {choice.lower()}s: {fmt.p_clause(table.logrank_p)}"
            + ". Groups differ in who receives them: read a difference as a question, not a proof."
        )
    st.dataframe(words.curve_frame(table), hide_index=True)

    st.subheader("Boosters")
    st.dataframe(words.booster_frame(table), hide_index=True)
    st.caption(
        "Maintenance (booster) sessions are sessions after day 28. For each responder with two or "
        "more, the median gap in days between consecutive ones; per group the median and quartiles "
        "of those medians. Patients who get more boosters differ from those who get fewer (their "
        "pain came back sooner, or they could afford them): this is confounding by indication, so "
        "the page never compares patients with boosters to patients without."
    )


durability_page()
