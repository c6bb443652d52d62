"""Figures of fair comparisons: comparators on the forest plot, calibration of the response profile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from analysis.present.figures import OKABE_ITO

#: How each kind of comparator is drawn: (legend name, colour, marker symbol).
KIND_STYLE: dict[str, tuple[str, str, str]] = {
    "conventional": ("Published drug arm", OKABE_ITO[1], "diamond"),
    "placebo": ("Published placebo arm", OKABE_ITO[3], "x"),
    "ketamine": ("Published ketamine study", OKABE_ITO[2], "star"),
}


@dataclass(frozen=True)
class ComparatorMark:
    """One comparator drawn on a forest plot's row (``row`` is that row's y label)."""

    row: str
    rate: float
    kind: str
    label: str
    citation: str
    indirect: bool


def add_comparators(figure: go.Figure, marks: Sequence[ComparatorMark]) -> go.Figure:
    """Draw comparators on their rows of a forest plot: one legend entry per kind, hover names each.

    Indirect comparators are drawn hollow, with a legend entry of their own. The plot's legend
    is turned on so that the kinds are labelled; the rows' own rates stay the blue dots with bars.
    """
    for kind, (name, colour, symbol) in KIND_STYLE.items():
        for indirect in (False, True):
            chosen = [m for m in marks if m.kind == kind and m.indirect == indirect]
            if not chosen:
                continue
            shown = f"{name} (indirect)" if indirect else name
            figure.add_trace(
                go.Scatter(
                    x=[m.rate for m in chosen],
                    y=[m.row for m in chosen],
                    mode="markers",
                    name=shown,
                    marker={
                        "symbol": f"{symbol}-open" if indirect else symbol,
                        "size": 13,
                        "color": colour,
                        "line": {"width": 2, "color": colour},
                    },
                    customdata=[[m.label, m.citation] for m in chosen],
                    hovertemplate="%{customdata[0]}: %{x:.1%}<br>%{customdata[1]}<extra>"
                    + shown
                    + "</extra>",
                )
            )
    if marks:
        figure.update_layout(
            showlegend=True, legend={"y": -0.12, "yanchor": "top", "x": 0, "xanchor": "left"}
        )
        figure.update_layout(height=(figure.layout.height or 300) + 40, margin={"b": 90})
    return figure


def comparators_alt_text(marks: Sequence[ComparatorMark]) -> str:
    """A sentence listing the comparators drawn, for screen readers."""
    if not marks:
        return ""
    parts = [f"{m.row}: {m.kind} {100 * m.rate:.0f}%" + (" (indirect)" if m.indirect else "") for m in marks]
    return " Published comparators: " + "; ".join(parts) + "."


def calibration_chart(groups: Sequence[Any], *, title: str) -> go.Figure:
    """Observed response against mean predicted probability, one point per group of patients.

    ``groups`` are :class:`analysis.stats.discrimination.CalibrationGroup`; the diagonal is
    perfect agreement. Marker area follows the group's patients.
    """
    top = max([0.5, *(g.predicted for g in groups), *(g.observed for g in groups)])
    top = min(1.0, round(top + 0.05, 1))
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[0, top],
            y=[0, top],
            mode="lines",
            name="Perfect agreement",
            line={"color": "#888", "dash": "dash", "width": 1.5},
            hoverinfo="skip",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[g.predicted for g in groups],
            y=[g.observed for g in groups],
            mode="markers+lines",
            name="Groups by predicted risk",
            marker={"size": 11, "color": OKABE_ITO[0]},
            line={"color": OKABE_ITO[0], "width": 1},
            customdata=[[g.patients] for g in groups],
            hovertemplate="predicted %{x:.1%}, observed %{y:.1%} (%{customdata[0]} patients)<extra></extra>",
        )
    )
    figure.update_layout(
        title={"text": title},
        height=400,
        legend={"orientation": "h", "y": -0.25, "yanchor": "top", "x": 0, "xanchor": "left"},
        margin={"b": 110},
    )
    figure.update_xaxes(title_text="Predicted (held-out folds)", range=[0, top], tickformat=".0%")
    figure.update_yaxes(title_text="Observed response", range=[0, top], tickformat=".0%")
    return figure


def calibration_alt_text(groups: Sequence[Any]) -> str:
    """A sentence describing the calibration plot, for screen readers."""
    parts = [f"predicted {100 * g.predicted:.0f}%, observed {100 * g.observed:.0f}%" for g in groups]
    return "Calibration by tenths of predicted risk: " + "; ".join(parts) + "."
