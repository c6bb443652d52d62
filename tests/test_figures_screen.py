"""Figures read whole and in readable colours (issue #14 items 17 and 19)."""

from __future__ import annotations

import pandas as pd

from analysis.present import figures
from analysis.present.figures import OKABE_ITO, SERIES_COLOURS
from analysis.present.figures import overview as overview_figures
from analysis.present.figures import routes as route_figures
from analysis.queries.response import Funnel

YELLOW = "#F0E442"


def relative_luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of an sRGB hex colour."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_with_white(colour: str) -> float:
    return 1.05 / (relative_luminance(colour) + 0.05)


def test_okabe_ito_yellow_is_unreadable_on_white_and_no_series_uses_it():
    # WCAG 2.1 asks 3:1 for graphical objects (SC 1.4.11); the yellow gives about 1.3:1.
    assert round(contrast_with_white(YELLOW), 1) == 1.3
    assert YELLOW not in SERIES_COLOURS
    assert len(SERIES_COLOURS) == len(OKABE_ITO) - 1


def test_seven_routes_of_the_dose_chart_draw_none_in_yellow():
    routes = ["intramuscular", "intranasal", "intravenous", "mixed", "oral", "subcutaneous", "sublingual"]
    frame = pd.DataFrame(
        [
            {
                "route": r,
                "dose_band": "<0.5",
                "rate": 0.0,
                "ci_low": 0.0,
                "ci_high": 0.3,
                "responders": 0,
                "n": 12,
                "mean_mg_per_kg": 0.4,
            }
            for r in routes
        ]
    )
    figure = route_figures.dose_response_chart(frame, (0.3, 0.4), threshold=0.3)
    colours = {
        trace.name: trace.marker.color
        for trace in figure.data
        if trace.name in [r.capitalize() for r in routes]
    }
    assert colours["Sublingual"] != YELLOW and YELLOW not in colours.values()
    assert figure.layout.yaxis.range[0] < 0
    assert all(t.cliponaxis is False for t in figure.data if t.name in colours)


def test_forest_plot_draws_a_0_percent_marker_whole():
    rows = [figures.RateRow("Mixed", 0.0, 0.0, 0.28, 0, 10, small_n=True)]
    figure = figures.forest_plot(rows, (0.3, 0.4), title="Response by route")
    assert figure.layout.xaxis.range[0] < 0 < 1 < figure.layout.xaxis.range[1]
    assert figure.data[0].cliponaxis is False
    assert list(figure.layout.xaxis.tickvals) == [0, 0.2, 0.4, 0.6, 0.8, 1]  # no "-4%" tick


def test_a_compact_forest_plot_breaks_its_axis_title_in_two():
    rows = [figures.RateRow("Oral", 0.25, 0.2, 0.3, 25, 100)]
    wide = figures.forest_plot(rows, (0.3, 0.4), title="t", threshold=0.3)
    narrow = figures.forest_plot(rows, (0.3, 0.4), title="t", threshold=0.3, compact=True)
    assert wide.layout.xaxis.title.text == "Patients with ≥30% pain reduction (%)"
    assert narrow.layout.xaxis.title.text == "Patients with ≥30%<br>pain reduction (%)"


def test_funnel_counts_carry_thousands_separators_and_the_headline_shares():
    funnel = Funnel(
        registered=3000,
        treated=2993,
        completed_induction=1980,
        evaluable=2989,
        reached_window=2659,
        followed_up=1857,
        responded=765,
        pending=330,
        sessions=17437,
    )
    figure = overview_figures.patient_funnel(funnel)
    assert list(figure.data[0].text) == ["3,000", "2,993", "2,989", "2,659", "1,857", "765"]
    assert figure.data[0].textinfo == "text"  # plotly's own value would print 1857
    shares = [label.split("<br>")[1] if "<br>" in label else "" for label in figure.data[0].y]
    assert [share.split(">")[1].split("<")[0] if share else "" for share in shares] == [
        "",
        "99.8% of registered",
        "99.9% of treated",
        "89.0% of evaluable",
        "69.8% of eligible",
        "28.8% of eligible",
    ]
    assert list(figure.data[0].customdata)[-1] == "765 · 28.8% of eligible"  # the hover
    assert "1,980 of 2,993 treated" in overview_figures.funnel_caption(funnel)
