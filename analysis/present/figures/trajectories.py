"""Figures of pain over time: one patient's timeline, and a condition's mean trajectory.

Pure builders (data in, plotly Figure out) on the shared template. Pain is the 0–10 numeric
rating scale (NRS) throughout; colour is never the only cue (marker shapes and dashes differ).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from analysis.present.figures import OKABE_ITO
from analysis.queries.trajectories import FOLLOWUP_BINS, MAX_SESSIONS, PatientTimeline

WINDOW_FILL = "rgba(86, 180, 233, 0.16)"  # Okabe–Ito sky blue, light: the time-point window
PAIN_AXIS = {"title_text": "Pain (NRS 0–10)", "range": [-0.4, 10.4], "tickvals": list(range(11))}


def _value(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _number(value: Any, suffix: str = "") -> str:
    number = _value(value)
    return "–" if number is None else f"{number:g}{suffix}"


def _session_hover(row: Any) -> str:
    events = _text(row.adverse_events).replace(";", ", ")
    duration = _value(row.ae_duration_min)
    if events and duration is not None:
        events += f" ({duration:g} min)"
    return (
        f"Session {row.session_number} · day {row.day} ({row.session_date:%d %b %Y})<br>"
        f"Pain {_number(row.pre_pain)} before → {_number(row.post_pain)} after<br>"
        f"{_text(row.route).replace('_', ' ').capitalize()} {_number(row.dose_mg, ' mg')}<br>"
        f"Adverse events: {events or 'none recorded'}"
    )


def _followup_hover(row: Any) -> str:
    pgic = _value(row.pgic)
    events = _text(row.adverse_events).replace(";", ", ")
    lines = [
        f"Follow-up · day {row.day} ({row.followup_date:%d %b %Y})"
        + (" · counted for the outcome" if row.counted else ""),
        f"Pain {_number(row.pain)}" + ("" if pgic is None else f" · PGIC {pgic:g}"),
        f"Adverse events: {events or 'none recorded'}",
    ]
    return "<br>".join(lines)


# Long on purpose: one trace after another on one figure; their order is the legend's order.
def patient_timeline_chart(timeline: PatientTimeline, *, title: str | None = None) -> go.Figure:
    """A patient's sessions and follow-ups on one axis: days since the first session.

    Each session is a vertical segment from pre- to post-session pain (circle before,
    triangle after); follow-ups are diamonds, the one the outcome uses drawn larger. The
    time-point window is shaded, the baseline is a solid line and the responder line
    (baseline × (1 − threshold)) a dashed one.
    """
    d = timeline.definition
    sessions = timeline.sessions[timeline.sessions["day"].notna()]
    followups = timeline.followups[timeline.followups["day"].notna()]
    figure = go.Figure()
    figure.add_vrect(
        x0=d.window_start,
        x1=d.window_end,
        fillcolor=WINDOW_FILL,
        line_width=0,
        layer="below",
        annotation_text=f"Day {d.window_start}–{d.window_end} window",
        annotation_position="top left",
        annotation_font_size=12,
        annotation_font_color="#444",
    )
    if timeline.baseline is not None and timeline.target is not None:
        figure.add_hline(
            y=timeline.baseline,
            line={"color": "#555", "width": 1.5},
            annotation_text=f"Baseline {timeline.baseline:g}",
            annotation_position="top right",
        )
        figure.add_hline(
            y=timeline.target,
            line={"color": OKABE_ITO[2], "width": 1.5, "dash": "dash"},
            annotation_text=f"{100 * d.threshold:.0f}% reduction ({timeline.target:.1f})",
            annotation_position="bottom right",
        )
    paired = sessions[sessions["pre_pain"].notna() & sessions["post_pain"].notna()]
    segment_x: list[float | None] = []
    segment_y: list[float | None] = []
    for row in paired.itertuples():
        segment_x += [row.day, row.day, None]
        segment_y += [row.pre_pain, row.post_pain, None]
    figure.add_trace(
        go.Scatter(
            x=segment_x,
            y=segment_y,
            mode="lines",
            line={"color": "#999", "width": 2},
            hoverinfo="skip",
            showlegend=False,
            name="Session change",
        )
    )
    hover = [_session_hover(row) for row in sessions.itertuples()]
    for column, name, symbol, colour in (
        ("pre_pain", "Pain before session", "circle", OKABE_ITO[0]),
        ("post_pain", "Pain after session", "triangle-down", OKABE_ITO[1]),
    ):
        shown = sessions[column].notna().to_numpy()
        figure.add_trace(
            go.Scatter(
                x=sessions["day"][shown].tolist(),
                y=sessions[column][shown].tolist(),
                mode="markers",
                name=name,
                marker={
                    "symbol": symbol,
                    "size": 10,
                    "color": colour,
                    "line": {"width": 1, "color": "white"},
                },
                text=[h for h, keep in zip(hover, shown, strict=True) if keep],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    counted = followups["counted"].astype(bool).tolist()
    figure.add_trace(
        go.Scatter(
            x=followups["day"].tolist(),
            y=followups["pain"].tolist(),
            mode="markers",
            name="Follow-up pain",
            marker={
                "symbol": "diamond",
                "size": [16 if c else 11 for c in counted],
                "color": OKABE_ITO[3],
                "line": {"width": [2.5 if c else 1 for c in counted], "color": "#000"},
            },
            text=[_followup_hover(row) for row in followups.itertuples()],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    days = [*sessions["day"].tolist(), *followups["day"].tolist(), 0, d.window_end]
    figure.update_layout(
        title={"text": title or f"Patient {timeline.patient_id}"},
        height=440,
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0},
    )
    figure.update_xaxes(
        title_text="Days since first session (day 0)",
        range=[min(days) - 5, max(days) + 10],
        zeroline=False,
    )
    figure.update_yaxes(**PAIN_AXIS)
    return figure


def patient_timeline_alt_text(timeline: PatientTimeline) -> str:
    """Screen-reader description of :func:`patient_timeline_chart`."""
    d = timeline.definition
    sessions = timeline.sessions
    followups = timeline.followups
    parts = [
        f"Pain over time for patient {timeline.patient_id}: {len(sessions)} sessions"
        + (f" from day {sessions['day'].min()} to day {sessions['day'].max()}" if len(sessions) else ""),
        f"{len(followups)} follow-ups"
        + (
            " (" + ", ".join(f"day {r.day}: pain {_number(r.pain)}" for r in followups.itertuples()) + ")"
            if len(followups)
            else ""
        ),
    ]
    if timeline.baseline is not None:
        parts.append(f"baseline pain {timeline.baseline:g}, responder at or below {timeline.target:.1f}")
    parts.append(f"follow-up window day {d.window_start} to {d.window_end}")
    parts.append(f"status: {timeline.status}")
    return "; ".join(parts) + "."


def _tick(label: str) -> str:
    """A short tick label that fits a narrow column: "Session 3" → "3", "6 months" → "6 mo"."""
    return label.removeprefix("Session ") if label.startswith("Session ") else label.split(" ")[0] + " mo"


POINT_ORDER = [*(f"Session {n}" for n in range(1, MAX_SESSIONS + 1)), *(b.label for b in FOLLOWUP_BINS)]


def mean_trajectory_chart(frame: pd.DataFrame, *, title: str) -> go.Figure:
    """Mean pain by session and follow-up bin (rows of :func:`trajectories.mean_trajectory`).

    The 95% interval is a band between two traces (``fill="tonexty"``) over the points with
    at least two patients; sessions are circles, follow-ups diamonds.
    """
    with_interval = frame[frame["ci_low"].notna()]
    colour = OKABE_ITO[0]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=with_interval["point"].tolist(),
            y=with_interval["ci_low"].clip(lower=0).tolist(),
            mode="lines",
            line={"width": 0},
            hoverinfo="skip",
            showlegend=False,
            name="95% interval (lower)",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=with_interval["point"].tolist(),
            y=with_interval["ci_high"].clip(upper=10).tolist(),
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(0, 114, 178, 0.18)",
            hoverinfo="skip",
            name="95% interval",
        )
    )
    customdata = [
        [row.n, "–" if pd.isna(row.ci_low) else f"{row.ci_low:.1f}–{row.ci_high:.1f}"]
        for row in frame.itertuples()
    ]
    figure.add_trace(
        go.Scatter(
            x=frame["point"].tolist(),
            y=frame["mean"].tolist(),
            mode="lines+markers",
            name="Mean pain",
            line={"color": colour, "width": 2.5},
            marker={
                "size": 10,
                "color": colour,
                "symbol": ["circle" if kind == "session" else "diamond" for kind in frame["kind"]],
            },
            customdata=customdata,
            hovertemplate="%{x}: mean %{y:.1f} (95% CI %{customdata[1]}), %{customdata[0]} patients"
            "<extra></extra>",
        )
    )
    figure.update_layout(
        title={"text": title},
        height=380,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
    )
    categories = [p for p in POINT_ORDER if p in set(frame["point"])]
    sessions_shown = sum(1 for p in categories if p.startswith("Session"))
    if 0 < sessions_shown < len(categories):  # mark where the sessions end and follow-ups begin
        figure.add_vline(
            x=sessions_shown - 0.5,
            line={"color": "#888", "width": 1, "dash": "dot"},
            annotation_text="Follow-ups",
            annotation_position="top right",
            annotation_font_color="#444",
        )
    figure.update_xaxes(
        title_text="Session number (pain before it), then months since the first session",
        type="category",
        categoryorder="array",
        categoryarray=categories,
        tickvals=categories,
        ticktext=[_tick(label) for label in categories],
        tickangle=0,
    )
    figure.update_yaxes(**PAIN_AXIS)
    return figure


def mean_trajectory_alt_text(frame: pd.DataFrame, condition: str) -> str:
    """Screen-reader description of :func:`mean_trajectory_chart`."""
    parts = [
        f"{row.point}: {row.mean:.1f}"
        + ("" if pd.isna(row.ci_low) else f" (95% CI {row.ci_low:.1f} to {row.ci_high:.1f})")
        + f", {row.n} patients"
        for row in frame.itertuples()
    ]
    return f"Mean pain (0–10) over sessions and follow-ups for {condition}. " + "; ".join(parts)
