"""Data: import the clinic's files, check data quality, download the tables and the board report.

- The import goes through :func:`analysis.ingest.import_uploads`, the CLI's importer: all or
  nothing, every problem listed as a table (table, row as a spreadsheet shows it, column,
  value, reason); warnings (dropped columns, ignored sheets) and data-quality notes (accepted
  rows to check) are shown after it. Files above ``ingest.MAX_UPLOAD_BYTES`` together are
  refused from their announced sizes, before they are read; the uploader also refuses any one
  file above that size in the browser. A database that cannot be used is a message, never a
  traceback. After a successful import every cache is cleared, so the same run already shows
  the new data. The outcome of an import is shown on the run of the click only.
- Data quality (:mod:`analysis.queries.quality`) and the downloads follow the sidebar selection and
  the Methods page's definition; they are hidden, with a note, while the database is empty
  (the import form always shows: it is where a new clinic starts).
- Permissions (:data:`analysis.domain.access.PERMISSIONS`, checked with ``common.page_guard``): the
  page needs ``aggregates``; the import form ``import``; data quality ``quality`` (it lists
  patient ids); the "Show small cells" checkbox ``export_unsuppressed`` — without it every
  download is suppressed. Without login configured everyone is director (open demo).
- Downloads suppress small cells (docs/methods.md) unless "Show small cells (internal use)" is
  ticked. The CSV downloads are the response tables by condition, by route and by
  condition × route for the current definition and selection
  (:func:`analysis.present.exports.response_table_csv`: formula-like cells neutralised). The HTML report
  (:func:`analysis.present.board_report.overview_html`, several MB with plotly.js inline) is built only
  when "Prepare" is clicked, and offered on that run only; if the database fails then, the download
  is a one-line HTML page saying so.
- No download is a Streamlit media file (``common.save_button``): the bytes travel in the session's
  WebSocket and the browser saves them from a blob: URL, so nothing is left at a /media URL that
  answers without the session's cookies (docs/security.md).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from analysis import ingest
from analysis.db import audit
from analysis.domain import contract, errors
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.present import board_report
from analysis.present.exports import director_csv
from analysis.queries import quality
from pages import common

#: Problem lists up to this long are shown as a plain table; longer ones in a scrolling grid.
PLAIN_TABLE_ROWS = 200
#: Import attempts listed on the page.
HISTORY_ROWS = 50

CONTRACT = (
    "Import three tables — `patients`, `sessions`, `followups` — as CSV files with those names or one "
    ".xlsx workbook with sheets of those names, columns as in the import contract (docs/contract.md). "
    "**Direct identifiers are refused** (names, e-mails, phone numbers, record numbers, addresses, "
    "dates of birth…): the whole import is, and nothing is written."
)
CSV_DOWNLOADS = (
    ("Response by condition (CSV)", ("condition",), "response-by-condition.csv"),
    ("Response by route (CSV)", ("route",), "response-by-route.csv"),
    ("Response by condition × route (CSV)", ("condition", "route"), "response-by-condition-route.csv"),
)


def _contract_columns() -> str:
    lines = []
    for table, fields in contract.FIELDS.items():
        names = ", ".join(f"**{f.name}**" if f.required else f.name for f in fields)
        lines.append(f"- `{table}`: {names}")
    return "\n".join(lines) + "\n\nRequired columns in bold. Sample files: `data/sample/`."


def _problem_frame(problems: list[ingest.Problem]) -> pd.DataFrame:
    # Every cell is text: a refusal mixes numbers and words in Row and Value, which Arrow cannot
    # put in one column (an ArrowTypeError in the server's console, issue #14 item 19).
    return pd.DataFrame(
        [
            (
                p.table,
                "" if p.row is None else str(p.row),
                p.column or "",
                "" if p.value is None else str(p.value),
                p.reason,
            )
            for p in problems
        ],
        columns=["Table", "Row", "Column", "Value", "Why"],
    )


def _problem_table(problems: list[ingest.Problem]) -> None:
    """A plain table (readable, printable, searchable with Ctrl-F) for a usual list; a grid for long ones.

    ``st.table`` renders Markdown in its cells: every cell (a file's column name, a refused value)
    is made literal first. The grid shows text as text.
    """
    frame = _problem_frame(problems)
    if len(frame) <= PLAIN_TABLE_ROWS:
        literal = frame.map(lambda cell: common.plain(cell) if isinstance(cell, str) else cell)
        st.table(literal.set_index("Table"))
    else:
        st.dataframe(frame, hide_index=True)


def _show_import(report: ingest.ImportReport) -> None:
    if not report.ok:
        n = report.problem_count or len(report.problems)
        st.error(
            f"**Nothing was imported: {n} problem{'s' if n != 1 else ''} found.** Fix them in the files "
            "and import again; the database is unchanged.",
            icon=":material/block:",
        )
        _problem_table(report.problems)
    else:
        st.success(common.plain(report.summary_line()), icon=":material/check_circle:")
    for warning in report.warnings:
        st.warning(common.plain(warning))
    if report.ok and report.data_quality:
        st.info("Imported, but please check these rows (data quality):")
        _problem_table(report.data_quality)


def _import_section() -> None:
    st.subheader("Import")
    st.markdown(CONTRACT)
    with st.expander("Columns of the import contract"):
        st.markdown(_contract_columns())
    # A new key after every attempt empties the uploader: a corrected file must not join the
    # refused one ("a second file for patients"). The attempt's report is kept to show it again.
    attempt = st.session_state.get(_ATTEMPT_KEY, 0)
    files = st.file_uploader(
        "CSV files (patients, sessions, followups) or one Excel workbook",
        type=["csv", "xlsx"],
        accept_multiple_files=True,
        max_upload_size=max(1, -(-ingest.MAX_UPLOAD_BYTES // 1024**2)),  # MB per file, rounded up
        key=f"uploads_{attempt}",
    )
    clicked = st.button("Import", type="primary", icon=":material/upload:")
    if not clicked:
        last = st.session_state.get(_LAST_REPORT_KEY)
        if last is not None:
            _show_import(last)
        return
    if not files:
        st.warning("Choose the files to import first.")
        return
    total = sum(f.size for f in files)
    if total > ingest.MAX_UPLOAD_BYTES:
        st.error(
            f"**Nothing was imported.** The files are {total / 1024**2:.0f} MB together, above the limit of "
            f"{ingest.MAX_UPLOAD_BYTES // 1024**2} MB; split the import into smaller files."
        )
        return
    engine = common.engine()
    with st.status(f"Importing {len(files)} file{'s' if len(files) != 1 else ''}…", expanded=True) as status:
        st.write("Reading and checking every row, then writing in one transaction…")
        try:
            report = ingest.import_uploads(
                engine,
                [(f.name, f.getvalue()) for f in files],
                user=common.current_access().user,
                source="app",
            )
        except (errors.DatabaseError, SQLAlchemyError) as exc:
            status.update(label="Import failed", state="error")
            st.error(f"**Nothing was imported: the database could not be used.** {common.plain(exc)}")
            return
        if report.ok:
            status.update(label="Import complete", state="complete", expanded=False)
        else:
            status.update(label="Nothing was imported", state="error", expanded=False)
    if report.ok:
        common.clear_caches()
    st.session_state[_LAST_REPORT_KEY] = report
    st.session_state[_ATTEMPT_KEY] = attempt + 1
    st.rerun()


_ATTEMPT_KEY = "_import_attempt"
_LAST_REPORT_KEY = "_last_import_report"


#: Count columns of the data-quality tables, with thousands separators (issue #14 item 19).
_COUNTS = {
    name: st.column_config.NumberColumn(format="localized") for name in ("Patients", "Follow-ups", "Sessions")
}


def _quality_section() -> None:
    st.subheader("Data quality")
    report = common.cohort_result(quality.data_quality)
    before = report.before_first_session
    columns = st.columns(4)
    columns[0].metric("Patients in the selection", f"{report.patients:,}")
    columns[1].metric(
        "Not evaluable",
        f"{report.not_evaluable_total:,}",
        help="No session, or baseline pain missing or 0: in no rate.",
    )
    columns[2].metric(
        "Follow-ups before the first session",
        f"{before.followups:,}",
        help="Accepted on import (docs/contract.md); check their dates.",
    )
    columns[3].metric(
        "Follow-ups outside every window",
        f"{report.outside_windows_total:,}",
        help=f"Expected windows: {report.windows_text()} (days 30, 90, 180 and the time point ± the window).",
    )
    # One under the other, full width: side by side the examples ran off the table's edge.
    st.markdown("**Patients not evaluable, and why**")
    st.dataframe(report.not_evaluable_frame(), hide_index=True, column_config=_COUNTS)
    st.markdown(f"**Follow-ups outside every window** ({report.windows_text()})")
    st.dataframe(report.outside_windows_frame(), hide_index=True, column_config=_COUNTS)
    if report.followups_without_session:
        st.caption(
            f"{report.followups_without_session:,} follow-up(s) belong to patients without any session."
        )
    st.markdown(f"**Sessions with a missing value** (of {report.sessions:,} sessions)")
    st.dataframe(report.sessions_frame(), hide_index=True, column_config=_COUNTS)
    st.caption(f"Data up to {report.definition.cutoff:%d %b %Y}; examples are pseudonymous patient ids.")


def _report_html(
    engine: Engine, definition: OutcomeDefinition, cohort: CohortFilter, suppress: bool, clinic: str
) -> str:
    """Built on click, off the script thread: no Streamlit calls here."""
    try:
        return board_report.overview_html(engine, definition, cohort, suppress=suppress, clinic_name=clinic)
    except (errors.DatabaseError, SQLAlchemyError) as exc:
        return (
            f"<!DOCTYPE html><title>Report unavailable</title><p>The database could not be read ({exc}).</p>"
        )


def _downloads_section(definition: OutcomeDefinition, cohort: CohortFilter, *, may_unsuppress: bool) -> None:
    st.subheader("Downloads")
    show_small = may_unsuppress and st.checkbox(
        "Show small cells (internal use)",
        value=False,
        key="show_small_cells",
        help="For the clinic director. Off (the default): counts of groups with fewer than 11 patients "
        'in the denominator are shown as "<11", as docs/methods.md requires for exports and reports.',
    )
    suppress = not show_small
    clinic = st.text_input("Clinic name for the report title (optional)", key="report_clinic", max_chars=80)
    columns = [*st.columns(2), *st.columns(2)]  # four in one row cut the labels short at 1,440 px
    for column, (label, by, file_name) in zip(columns, CSV_DOWNLOADS, strict=False):
        csv = director_csv(common.response_table(by=by), suppress=suppress)
        with column:
            common.save_button(label, csv, file_name=file_name, mime="text/csv", key=f"save_{file_name}")
    # The report (several MB) is built on request and sent once, with that run only.
    if st.button("Prepare the board report (HTML)", icon=":material/description:", key="prepare_report"):
        with st.spinner("Building the report…"):
            document = _report_html(common.engine(), definition, cohort, suppress, clinic)
        common.save_button(
            "Save the board report (HTML)",
            document,
            file_name=f"ketamine-outcomes-report-{date.today().isoformat()}.html",
            mime="text/html",
            key="save_report",
            primary=True,
        )
    st.caption(
        (
            "Small cells are suppressed (<11), with a sibling group where the total would give one back. "
            if suppress
            else "**Small cells are shown: internal use only.** "
        )
        + "Cells that a spreadsheet would run as a formula are neutralised. The report is one HTML file "
        "that opens offline and prints; it follows the sidebar selection and the Methods definition. "
        "Downloads are handed to your browser directly; no copy is kept on the server."
    )


def data_page() -> None:
    granted = common.page_guard()
    st.title("Data")
    common.definition_notice()
    if granted.can("import"):
        _import_section()
    else:
        st.caption("Importing data is for the clinic director.")
    if common.database_is_empty():
        st.info("Data quality and downloads appear here once the clinic's data is imported.")
        return
    definition, cohort = common.definition(), common.cohort()
    if granted.can("quality"):
        _quality_section()
    _downloads_section(definition, cohort, may_unsuppress=granted.can("export_unsuppressed"))
    if granted.can("audit"):
        _history_section()


def _history_section() -> None:
    st.subheader("Import history")
    history = common.guarded(audit.recent_imports, common.engine(), HISTORY_ROWS)
    if history.empty:
        st.caption("No import yet.")
        return
    st.dataframe(
        history[
            [column for column in audit.RECENT_COLUMNS if column not in ("id", "file_details", "counts")]
        ],
        hide_index=True,
        column_config={
            "imported_at": st.column_config.DatetimeColumn("When (UTC)", format="D MMM YYYY, HH:mm"),
            "user": "Who",
            "source": "From",
            "status": "Result",
            "files": "Files",
            "inserted": st.column_config.NumberColumn("New rows", format="localized"),
            "updated": st.column_config.NumberColumn("Updated", format="localized"),
            "unchanged": st.column_config.NumberColumn("Unchanged", format="localized"),
            "problem_count": st.column_config.NumberColumn("Problems", format="localized"),
        },
    )
    st.caption(
        f"The latest {HISTORY_ROWS} attempts, applied or refused. The log is append-only; file "
        "fingerprints (SHA-256) are in the database's imports table."
    )


data_page()
