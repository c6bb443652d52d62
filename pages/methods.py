"""Methods: the outcome definition in use — editable here, applied on every page, explained."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from analysis.domain.definition import TIMEPOINT_DAYS, WINDOW_DAYS, OutcomeDefinition
from analysis.present import format as fmt
from pages import common

METHODS_DOC = Path(__file__).resolve().parent.parent / "docs" / "methods.md"
DEFAULTS = OutcomeDefinition()
DEFAULT_VALUES = {
    "timepoint": DEFAULTS.timepoint_days,
    "window": DEFAULTS.window_days,
    "threshold": DEFAULTS.threshold,
    "missing": DEFAULTS.missing,
    "ci": DEFAULTS.ci,
    "band_low": DEFAULTS.band[0],
    "band_high": DEFAULTS.band[1],
}


def _reset() -> None:
    for key, value in DEFAULT_VALUES.items():
        st.session_state[key] = value


def _editor() -> None:
    with st.container(border=True):
        st.markdown("**Outcome definition** — applies to every page and to exports.")
        row = st.columns(3)
        row[0].number_input(
            "Time point (days after the first session)",
            min_value=TIMEPOINT_DAYS[0],
            max_value=TIMEPOINT_DAYS[1],
            step=1,
            value=DEFAULTS.timepoint_days,
            key="timepoint",
            bind="query-params",
        )
        row[1].number_input(
            "Window ± (days)",
            min_value=WINDOW_DAYS[0],
            max_value=WINDOW_DAYS[1],
            step=1,
            value=DEFAULTS.window_days,
            key="window",
            bind="query-params",
        )
        row[2].number_input(
            "Responder threshold (fraction of baseline pain)",
            min_value=0.05,
            max_value=1.0,
            step=0.05,
            value=DEFAULTS.threshold,
            format="%.2f",
            key="threshold",
            bind="query-params",
        )
        row = st.columns(3)
        row[0].radio(
            "Missing follow-up",
            ["itt", "completers"],
            key="missing",
            bind="query-params",
            horizontal=True,
            format_func={"itt": "ITT (counts as non-responder)", "completers": "Completers only"}.get,
        )
        row[1].radio(
            "95% interval",
            ["wilson", "exact"],
            key="ci",
            bind="query-params",
            horizontal=True,
            format_func=fmt.method_label,
        )
        band = row[2].columns(2)
        band[0].number_input(
            "Band bottom",
            min_value=0.0,
            max_value=1.0,
            step=0.05,
            format="%.2f",
            value=DEFAULTS.band[0],
            key="band_low",
            bind="query-params",
        )
        band[1].number_input(
            "Band top",
            min_value=0.0,
            max_value=1.0,
            step=0.05,
            format="%.2f",
            value=DEFAULTS.band[1],
            key="band_high",
            bind="query-params",
        )
        st.button("Reset to the defaults", on_click=_reset, icon=":material/restart_alt:")
    if st.session_state.get("band_low", 0) >= st.session_state.get("band_high", 1):
        st.error("The band's bottom is not below its top; the default band (30–40%) is used until it is.")


def methods() -> None:
    common.page_guard()
    st.title("Methods")
    _editor()
    d = common.definition()
    st.markdown(
        f"**In use:** a patient responds when their pain at the follow-up nearest day "
        f"**{d.timepoint_days}** (between day {d.window_start} and day {d.window_end}) is at least "
        f"**{100 * d.threshold:.0f}%** below their baseline. "
        + (
            "Patients whose window closed without a follow-up count as non-responders (ITT)."
            if d.missing == "itt"
            else "Only patients with a follow-up in the window are counted (completers)."
        )
    )
    st.markdown(METHODS_DOC.read_text(encoding="utf-8").split("\n", 1)[1])


methods()
