"""Pure figure builders: small results in, plotly Figures out. No Streamlit here.

One template for every chart: Okabe–Ito colours (safe for colour-blind readers), markers
that differ in shape as well as colour, axis titles with units, and the benchmark band drawn
the same way everywhere (:func:`add_band`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000")
#: Colours of one series each (routes, event types): Okabe–Ito without its yellow, whose contrast
#: with a white background is about 1.3 : 1 — a sublingual line or marker in it could not be read.
SERIES_COLOURS = tuple(colour for colour in OKABE_ITO if colour != "#F0E442")
BAND_FILL = "rgba(120, 120, 120, 0.18)"

# plotly_white merged with our settings once, here, and only the parts our charts use: a
# "plotly_white+…" name is merged again on every figure, and plotly_white's defaults for some
# twenty trace types we never draw are deep-copied into every figure (≈ 20 ms per figure;
# docs/performance.md). Only its scatter and bar defaults can reach our charts.
_MERGED = pio.templates.merge_templates(
    "plotly_white",
    go.layout.Template(
        layout={
            "colorway": list(SERIES_COLOURS),
            "font": {"family": "Source Sans Pro, Arial, sans-serif", "size": 14},
            "margin": {"l": 10, "r": 20, "t": 70, "b": 50},
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
            "hoverlabel": {"font_size": 13},
        }
    ),
)
pio.templates["ketamine_outcomes"] = go.layout.Template(
    layout=_MERGED.layout, data={"scatter": _MERGED.data.scatter, "bar": _MERGED.data.bar}
)
TEMPLATE = "ketamine_outcomes"


@dataclass(frozen=True)
class RateRow:
    """One rate with its interval, as a forest-plot row."""

    label: str
    rate: float | None
    low: float | None
    high: float | None
    responders: int
    n: int
    small_n: bool = False

    @classmethod
    def from_group(cls, label: str, group: Any) -> RateRow:
        """The row of one response-table group (an :class:`analysis.queries.response.GroupResult`)."""
        return cls(label, group.rate, group.ci_low, group.ci_high, group.responders, group.n, group.small_n)


def add_band(figure: go.Figure, band: tuple[float, float], *, axis: str = "x") -> go.Figure:
    """Shade the benchmark band behind the data, the same way on every chart.

    On a horizontal rate axis (forest plots) the band is labelled above the plot; on a
    vertical one (trends) it gets a legend entry, so that the label never covers a point.
    """
    bottom, top = band
    label = f"Conventional therapy {100 * bottom:.0f}–{100 * top:.0f}%"
    shape = {"fillcolor": BAND_FILL, "line_width": 0, "layer": "below"}
    if axis == "x":
        figure.add_vrect(
            x0=bottom,
            x1=top,
            annotation_text=label,
            annotation_position="outside top",
            annotation_font={"size": 12, "color": "#444"},
            **shape,
        )
    else:
        figure.add_hrect(y0=bottom, y1=top, **shape)
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=label,
                hoverinfo="skip",
                marker={"symbol": "square", "size": 14, "color": BAND_FILL},
            )
        )
    return figure


def forest_plot(
    rows: Sequence[RateRow],
    band: tuple[float, float],
    *,
    title: str,
    threshold: float = 0.30,
    compact: bool = False,
) -> go.Figure:
    """Rates with intervals as points and horizontal bars, one row each, over the band.

    Small groups (denominator under 11) are drawn hollow and labelled "small n". ``compact``
    is for a chart in a narrow column: its axis title takes two lines.
    """
    drawn = [row for row in rows if row.rate is not None]
    labels = [f"{row.label} (small n)" if row.small_n else row.label for row in drawn]
    figure = go.Figure(
        go.Scatter(
            x=[row.rate for row in drawn],
            y=labels,
            mode="markers",
            marker={
                "size": 12,
                "color": OKABE_ITO[0],
                "symbol": ["circle-open" if row.small_n else "circle" for row in drawn],
                "line": {"width": 2, "color": OKABE_ITO[0]},
            },
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [row.high - row.rate for row in drawn],  # type: ignore[operator]
                "arrayminus": [row.rate - row.low for row in drawn],  # type: ignore[operator]
                "thickness": 2,
                "width": 6,
                "color": OKABE_ITO[0],
            },
            customdata=[[row.responders, row.n, row.low, row.high] for row in drawn],
            hovertemplate="%{y}: %{x:.1%} (95% CI %{customdata[2]:.1%}–%{customdata[3]:.1%}); "
            "%{customdata[0]} of %{customdata[1]}<extra></extra>",
            name="Response rate",
            cliponaxis=False,
        )
    )
    add_band(figure, band)
    figure.update_layout(
        template=TEMPLATE,
        title={"text": title},
        height=max(220, 90 + 48 * len(drawn)),
        showlegend=False,
    )
    axis_title = f"Patients with ≥{100 * threshold:.0f}% pain reduction (%)"
    figure.update_xaxes(
        # On a narrow chart the title breaks in two rather than running off the figure's edge.
        title_text=axis_title.replace(" pain", "<br>pain") if compact else axis_title,
        # A little room either side: a 0% or 100% marker is drawn whole, not cut by the edge.
        range=[-0.04, 1.04],
        tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1],
        tickformat=".0%",
    )
    figure.update_yaxes(autorange="reversed", title_text=None)
    return figure


def forest_alt_text(rows: Sequence[RateRow], band: tuple[float, float]) -> str:
    """A sentence describing a forest plot, for screen readers."""
    parts = [
        f"{row.label}: {100 * row.rate:.0f}% (95% CI {100 * row.low:.0f} to {100 * row.high:.0f}%, "
        f"{row.responders} of {row.n})"
        for row in rows
        if row.rate is not None and row.low is not None and row.high is not None
    ]
    band_text = f"benchmark band {100 * band[0]:.0f} to {100 * band[1]:.0f}%"
    return f"Response rates with 95% confidence intervals against the {band_text}. " + "; ".join(parts)
