"""Methods: the outcome definition in use — editable here, applied on every page, explained."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from analysis.db import comparators as stored_comparators
from analysis.domain import comparators as comparator_files
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


# --- comparators (docs/comparisons.md, "Comparators") -------------------------------------

_EDITOR_COLUMNS = list(comparator_files.COLUMNS)


def _save(rows: list[comparator_files.Comparator], action: str) -> None:
    user = common.current_access().user
    changed = common.guarded(stored_comparators.save, common.engine(), rows, user=user, action=action)
    common.clear_caches()
    if changed:
        st.success(f"Comparators saved ({len(rows)} rows); the change is in the log below.")
    else:
        st.info("Nothing changed: that is the table already in use.")


def _save_text(text: str, action: str, source: str) -> None:
    try:
        rows = comparator_files.parse_comparators(text, source)
    except comparator_files.ComparatorFileError as exc:
        st.error(f"**{source.capitalize()} was not saved; nothing changed.**")
        st.markdown("\n".join(f"- {problem}" for problem in exc.problems[:50]))
        return
    _save(rows, action)


#: Comparator columns that get a medium width in the tables (the others are small): with ten
#: columns, only one medium one fits the page at 1,440 px.
_WIDE_COLUMNS = ("citation",)


def _comparators_editor() -> None:
    """The comparators in use; a director may edit, upload, download or reset them (all logged)."""
    engine = common.engine()
    rows = common.guarded(stored_comparators.current, engine)
    st.subheader("Published comparators")
    shipped = common.guarded(stored_comparators.is_shipped, engine)
    st.caption(
        ("The shipped table is in use. " if shipped else "The clinic's own table is in use. ")
        + "Each condition's rate is read against these at the current responder threshold "
        "(docs/comparisons.md). Conditions without a row have no published comparator."
    )
    frame = pd.DataFrame([r.as_row() for r in rows], columns=_EDITOR_COLUMNS)
    # Every column sized so that the table fits the page at 1,440 px (long cells are cut, whole on hover).
    widths = {name: ("medium" if name in _WIDE_COLUMNS else "small") for name in _EDITOR_COLUMNS}
    config = {name: st.column_config.Column(width=width) for name, width in widths.items()}
    if not common.current_access().can("comparators"):
        st.dataframe(frame, hide_index=True, width="stretch", column_config=config)
        st.caption("Only the clinic director can change this table.")
        return
    edited = st.data_editor(
        frame,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        key="comparators_table",
        column_config=config,
    )
    buttons = st.columns(3)
    if buttons[0].button("Save the edited table", icon=":material/save:"):
        text = edited.astype(object).where(edited.notna(), "").to_csv(index=False)
        _save_text(text, "edit", "the edited table")
    if buttons[1].button("Reset to the shipped table", icon=":material/restart_alt:"):
        _save(comparator_files.shipped_comparators(), "reset")
    with buttons[2]:  # saved from the session, never stored as a media file (docs/security.md)
        common.save_button(
            "Download as CSV",
            comparator_files.to_csv(rows),
            file_name="comparators.csv",
            mime="text/csv",
            key="save_comparators",
        )
    upload = st.file_uploader(
        "Or replace the table with a comparators CSV", type=["csv"], key="comparators_file"
    )
    if upload is not None and st.button("Replace with the uploaded file", icon=":material/upload:"):
        try:
            text = upload.getvalue().decode("utf-8-sig")
        except UnicodeDecodeError:
            st.error("The file is not UTF-8 text: save it as CSV UTF-8 and upload it again.")
            return
        _save_text(text, "upload", f"the file {upload.name}")
    log = common.guarded(stored_comparators.changes, engine, 10)
    if log:
        st.caption("Latest changes (the log cannot be edited):")
        st.dataframe(
            pd.DataFrame(
                {
                    "When (UTC)": [c.changed_at.strftime("%d %b %Y %H:%M") for c in log],
                    "Who": [c.user for c in log],
                    "What": [c.action for c in log],
                    "Rows after": [len(pd.read_csv(io.StringIO(c.after))) for c in log],
                }
            ),
            hide_index=True,
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
    _comparators_editor()
    st.markdown(METHODS_DOC.read_text(encoding="utf-8").split("\n", 1)[1])


methods()
