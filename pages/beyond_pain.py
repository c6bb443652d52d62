"""Beyond pain: the other IMMPACT domains — PGIC, opioids, mood, function, headache days.

For each domain: who qualifies (one sentence), how many, a forest plot by condition or route,
and the mean change; the PGIC × pain agreement table; the opioid picture a payer reads at a
glance. Numbers are those of ``python -m analysis secondary`` (docs/methods.md).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.domain.measures import DOMAINS, MeasureSettings
from analysis.present import format as fmt
from analysis.present import secondary as words
from analysis.present.figures import RateRow
from analysis.present.figures import beyond_pain as charts
from analysis.queries import secondary
from pages import common

#: Per domain: its rates, its mean change, and the contract columns it needs (baseline, follow-up).
SECTIONS: dict[str, tuple[tuple[str, ...], str | None, str | None, str]] = {
    "pain": (("substantial",), None, "baseline_pain", "pain"),
    "pgic": (("pgic_improved",), None, None, "pgic"),
    "opioids": (("mme_reduced_50", "mme_stopped"), "mme_change", "baseline_mme", "mme"),
    "mood": (("phq9_response", "phq9_remission"), "phq9_change", "baseline_phq9", "phq9"),
    "function": (("bpi_improved",), "bpi_change", "baseline_bpi_interference", "bpi_interference"),
    "headache": (("headache_response",), "headache_days_change", "baseline_headache_days", "headache_days"),
}
_DEFAULTS = MeasureSettings()


def _settings() -> MeasureSettings:
    """The success rules, editable on this page (defaults: docs/methods.md)."""
    with st.expander("Success rules of the measures", icon=":material/tune:"):
        left, middle, right = st.columns(3)
        values = {
            "substantial": left.number_input(
                "Substantial pain relief (fraction)",
                0.05,
                1.0,
                _DEFAULTS.substantial,
                0.05,
                key="bp_substantial",
            ),
            "pgic_improved": left.number_input(
                "PGIC improved at or below", 1, 7, _DEFAULTS.pgic_improved, 1, key="bp_pgic"
            ),
            "mme_reduction": left.number_input(
                "Opioid reduction (fraction)", 0.05, 1.0, _DEFAULTS.mme_reduction, 0.05, key="bp_mme"
            ),
            "phq9_baseline": middle.number_input(
                "PHQ-9 at baseline from", 0, 27, _DEFAULTS.phq9_baseline, 1, key="bp_phq9_baseline"
            ),
            "phq9_response": middle.number_input(
                "PHQ-9 response (fraction)", 0.05, 1.0, _DEFAULTS.phq9_response, 0.05, key="bp_phq9_response"
            ),
            "phq9_remission": middle.number_input(
                "PHQ-9 remission below", 1, 27, _DEFAULTS.phq9_remission, 1, key="bp_phq9_remission"
            ),
            "bpi_points": right.number_input(
                "BPI interference drop (points)", 0.5, 10.0, _DEFAULTS.bpi_points, 0.5, key="bp_bpi"
            ),
            "headache_reduction": right.number_input(
                "Headache-day reduction (fraction)",
                0.05,
                1.0,
                _DEFAULTS.headache_reduction,
                0.05,
                key="bp_headache",
            ),
        }
    return MeasureSettings(**values)


def _rows(table: secondary.SecondaryTable, measure: str, dimension: str) -> list[RateRow]:
    def row(label: str, group: secondary.Measures) -> RateRow:
        rate = group.rates[measure]
        return RateRow(label, rate.rate, rate.ci_low, rate.ci_high, rate.count, rate.n, rate.small_n)

    return [row("All patients", table.overall)] + [
        row(common.label(g.keys[dimension]), g) for g in table.groups
    ]


def _empty_state(domain: str, table: secondary.SecondaryTable) -> str | None:
    """What to add to see a domain, or None when it has data."""
    rates, change, baseline, followup = SECTIONS[domain]
    first = table.overall.rates[rates[0]]
    if first.with_measure:
        return None
    title = DOMAINS[domain][0]
    if first.qualifying == 0 and baseline is not None and domain != "pain":
        if change is not None and table.overall.changes[change].n:
            return f"No eligible patient qualifies for {title} with the current rules."
        return f"No {title} recorded at baseline — add the column `{baseline}` to patients to see this."
    return (
        f"No {title} recorded at follow-up in the window — add the column `{followup}` to "
        "follow-ups to see this."
    )


def _domain(domain: str, table: secondary.SecondaryTable, dimension: str) -> None:
    d, settings = table.definition, table.settings
    rates, change, _, _ = SECTIONS[domain]
    title, qualifies = DOMAINS[domain]
    st.subheader(title)
    empty = _empty_state(domain, table)
    first = table.overall.rates[rates[0]]
    st.caption(
        f"**Qualifies:** {qualifies} {first.qualifying:,} patients qualify; "
        f"{first.with_measure:,} have the measure in the window."
    )
    if empty:
        st.info(empty, icon=":material/info:")
        return
    columns = st.columns(len(rates))
    for column, measure in zip(columns, rates, strict=True):
        rows = _rows(table, measure, dimension)
        label = words.measure_label(measure, settings)
        column.plotly_chart(
            charts.measure_forest(rows, title=label, x_title="Patients (%)"),
            theme=None,
            alt=charts.measure_forest_alt(rows, label),
        )
    if change is not None:
        result = table.overall.changes[change]
        unit = words.CHANGE_UNITS[change]
        st.metric(
            f"{words.measure_label(change, settings)} at day {d.timepoint_days}, all patients",
            "—" if result.mean is None else f"{fmt.change(result.mean)} {unit}",
            help="Follow-up − baseline among eligible patients with both values, whatever the "
            "missing-data policy; 95% t interval.",
        )
        st.caption(
            f"95% CI {fmt.change_interval(result.ci_low, result.ci_high)} · median "
            f"{fmt.change(result.median)} · {fmt.count(result.n)} patients with both values."
        )


def _agreement(table: secondary.SecondaryTable) -> None:
    a = table.overall.agreement
    st.subheader("Do patients and their pain scores agree?")
    if a.n == 0:
        st.info(
            "No patient has both a PGIC and a pain score in the window — add the column `pgic` to "
            "follow-ups to see this.",
            icon=":material/info:",
        )
        return
    d = table.definition
    frame = pd.DataFrame(
        {
            "": ["PGIC much or very much improved", "PGIC not improved", "Total"],
            f"Pain ≥{100 * d.threshold:.0f}% lower (responder)": [
                fmt.count(a.both),
                fmt.count(a.nrs_only),
                fmt.count(a.both + a.nrs_only),
            ],
            "Not a responder": [
                fmt.count(a.pgic_only),
                fmt.count(a.neither),
                fmt.count(a.pgic_only + a.neither),
            ],
            "Total": [fmt.count(a.both + a.pgic_only), fmt.count(a.nrs_only + a.neither), fmt.count(a.n)],
        }
    )
    st.dataframe(frame, hide_index=True, width="stretch")
    st.caption(
        f"Agreement {fmt.percent((a.both + a.neither) / a.n)} of {a.n:,} eligible patients with both in "
        "the window; each from the follow-up that counts for it (docs/methods.md). Farrar et al. (2001) "
        'found a 30% pain reduction matched "much improved" best.'
    )


def _opioids(table: secondary.SecondaryTable) -> None:
    levels = table.overall.opioid_levels
    d = table.definition
    st.subheader("Opioid doses: before and after")
    if levels.n == 0:
        st.info(
            "No patient has an opioid dose recorded both at baseline and at follow-up — add the columns "
            "`baseline_mme` to patients and `mme` to follow-ups to see this.",
            icon=":material/info:",
        )
        return
    arguments = (
        levels.levels,
        levels.n,
        (levels.baseline_low, levels.baseline_high),
        (levels.followup_low, levels.followup_high),
    )
    st.plotly_chart(
        charts.opioid_levels_chart(*arguments, timepoint=d.timepoint_days),
        theme=None,
        alt=charts.opioid_levels_alt(*arguments, timepoint=d.timepoint_days),
    )
    st.caption(
        f"The same {levels.n:,} eligible patients at baseline and at the follow-up that counts for MME. "
        f"Levels of concern (CDC 2016): caution at ≥ {levels.levels[0]:g} MME/day; avoid or carefully "
        f"justify ≥ {levels.levels[1]:g}."
    )


def beyond_pain() -> None:
    common.page_guard()
    st.title("Beyond pain")
    if common.empty_state():
        return
    d = common.definition()
    st.caption(common.definition_caption(d))
    settings = _settings()
    dimension = (
        st.segmented_control(
            "Break down by", ["condition", "route"], default="condition", format_func=str.title, key="bp_by"
        )
        or "condition"
    )
    table = common.cohort_result(secondary.secondary_table, (dimension,), settings)
    if table.overall.eligible == 0:
        st.info("No eligible patient in this selection yet.", icon=":material/info:")
        return
    policy = (
        "ITT: qualifying patients without the measure count as no success"
        if d.missing == "itt"
        else ("completers: only qualifying patients with the measure in the window")
    )
    st.caption(
        f"Rates: {policy}. Hollow markers: fewer than 11 patients. Routes and conditions are not randomised."
    )
    for domain in ("pain", "pgic"):
        _domain(domain, table, dimension)
    _agreement(table)
    _domain("opioids", table, dimension)
    _opioids(table)
    for domain in ("mood", "function", "headache"):
        _domain(domain, table, dimension)


beyond_pain()
