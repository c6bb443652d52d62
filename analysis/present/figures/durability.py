"""The durability figure: Kaplan–Meier steps with 95% bands, and the number at risk beneath.

Time runs in weeks since the response began. Each group is one colour (Okabe–Ito) and one
dash pattern, its band the same colour, faint; censorings are short vertical ticks on the
curve. Under the axis, as survival papers print it, the number still followed (at risk) at
every tick, one row per group in the group's colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from analysis.present.figures import OKABE_ITO
from analysis.queries.durability import DurabilityCurve

DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
#: Weeks between the ticks (and the at-risk numbers) of the time axis: the first of these that
#: gives at most 14 ticks (4 weeks = a month, 13 = a quarter, 26 = half a year).
TICK_STEPS = (4, 8, 13, 26, 52)
#: Pixels: the plotting area's height, and where the at-risk rows sit below the axis.
PLOT_HEIGHT, TOP, AT_RISK_GAP, ROW = 320, 70, 72, 20


def _faint(colour: str, alpha: float = 0.15) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def _steps(curve: DurabilityCurve) -> tuple[list[float], list[float], list[float], list[float]]:
    """Weeks, survival and band of a step function that starts at 1 on week 0."""
    weeks, survival, low, high = [0.0], [1.0], [1.0], [1.0]
    for step in curve.survival.curve:
        weeks.append(step.day / 7)
        survival.append(step.survival)
        low.append(step.survival if step.ci_low is None else step.ci_low)
        high.append(step.survival if step.ci_high is None else step.ci_high)
    return weeks, survival, low, high


def _add_band(
    figure: go.Figure, weeks: list[float], low: list[float], high: list[float], colour: str, name: str
) -> None:
    """The 95% band: a faint area between two invisible step lines."""
    line = {"width": 0, "shape": "hv"}
    common = {"mode": "lines", "line": line, "hoverinfo": "skip", "showlegend": False, "legendgroup": name}
    figure.add_trace(go.Scatter(x=weeks, y=high, **common))
    figure.add_trace(go.Scatter(x=weeks, y=low, fill="tonexty", fillcolor=_faint(colour), **common))


def survival_figure(
    curves: Sequence[tuple[str, DurabilityCurve]], *, threshold: float, bands: bool = True
) -> go.Figure:
    """Kaplan–Meier curves of the share still responding, with 95% log(−log) bands (``bands``)
    and the numbers at risk under the axis."""
    figure = go.Figure()
    longest = max((s.day for _, c in curves for s in c.survival.curve), default=0) / 7
    step = next((w for w in TICK_STEPS if longest / w <= 13), TICK_STEPS[-1])
    ticks = list(range(0, int(longest) + step, step))
    for index, (name, curve) in enumerate(curves):
        colour = OKABE_ITO[index % len(OKABE_ITO)]
        weeks, survival, low, high = _steps(curve)
        if bands:
            _add_band(figure, weeks, low, high, colour, name)
        figure.add_trace(
            go.Scatter(
                x=weeks,
                y=survival,
                mode="lines",
                name=f"{name} ({curve.survival.patients:,})",
                legendgroup=name,
                line={"color": colour, "width": 2.5, "shape": "hv", "dash": DASHES[index % len(DASHES)]},
                customdata=[[0, 0, 0]] + [[s.day, s.at_risk, s.events] for s in curve.survival.curve],
                hovertemplate=f"{name}: %{{y:.0%}} still responding at week %{{x:.1f}}"
                "<br>day %{customdata[0]}, %{customdata[1]} at risk, %{customdata[2]} lost<extra></extra>",
            )
        )
        censored = [s for s in curve.survival.curve if s.censored]
        figure.add_trace(
            go.Scatter(
                x=[s.day / 7 for s in censored],
                y=[s.survival for s in censored],
                mode="markers",
                marker={"symbol": "line-ns-open", "size": 8, "color": colour},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
    _at_risk_table(figure, curves, ticks)
    figure.update_layout(
        title={"text": f"Still responding (pain reduction ≥{100 * threshold:.0f}%) after the response began"},
        height=TOP + PLOT_HEIGHT + _bottom(len(curves)),
        margin={"t": TOP, "b": _bottom(len(curves)), "l": 160, "r": 190},
        hovermode="closest",
        legend={"orientation": "v", "x": 1.01, "xanchor": "left", "y": 1, "yanchor": "top"},
    )
    figure.update_xaxes(
        title_text="Weeks since the response began",
        tickvals=ticks,
        range=[-0.5, max(ticks[-1], longest) + 0.5],
        zeroline=False,
    )
    figure.update_yaxes(title_text="Still responding (%)", range=[0, 1.02], tickformat=".0%")
    return figure


def _bottom(rows: int) -> int:
    return AT_RISK_GAP + ROW * (rows + 1) + 10


def _below_axis(pixels: float) -> float:
    """A paper y coordinate ``pixels`` below the x axis."""
    return -pixels / PLOT_HEIGHT


def _at_risk_table(
    figure: go.Figure, curves: Sequence[tuple[str, DurabilityCurve]], ticks: Sequence[int]
) -> None:
    """The numbers at risk under the axis, one row per group, aligned with the ticks."""
    figure.add_annotation(
        text="<b>Number at risk</b>",
        xref="paper",
        yref="paper",
        x=0,
        xshift=-30,
        y=_below_axis(AT_RISK_GAP),
        xanchor="right",
        showarrow=False,
        font={"size": 12},
    )
    for row, (name, curve) in enumerate(curves):
        colour = OKABE_ITO[row % len(OKABE_ITO)]
        y = _below_axis(AT_RISK_GAP + ROW * (row + 1))
        figure.add_annotation(
            text=name,
            xref="paper",
            yref="paper",
            x=0,
            xshift=-30,
            y=y,
            xanchor="right",
            showarrow=False,
            font={"size": 12, "color": colour},
        )
        for week in ticks:
            figure.add_annotation(
                text=f"{curve.survival.at_risk_on(week * 7):,}",
                xref="x",
                yref="paper",
                x=week,
                y=y,
                showarrow=False,
                font={"size": 12, "color": colour},
            )


def survival_alt_text(curves: Sequence[tuple[str, DurabilityCurve]]) -> str:
    """Screen-reader description of :func:`survival_figure`."""
    parts = []
    for name, curve in curves:
        s = curve.survival
        median = "not reached" if s.median_days is None else f"{s.median_days} days"
        parts.append(f"{name}: {s.patients} responders, {s.events} lost the response, median {median}")
    return "Kaplan–Meier curves of the share still responding, with 95% bands. " + "; ".join(parts)
