"""Methods: the outcome definition in use — editable here, applied on every page, explained."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from analysis.present import format as fmt
from pages import common

METHODS_DOC = Path(__file__).resolve().parent.parent / "docs" / "methods.md"
#: The editor's widget key of each setting (URL name); the settings themselves live in
#: pages.common (one session value, carried in the URL on every page).
WIDGET_KEYS = {key: f"methods_{key}" for key in common.DEFINITION_DEFAULTS}
_PROBLEM_KEY = "_methods_problem"


def _changed(key: str) -> None:
    """A widget changed: use the new value everywhere, unless it makes no valid definition."""
    problem = common.set_definition_settings({key: st.session_state[WIDGET_KEYS[key]]})
    st.session_state[_PROBLEM_KEY] = problem


def _reset() -> None:
    common.set_definition_settings(dict(common.DEFINITION_DEFAULTS))
    for key, value in common.DEFINITION_DEFAULTS.items():
        st.session_state[WIDGET_KEYS[key]] = value
    st.session_state[_PROBLEM_KEY] = None


def _seed_widgets() -> None:
    """Widgets start from the settings in use (a widget's value is forgotten on another page)."""
    settings = common.definition_settings()
    for key, widget_key in WIDGET_KEYS.items():
        if widget_key not in st.session_state:
            st.session_state[widget_key] = settings[key]


def _number(column: Any, label: str, key: str, **options: Any) -> None:
    low, high, _ = common.EDITOR_LIMITS[key]
    column.number_input(
        label,
        min_value=low,
        max_value=high,
        key=WIDGET_KEYS[key],
        on_change=_changed,
        args=(key,),
        **options,
    )


def _editor() -> None:
    _seed_widgets()
    with st.container(border=True):
        st.markdown("**Outcome definition** — applies to every page and to exports; a link carries it.")
        row = st.columns(3)
        _number(row[0], "Time point (days after the first session)", "timepoint")
        _number(row[1], "Window ± (days)", "window")
        _number(
            row[2],
            "Responder threshold (fraction of baseline pain)",
            "threshold",
            step=0.05,
            format="%.2f",
        )
        row = st.columns(3)
        row[0].radio(
            "Missing follow-up",
            ["itt", "completers"],
            key=WIDGET_KEYS["missing"],
            on_change=_changed,
            args=("missing",),
            horizontal=True,
            format_func={"itt": "ITT (counts as non-responder)", "completers": "Completers only"}.get,
        )
        row[1].radio(
            "95% interval",
            ["wilson", "exact"],
            key=WIDGET_KEYS["ci"],
            on_change=_changed,
            args=("ci",),
            horizontal=True,
            format_func=fmt.method_label,
        )
        band = row[2].columns(2)
        for column, label, key in ((band[0], "Band bottom", "band_low"), (band[1], "Band top", "band_high")):
            _number(column, label, key, step=0.05, format="%.2f")
        st.button("Reset to the defaults", on_click=_reset, icon=":material/restart_alt:")
    problem = st.session_state.get(_PROBLEM_KEY)
    if problem:
        st.error(
            f"**This change makes no valid definition** ({problem}); the definition below stays in use "
            "until it is fixed.",
            icon=":material/error:",
        )


def methods() -> None:
    common.page_guard()
    st.title("Methods")
    common.definition_notice()
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
