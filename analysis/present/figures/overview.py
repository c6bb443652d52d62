"""Figures of the director's overview: the quarterly trend and the patient funnel."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from analysis.present import format as fmt
from analysis.present.figures import OKABE_ITO, band_layout, band_legend, rate_axis
from analysis.queries.response import INDUCTION_SESSIONS, Funnel, GroupResult


def quarterly_trend(
    groups: Sequence[GroupResult], band: tuple[float, float], *, threshold: float
) -> go.Figure:
    """Response rate by quarter of first treatment, with 95% intervals, over the band.

    Quarters without any eligible patient (all pending) are left out; small quarters are
    drawn hollow.
    """
    shown = [g for g in groups if g.rate is not None]
    quarters = [g.keys["quarter"] for g in shown]
    trend = go.Scatter(
        x=quarters,
        y=[g.rate for g in shown],
        mode="lines+markers",
        cliponaxis=False,
        line={"color": OKABE_ITO[0], "width": 2},
        marker={
            "size": 10,
            "color": OKABE_ITO[0],
            "symbol": ["circle-open" if g.small_n else "circle" for g in shown],
        },
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [g.ci_high - g.rate for g in shown],  # type: ignore[operator]
            "arrayminus": [g.rate - g.ci_low for g in shown],  # type: ignore[operator]
            "color": OKABE_ITO[0],
            "thickness": 1.5,
        },
        customdata=[[g.responders, g.n] for g in shown],
        hovertemplate="%{x}: %{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        name="Response rate",
    )
    layout = {
        **band_layout(band, axis="y"),
        "title": {"text": "Response rate by quarter of first treatment"},
        "height": 360,
        "xaxis": {"title": {"text": "Quarter of first session"}, "type": "category"},
        "yaxis": rate_axis(threshold),
    }
    return go.Figure(data=[trend, band_legend(band)], layout=layout)


def trend_alt_text(groups: Sequence[GroupResult]) -> str:
    """Screen-reader description of :func:`quarterly_trend`."""
    parts = [f"{g.keys['quarter']}: {100 * g.rate:.0f}% of {g.n}" for g in groups if g.rate is not None]
    return "Response rate by quarter of first treatment with 95% intervals. " + "; ".join(parts)


def _funnel_texts(funnel: Funnel) -> list[str]:
    """Each step's count (thousands separators) and the share it is of, as the headline prints it."""
    return [
        fmt.count(count) + (f" · {fmt.percent(share)} {of}" if share is not None else "")
        for (_, count), (of, share) in zip(funnel.steps(), funnel.shares(), strict=True)
    ]


def patient_funnel(funnel: Funnel) -> go.Figure:
    """Patients remaining at each step, from registration to response.

    Each bar holds its count; its share is written under the step's name, because a narrow bar
    (the responders) has no room for it and text beside it would run off the figure. The last
    two shares are the headline's follow-up completeness and ITT response rate, written exactly
    as the headline writes them (docs/methods.md).
    """
    texts = _funnel_texts(funnel)
    labels = [
        label
        + (f"<br><span style='font-size:12px;color:#555'>{fmt.percent(share)} {of}</span>" if share else "")
        for (label, _), (of, share) in zip(funnel.steps(), funnel.shares(), strict=True)
    ]
    counts = [count for _, count in funnel.steps()]
    steps = go.Funnel(
        y=labels,
        x=counts,
        text=[fmt.count(count) for count in counts],
        textinfo="text",
        textposition="inside",
        constraintext="none",
        marker={"color": [OKABE_ITO[i % len(OKABE_ITO)] for i in (4, 0, 0, 0, 2, 1)]},
        customdata=texts,
        hovertemplate="%{customdata}<extra></extra>",
    )
    layout = {
        "title": {"text": "Patient funnel"},
        "height": 420,
        "xaxis": {"title": {"text": "Patients"}},
        "yaxis": {"title": {"text": None}},
    }
    return go.Figure(data=[steps], layout=layout)


def funnel_alt_text(funnel: Funnel) -> str:
    """Screen-reader description of :func:`patient_funnel`."""
    return "Patient funnel: " + "; ".join(
        f"{label}: {text}" for (label, _), text in zip(funnel.steps(), _funnel_texts(funnel), strict=True)
    )


def funnel_caption(funnel: Funnel) -> str:
    """What sits beside the funnel and is not a step of it (induction, pending)."""
    return (
        f"Completed induction (≥{INDUCTION_SESSIONS} sessions): {fmt.count(funnel.completed_induction)} "
        f"of {fmt.count(funnel.treated)} treated. Pending (window still open, no follow-up yet): "
        f"{fmt.count(funnel.pending)}, in no rate. The last two steps are the headline's follow-up "
        "completeness and ITT response rate."
    )
