"""Routes: response by route of administration, a two-route comparison, and dose per kg."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import stats
from analysis.present import figures
from analysis.present import format as fmt
from analysis.present.figures import routes as route_figures
from analysis.queries import dosing, response
from pages import common


def _comparison(groups: dict[str, response.GroupResult], alpha: float) -> None:
    names = list(groups)
    if len(names) < 2:
        st.info("Only one route in this selection: nothing to compare.")
        return
    left, right = st.columns(2)
    first = left.selectbox("Route A", names, index=0, format_func=common.label, key="compare_a")
    second = right.selectbox("Route B", names, index=1, format_func=common.label, key="compare_b")
    if first == second:
        st.info("Choose two different routes.")
        return
    a, b = groups[first], groups[second]
    result = stats.compare_proportions(a.responders, a.n, b.responders, b.n, alpha=alpha)
    columns = st.columns(3)
    columns[0].metric(
        "Difference in response (A − B)",
        "—" if result.risk_difference is None else f"{100 * result.risk_difference:+.1f} points",
        help="Risk difference with Newcombe's hybrid score 95% interval.",
    )
    columns[0].caption(
        ""
        if result.rd_low is None
        else f"95% CI {100 * result.rd_low:+.1f} to {100 * result.rd_high:+.1f} points"
    )
    columns[1].metric(
        "Odds ratio",
        "—" if result.odds_ratio is None else f"{result.odds_ratio:.2f}",
        help="Conditional maximum-likelihood odds ratio with its exact interval (as R's fisher.test).",
    )
    columns[1].caption("" if result.or_low is None else f"95% CI {result.or_low:.2f} to {result.or_high:.2f}")
    columns[2].metric("Fisher's exact p", "—" if result.fisher_p is None else f"{result.fisher_p:.3f}")
    st.caption(
        "Routes are not randomised: patients who get one route may differ from those who get another "
        "(condition, site, severity). Read a difference as a question to look into, not a proof."
    )


def _table(groups: list[response.GroupResult]) -> None:
    """The routes' rates with the precision planner's columns."""
    frame = pd.DataFrame(
        {
            "Route": [common.label(g.keys["route"]) for g in groups],
            "n": [g.n for g in groups],
            "Responders": [g.responders for g in groups],
            "Rate": [fmt.percent(g.rate) for g in groups],
            "95% CI": [fmt.interval(g.ci_low, g.ci_high) for g in groups],
            "Verdict": [fmt.VERDICT_LABELS.get(g.verdict, g.verdict) for g in groups],
            "Still needed": [fmt.more_needed(g.more_needed) for g in groups],
            "Expected": [
                fmt.expected_month(g.more_needed, g.pace_per_month, g.expected_month) for g in groups
            ],
        }
    )
    st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        column_config={
            "Still needed": st.column_config.TextColumn(help=fmt.MORE_NEEDED_HELP),
            "Expected": st.column_config.TextColumn(help=fmt.EXPECTED_HELP),
        },
    )


def routes() -> None:
    common.page_guard()
    st.title("Routes of administration")
    if common.empty_state():
        return
    table = common.response_table(by=("route",))
    d = table.definition
    st.caption(common.definition_caption(d))
    rows = [figures.RateRow.from_group(common.label(g.keys["route"]), g) for g in table.groups]
    st.plotly_chart(
        figures.forest_plot(rows, d.band, title="Response rate by route", threshold=d.threshold),
        theme=None,
        alt=figures.forest_alt_text(rows, d.band),
    )
    _table(table.groups)
    st.subheader("Compare two routes")
    _comparison({g.keys["route"]: g for g in table.groups if g.n > 0}, d.alpha)

    st.subheader("Dose per kilogram and outcome")
    frame = common.cohort_result(dosing.dose_response)
    if frame.empty:
        st.info("No session in this selection has a recorded body weight.")
        return
    st.plotly_chart(
        route_figures.dose_response_chart(frame, d.band, threshold=d.threshold),
        theme=None,
        alt=route_figures.dose_response_alt_text(frame),
    )
    st.caption(
        "Each patient's mean dose per session divided by body weight, over sessions with a recorded "
        "weight. Compare doses within a route: far less of an intranasal dose is absorbed."
    )


routes()
