"""The safety claims in words: what the clinic's data says about dissociation and long-term events."""

from __future__ import annotations

from analysis.present.format import interval, percent
from analysis.queries.safety import DissociationSummary, LongTermEvents
from analysis.stats import ProportionEstimate


def _interval(estimate: ProportionEstimate) -> str:
    if estimate.low is None or estimate.high is None:
        return "no interval"
    return f"95% CI {interval(estimate.low, estimate.high)}"


def dissociation_finding(summary: DissociationSummary) -> str:
    """What the data says about the four-hour claim, in one or two sentences."""
    if summary.episodes == 0:
        return "Not measurable yet: no dissociation episode is recorded."
    if summary.with_duration == 0:
        return (
            f"Not measurable yet: none of the {summary.episodes:,} dissociation episodes "
            "has a recorded duration."
        )
    longer = (
        "none lasted longer"
        if summary.over_limit == 0
        else f"{summary.over_limit:,} lasted longer (the longest {summary.longest_min:g} min)"
    )
    return (
        f"{percent(summary.within.rate)} of dissociation episodes with a recorded duration ended "
        f"within 4 hours ({_interval(summary.within)}; {summary.within_limit:,} of "
        f"{summary.with_duration:,}); {longer}. Median duration {summary.median_min:g} min."
    )


def long_term_finding(events: LongTermEvents) -> str:
    """What the data says about the long-term claim, in one sentence."""
    where = f"follow-ups from day {events.from_day} on"
    if events.followups == 0:
        return f"Not measurable yet: no {where}."
    if events.followups_with_ae == 0:
        return (
            f"No adverse event was reported at any of the {events.followups:,} {where} "
            f"({events.patients:,} patients; {_interval(events.any_ae)})."
        )
    listed = ", ".join(f"{code.replace('_', ' ')} {n:,}" for code, n in events.by_event if n)
    return (
        f"Adverse events were reported at {events.followups_with_ae:,} of {events.followups:,} {where} "
        f"({percent(events.any_ae.rate)}, {_interval(events.any_ae)}), in {events.patients_with_ae:,} of "
        f"{events.patients:,} patients: {listed}."
    )
