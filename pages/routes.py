"""Routes: response by route of administration, a two-route comparison, and dose per kg."""

from __future__ import annotations

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
    columns[2].metric("Fisher's exact p", fmt.p_value(result.fisher_p))
    st.caption(
        "Routes are not randomised: patients who get one route may differ from those who get another "
        "(condition, site, severity). Read a difference as a question to look into, not a proof."
    )


def routes() -> None:
    common.page_guard()
    st.title("Routes of administration")
    common.definition_notice()
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
    # The ≥ 50 % ("substantial") rate beside the ≥ 30 % rate (docs/methods.md, "Outcomes beyond pain").
    measured = [g for g in table.groups if g.n > 0]  # patients without a session have no route
    st.dataframe(
        {
            "Route": [common.label(g.keys["route"]) for g in measured],
            "n": [fmt.count(g.n) for g in measured],
            f"≥{100 * d.threshold:.0f}% rate": [fmt.percent(g.rate) for g in measured],
            "≥50% rate": [fmt.percent(g.substantial / g.n) for g in measured],
        },
        hide_index=True,
    )
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
