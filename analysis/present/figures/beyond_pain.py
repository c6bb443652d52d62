"""Charts of the outcomes beyond pain: a forest plot per measure, and the opioid before/after.

No benchmark band here: the 30–40 % band is for pain relief only (docs/methods.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from analysis.present.figures import OKABE_ITO, RateRow, interval_markers


def measure_forest(rows: Sequence[RateRow], *, title: str, x_title: str) -> go.Figure:
    """Rates with their 95 % intervals, one row per group (the whole cohort first, in black).

    Small groups (denominator under 11) are drawn hollow and labelled "small n"; groups with no
    qualifying patient are left out (they have no rate).
    """
    drawn = [row for row in rows if row.rate is not None and row.low is not None and row.high is not None]
    colours = [OKABE_ITO[7] if position == 0 else OKABE_ITO[0] for position in range(len(drawn))]
    figure = go.Figure(go.Scatter(**interval_markers(drawn, colours), name=title))
    figure.update_layout(title={"text": title}, height=max(200, 90 + 40 * len(drawn)), showlegend=False)
    figure.update_xaxes(title_text=x_title, range=[0, 1], tickformat=".0%")
    figure.update_yaxes(autorange="reversed", title_text=None)
    return figure


def measure_forest_alt(rows: Sequence[RateRow], what: str) -> str:
    """A sentence describing a measure's forest plot, for screen readers."""
    parts = [
        f"{row.label}: {100 * row.rate:.0f}% (95% CI {100 * row.low:.0f} to {100 * row.high:.0f}%)"
        for row in rows
        if row.rate is not None and row.low is not None and row.high is not None
    ]
    return f"{what}, with 95% confidence intervals. " + "; ".join(parts)


def opioid_levels_chart(
    levels: tuple[float, float],
    n: int,
    baseline: tuple[int, int],
    followup: tuple[int, int],
    *,
    timepoint: int,
) -> go.Figure:
    """Share of patients at or above each daily dose of concern, at baseline and at the time point.

    ``baseline`` and ``followup`` are the counts at or above (lower level, higher level) among
    the same ``n`` patients (those with both MME values), so the bars compare like with like.
    """
    names = [f"≥ {levels[0]:g} MME/day", f"≥ {levels[1]:g} MME/day"]
    figure = go.Figure()
    for label, counts, colour, pattern in (
        ("Baseline", baseline, OKABE_ITO[1], ""),
        (f"Day {timepoint}", followup, OKABE_ITO[0], "/"),
    ):
        shares = [count / n if n else None for count in counts]
        figure.add_trace(
            go.Bar(
                x=names,
                y=shares,
                name=label,
                marker={"color": colour, "pattern": {"shape": pattern}},
                text=[f"{100 * s:.0f}%" if s is not None else "" for s in shares],
                textposition="outside",
                hovertemplate=f"{label}, %{{x}}: %{{y:.1%}} of {n:,} patients<extra></extra>",
            )
        )
    top = max([count / n for count in (*baseline, *followup)] if n else [0.0])
    figure.update_layout(
        title={"text": "Patients on high opioid doses, before and after"},
        barmode="group",
        height=340,
    )
    figure.update_yaxes(title_text="Patients (%)", tickformat=".0%", range=[0, min(1.0, top * 1.25 + 0.05)])
    figure.update_xaxes(title_text="Daily opioid dose (oral morphine equivalents)")
    return figure


def opioid_levels_alt(
    levels: tuple[float, float],
    n: int,
    baseline: tuple[int, int],
    followup: tuple[int, int],
    *,
    timepoint: int,
) -> str:
    """The opioid picture in one sentence, for screen readers."""
    if not n:
        return "No patient has both a baseline and a follow-up opioid dose."
    parts = [
        f"at or above {level:g} MME/day: {100 * before / n:.0f}% at baseline, "
        f"{100 * after / n:.0f}% at day {timepoint}"
        for level, before, after in zip(levels, baseline, followup, strict=True)
    ]
    return f"Of {n:,} patients with both doses recorded, " + "; ".join(parts) + "."
