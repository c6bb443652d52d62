"""The measures beyond pain in words and tables: CSV for spreadsheets, a text table for terminals.

One row per group and measure. Small cells (docs/methods.md): a rate, change or agreement table
whose denominator is under 11 has its counts shown as "<11" unless suppression is turned off;
rates, means and medians stay visible, flagged "small n", as everywhere else. Text cells that a
spreadsheet would run as a formula are neutralised (:func:`analysis.present.exports.neutralise_formula`).
"""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from analysis.domain.definition import SMALL_CELL
from analysis.domain.measures import CHANGE_MEASURES, RATE_MEASURES, MeasureSettings
from analysis.domain.vocabulary import display_name
from analysis.present import format as fmt
from analysis.present.exports import SUPPRESSED, neutralise_formula
from analysis.queries.secondary_results import Measures, SecondaryTable

#: What each measure counts, in words (the table's "Measure" column and the page's captions).
MEASURE_LABELS: dict[str, str] = {
    "substantial": "Substantial pain relief (≥ {substantial:.0%})",
    "pgic_improved": "PGIC much or very much improved (≤ {pgic_improved})",
    "mme_reduced_50": "Opioid dose cut by ≥ {mme_reduction:.0%}",
    "mme_stopped": "Opioids stopped (0 MME)",
    "phq9_response": "PHQ-9 response (≥ {phq9_response:.0%} lower)",
    "phq9_remission": "PHQ-9 remission (< {phq9_remission})",
    "bpi_improved": "BPI interference ≥ {bpi_points:g} point lower",
    "headache_response": "Headache days ≥ {headache_reduction:.0%} fewer",
    "pgic_agreement": "PGIC improved × pain responder",
    "mme_change": "Change in MME/day",
    "phq9_change": "Change in PHQ-9",
    "bpi_change": "Change in BPI interference",
    "headache_days_change": "Change in headache days",
}
#: Units of the mean changes (table and page).
CHANGE_UNITS: dict[str, str] = {
    "mme_change": "MME/day",
    "phq9_change": "points",
    "bpi_change": "points",
    "headache_days_change": "days",
}

CSV_COLUMNS = (
    "measure",
    "n",
    "count",
    "rate",
    "ci_low",
    "ci_high",
    "mean",
    "median",
    "both",
    "pgic_only",
    "nrs_only",
    "neither",
    "small_n",
)
_COUNTS = ("n", "count", "both", "pgic_only", "nrs_only", "neither")
#: Figures computed from a small group's counts: hidden with them (docs/security.md).
_DERIVED = ("rate", "ci_low", "ci_high", "mean", "median")


def measure_label(measure: str, settings: MeasureSettings) -> str:
    """The measure's name with its cut-off, e.g. ``PHQ-9 remission (< 5)``."""
    return MEASURE_LABELS[measure].format(**settings.to_dict())


def _rows(group: Measures, by: tuple[str, ...], label: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in RATE_MEASURES:
        rate = group.rates[name]
        rows.append({**label, "measure": name, **rate.to_dict()})
    agreement = group.agreement
    rows.append({**label, "measure": "pgic_agreement", **agreement.to_dict(), "small_n": agreement.small_n})
    for name in CHANGE_MEASURES:
        change = group.changes[name]
        rows.append({**label, "measure": name, **change.to_dict(), "small_n": change.n < SMALL_CELL})
    return rows


def secondary_frame(table: SecondaryTable, *, suppress: bool = True) -> pd.DataFrame:
    """One row per group and measure (the groups, then the whole cohort as "(all)")."""
    records: list[dict[str, Any]] = []
    for group in table.groups:
        records += _rows(group, table.by, {key: group.keys[key] for key in table.by})
    records += _rows(table.overall, table.by, {key: "(all)" for key in table.by})
    frame = pd.DataFrame(records, columns=[*table.by, *CSV_COLUMNS]).astype({"small_n": bool})
    for column in _COUNTS:  # whole numbers, blank where the measure has no such count
        values = [None if pd.isna(v) else int(v) for v in frame[column]]
        frame[column] = pd.Series(values, index=frame.index, dtype=object)
    if suppress:
        small = frame["small_n"]
        for column in (*_COUNTS, *_DERIVED):
            frame[column] = frame[column].astype(object)
            present = frame[column].notna()
            frame.loc[small & present, column] = SUPPRESSED
    return frame


def secondary_csv(table: SecondaryTable, *, suppress: bool = True) -> str:
    """CSV of every measure, safe to open in a spreadsheet."""
    frame = secondary_frame(table, suppress=suppress)
    for column in (*table.by, "measure"):  # the only text columns (numbers are never formulas)
        frame[column] = frame[column].map(neutralise_formula)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def _result(record: dict[str, Any]) -> tuple[str, str]:
    """(result, interval) of one row in words."""
    measure = record["measure"]
    if record.get("rate") == SUPPRESSED or record.get("mean") == SUPPRESSED:  # a small group's figures
        return SUPPRESSED, SUPPRESSED
    if measure in CHANGE_MEASURES:
        mean = None if pd.isna(record["mean"]) else float(record["mean"])
        median = None if pd.isna(record["median"]) else float(record["median"])
        low = None if pd.isna(record["ci_low"]) else float(record["ci_low"])
        high = None if pd.isna(record["ci_high"]) else float(record["ci_high"])
        result = fmt.MISSING if mean is None else f"mean {fmt.change(mean)}, median {fmt.change(median)}"
        return result, fmt.change_interval(low, high)
    if measure == "pgic_agreement":
        cells = (record[c] for c in ("both", "pgic_only", "nrs_only", "neither"))
        both, pgic_only, nrs_only, neither = (str(c) if isinstance(c, str) else f"{int(c):,}" for c in cells)
        return f"both {both} · PGIC only {pgic_only} · NRS only {nrs_only} · neither {neither}", fmt.MISSING
    rate = None if pd.isna(record["rate"]) else float(record["rate"])
    low = None if pd.isna(record["ci_low"]) else float(record["ci_low"])
    high = None if pd.isna(record["ci_high"]) else float(record["ci_high"])
    if rate is None:
        return fmt.MISSING, fmt.MISSING
    count = record["count"] if isinstance(record["count"], str) else f"{int(record['count']):,}"
    return f"{fmt.percent(rate)} ({count})", fmt.interval(low, high)


def _fixed_width(rows: list[dict[str, str]], *, right: tuple[str, ...]) -> str:
    """Rows as columns of text: left-aligned, except the ``right`` columns (numbers)."""
    names = list(rows[0])
    widths = {name: max(len(name), *(len(row[name]) for row in rows)) for name in names}

    def line(cells: dict[str, str]) -> str:
        parts = [
            cells[name].rjust(widths[name]) if name in right else cells[name].ljust(widths[name])
            for name in names
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line({name: name for name in names}), *(line(row) for row in rows)])


def secondary_text(table: SecondaryTable, *, suppress: bool = True) -> str:
    """A readable fixed-width table for a terminal, with the definition above it."""
    d, settings = table.definition, table.settings
    frame = secondary_frame(table, suppress=suppress)
    rows = []
    for record in frame.to_dict("records"):
        keys = [str(record[key]) for key in table.by]
        group = "All patients" if all(k == "(all)" for k in keys) else " / ".join(map(display_name, keys))
        result, interval = _result(record)
        n = record["n"]
        rows.append(
            {
                "Group": group,
                "Measure": measure_label(record["measure"], settings),
                "n": n if isinstance(n, str) else f"{int(n):,}",
                "Result": result,
                "95% CI": interval,
                "": "small n" if record["small_n"] else "",
            }
        )
    body = _fixed_width(rows, right=("n",))
    policy = "ITT" if d.missing == "itt" else "completers"
    header = (
        f"Outcomes beyond pain at day {d.timepoint_days} (window ±{d.window_days} d), {policy}, "
        f"{fmt.method_label(d.ci)} interval for rates, t interval for mean changes, data cut-off {d.cutoff}"
    )
    return f"{header}\n{body}"
