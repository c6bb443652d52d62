"""Figures of the Routes page: response by dose per kilogram, one line per route."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analysis.present.figures import SERIES_COLOURS, add_band

SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "hexagon", "cross")


def dose_response_chart(frame: pd.DataFrame, band: tuple[float, float], *, threshold: float) -> go.Figure:
    """Response rate (with 95% intervals) by band of mean dose per kg, one line per route."""
    figure = go.Figure()
    shown = frame[frame["rate"].notna()]
    for position, (route, rows) in enumerate(shown.groupby("route", sort=True)):
        colour = SERIES_COLOURS[position % len(SERIES_COLOURS)]
        figure.add_trace(
            go.Scatter(
                x=rows["dose_band"].astype(str),
                y=rows["rate"],
                name=str(route).replace("_", " ").capitalize(),
                mode="lines+markers",
                cliponaxis=False,  # a 0% or 100% marker is drawn whole
                line={"color": colour, "dash": ("solid", "dash", "dot", "dashdot")[position % 4]},
                marker={"symbol": SYMBOLS[position % len(SYMBOLS)], "size": 9, "color": colour},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": rows["ci_high"] - rows["rate"],
                    "arrayminus": rows["rate"] - rows["ci_low"],
                    "thickness": 1.2,
                },
                customdata=rows[["responders", "n", "mean_mg_per_kg"]].to_numpy(),
                hovertemplate="%{x} mg/kg (mean %{customdata[2]:.2f}): %{y:.1%} "
                "(%{customdata[0]} of %{customdata[1]})<extra>%{fullData.name}</extra>",
            )
        )
    add_band(figure, band, axis="y")
    figure.update_layout(title={"text": "Response by dose per kilogram"}, height=380)
    figure.update_xaxes(title_text="Mean dose per session (mg/kg body weight)", type="category")
    figure.update_yaxes(
        title_text=f"Patients with ≥{100 * threshold:.0f}% pain reduction (%)",
        range=[-0.04, 1.04],
        tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1],
        tickformat=".0%",
    )
    return figure


def dose_response_alt_text(frame: pd.DataFrame) -> str:
    """Screen-reader description of :func:`dose_response_chart`."""
    parts = [
        f"{row.route} {row.dose_band} mg/kg: {100 * row.rate:.0f}% of {row.n}"
        for row in frame.itertuples()
        if pd.notna(row.rate)
    ]
    return "Response rate by mean dose per kg and route, with 95% intervals. " + "; ".join(parts)
