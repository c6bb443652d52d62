"""Exports of the response table: CSV for spreadsheets and a text table for terminals.

Small cells (docs/methods.md): a group whose denominator is under 11 has its counts shown as "<11"
unless suppression is turned off. Text cells that a spreadsheet would run as a formula
(leading ``=``, ``+``, ``-``, ``@``, tab or carriage return) are neutralised with a leading
apostrophe (OWASP "CSV injection").
"""

from __future__ import annotations

import io

import pandas as pd

from analysis.domain.vocabulary import display_name
from analysis.present import format as fmt
from analysis.queries.response import ResponseTable

SUPPRESSED = "<11"
COUNT_COLUMNS = ("patients", "evaluable", "pending", "eligible", "with_followup", "n", "responders")
_FORMULA_LEADERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: object) -> object:
    """Prefix text that a spreadsheet would evaluate as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_LEADERS):
        return "'" + value
    return value


def response_frame(table: ResponseTable, *, suppress: bool = True) -> pd.DataFrame:
    """The groups then the overall row, with small cells suppressed when asked."""
    frame = table.frame().astype({column: object for column in COUNT_COLUMNS})
    if suppress:
        small = frame["small_n"].astype(bool)
        frame.loc[small, list(COUNT_COLUMNS)] = SUPPRESSED
    return frame


def response_table_csv(table: ResponseTable, *, suppress: bool = True) -> str:
    """CSV of the response table, safe to open in a spreadsheet."""
    frame = response_frame(table, suppress=suppress).map(neutralise_formula)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def response_table_text(table: ResponseTable, *, suppress: bool = True) -> str:
    """A readable fixed-width table for a terminal, with the definition above it."""
    d = table.definition
    frame = response_frame(table, suppress=suppress)
    records = frame.to_dict("records")
    rows = []
    for position, record in enumerate(records):
        is_overall = position == len(records) - 1
        label = (
            "All patients" if is_overall else " / ".join(display_name(str(record[key])) for key in table.by)
        )
        ci = (
            "—"
            if record["ci_low"] is None or pd.isna(record["ci_low"])
            else f"{100 * record['ci_low']:.1f}–{100 * record['ci_high']:.1f}%"
        )
        rows.append(
            {
                "Group": label,
                "Patients": record["patients"],
                "Pending": record["pending"],
                "Eligible": record["eligible"],
                "With FU": record["with_followup"],
                "n": record["n"],
                "Resp.": record["responders"],
                "Rate": fmt.percent(record["rate"]),
                f"{100 * (1 - d.alpha):.0f}% CI": ci,
                f"p>{100 * d.band[0]:.0f}%": fmt.p_value(record["p_gt_lower"]),
                f"p>{100 * d.band[1]:.0f}%": fmt.p_value(record["p_gt_upper"]),
                "Verdict": record["verdict"].replace("_", " ") + (" (small n)" if record["small_n"] else ""),
            }
        )
    body = pd.DataFrame(rows).to_string(index=False)
    header = (
        f"Response at day {d.timepoint_days} (window ±{d.window_days} d), responder = pain "
        f"reduction ≥ {100 * d.threshold:.0f}%, {d.missing.upper() if d.missing == 'itt' else d.missing}, "
        f"{'Wilson' if d.ci == 'wilson' else 'exact'} interval, band "
        f"{100 * d.band[0]:.0f}–{100 * d.band[1]:.0f}%, data cut-off {d.cutoff}"
    )
    return f"{header}\n{body}"


# --- the director's CSV (issue #14 item 19) -------------------------------------------------
#
# Decided: the CSV downloaded from the Data page is read by people (a director, a board, a
# payer), so its groups carry names ("Cancer pain", not ``cancer_pain``), its rates and interval
# bounds are percentages to one decimal, its p-values read as everywhere else ("< 0.001") and its
# verdicts are words. The command line's ``summary --format csv`` stays the machine CSV — codes and
# full precision, which scripts join on (docs/methods.md, "Exports").

_DIMENSION_TITLES = {
    "condition": "Condition",
    "route": "Route",
    "site": "Site",
    "sex": "Sex",
    "age_group": "Age group",
    "quarter": "Quarter of first session",
}


def _group_name(dimension: str, value: object) -> str:
    if dimension == "route" and value == "none":
        return "No session"
    return display_name(str(value)) if dimension in ("condition", "route") else str(value)


def _percent_number(value: object) -> object:
    """A proportion as a percentage rounded to 0.1 (a number a spreadsheet can sort); text stays text."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return ""
    return round(100 * float(value), 1)


def _count_cell(value: object) -> object:
    return value if isinstance(value, str) else int(value)  # type: ignore[call-overload]


def director_frame(table: ResponseTable, *, suppress: bool = True) -> pd.DataFrame:
    """The response table as a person reads it: named groups, rounded percentages, worded verdicts."""
    d = table.definition
    bottom, top = (f"{100 * edge:.0f}%" for edge in d.band)
    frame = response_frame(table, suppress=suppress)
    records = frame.to_dict("records")
    rows = []
    for position, record in enumerate(records):
        overall = position == len(records) - 1
        row: dict[str, object] = {
            _DIMENSION_TITLES.get(key, key): "All patients" if overall else _group_name(key, record[key])
            for key in table.by
        }
        if not table.by:
            row["Group"] = "All patients"
        row.update(
            {
                "Patients": _count_cell(record["patients"]),
                "Pending": _count_cell(record["pending"]),
                "Eligible": _count_cell(record["eligible"]),
                "With follow-up": _count_cell(record["with_followup"]),
                "n": _count_cell(record["n"]),
                "Responders": _count_cell(record["responders"]),
                "Rate (%)": _percent_number(record["rate"]),
                "95% CI low (%)": _percent_number(record["ci_low"]),
                "95% CI high (%)": _percent_number(record["ci_high"]),
                f"p > {bottom}": _p_cell(record["p_gt_lower"]),
                f"p > {top}": _p_cell(record["p_gt_upper"]),
                f"p > {bottom} (Holm)": _p_cell(record["p_gt_lower_holm"]),
                f"p > {top} (Holm)": _p_cell(record["p_gt_upper_holm"]),
                "Verdict": fmt.VERDICT_LABELS.get(str(record["verdict"]), str(record["verdict"])),
                "Small n": "Yes" if record["small_n"] else "No",
            }
        )
        rows.append(row)
    return pd.DataFrame(rows)


def _p_cell(value: object) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None or pd.isna(value) else fmt.p_value(float(value))  # type: ignore[arg-type]


def director_csv(table: ResponseTable, *, suppress: bool = True) -> str:
    """CSV of :func:`director_frame` with the definition on its first line, safe for a spreadsheet."""
    d = table.definition
    frame = director_frame(table, suppress=suppress).map(neutralise_formula)
    policy = "ITT" if d.missing == "itt" else "completers"
    buffer = io.StringIO()
    buffer.write("\ufeff")  # a byte-order mark, so that Excel reads the UTF-8 (≥, –, accents) as such
    buffer.write(
        f"# Responder: pain reduction ≥ {100 * d.threshold:.0f}% at day {d.timepoint_days} "
        f"(±{d.window_days} days), {policy}, {fmt.method_label(d.ci)} 95% interval, band "
        f"{fmt.band(d.band)}, data up to {d.cutoff}\n"
    )
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()
