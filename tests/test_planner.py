"""The precision planner (docs/methods.md, "Precision planner") against the Wilson interval.

The reference is statsmodels' documented ``proportion_confint(count, nobs, method="wilson")``
(the Wilson score interval without continuity correction), evaluated at the boundary the
planner returns and one patient before it: the planner must return exactly the first n whose
interval clears the band. The closed form is checked by hand as well:
n > z² e (1 − e) / (p − e)², e.g. p = 0.5, top 0.4: 1.959964² × 0.24 / 0.01 = 92.19 → 93.
"""

from __future__ import annotations

from datetime import date

import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.present import exports
from analysis.queries import response
from analysis.stats import planner
from tests.clinic import add_patient

BAND = (0.30, 0.40)


def _wilson(rate: float, n: int) -> tuple[float, float]:
    low, high = proportion_confint(rate * n, n, alpha=0.05, method="wilson")
    return float(low), float(high)


def test_above_the_band_the_first_n_whose_lower_bound_clears_the_top() -> None:
    needed = planner.patients_needed(0.5, 20, BAND)
    assert needed == 93  # 1.959964² × 0.5·… : 3.8415 × 0.24 / 0.01 = 92.19 → the next whole n
    assert _wilson(0.5, 93)[0] > 0.40
    assert _wilson(0.5, 92)[0] <= 0.40


def test_below_the_band_the_first_n_whose_upper_bound_clears_the_bottom() -> None:
    needed = planner.patients_needed(0.10, 5, BAND)
    assert needed == 21  # 3.8415 × 0.21 / 0.04 = 20.17 → 21
    assert _wilson(0.10, 21)[1] < 0.30
    assert _wilson(0.10, 20)[1] >= 0.30


@pytest.mark.parametrize("rate", [0.30, 0.40, 0.35])
def test_rate_exactly_at_a_band_edge_or_inside_needs_no_number(rate: float) -> None:
    assert planner.patients_needed(rate, 500, BAND) is None


def test_no_patients_yet_needs_no_number() -> None:
    assert planner.patients_needed(None, 0, BAND) is None
    assert planner.patients_needed(0.0, 0, BAND) is None


def test_a_group_already_clear_needs_its_own_n_and_no_more() -> None:
    result = planner.plan(0.6, 200, BAND, recent_starts=12, share_counted=1.0, cutoff=date(2026, 1, 15))
    assert _wilson(0.6, 200)[0] > 0.40
    assert (result.n_needed, result.more_needed, result.expected_month) == (200, 0, None)


@pytest.mark.parametrize(
    ("rate", "n"), [(0.41, 7), (0.55, 3), (0.02, 1), (0.999, 2), (0.29, 40), (0.45, 300)]
)
def test_the_closed_form_matches_wilson_at_its_boundary(rate: float, n: int) -> None:
    needed = planner.patients_needed(rate, n, BAND)
    assert needed is not None and needed >= n
    clears = (lambda b: b[0] > 0.40) if rate > 0.40 else (lambda b: b[1] < 0.30)
    assert clears(_wilson(rate, needed))
    if needed > n:
        assert not clears(_wilson(rate, needed - 1))


def test_expected_month_counts_months_of_pace_from_the_cutoff() -> None:
    # 12 more at 4 a month: 3 months (91.3 days) after 15 January 2026 → April 2026.
    assert planner.expected_month(12, 4.0, date(2026, 1, 15)) == "2026-04"
    assert planner.expected_month(12, 0.0, date(2026, 1, 15)) is None
    assert planner.expected_month(0, 4.0, date(2026, 1, 15)) is None
    assert planner.expected_month(10_000, 1.0, date(2026, 1, 15)) is None  # beyond ten years


def test_completers_pace_counts_only_the_share_with_a_follow_up() -> None:
    result = planner.plan(0.1, 5, BAND, recent_starts=12, share_counted=0.5, cutoff=date(2026, 1, 15))
    assert result.pace_per_month == pytest.approx(12 * 0.5 / planner.PACE_MONTHS)


def _responder(engine, patient_id: str, first_day: int, responds: bool, condition: str = "crps") -> None:
    add_patient(
        engine,
        patient_id,
        condition=condition,
        sessions=[{"day": first_day}],
        followups=[{"day": first_day + 90, "pain": 2.0 if responds else 8.0}],
    )


def test_every_summary_group_carries_the_plan(engine) -> None:
    # 12 CRPS patients, 10 responders, all first treated within six months of the cut-off.
    for i in range(12):
        _responder(engine, f"C{i:02d}", i * 5, responds=i < 10)
    table = response.summarize(engine, by=("condition",))
    group = table.groups[0].to_dict()
    needed = planner.patients_needed(10 / 12, 12, BAND)
    assert group["n_needed"] == needed and group["more_needed"] == needed - 12 == 0
    assert group["pace_per_month"] is None or group["more_needed"] == 0
    overall = table.overall.to_dict()
    assert {"n_needed", "more_needed", "pace_per_month", "expected_month"} <= set(overall)


def test_pace_counts_first_sessions_of_the_last_six_months_only(engine) -> None:
    # 6 of 14 patients started more than six months before the cut-off (day 280 + 90).
    for i in range(14):
        _responder(engine, f"P{i:02d}", 0 if i < 6 else 200 + 10 * (i - 6), responds=i in (0, 7))
    group = response.summarize(engine, by=("condition",)).groups[0]
    assert group.n == 14 and group.rate is not None and group.rate < 0.30
    assert group.pace_per_month == pytest.approx(8 / planner.PACE_MONTHS)
    assert group.n_needed == planner.patients_needed(group.rate, 14, BAND)


def test_exports_hide_the_plan_of_a_small_group(engine) -> None:
    for i in range(4):
        _responder(engine, f"S{i}", i, responds=False)
    table = response.summarize(engine, by=("condition",))
    frame = exports.response_frame(table)
    row = frame.iloc[0]
    assert table.groups[0].small_n and table.groups[0].more_needed is not None
    assert row["n_needed"] == row["more_needed"] == row["pace_per_month"] == exports.SUPPRESSED
