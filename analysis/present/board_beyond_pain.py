"""The board report's section on the outcomes beyond pain: every IMMPACT domain in one table.

Same numbers as ``python -m analysis secondary`` for the whole cohort (the report's cohort and
definition). Small cells as in the rest of the report: with ``suppress`` a measure whose
denominator is under 11 shows its counts as "<11"; its rate or mean stays, flagged "small n".
"""

from __future__ import annotations

import html
from typing import Any

from sqlalchemy import Engine

from analysis.domain.definition import SMALL_CELL, CohortFilter, OutcomeDefinition
from analysis.domain.measures import CHANGE_MEASURES, DOMAINS, MEASURE_DOMAIN, RATE_MEASURES
from analysis.present import format as fmt
from analysis.present.exports import SUPPRESSED
from analysis.present.secondary import CHANGE_UNITS, measure_label
from analysis.queries import secondary


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _count(value: int, hidden: bool) -> str:
    return SUPPRESSED if hidden else f"{value:,}"


def beyond_pain_section(
    engine: Engine, definition: OutcomeDefinition, cohort: CohortFilter, *, suppress: bool = True
) -> list[str]:
    """HTML parts: a heading, the table of every measure, the PGIC agreement and the opioid picture."""
    table = secondary.secondary_table(engine, definition, cohort)
    overall, settings, d = table.overall, table.settings, table.definition
    head = "".join(f"<th>{h}</th>" for h in ("Domain", "Measure", "Who qualifies", "n", "Result", "95% CI"))
    body = []
    for name in RATE_MEASURES:
        rate = overall.rates[name]
        hidden = suppress and rate.small_n
        title, qualifies = DOMAINS[MEASURE_DOMAIN[name]]
        result = (
            fmt.MISSING
            if rate.rate is None
            else f"{fmt.percent(rate.rate)} ({_count(rate.count, hidden)})"
            + (" small n" if rate.small_n else "")
        )
        interval = fmt.interval(rate.ci_low, rate.ci_high)
        if hidden:  # every figure derived from a small count is hidden with it (docs/security.md)
            result = interval = SUPPRESSED
        cells = (title, measure_label(name, settings), qualifies, _count(rate.n, hidden), result,
                 interval)  # fmt: skip
        body.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    for name in CHANGE_MEASURES:
        change = overall.changes[name]
        small = change.n < SMALL_CELL
        title = DOMAINS[MEASURE_DOMAIN[name]][0]
        result = (
            fmt.MISSING
            if change.mean is None
            else f"mean {fmt.change(change.mean)} {CHANGE_UNITS[name]}, median {fmt.change(change.median)}"
            + (" small n" if small else "")
        )
        interval = fmt.change_interval(change.ci_low, change.ci_high)
        if suppress and small:
            result = interval = SUPPRESSED
        cells = (title, measure_label(name, settings), "Eligible patients with both values",
                 _count(change.n, suppress and small), result, interval)  # fmt: skip
        body.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    policy = "ITT" if d.missing == "itt" else "completers"
    parts = [
        "<h2>Outcomes beyond pain</h2>",
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>",
        f'<p class="caption">At day {d.timepoint_days} (± {d.window_days} days); for each measure the '
        "follow-up in the window nearest the time point that records it. Rates: "
        f"{policy}, {_e(fmt.method_label(d.ci))} 95% intervals; mean changes (follow-up − baseline) "
        "with 95% t intervals. Domains of IMMPACT (Dworkin et al. 2008); definitions in the methods.</p>",
    ]
    agreement = overall.agreement
    if agreement.n:
        hide = suppress and agreement.small_n
        parts.append(
            f"<p>PGIC against the pain responder, {_count(agreement.n, hide)} patients with both: "
            f"both improved {_count(agreement.both, hide)}, PGIC only {_count(agreement.pgic_only, hide)}, "
            f"pain only {_count(agreement.nrs_only, hide)}, neither {_count(agreement.neither, hide)}.</p>"
        )
    levels = overall.opioid_levels
    if levels.n and suppress and levels.small_n:
        parts.append("<p>Opioids: fewer than 11 patients with a dose at baseline and at the time point "
                     "(not shown: small-cell suppression).</p>")  # fmt: skip
    elif levels.n:
        low, high = levels.levels
        parts.append(
            f"<p>Opioids: of {_count(levels.n, suppress and levels.small_n)} patients with a dose at "
            f"baseline and at day {d.timepoint_days}, "
            f"{fmt.percent(levels.baseline_low / levels.n)} took ≥ {low:g} MME/day at baseline and "
            f"{fmt.percent(levels.followup_low / levels.n)} at the time point; ≥ {high:g} MME/day: "
            f"{fmt.percent(levels.baseline_high / levels.n)} and "
            f"{fmt.percent(levels.followup_high / levels.n)} (levels of concern, CDC 2016).</p>"
        )
    return parts
