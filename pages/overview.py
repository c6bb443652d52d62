"""Overview: the director's page — the response rate against the conventional-therapy band."""

from __future__ import annotations

import streamlit as st

from analysis import figures
from pages import common


def _rate_text(rate: float | None) -> str:
    return "—" if rate is None else f"{100 * rate:.1f}%"


def overview() -> None:
    st.title("Ketamine Outcomes")
    if common.empty_state():
        return
    itt = common.response_table(missing="itt")
    completers = common.response_table(missing="completers")
    d, overall = itt.definition, itt.overall
    st.caption(common.definition_caption(d))
    columns = st.columns(4)
    columns[0].metric("Patients", f"{overall.patients:,}")
    columns[1].metric(
        "Response rate (ITT)",
        _rate_text(overall.rate),
        help="Patients whose window has closed without a follow-up count as non-responders.",
    )
    columns[2].metric("Responders / eligible", f"{overall.responders:,} / {overall.n:,}")
    columns[3].metric("Pending (window still open)", f"{overall.pending:,}")
    rows = [
        figures.RateRow(
            "All eligible (ITT)",
            overall.rate,
            overall.ci_low,
            overall.ci_high,
            overall.responders,
            overall.n,
            overall.small_n,
        ),
        figures.RateRow(
            "With follow-up (completers)",
            completers.overall.rate,
            completers.overall.ci_low,
            completers.overall.ci_high,
            completers.overall.responders,
            completers.overall.n,
            completers.overall.small_n,
        ),
    ]
    st.plotly_chart(
        figures.forest_plot(
            rows, d.band, title="Response rate against conventional therapy", threshold=d.threshold
        ),
        theme=None,
        alt=figures.forest_alt_text(rows, d.band),
    )
    verdicts = {
        "above": "above the conventional-therapy band: the whole 95% interval lies above it.",
        "below": "below the conventional-therapy band: the whole 95% interval lies below it.",
        "overlaps": "not distinguishable from the conventional-therapy band: the 95% interval overlaps it.",
        "no_data": "not yet measurable: no patient has reached the follow-up window.",
    }
    st.markdown(f"**Verdict (ITT):** the response rate is {verdicts[overall.verdict]}")


overview()
