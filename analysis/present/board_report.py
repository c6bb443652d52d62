"""The overview as one self-contained HTML document, for a board meeting or a payer.

The document mirrors the Overview page: the headline ITT response rate with its interval and
its verdict against the conventional-therapy band, ITT against completers, follow-up
completeness and pending patients, the forest plot, the quarterly trend and the patient
funnel (its last steps are the headline's eligible, followed-up and responders); and adds
the response tables by condition and by route and a methods paragraph.
Every number comes from :mod:`analysis.queries.response` (the tables through
:func:`analysis.present.exports.response_frame`, as the CSV export), every chart from
:mod:`analysis.present.figures`.

Rules decided here:

- **Self-contained.** plotly.js is embedded once, inline (about 4.8 MB); the charts are
  interactive offline. No script, style sheet, font or image is fetched from anywhere; the
  CSS is inline and uses system fonts. The document prints on A4/Letter (charts are not
  split across pages; the print view drops the chart toolbars).
- **Headline and tables.** The headline is ITT (as on the Overview page), with completers
  beside it; the tables by condition and by route use the definition's own missing-data
  policy, as the CSV downloads do. Groups are listed in the database's order, the whole
  cohort last.
- **Small cells** (docs/methods.md, docs/security.md), when ``suppress`` is on (the default): a
  group whose denominator is under 11 shows "<11" for its counts and for every figure derived
  from them (rate, interval, verdict) — in the tables (exactly as the CSV, with complementary
  suppression: :func:`analysis.present.exports.suppression_reasons`), in the key figures and
  the headline when the whole cohort (or its completers) is that small, and in the charts,
  which leave such groups out (the chart data is embedded in the file). Quarters of the trend
  follow the same rules as a table's rows, since they add up to the headline. When the whole
  cohort is small, the funnel (all counts) is left out with a note. With ``suppress=False``
  the document carries an "internal use" banner.
- **Escaping.** Every text that reaches the HTML goes through :func:`html.escape`; condition,
  route and site names come from the data. Chart data is JSON inside a script, which plotly
  writes with ``<`` and ``>`` escaped.
- **Cohort.** The sidebar filters in force are listed under the title ("all patients"
  when none). No patient id appears in the document.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from sqlalchemy import Engine

from analysis.db import cohorts
from analysis.db import comparators as comparator_store
from analysis.domain.comparators import Comparator
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.domain.vocabulary import NO_ROUTE, display_name
from analysis.present import figures
from analysis.present import format as fmt
from analysis.present.board_beyond_pain import beyond_pain_section
from analysis.present.disposition import disposition_html  # why patients stop
from analysis.present.exports import SUPPRESSED, response_frame, suppression_reasons
from analysis.present.figures import overview as overview_figures
from analysis.queries import comparators as comparator_matching
from analysis.queries import response
from analysis.queries.disposition import disposition

_DIMENSION_TITLES = {"condition": "Condition", "route": "Route"}

CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1b1b1b;
       max-width: 1100px; margin: 0 auto; padding: 24px 32px; line-height: 1.45; font-size: 15px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 28px 0 8px; border-bottom: 2px solid #0072B2; padding-bottom: 3px; }
.meta, .caption { color: #555; font-size: 0.92em; margin: 2px 0; }
.banner { background: #fde8e1; border-left: 5px solid #D55E00; padding: 8px 12px; margin: 12px 0; }
.headline { font-size: 1.15em; margin: 14px 0 6px; }
.headline .rate { font-size: 2em; font-weight: 700; color: #0072B2; }
.verdict { padding: 8px 12px; border-left: 5px solid #0072B2; background: #eef5fb; margin: 8px 0 14px; }
.verdict.above { border-color: #009E73; background: #e8f6f1; }
.verdict.below { border-color: #D55E00; background: #fdeee6; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 4px; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; vertical-align: top; }
th { background: #f3f3f3; }
th:first-child, td:first-child { text-align: left; }
tr.total td { font-weight: 600; border-top: 2px solid #999; }
td.small { color: #8a5a00; }
table.keyfigures { width: auto; min-width: 520px; }
.keyfigures td:first-child { padding-right: 32px; }
.chart { break-inside: avoid; page-break-inside: avoid; margin: 8px 0 16px; }
footer { margin-top: 28px; color: #666; font-size: 0.85em; }
@page { size: A4; margin: 14mm; }
@media print {
  body { padding: 0; font-size: 11pt; max-width: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table, .verdict, .headline { break-inside: avoid; page-break-inside: avoid; }
  .modebar-container { display: none !important; }
}
"""


def _e(value: Any) -> str:
    """Escape any value for HTML text or attribute."""
    return html.escape(str(value), quote=True)


def _count(value: int, hidden: bool) -> str:
    return SUPPRESSED if hidden else f"{value:,}"


def definition_in_words(d: OutcomeDefinition) -> str:
    """The outcome definition as a paragraph a board member can follow."""
    policy = (
        "Patients whose follow-up window closed without a follow-up count as non-responders "
        "(intention to treat, ITT)."
        if d.missing == "itt"
        else "Only patients with a follow-up in the window are counted (completers)."
    )
    return (
        f"A patient is a <strong>responder</strong> when their pain (0–10 scale) fell by at least "
        f"{100 * d.threshold:.0f}% from baseline at the follow-up nearest day {d.timepoint_days} after "
        f"their first ketamine session, counting follow-ups from day {d.window_start} to day "
        f"{d.window_end}. {policy} Patients whose window is still open and who have no follow-up yet "
        f"are <em>pending</em> and appear in no rate. Intervals are 95% "
        f"{fmt.method_label(d.ci)} intervals. The "
        f"benchmark band, {100 * d.band[0]:.0f}–{100 * d.band[1]:.0f}%, is the share of patients "
        "who get such relief from conventional therapy (antidepressants, opioids, anticonvulsants)."
    )


def cohort_in_words(cohort: CohortFilter) -> str:
    """The filters in force, e.g. ``Condition: CRPS · Site: north`` (escaped)."""
    parts = []
    for title, values in (
        ("Site", cohort.sites),
        ("Condition", tuple(display_name(v) for v in cohort.conditions)),
        ("Route", tuple(display_name(v) for v in cohort.routes)),
        ("Sex", cohort.sexes),
        ("Age group", cohort.age_groups),
    ):
        if values:
            parts.append(f"{title}: {', '.join(values)}")
    if cohort.first_treated_from or cohort.first_treated_to:
        start = cohort.first_treated_from.isoformat() if cohort.first_treated_from else "…"
        end = cohort.first_treated_to.isoformat() if cohort.first_treated_to else "…"
        parts.append(f"First treated {start} to {end}")
    return _e(" · ".join(parts) if parts else "All patients")


def _chart(figure: go.Figure, alt: str) -> str:
    body = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        default_width="100%",
        config={"displaylogo": False, "responsive": True},
    )
    return f'<figure class="chart" role="img" aria-label="{_e(alt)}">{body}</figure>'


def _group_label(dimension: str, value: str) -> str:
    if dimension == "route" and value == NO_ROUTE:
        return "No session"
    return display_name(value)


def _table(table: response.ResponseTable, dimension: str, *, suppress: bool) -> str:
    frame = response_frame(table, suppress=suppress)
    records = frame.to_dict("records")
    head = "".join(
        f"<th>{_e(h)}</th>"
        for h in (
            _DIMENSION_TITLES.get(dimension, dimension),
            "Patients",
            "Pending",
            "Eligible",
            "With follow-up",
            "n",
            "Responders",
            "Rate",
            "95% CI",
            "≥50% rate",
            "Verdict",
        )
    )
    body = []
    for position, record in enumerate(records):
        total = position == len(records) - 1
        label = "All patients" if total else _group_label(dimension, str(record[dimension]))
        hidden = record["rate"] == SUPPRESSED
        small = bool(record["small_n"]) or hidden
        verdict = str(record["verdict"]).replace("_", " ") + (" (small n)" if record["small_n"] else "")
        cells = [
            label,
            *(
                record[c] if isinstance(record[c], str) else f"{int(record[c]):,}"
                for c in ("patients", "pending", "eligible", "with_followup", "n", "responders")
            ),
            SUPPRESSED if hidden else fmt.percent(record["rate"]),
            SUPPRESSED if hidden else fmt.interval(record["ci_low"], record["ci_high"]),
            SUPPRESSED if hidden else fmt.percent(record["substantial_rate"]),
            SUPPRESSED if hidden else verdict,
        ]
        classes = " ".join(c for c in ("total" if total else "", "small" if small else "") if c)
        row = "".join(f"<td>{_e(cell)}</td>" for cell in cells)
        body.append(f'<tr class="{classes}">{row}</tr>' if classes else f"<tr>{row}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _methods(d: OutcomeDefinition, *, suppress: bool) -> str:
    small = (
        'Groups with fewer than 11 patients in the denominator show "&lt;11" for their counts and for '
        "every figure derived from them (rate, interval, verdict), and are left out of the charts "
        "(small-cell suppression); where such a group could be recovered from a total and the other "
        "groups, the next-smallest group is suppressed too (complementary suppression)."
        if suppress
        else "Small-cell suppression is off: counts of groups with fewer than 11 patients are shown. "
        "This document is for internal use only."
    )
    return (
        "<p>These are observational data from routine care, not a trial: there is no control group, "
        "and the benchmark band comes from published trials of conventional therapy, not from this "
        "clinic's patients. <strong>Routes are not randomised</strong>: patients who receive one route may "
        "differ from those who receive another (condition, site, severity), so a difference between routes "
        "or conditions is a question to look into, not a proof. Pain is self-reported on the 0–10 numeric "
        "rating scale; baseline is the clinic's recorded baseline, else the pain before the first session. "
        "Patients without a session or with a missing or zero baseline are not evaluable and are left out "
        "of every rate. Under ITT a patient lost to follow-up counts as a non-responder, which cannot "
        "flatter the clinic; the completers rate is usually higher because patients who do badly are more "
        f"likely to stop coming. {small} Holm-adjusted p-values and the full tables are in the CSV "
        "exports.</p>"
    )


def _head(
    title: str, d: OutcomeDefinition, cohort: CohortFilter, generated: date, suppress: bool
) -> list[str]:
    assert d.cutoff is not None
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        f'<script type="text/javascript">window.PlotlyConfig = {{MathJaxConfig: "local"}};</script>'
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="meta">Prepared {generated:%d %B %Y} · data up to {d.cutoff:%d %B %Y} · '
        f"cohort: {cohort_in_words(cohort)}</p></header>",
    ]
    if not suppress:
        parts.append(
            '<p class="banner"><strong>Internal use only.</strong> Small-cell suppression is off: '
            "counts of groups with fewer than 11 patients are shown.</p>"
        )
    return parts


def _headline(
    d: OutcomeDefinition,
    itt: response.ResponseTable,
    completers: response.ResponseTable,
    funnel: response.Funnel,
    hide: bool,
    suppress: bool,
) -> list[str]:
    overall = itt.overall
    # The completers' denominator is the follow-up count; completeness would give it back.
    hide_followed = hide or (suppress and completers.overall.small_n)
    completeness = overall.with_followup / overall.eligible if overall.eligible else None
    rate = SUPPRESSED if hide else fmt.percent(overall.rate)
    interval = SUPPRESSED if hide else fmt.interval(overall.ci_low, overall.ci_high)
    verdict = (
        "Not shown: fewer than 11 patients in the denominator (small-cell suppression)."
        if hide
        else fmt.verdict_sentence(overall.verdict, d.band)
    )
    parts = [
        "<h2>Headline</h2>",
        f'<p class="headline"><span class="rate" id="headline-rate">{_e(rate)}</span> '
        f"of eligible patients responded (ITT), 95% CI {_e(interval)}"
        f" — {_e(_count(overall.responders, hide))} of {_e(_count(overall.n, hide))} patients"
        f"{' (small n)' if overall.small_n else ''}.</p>",
        f'<p class="verdict {_e("no_data" if hide else overall.verdict)}"><strong>{_e(verdict)}</strong></p>',
        f'<p class="caption">{definition_in_words(d)}</p>',
        '<table class="keyfigures"><tbody>',
    ]
    key_figures = [
        ("Patients registered", _count(funnel.registered, hide)),
        ("Patients treated (at least one session)", _count(funnel.treated, hide)),
        ("Sessions", _count(funnel.sessions, hide)),
        ("Completed induction (at least 4 sessions)", _count(funnel.completed_induction, hide)),
        ("Eligible (window reached)", _count(overall.eligible, hide)),
        ("With a follow-up in the window", _count(overall.with_followup, hide_followed)),
        ("Follow-up completeness", SUPPRESSED if hide_followed else fmt.percent(completeness)),
        ("Pending (window still open, no follow-up yet)", _count(overall.pending, hide)),
        ("Response rate, ITT (95% CI)", f"{rate} ({interval})"),
        (
            "Response rate, completers (95% CI)",
            f"{SUPPRESSED} ({SUPPRESSED})"
            if hide_followed
            else f"{fmt.percent(completers.overall.rate)} "
            f"({fmt.interval(completers.overall.ci_low, completers.overall.ci_high)})",
        ),
    ]
    parts += [f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in key_figures]
    parts.append("</tbody></table>")
    return parts


def _itt_and_completers(
    d: OutcomeDefinition, itt: response.ResponseTable, completers: response.ResponseTable, suppress: bool
) -> list[str]:
    rows = [
        figures.RateRow.from_group("All eligible patients (ITT)", itt.overall),
        figures.RateRow.from_group("Patients with a follow-up (completers)", completers.overall),
    ]
    if suppress:  # a small group's rate and interval give its counts back: leave it out
        rows = [row for row in rows if not row.small_n]
    if not rows:
        return [
            "<h2>ITT and completers</h2>",
            '<p class="caption">Not shown: fewer than 11 patients in the denominator '
            "(small-cell suppression).</p>",
        ]
    forest = figures.forest_plot(
        rows, d.band, title="Response rate against conventional therapy", threshold=d.threshold
    )
    return ["<h2>ITT and completers</h2>", _chart(forest, figures.forest_alt_text(rows, d.band))]


def _trend_and_funnel(
    d: OutcomeDefinition,
    by_quarter: response.ResponseTable,
    funnel: response.Funnel,
    suppress: bool,
    hide: bool,
) -> list[str]:
    quarters = by_quarter.groups
    if suppress:  # quarters add up to the headline: the same rules as a table's rows
        hidden = suppression_reasons(by_quarter)[:-1]
        quarters = [g for g, reason in zip(quarters, hidden, strict=True) if not reason]
    trend = overview_figures.quarterly_trend(quarters, d.band, threshold=d.threshold)
    shown = [g for g in quarters if g.rate is not None]
    note = (
        "quarters with fewer than 11 patients in the denominator, and a neighbour that would give "
        "one back from the total, are left out (small-cell suppression)."
        if suppress
        else "hollow markers are small groups (fewer than 11 in the denominator)."
    )
    parts = [
        "<h2>Trend and funnel</h2>",
        _chart(trend, overview_figures.trend_alt_text(shown))
        if shown
        else '<p class="caption">No quarter can be shown.</p>',
        '<p class="caption">Quarters are those of the first session; quarters whose patients are all '
        f"pending are not drawn; {note}</p>",
    ]
    if hide:
        parts.append(
            '<p class="caption">The patient funnel is not shown: the cohort has fewer than 11 patients '
            "in the denominator (small-cell suppression).</p>"
        )
    else:
        parts.append(
            _chart(overview_figures.patient_funnel(funnel), overview_figures.funnel_alt_text(funnel))
        )
        parts.append(f'<p class="caption">{_e(overview_figures.funnel_caption(funnel))}</p>')
    return parts


def _by_dimension(
    d: OutcomeDefinition, dimension: str, table: response.ResponseTable, suppress: bool
) -> list[str]:
    policy = "ITT" if d.missing == "itt" else "completers"
    route_note = " A patient's route is the route of most of their sessions ('mixed' on a tie)."
    return [
        f"<h2>By {_e(dimension)}</h2>",
        _table(table, dimension, suppress=suppress),
        f'<p class="caption">Denominator n: {policy}. Verdict against the '
        f"{_e(fmt.band(d.band))} band from the 95% interval."
        + (route_note if dimension == "route" else "")
        + "</p>",
    ]


def _comparators(
    d: OutcomeDefinition, table: response.ResponseTable, comparators: Sequence[Comparator]
) -> list[str]:
    """Each condition against its published comparators at the current threshold, with citations."""
    rows = []
    for group in table.groups:
        code = group.keys["condition"]
        results = comparator_matching.for_group(group, comparators, d.threshold)
        if not results:
            rows.append(
                f'<tr><td>{_e(display_name(code))}</td><td colspan="5" style="text-align:left">'
                f"{_e(fmt.no_comparator(code, comparators, d.threshold))}</td></tr>"
            )
        for result in results:
            c = result.comparator
            source = c.citation + (f" ({c.doi_or_pmid})" if c.doi_or_pmid else "")
            indirect = " <em>(indirect)</em>" if c.indirect else ""
            rows.append(
                f"<tr><td>{_e(display_name(code))}</td>"
                f'<td style="text-align:left">{_e(c.label)}{indirect}</td>'
                f"<td>{_e(c.kind)}</td><td>{_e(fmt.percent(c.rate))}</td>"
                f"<td>{_e(fmt.COMPARATOR_VERDICTS[result.verdict])}</td>"
                f'<td style="text-align:left">{_e(source)}</td></tr>'
            )
    return [
        "<h2>Published comparators by condition</h2>",
        f'<p class="caption">The {_e(fmt.band(d.band))} band is the clinic\'s stated benchmark for '
        "conventional therapy; no primary study gives that exact range. Each condition is also read "
        f"against published drug, placebo and ketamine arms at ≥{100 * d.threshold:.0f}% relief: "
        "“above” or “below” when the condition's whole 95% interval lies on that side of the "
        "published rate. Indirect: another outcome or population than ours.</p>",
        "<table><thead><tr><th>Condition</th><th>Comparator</th><th>Kind</th><th>Rate</th>"
        "<th>Our rate is</th><th>Source</th></tr></thead><tbody>",
        *rows,
        "</tbody></table>",
    ]


def _footer(d: OutcomeDefinition, generated: date) -> list[str]:
    assert d.cutoff is not None
    policy = "ITT" if d.missing == "itt" else "completers"
    return [
        f"<footer>Generated by Ketamine Outcomes on {generated:%d %B %Y}. Definition: day "
        f"{d.timepoint_days} ± {d.window_days}, threshold {100 * d.threshold:.0f}%, {policy}, "
        f"{fmt.method_label(d.ci)} 95% interval, band "
        f"{_e(fmt.band(d.band))}, data cut-off {d.cutoff.isoformat()}.</footer>",
        "</body></html>",
    ]


def overview_html(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    *,
    suppress: bool = True,
    clinic_name: str = "",
    generated: date | None = None,
) -> str:
    """The overview report as one self-contained HTML document (see the module's rules).

    Each section is a function returning HTML parts; a new section is one more function and
    one more line below.
    """
    d = cohorts.resolve(engine, definition)
    itt = response.summarize(engine, replace(d, missing="itt"), cohort)
    completers = response.summarize(engine, replace(d, missing="completers"), cohort)
    by_quarter = response.summarize(engine, replace(d, missing="itt"), cohort, ("quarter",))
    by_condition = response.summarize(engine, d, cohort, ("condition",))
    by_route = response.summarize(engine, d, cohort, ("route",))
    funnel = response.funnel(engine, d, cohort)
    hide = suppress and itt.overall.small_n
    generated = generated or date.today()
    title = "Ketamine outcomes report" + (f" — {clinic_name.strip()}" if clinic_name.strip() else "")
    parts = [
        *_head(title, d, cohort, generated, suppress),
        *_headline(d, itt, completers, funnel, hide, suppress),
        *_itt_and_completers(d, itt, completers, suppress),
        *_trend_and_funnel(d, by_quarter, funnel, suppress, hide),
        *_by_dimension(d, "condition", by_condition, suppress),
        *_comparators(d, by_condition, comparator_store.current(engine)),
        *_by_dimension(d, "route", by_route, suppress),
        *beyond_pain_section(engine, d, cohort, suppress=suppress),
        *disposition_html(disposition(engine, d, cohort), suppress=suppress),
        "<h2>Methods and limitations</h2>",
        _methods(d, suppress=suppress),
        *_footer(d, generated),
    ]
    return "\n".join(parts)


__all__ = ["CSS", "cohort_in_words", "definition_in_words", "overview_html"]
