"""Durability in words and tables: the page's sentences, the booster table and the CLI's table.

Numbers read through :mod:`analysis.present.format`. Small groups (under 11 patients in the
durability cohort) have their counts shown as "<11" in the terminal table unless suppression is
turned off, as the response table's are (docs/methods.md, "Small cells").
"""

from __future__ import annotations

import pandas as pd

from analysis.domain.vocabulary import display_name
from analysis.present import format as fmt
from analysis.queries.durability import DurabilityCurve, DurabilityTable

SUPPRESSED = "<11"
#: The landmark the page's sentence speaks of (12 weeks).
HEADLINE_DAY = 84


def group_label(curve: DurabilityCurve, by: str | None) -> str:
    """``Intranasal``, ``CRPS``… or ``All responders`` for the overall curve."""
    return display_name(str(curve.keys[by])) if by and by in curve.keys else "All responders"


def _ci_days(curve: DurabilityCurve) -> str:
    s = curve.survival
    if s.median_ci_low is None:
        return ""
    high = "not reached" if s.median_ci_high is None else fmt.weeks(s.median_ci_high)
    return f" (95% CI {fmt.weeks(s.median_ci_low)}–{high})"


def median_sentence(curve: DurabilityCurve, threshold: float) -> str:
    """The median in plain words, e.g. "Half of the responders still had ≥30% relief 11 weeks
    after it began (95% CI 8–14)."""
    s = curve.survival
    relief = f"≥{100 * threshold:.0f}% relief"
    if s.patients == 0:
        return "No patient has had a response yet: nothing to follow."
    if s.median_days is None:
        longest = max((step.day for step in s.curve), default=0)
        return (
            f"More than half of the responders still had {relief} at the end of their follow-up "
            f"(up to {fmt.weeks(longest)} weeks after it began): the median is not reached yet."
        )
    return (
        f"Half of the responders still had {relief} {fmt.weeks(s.median_days)} weeks after it began"
        f"{_ci_days(curve)}."
    )


def landmark_sentence(curve: DurabilityCurve, day: int = HEADLINE_DAY) -> str:
    """The share still responding on a landmark day, e.g. "At 12 weeks, 41% (95% CI 33–49%) were
    still responding (52 still followed)." (whole percentages, as the page's table)."""
    point = next((a for a in curve.survival.at if a.day == day), None)
    if point is None or point.survival is None:
        return f"Nobody has been followed {fmt.weeks(day)} weeks after their response began yet."
    interval = fmt.interval(point.ci_low, point.ci_high, 0)
    ci = "" if interval == fmt.MISSING else f" (95% CI {interval})"
    return (
        f"At {fmt.weeks(day)} weeks, {fmt.percent(point.survival, 0)}{ci} were still responding "
        f"({fmt.count(point.at_risk)} still followed)."
    )


def _median_text(curve: DurabilityCurve) -> str:
    s = curve.survival
    if s.patients == 0:
        return fmt.MISSING
    if s.median_days is None:
        return "not reached"
    return f"{fmt.weeks(s.median_days)} weeks{_ci_days(curve).replace('95% CI ', '')}"


def curve_frame(table: DurabilityTable) -> pd.DataFrame:
    """One row per group (then all responders): counts, the median and the landmark survival."""
    rows = []
    for curve in [*table.groups, table.overall]:
        s = curve.survival
        row = {
            "Group": "All responders" if curve is table.overall else group_label(curve, table.by),
            "Responders": fmt.count(s.patients),
            "Lost the response": fmt.count(s.events),
            "Censored": fmt.count(s.censored),
            "Median (95% CI)": _median_text(curve),
        }
        for point in s.at:
            row[f"At {fmt.weeks(point.day)} weeks"] = fmt.percent(point.survival, 0)
        rows.append(row)
    return pd.DataFrame(rows)


def booster_frame(table: DurabilityTable) -> pd.DataFrame:
    """One row per group (then all patients): patients with booster gaps, median and quartiles."""
    curves = [*table.groups, table.overall]
    rows = []
    for curve in curves:
        b = curve.boosters
        rows.append(
            {
                "Group": group_label(curve, table.by) if curve is not table.overall else "All responders",
                "Responders": fmt.count(curve.survival.patients),
                "With ≥2 maintenance sessions": fmt.count(b.n),
                "Median gap": fmt.days(b.median),
                "Quartiles": fmt.MISSING if b.q1 is None else f"{_n(b.q1)}–{_n(b.q3)} days",
            }
        )
    return pd.DataFrame(rows)


def _n(value: float | None) -> str:
    return fmt.days(value).removesuffix(" days")


def _count(value: int, small: bool, suppress: bool) -> str:
    return SUPPRESSED if small and suppress else fmt.count(value)


def hidden_groups(table: DurabilityTable) -> list[bool]:
    """Per group, then the overall row: whether a suppressed table hides its numbers.

    A group under 11 responders is hidden (docs/methods.md, "Small cells"); when it is the only
    hidden group, the smallest other group is hidden too, or the overall row minus the shown
    groups would give its counts back (complementary suppression, as the exports do).
    """
    hidden = [curve.small_n for curve in table.groups]
    shown = [i for i, h in enumerate(hidden) if not h]
    if sum(hidden) == 1 and shown:
        hidden[min(shown, key=lambda i: (table.groups[i].survival.patients, i))] = True
    return [*hidden, table.overall.small_n]


def durability_text(table: DurabilityTable, *, suppress: bool = True) -> str:
    """A fixed-width table for a terminal, with the definition above it. With ``suppress`` the
    groups of :func:`hidden_groups` show "<11" for every number: their counts, their survival
    percentages, and the median times and gaps, which are one or two patients' times."""
    d = table.definition
    rows = []
    curves = [*table.groups, table.overall]
    for curve, hidden in zip(curves, hidden_groups(table), strict=True):
        s, small = curve.survival, hidden and suppress
        median = str(s.median_days) if s.median_days is not None else ("NR" if s.patients else fmt.MISSING)
        low = fmt.MISSING if s.median_ci_low is None else str(s.median_ci_low)
        high = "NR" if s.median_ci_high is None else str(s.median_ci_high)
        row = {
            "Group": "All responders" if curve is table.overall else group_label(curve, table.by),
            "Patients": _count(s.patients, small, suppress),
            "Losses": _count(s.events, small, suppress),
            "Censored": _count(s.censored, small, suppress),
            "Median (d)": SUPPRESSED if small else median,
            "95% CI (d)": SUPPRESSED
            if small
            else (fmt.MISSING if s.median_ci_low is None else f"{low}–{high}"),
        }
        for point in s.at:  # a small group's percentages would give its counts back
            row[f"{fmt.weeks(point.day)} wk"] = SUPPRESSED if small else fmt.percent(point.survival)
        b = curve.boosters
        row["Booster gap"] = (
            SUPPRESSED
            if small
            else (fmt.MISSING if b.median is None else f"{fmt.days(b.median)} (IQR {_n(b.q1)}–{_n(b.q3)})")
        )
        rows.append(row)
    body = pd.DataFrame(rows).to_string(index=False)
    header = (
        f"Durability of response: onset = first pain reduction ≥ {100 * d.threshold:.0f}% by day "
        f"{d.window_end}; loss = first later measurement below it; Kaplan–Meier, 95% log(−log) "
        f"intervals; data cut-off {d.cutoff}"
    )
    footer = "NR: not reached. Survival at 4, 8, 12 and 26 weeks after the onset of the response."
    if table.by:
        footer += f"\nLog-rank p across groups: {fmt.p_value(table.logrank_p)}"
    return "\n".join(part for part in (header, body, footer) if part)
