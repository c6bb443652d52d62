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
# Every figure gets it as plotly's default: a new figure takes the default template as it is,
# while `update_layout(template=…)` validates and deep-copies it into every figure (a forest
# plot 11.0 → 6.8 ms; 20 users at once spent a fifth of the server's CPU there; docs/performance.md,
# "Many users at once: the server's own work").
pio.templates.default = TEMPLATE


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


def band_layout(band: tuple[float, float], *, axis: str = "x") -> dict[str, list[dict[str, Any]]]:
    """The layout entries that shade the benchmark band behind the data, the same on every chart.

    On a horizontal rate axis (forest plots) the band is labelled above the plot; on a vertical
    one (trends) it gets a legend entry instead (:func:`band_legend`), so that the label never
    covers a point. A figure built in one go takes these in its layout: plotly validates a
    figure's layout once then, not once per ``update_*`` call, and never rebuilds it to find the
    axes as ``add_vrect`` does (a forest plot 7.0 → 1.4 ms; docs/performance.md, "Many users at
    once: the server's own work").
    """
    bottom, top = band
    shape = {"type": "rect", "fillcolor": BAND_FILL, "line": {"width": 0}, "layer": "below"}
    if axis != "x":
        return {
            "shapes": [{**shape, "x0": 0, "x1": 1, "xref": "x domain", "y0": bottom, "y1": top, "yref": "y"}]
        }
    return {
        "shapes": [{**shape, "x0": bottom, "x1": top, "xref": "x", "y0": 0, "y1": 1, "yref": "y domain"}],
        "annotations": [
            {
                "text": band_label(band),
                "x": (bottom + top) / 2,
                "xanchor": "center",
                "xref": "x",
                "y": 1,
                "yanchor": "bottom",
                "yref": "y domain",
                "showarrow": False,
                "font": {"size": 12, "color": "#444"},
            }
        ],
    }


def band_label(band: tuple[float, float]) -> str:
    """The band's words on a chart."""
    bottom, top = band
    return f"Conventional therapy {100 * bottom:.0f}–{100 * top:.0f}%"


def band_legend(band: tuple[float, float]) -> go.Scatter:
    """The legend entry of a band on a vertical rate axis: a grey square, no data."""
    return go.Scatter(
        x=[None],
        y=[None],
        mode="markers",
        name=band_label(band),
        hoverinfo="skip",
        marker={"symbol": "square", "size": 14, "color": BAND_FILL},
    )


def add_band(figure: go.Figure, band: tuple[float, float], *, axis: str = "x") -> go.Figure:
    """:func:`band_layout` (and on a vertical axis :func:`band_legend`) added to a built figure."""
    layout = band_layout(band, axis=axis)
    for shape in layout["shapes"]:
        figure.add_shape(shape)
    for annotation in layout.get("annotations", []):
        figure.add_annotation(annotation)
    if axis != "x":
        figure.add_trace(band_legend(band))
    return figure


def rate_axis(threshold: float, *, compact: bool = False) -> dict[str, Any]:
    """The response-rate axis: its title with the threshold, 0–100 % with a little room either
    side (a 0 % or 100 % marker is drawn whole, not cut by the edge). ``compact``: the title
    breaks in two rather than running off a narrow chart's edge."""
    title = f"Patients with ≥{100 * threshold:.0f}% pain reduction (%)"
    return {
        "title": {"text": title.replace(" pain", "<br>pain") if compact else title},
        "range": [-0.04, 1.04],
        "tickvals": [0, 0.2, 0.4, 0.6, 0.8, 1],
        "tickformat": ".0%",
    }


def interval_markers(drawn: Sequence[RateRow], colour: str | list[str]) -> dict[str, Any]:
    """The keywords of a scatter of rates with their 95 % intervals, as every forest plot draws
    them: a point per row (hollow, and labelled "small n", for a group under 11), asymmetric
    error bars, and the hover text with the counts. ``drawn``: rows with a rate and an interval;
    ``colour``: one for every point, or one per point."""
    return {
        "x": [row.rate for row in drawn],
        "y": [f"{row.label} (small n)" if row.small_n else row.label for row in drawn],
        "mode": "markers",
        "marker": {
            "size": 12,
            "color": colour,
            "symbol": ["circle-open" if row.small_n else "circle" for row in drawn],
            "line": {"width": 2, "color": colour},
        },
        "error_x": {
            "type": "data",
            "symmetric": False,
            "array": [row.high - row.rate for row in drawn],  # type: ignore[operator]
            "arrayminus": [row.rate - row.low for row in drawn],  # type: ignore[operator]
            "thickness": 2,
            "width": 6,
            "color": OKABE_ITO[0],
        },
        "customdata": [[row.responders, row.n, row.low, row.high] for row in drawn],
        "hovertemplate": "%{y}: %{x:.1%} (95% CI %{customdata[2]:.1%}–%{customdata[3]:.1%}); "
        "%{customdata[0]} of %{customdata[1]}<extra></extra>",
    }


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
    rates = go.Scatter(**interval_markers(drawn, OKABE_ITO[0]), name="Response rate", cliponaxis=False)
    layout = {
        **band_layout(band),
        "title": {"text": title},
        "height": max(220, 90 + 48 * len(drawn)),
        "showlegend": False,
        "xaxis": rate_axis(threshold, compact=compact),
        "yaxis": {"autorange": "reversed", "title": {"text": None}},
    }
    return go.Figure(data=[rates], layout=layout)


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
