"""Exports of the response table: CSV for spreadsheets and a text table for terminals.

Small cells (docs/methods.md, docs/security.md), when ``suppress`` is on (the default):

- **Primary suppression.** A group whose denominator n is under 11 has every figure shown as
  "<11": its counts *and* everything derived from them — rate, interval, p-values (raw and
  Holm), verdict. For n < 11 the rate and one interval end are enough to recover
  (n, responders) exactly, so hiding the counts alone protects nothing.
- **Complementary suppression** (the CMS cell-size rule: no suppressed cell may be derivable
  from totals or other rows). Counts add up: the overall row minus the other groups gives a
  lone suppressed group back. So in every set of sibling rows that add up to a published total
  — all groups of the table (total: the overall row) and, in a two-way table, the rows sharing
  one key (total: that key's row of the one-way export) — that holds exactly one suppressed row,
  the smallest other sibling (by n, then by order) is suppressed too, until no set has a lone
  suppressed row. The ``suppression`` column says which rule hid a row.

Formula injection (OWASP "CSV injection"): a spreadsheet may start a cell at the start of the
value or after any separator it may split on (``,`` ``;`` ``|``, tab, CR, LF). Wherever a
formula leader (``=``, ``+``, ``-``, ``@``, or tab/CR starting a value) would start such a cell,
an apostrophe is inserted, so ``main;=HYPERLINK(…)`` becomes ``main;'=HYPERLINK(…)``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import pandas as pd

from analysis.domain.comparators import Comparator
from analysis.domain.definition import SMALL_CELL
from analysis.domain.vocabulary import NO_ROUTE, display_name
from analysis.present import format as fmt
from analysis.queries.response import ResponseTable
from analysis.stats import planner

SUPPRESSED = "<11"
COUNT_COLUMNS = (
    "patients",
    "evaluable",
    "pending",
    "eligible",
    "with_followup",
    "n",
    "responders",
    "substantial",
)
#: Figures computed from a group's counts: hidden with them.
DERIVED_COLUMNS = (
    "rate",
    "substantial_rate",
    "ci_low",
    "ci_high",
    "p_gt_lower",
    "p_gt_upper",
    "p_gt_lower_holm",
    "p_gt_upper_holm",
    "verdict",
)
SUPPRESSED_COLUMNS = COUNT_COLUMNS + DERIVED_COLUMNS
#: What the ``suppression`` column says.
PRIMARY = "small cell (n < 11)"
COMPLEMENTARY = "complementary (protects a small cell)"

# A cell may start at the start of the value or after a separator; optional blanks may precede
# the leader (spreadsheets may trim them). The apostrophe goes right after the separator.
_FORMULA_CELL = re.compile(r"(^|[,;|\t\r\n])([ \t]*[=+\-@\t\r])")
#: The precision planner's columns: n_needed − more_needed is n, so they go with the counts.
PLANNER_COLUMNS = ("n_needed", "more_needed")


def neutralise_formula(value: object) -> object:
    """Put an apostrophe before every formula a spreadsheet could find in a text value."""
    if not isinstance(value, str):
        return value
    return _FORMULA_CELL.sub(lambda m: f"{m.group(1)}'{m.group(2)}", value)


def _sibling_sets(keys: pd.DataFrame) -> list[list[int]]:
    """Row positions of each set of groups that adds up to a published total (see module doc)."""
    positions = list(range(len(keys)))
    sets = [positions]
    if keys.shape[1] >= 2:
        for column in keys.columns:
            others = [c for c in keys.columns if c != column]
            shared: dict[tuple[str, ...], list[int]] = {}
            for position, row in enumerate(keys[others].itertuples(index=False)):
                shared.setdefault(tuple(row), []).append(position)
            sets.extend(shared.values())
    return [members for members in sets if len(members) >= 2]


def suppression_reasons(table: ResponseTable) -> list[str]:
    """For each row of :meth:`ResponseTable.frame` (overall last): "" or why it is suppressed."""
    groups = table.groups
    reasons = [PRIMARY if g.small_n else "" for g in groups]
    if groups:
        keys = pd.DataFrame([g.keys for g in groups], columns=list(table.by))
        sets = _sibling_sets(keys)
        changed = True
        while changed:
            changed = False
            for members in sets:
                hidden = [m for m in members if reasons[m]]
                shown = [m for m in members if not reasons[m]]
                if len(hidden) == 1 and shown:
                    smallest = min(shown, key=lambda m: (groups[m].n, m))
                    reasons[smallest] = COMPLEMENTARY
                    changed = True
    reasons.append(PRIMARY if table.overall.small_n else "")
    return reasons


def _with_substantial(table: ResponseTable, frame: pd.DataFrame) -> pd.DataFrame:
    """Add the substantial (≥ 50 %) responders and their rate beside the responders and rate.

    Same denominator ``n`` as the response rate (docs/methods.md, "Outcomes beyond pain").
    """
    groups = [*table.groups, table.overall]  # the frame's order: groups, then the overall row
    frame.insert(frame.columns.get_loc("responders") + 1, "substantial", [g.substantial for g in groups])
    frame.insert(
        frame.columns.get_loc("rate") + 1,
        "substantial_rate",
        [g.substantial / g.n if g.n else None for g in groups],
    )
    return frame


def response_frame(table: ResponseTable, *, suppress: bool = True) -> pd.DataFrame:
    """The groups then the overall row, with small cells (and their protectors) suppressed when asked."""
    hidden_columns = (*SUPPRESSED_COLUMNS, *PLANNER_COLUMNS, "pace_per_month")
    frame = _with_substantial(table, table.frame()).astype({column: object for column in hidden_columns})
    if suppress:
        reasons = suppression_reasons(table)
        hidden = [bool(reason) for reason in reasons]
        frame.loc[hidden, list(SUPPRESSED_COLUMNS + PLANNER_COLUMNS)] = SUPPRESSED
        frame["suppression"] = reasons
        # The pace is recent starts ÷ 6 months: a pace of fewer than 11 recent starts is a small cell.
        pace = pd.to_numeric(frame["pace_per_month"], errors="coerce")
        slow = pace.notna() & (pace * planner.PACE_MONTHS < SMALL_CELL - 1e-9)
        frame.loc[slow | pd.Series(hidden, index=frame.index), "pace_per_month"] = SUPPRESSED
    return frame


def response_table_csv(table: ResponseTable, *, suppress: bool = True) -> str:
    """CSV of the response table, safe to open in a spreadsheet."""
    frame = response_frame(table, suppress=suppress).map(neutralise_formula)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def frame_csv(frame: pd.DataFrame) -> str:
    """Any table as CSV with every text cell neutralised (the one way a table leaves the app)."""
    buffer = io.StringIO()
    frame.map(neutralise_formula).rename(columns=neutralise_formula).to_csv(
        buffer, index=False, lineterminator="\n"
    )
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
        hidden = record["rate"] == SUPPRESSED
        rows.append(
            {
                "Group": label,
                "Patients": record["patients"],
                "Pending": record["pending"],
                "Eligible": record["eligible"],
                "With FU": record["with_followup"],
                "n": record["n"],
                "Resp.": record["responders"],
                "Rate": SUPPRESSED if hidden else fmt.percent(record["rate"]),
                "≥50%": SUPPRESSED if hidden else fmt.percent(record["substantial_rate"]),
                f"{100 * (1 - d.alpha):.0f}% CI": SUPPRESSED
                if hidden
                else fmt.interval(record["ci_low"], record["ci_high"]),
                f"p>{100 * d.band[0]:.0f}%": SUPPRESSED if hidden else fmt.p_value(record["p_gt_lower"]),
                f"p>{100 * d.band[1]:.0f}%": SUPPRESSED if hidden else fmt.p_value(record["p_gt_upper"]),
                "Verdict": SUPPRESSED
                if hidden
                else str(record["verdict"]).replace("_", " ") + (" (small n)" if record["small_n"] else ""),
                "More needed": _planned(record["more_needed"]),
                "Expected": SUPPRESSED
                if hidden
                else fmt.expected_month(
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
        "\nMore needed: patients still needed before the interval can clear the band, if the rate stays "
        "where it is; Expected: the month they may be reached at the group's pace of the last "
        f"{planner.PACE_MONTHS} months (docs/methods.md, \"Precision planner\")."
    )
    if suppress and any(r == SUPPRESSED for r in frame["rate"]):
        footer += (
            "\n<11: suppressed — a group with fewer than 11 patients in the denominator, or a "
            "sibling hidden so that it cannot be recovered from the total (complementary suppression)."
        )
    return f"{header}\n{body}{footer}"


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
    if dimension == "route" and value == NO_ROUTE:
        return "No session"
    return display_name(str(value)) if dimension in ("condition", "route") else str(value)


def _percent_number(value: object) -> object:
    """A proportion as a percentage rounded to 0.1 (a number a spreadsheet can sort); text stays text."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return ""
    return round(100 * float(value), 1)  # type: ignore[arg-type]  # a number once text and None are out


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


def _planned(value: object) -> str:
    """A planner count as the table shows it: "—" when the rate is inside the band or unknown."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    return value if isinstance(value, str) else fmt.count(int(value))  # type: ignore[call-overload]


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


__all__: Sequence[str] = [
    "COMPLEMENTARY",
    "PRIMARY",
    "SUPPRESSED",
    "comparators_text",
    "director_csv",
    "director_frame",
    "frame_csv",
    "neutralise_formula",
    "response_frame",
    "response_table_csv",
    "response_table_text",
    "suppression_reasons",
]
