"""Safety charts: adverse events per session, dissociation against four hours, follow-up events.

Pure builders (small results from :mod:`analysis.queries.safety` in, plotly Figures out) on the shared
template; each chart has a matching ``*_alt_text`` sentence for screen readers.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go

from analysis.present import format as fmt
from analysis.present.figures import OKABE_ITO, SERIES_COLOURS
from analysis.queries.safety import DissociationSummary

#: Fill patterns per series, so that colour is never the only cue.
PATTERNS = ("", "/", "\\", "x", ".", "+", "-", "|")
WITHIN_COLOUR, OVER_COLOUR = OKABE_ITO[0], OKABE_ITO[3]


def _title_and_legend(figure: go.Figure, title: str, *, per_row: int = 3) -> None:
    """Title at the very top, then the legend in rows of ``per_row`` equal entries, then the plot.

    Fixed rows (rather than plotly's own wrapping) keep the legend off the title in the narrow
    columns of a Streamlit page, whatever the number of series.
    """
    entries = sum(1 for trace in figure.data if trace.showlegend is not False)
    rows = max(1, -(-entries // per_row))
    figure.update_layout(
        title={"text": title, "x": 0, "xanchor": "left", "y": 0.99, "yref": "container", "yanchor": "top"},
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1.02,
            "yanchor": "bottom",
            "entrywidth": 1 / per_row,
            "entrywidthmode": "fraction",
        },
        margin={"t": 48 + 24 * rows},
    )


def event_label(code: str) -> str:
    """``visual_disturbance`` → "Visual disturbance"; ``any`` → "Any adverse event"."""
    return "Any adverse event" if code == "any" else code.replace("_", " ").capitalize()


def _error_y(part: pd.DataFrame) -> dict[str, object]:
    return {
        "type": "data",
        "symmetric": False,
        "array": (part["ci_high"] - part["rate"]).tolist(),
        "arrayminus": (part["rate"] - part["ci_low"]).tolist(),
        "thickness": 1.5,
        "width": 4,
        "color": "#333",
    }


def _event_order(frame: pd.DataFrame) -> list[str]:
    """Event types, most frequent overall first."""
    totals = frame.groupby("event", sort=False)[["with_event", "sessions"]].sum()
    return (
        (totals["with_event"] / totals["sessions"]).sort_values(ascending=False, kind="stable").index.tolist()
    )


# --- adverse events per session -----------------------------------------------------------


def events_by_type_chart(
    frame: pd.DataFrame, *, route_label: Callable[[str], str] = event_label
) -> go.Figure:
    """Grouped bars: share of sessions with each adverse event, per session route, with 95% CIs.

    ``frame`` is :func:`analysis.queries.safety.events_by_type`'s; ``route_label`` turns a route code
    into the legend's text.
    """
    order = _event_order(frame) if len(frame) else []
    figure = go.Figure()
    for i, (route, part) in enumerate(frame.groupby("route", sort=True)):
        part = part.set_index("event").loc[order].reset_index()
        name = "All sessions" if route == "all" else route_label(str(route))
        if bool(part["small_n"].iloc[0]):
            name += " (small n)"
        figure.add_bar(
            x=[event_label(code) for code in part["event"]],
            y=part["rate"],
            name=name,
            marker={
                "color": SERIES_COLOURS[i % len(SERIES_COLOURS)],
                "pattern": {"shape": PATTERNS[i % len(PATTERNS)]},
            },
            error_y=_error_y(part),
            customdata=part[["with_event", "sessions", "ci_low", "ci_high"]].to_numpy(),
            hovertemplate=f"{name} · %{{x}}: %{{y:.1%}} of sessions "
            "(95% CI %{customdata[2]:.1%}–%{customdata[3]:.1%}); "
            "%{customdata[0]:,} of %{customdata[1]:,}<extra></extra>",
        )
    figure.update_layout(
        barmode="group",
        height=460,
    )
    _title_and_legend(figure, "Adverse events per session, by route of the session")
    figure.update_yaxes(title_text="Sessions with the event (%)", tickformat=".0%", rangemode="tozero")
    figure.update_xaxes(title_text="Adverse event (type)")
    return figure


def events_alt_text(frame: pd.DataFrame, *, route_label: Callable[[str], str] = event_label) -> str:
    """A sentence per route with its three most frequent adverse events."""
    if frame.empty:
        return "Adverse events per session: no sessions."
    parts = []
    for route, part in frame.groupby("route", sort=True):
        top = part.sort_values("rate", ascending=False, kind="stable").head(3)
        listed = ", ".join(
            f"{event_label(e).lower()} {fmt.percent(r)}"
            for e, r in zip(top["event"], top["rate"], strict=True)
        )
        name = "All sessions" if route == "all" else route_label(str(route))
        parts.append(f"{name} ({int(part['sessions'].iloc[0]):,} sessions): {listed}")
    return "Bar chart of the share of sessions with each adverse event. " + "; ".join(parts) + "."


# --- dissociation against four hours ------------------------------------------------------


def dissociation_histogram(summary: DissociationSummary) -> go.Figure:
    """Histogram of recorded dissociation durations with a line at four hours.

    Bins of equal width; each includes its upper edge (so exactly 240 min is left of the
    line). The open last bin (above the final edge) is drawn as one more bin, labelled ">N".
    """
    bins = summary.bins
    width = bins[0].high - bins[0].low if bins and bins[0].high is not None else 30.0
    lefts = [b.low for b in bins]
    rights = [b.high if b.high is not None else b.low + width for b in bins]
    figure = go.Figure()
    for within, name, colour, pattern in (
        (True, f"≤ 4 hours ({summary.within_limit:,})", WITHIN_COLOUR, ""),
        (False, f"> 4 hours ({summary.over_limit:,})", OVER_COLOUR, "/"),
    ):
        chosen = [i for i, right in enumerate(rights) if (right <= summary.limit_min) is within]
        figure.add_bar(
            x=[(lefts[i] + rights[i]) / 2 for i in chosen],
            y=[bins[i].episodes for i in chosen],
            width=[rights[i] - lefts[i] for i in chosen],
            name=name,
            marker={"color": colour, "pattern": {"shape": pattern}, "line": {"width": 1, "color": "white"}},
            customdata=[bins[i].label for i in chosen],
            hovertemplate="%{customdata} min: %{y:,} episodes<extra>" + name + "</extra>",
        )
    figure.add_vline(
        x=summary.limit_min,
        line_dash="dash",
        line_color="#222",
        line_width=2,
        annotation_text="4 hours",
        annotation_position="top right",
    )
    # A tick every other edge (every hour with 30-minute bins); the open bin is labelled ">N".
    open_bin = bool(bins) and bins[-1].high is None
    edges = lefts if open_bin else [*lefts, rights[-1]]
    ticks: list[float] = [edge for i, edge in enumerate(edges) if i % 2 == 0]
    labels = [f"{t:g}" for t in ticks]
    if open_bin:  # the open bin's label replaces its left edge's, which would crowd it
        kept = [(t, label) for t, label in zip(ticks, labels, strict=True) if t != lefts[-1]]
        ticks = [*[t for t, _ in kept], (lefts[-1] + rights[-1]) / 2]
        labels = [*[label for _, label in kept], bins[-1].label]
    figure.update_layout(
        bargap=0,
        height=400,
    )
    _title_and_legend(figure, "How long dissociation lasted", per_row=1)
    figure.update_xaxes(
        title_text="Recorded duration (minutes)",
        tickvals=ticks,
        ticktext=labels,
        tickangle=0,
        range=[lefts[0], rights[-1]] if bins else None,
    )
    figure.update_yaxes(title_text="Dissociation episodes (sessions)", rangemode="tozero", tickformat=",d")
    return figure


def dissociation_alt_text(summary: DissociationSummary) -> str:
    """A sentence describing the histogram, for screen readers."""
    counts = ", ".join(f"{b.label} min: {b.episodes:,}" for b in summary.bins)
    return (
        f"Histogram of {summary.with_duration:,} recorded dissociation durations with a line at 4 hours "
        f"(240 minutes). {summary.within_limit:,} ended within 4 hours and {summary.over_limit:,} lasted "
        f"longer. Episodes per bin: {counts}."
    )


# --- adverse events at follow-up ----------------------------------------------------------


def followup_events_chart(frame: pd.DataFrame) -> go.Figure:
    """Grouped bars: share of follow-ups with an adverse event per period since the first session.

    ``frame`` is :func:`analysis.queries.safety.followup_events`'s; "any adverse event" and every type
    reported at least once are drawn, with 95% CIs.
    """
    present = frame.groupby("event", sort=False)["with_event"].sum()
    events = ["any", *[e for e in present.index if e != "any" and present[e] > 0]]
    periods = list(dict.fromkeys(frame["period"]))
    figure = go.Figure()
    for i, event in enumerate(events if len(frame) else []):
        part = frame[frame["event"] == event].set_index("period").loc[periods].reset_index()
        figure.add_bar(
            x=[period.replace(" (", "<br>(") for period in part["period"]],  # short lines
            y=part["rate"],
            name="Any event" if event == "any" else event_label(event),
            marker={
                "color": SERIES_COLOURS[i % len(SERIES_COLOURS)],
                "pattern": {"shape": PATTERNS[i % len(PATTERNS)]},
            },
            error_y=_error_y(part),
            customdata=part[["with_event", "followups", "ci_low", "ci_high"]].to_numpy(),
            hovertemplate=f"{event_label(event)} · %{{x}}: %{{y:.1%}} of follow-ups "
            "(95% CI %{customdata[2]:.1%}–%{customdata[3]:.1%}); "
            "%{customdata[0]:,} of %{customdata[1]:,}<extra></extra>",
        )
    figure.update_layout(
        barmode="group",
        height=400,
    )
    _title_and_legend(figure, "Adverse events reported at follow-up", per_row=2)
    figure.update_yaxes(title_text="Follow-ups with the event (%)", tickformat=".1%", rangemode="tozero")
    figure.update_xaxes(title_text="Time since the first session (days)")
    return figure


def followup_alt_text(frame: pd.DataFrame) -> str:
    """A sentence per period: follow-ups with any adverse event."""
    rows = frame[frame["event"] == "any"]
    if rows.empty:
        return "Adverse events at follow-up: no follow-ups."
    parts = [
        f"{row.period}: {row.with_event:,} of {row.followups:,} follow-ups ({fmt.percent(row.rate)})"
        for row in rows.itertuples()
    ]
    return "Bar chart of the share of follow-ups with an adverse event. " + "; ".join(parts) + "."
