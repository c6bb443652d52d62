"""Routes: response by route of administration, a two-route comparison, and dose per kg."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import stats
from analysis.present import comparisons_text, figures
from analysis.present import format as fmt
from analysis.present.figures import routes as route_figures
from analysis.queries import comparisons, dosing, response
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
    crude, adjusted = st.columns(2, gap="large")
    with crude:
        st.markdown("**Crude** (all patients of the two routes)")
        _crude(result)
    with adjusted:
        st.markdown("**Adjusted for case mix** (condition, baseline pain, age, sex, site)")
        _adjusted(first, second)
    st.caption(
        "Routes are not randomised: patients who get one route may differ from those who get another. "
        "The adjusted result compares like with like on the characteristics recorded (logistic regression; "
        "the difference is standardised over the model's patients, docs/comparisons.md), not on those "
        "that are not. Read a difference as a question to look into, not a proof."
    )


def _crude(result: stats.TwoGroupComparison) -> None:
    columns = st.columns(3)
    columns[0].metric(
        "Difference A − B",
        comparisons_text.points(result.risk_difference, short=True),
        help="Risk difference with Newcombe's hybrid score 95% interval.",
    )
    columns[0].caption(
        ""
        if result.rd_low is None
        else f"percentage points; 95% CI {comparisons_text.points(result.rd_low, short=True)} to "
        f"{comparisons_text.points(result.rd_high, short=True)}"
    )
    columns[1].metric(
        "Odds ratio",
        comparisons_text.ratio(result.odds_ratio),
        help="Conditional maximum-likelihood odds ratio with its exact interval (as R's fisher.test).",
    )
    columns[1].caption("" if result.or_low is None else f"95% CI {result.or_low:.2f} to {result.or_high:.2f}")
    columns[2].metric("Fisher's exact p", fmt.p_value(result.fisher_p))
    st.caption(
        "Routes are not randomised: patients who get one route may differ from those who get another "
        "(condition, site, severity). Read a difference as a question to look into, not a proof."
    )


def _adjusted(a: str, b: str) -> None:
    result = common.cohort_result(comparisons.compare_cohort_routes, a, b)
    adjusted = result.adjusted
    if adjusted.not_fitted:
        st.info(adjusted.not_fitted, icon=":material/info:")
    else:
        columns = st.columns(3)
        columns[0].metric(
            "Difference A − B",
            comparisons_text.points(adjusted.risk_difference, short=True),
            help="Mean predicted response with everyone on A minus everyone on B, over the model's patients "
            "(g-computation), with a delta-method 95% interval.",
        )
        columns[0].caption(
            "standardised, percentage points; 95% CI "
            f"{comparisons_text.points(adjusted.rd_ci_low, short=True)} to "
            f"{comparisons_text.points(adjusted.rd_ci_high, short=True)}"
        )
        columns[1].metric(
            "Adjusted odds ratio",
            comparisons_text.ratio(adjusted.odds_ratio),
            help="exp(route coefficient) of the logistic regression, with its Wald 95% interval.",
        )
        columns[1].caption(
            f"95% CI {comparisons_text.ratio(adjusted.ci_low)} to {comparisons_text.ratio(adjusted.ci_high)}"
        )
        columns[2].metric("Wald p", fmt.p_value(adjusted.p))
        if adjusted.caution:
            st.warning(adjusted.caution, icon=":material/warning:")
    st.caption(comparisons_text.excluded_sentence(adjusted))


def _table(groups: list[response.GroupResult]) -> None:
    """The routes' rates with the precision planner's columns."""
    frame = pd.DataFrame(
        {
            "Route": [common.label(g.keys["route"]) for g in groups],
            "n": [g.n for g in groups],
            "Responders": [g.responders for g in groups],
            "Rate": [fmt.percent(g.rate) for g in groups],
            # The ≥ 50 % ("substantial") rate beside the response rate (docs/methods.md).
            "≥50% rate": [fmt.percent(g.substantial / g.n if g.n else None) for g in groups],
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
    _table([g for g in table.groups if g.keys["route"] != "none"])  # "none": no session yet
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
