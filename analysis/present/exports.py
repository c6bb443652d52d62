"""Exports of the response table: CSV for spreadsheets and a text table for terminals.

Small cells (docs/methods.md): a group whose denominator is under 11 has its counts shown as "<11"
unless suppression is turned off. Text cells that a spreadsheet would run as a formula
(leading ``=``, ``+``, ``-``, ``@``, tab or carriage return) are neutralised with a leading
apostrophe (OWASP "CSV injection").
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd

from analysis.domain.comparators import Comparator
from analysis.domain.definition import SMALL_CELL
from analysis.domain.vocabulary import display_name
from analysis.present import format as fmt
from analysis.queries.response import ResponseTable
from analysis.stats import planner

SUPPRESSED = "<11"
COUNT_COLUMNS = ("patients", "evaluable", "pending", "eligible", "with_followup", "n", "responders")
#: The precision planner's columns: n_needed − more_needed is n, so they go with the counts.
PLANNER_COLUMNS = ("n_needed", "more_needed")
_FORMULA_LEADERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: object) -> object:
    """Prefix text that a spreadsheet would evaluate as a formula with an apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_LEADERS):
        return "'" + value
    return value


def response_frame(table: ResponseTable, *, suppress: bool = True) -> pd.DataFrame:
    """The groups then the overall row, with small cells suppressed when asked."""
    hidden = (*COUNT_COLUMNS, *PLANNER_COLUMNS, "pace_per_month")
    frame = table.frame().astype({column: object for column in hidden})
    if suppress:
        small = frame["small_n"].astype(bool)
        frame.loc[small, list(COUNT_COLUMNS + PLANNER_COLUMNS)] = SUPPRESSED
        # The pace is recent starts ÷ 6 months: a pace of fewer than 11 recent starts is a small cell.
        pace = pd.to_numeric(frame["pace_per_month"], errors="coerce")
        slow = pace.notna() & (pace * planner.PACE_MONTHS < SMALL_CELL - 1e-9)
        frame.loc[slow | small, "pace_per_month"] = SUPPRESSED
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
                "More needed": _planned(record["more_needed"]),
                "Expected": fmt.expected_month(
                    record["more_needed"], record["pace_per_month"], record["expected_month"]
                ),
            }
        )
    body = pd.DataFrame(rows).to_string(index=False)
    header = (
        f"Response at day {d.timepoint_days} (window ±{d.window_days} d), responder = pain "
        f"reduction ≥ {100 * d.threshold:.0f}%, {d.missing.upper() if d.missing == 'itt' else d.missing}, "
        f"{'Wilson' if d.ci == 'wilson' else 'exact'} interval, band "
        f"{100 * d.band[0]:.0f}–{100 * d.band[1]:.0f}%, data cut-off {d.cutoff}"
    )
    footer = (
        "More needed: patients still needed before the interval can clear the band, if the rate stays "
        "where it is; Expected: the month they may be reached at the group's pace of the last "
        f"{planner.PACE_MONTHS} months (docs/methods.md, \"Precision planner\")."
    )
    return f"{header}\n{body}\n{footer}"


def _planned(value: object) -> str:
    """A planner count as the table shows it: "—" when the rate is inside the band or unknown."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return value if isinstance(value, str) else fmt.count(int(value))


def comparators_text(table: ResponseTable, comparators: Sequence[Comparator]) -> str:
    """Each condition's comparators at the current threshold, with the verdict, for a terminal."""
    from analysis.queries.comparators import for_group  # present reads queries' small results

    d = table.definition
    lines = [f"Published comparators at ≥{100 * d.threshold:.0f}% relief (docs/comparisons.md):"]
    for group in table.groups:
        results = for_group(group, comparators, d.threshold)
        code = group.keys.get("condition", "")
        name = display_name(code)
        if not results:
            lines.append(f"  {name}: {fmt.no_comparator(code, comparators, d.threshold)}")
            continue
        for result in results:
            c = result.comparator
            mark = " [indirect]" if c.indirect else ""
            lines.append(
                f"  {name}: {fmt.COMPARATOR_VERDICTS[result.verdict]} {fmt.percent(c.rate)} "
                f"({c.kind}: {c.label}){mark}. {c.citation}"
            )
    return "\n".join(lines)
