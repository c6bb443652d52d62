"""Pain over time (analysis.queries.trajectories and its figures) on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy.stats import t as t_distribution

from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.present.figures import trajectories as figures
from analysis.queries.trajectories import (
    NO_FOLLOWUP,
    NON_RESPONDER,
    NOT_EVALUABLE,
    PENDING,
    RESPONDER,
    cohort_list,
    mean_trajectory,
    outcome_status,
    patient_timeline,
    status_reason,
)
from tests.clinic import add_patient, day

CUTOFF = day(400)  # every 90 ± 30 day window has closed
D = OutcomeDefinition(cutoff=CUTOFF)
ALL = CohortFilter()


def point(frame, label: str) -> dict:
    rows = frame[frame["point"] == label]
    assert len(rows) == 1, f"expected one row for {label}, got {len(rows)}"
    return rows.iloc[0].to_dict()


# --- mean trajectory ----------------------------------------------------------------------


def test_mean_pre_session_pain_with_a_textbook_t_interval(engine):
    for i, pain in enumerate((6, 8, 10)):
        add_patient(engine, f"P{i}", sessions=[{"day": 0, "pre_pain": pain}])
    first = point(mean_trajectory(engine, D, ALL, "crps"), "Session 1")
    values = [6, 8, 10]
    n, mean, sd = len(values), statistics.mean(values), statistics.stdev(values)
    half = t_distribution.ppf(0.975, n - 1) * sd / math.sqrt(n)  # 4.303 × 2 / √3
    assert first["n"] == 3
    assert first["mean"] == pytest.approx(8.0)
    assert first["sd"] == pytest.approx(2.0)
    assert first["ci_low"] == pytest.approx(mean - half) == pytest.approx(3.0317, abs=1e-4)
    assert first["ci_high"] == pytest.approx(mean + half) == pytest.approx(12.9683, abs=1e-4)
    assert first["kind"] == "session" and first["position"] == 1


def test_one_patient_gives_a_mean_without_an_interval(engine):
    add_patient(engine, "P1", sessions=[{"day": 0, "pre_pain": 7}])
    first = point(mean_trajectory(engine, D, ALL, "crps"), "Session 1")
    assert first["n"] == 1 and first["mean"] == 7
    assert first["ci_low"] is None or math.isnan(first["ci_low"])


def test_sessions_are_numbered_by_date_for_each_patient(engine):
    # Inserted out of order; the session without a pre-session pain still takes its number.
    add_patient(
        engine,
        "A",
        sessions=[{"day": 7, "pre_pain": 5}, {"day": 0, "pre_pain": 9}, {"day": 14, "pre_pain": 3}],
    )
    add_patient(engine, "B", sessions=[{"day": 30}, {"day": 33, "pre_pain": 7}])
    frame = mean_trajectory(engine, D, ALL, "crps")
    assert frame["point"].tolist() == ["Session 1", "Session 2", "Session 3"]
    assert point(frame, "Session 1")["mean"] == 9 and point(frame, "Session 1")["n"] == 1
    assert point(frame, "Session 2")["mean"] == pytest.approx(6.0) and point(frame, "Session 2")["n"] == 2
    assert point(frame, "Session 3")["mean"] == 3


def test_only_the_first_eight_sessions_are_points(engine):
    add_patient(engine, "P1", sessions=[{"day": 3 * k, "pre_pain": 10 - k} for k in range(10)])
    frame = mean_trajectory(engine, D, ALL, "crps")
    assert frame["point"].tolist() == [f"Session {k}" for k in range(1, 9)]
    assert frame["mean"].tolist() == [10, 9, 8, 7, 6, 5, 4, 3]


@pytest.mark.parametrize(
    ("follow_up_day", "label"),
    [(14, None), (15, "1 month"), (45, "1 month"), (46, None), (59, None), (60, "3 months"),
     (120, "3 months"), (121, None), (150, "6 months"), (210, "6 months"), (211, None)],
)  # fmt: skip
def test_follow_up_bins_are_inclusive_day_ranges(engine, follow_up_day, label):
    add_patient(engine, "P1", followups=[{"day": follow_up_day, "pain": 4}])
    frame = mean_trajectory(engine, D, ALL, "crps")
    follow_ups = frame[frame["kind"] == "follow-up"]
    assert follow_ups["point"].tolist() == ([] if label is None else [label])


def test_each_patient_counts_once_per_bin_nearest_its_centre(engine):
    # Days 20 and 30 → 30 (the centre); days 25 and 35 tie → the earlier (25).
    add_patient(engine, "A", followups=[{"day": 20, "pain": 9}, {"day": 30, "pain": 3}])
    add_patient(engine, "B", followups=[{"day": 35, "pain": 8}, {"day": 25, "pain": 5}])
    add_patient(engine, "C", followups=[{"day": 90, "pain": 2}, {"day": 180, "pain": 6}])
    frame = mean_trajectory(engine, D, ALL, "crps")
    month = point(frame, "1 month")
    assert month["n"] == 2
    assert month["mean"] == pytest.approx(4.0)
    assert point(frame, "3 months")["mean"] == 2 and point(frame, "6 months")["mean"] == 6
    assert frame["position"].tolist() == [9, 10, 11]  # no pre-session pain recorded: no session point


def test_trajectory_keeps_to_the_condition_the_cohort_and_the_cutoff(engine):
    add_patient(engine, "C1", condition="crps", sessions=[{"day": 0, "pre_pain": 6}])
    add_patient(engine, "C2", condition="crps", site="north", sessions=[{"day": 0, "pre_pain": 2}])
    add_patient(engine, "F1", condition="fibromyalgia", sessions=[{"day": 0, "pre_pain": 9}])
    add_patient(
        engine, "C3", condition="crps", sessions=[{"day": 0, "pre_pain": 10}, {"day": 500, "pre_pain": 1}]
    )
    frame = mean_trajectory(engine, D, CohortFilter(sites=("main",)), "crps")
    assert point(frame, "Session 1")["n"] == 2
    assert point(frame, "Session 1")["mean"] == pytest.approx(8.0)  # C1 and C3, not C2 or F1
    assert "Session 2" not in frame["point"].tolist()  # C3's second session is after the cut-off
    assert mean_trajectory(engine, D, ALL, "migraine").empty


# --- outcome status -----------------------------------------------------------------------


def _clinic_of_every_status(engine) -> None:
    add_patient(engine, "R1", baseline_pain=10, followups=[{"day": 90, "pain": 7}])  # exactly 30 %
    add_patient(engine, "N1", baseline_pain=10, followups=[{"day": 90, "pain": 8}])
    add_patient(engine, "N2", baseline_pain=10)  # window closed, no follow-up
    add_patient(engine, "Z1", baseline_pain=0, followups=[{"day": 90, "pain": 0}])
    add_patient(engine, "Z2", baseline_pain=None, sessions=[{"day": 0, "pre_pain": None}])
    add_patient(engine, "Z3", sessions=[])
    add_patient(engine, "W1", baseline_pain=10, sessions=[{"day": 350}])  # window open on day 400


def test_status_of_every_kind_of_patient(engine):
    _clinic_of_every_status(engine)
    rows, total = cohort_list(engine, D, ALL)
    status = dict(zip(rows["patient_id"], rows["status"], strict=True))
    assert total == 7
    assert status == {
        "N1": NON_RESPONDER,
        "N2": NON_RESPONDER,
        "R1": RESPONDER,
        "W1": PENDING,
        "Z1": NOT_EVALUABLE,
        "Z2": NOT_EVALUABLE,
        "Z3": NOT_EVALUABLE,
    }
    assert (RESPONDER, NON_RESPONDER, PENDING, NOT_EVALUABLE) == (
        "responder",
        "non-responder",
        "pending",
        "not evaluable",
    )


def test_completers_call_a_missing_follow_up_no_follow_up(engine):
    _clinic_of_every_status(engine)
    completers = OutcomeDefinition(cutoff=CUTOFF, missing="completers")
    rows, _ = cohort_list(engine, completers, ALL)
    status = dict(zip(rows["patient_id"], rows["status"], strict=True))
    assert status["N2"] == NO_FOLLOWUP
    assert status["N1"] == NON_RESPONDER


def test_status_reasons_say_why(engine):
    _clinic_of_every_status(engine)
    reasons = {pid: patient_timeline(engine, pid, D).reason for pid in ("R1", "N2", "Z1", "Z2", "Z3", "W1")}
    assert "reduced by 30% (responder at ≥ 30% reduction)" in reasons["R1"] and "day 90" in reasons["R1"]
    assert "non-responder (intention to treat)" in reasons["N2"]
    assert "baseline pain is 0" in reasons["Z1"]
    assert "No baseline pain" in reasons["Z2"]
    assert "No session" in reasons["Z3"]
    assert "open until" in reasons["W1"]


def test_outcome_status_reads_plain_rows():
    base = {"evaluable": 1, "pending": 0, "eligible": 1, "with_followup": 1, "responder": 0}
    assert outcome_status({**base, "responder": 1}) == RESPONDER
    assert outcome_status(base) == NON_RESPONDER
    assert outcome_status({**base, "evaluable": 0}) == NOT_EVALUABLE
    assert outcome_status({**base, "pending": 1, "eligible": 0, "with_followup": 0}) == PENDING
    assert outcome_status({**base, "with_followup": 0}, "completers") == NO_FOLLOWUP
    row = {**base, "with_followup": 0, "index_date": day(0), "baseline": 8.0}
    assert "closed on 06 May 2025" in status_reason(row, D)  # day 0 + 120
    worse = {**base, "index_date": day(0), "baseline": 4.0, "followup_pain": 5.0, "followup_day": 91}
    assert "increased by 25%" in status_reason({**worse, "reduction": -0.25}, D)
    assert "unchanged" in status_reason({**worse, "followup_pain": 4.0, "reduction": 0.0}, D)


# --- cohort list --------------------------------------------------------------------------


def test_cohort_list_respects_the_limit_and_reports_the_total(engine):
    for i in range(7):
        add_patient(engine, f"P{i}", followups=[{"day": 90, "pain": 2}])
    rows, total = cohort_list(engine, D, ALL, limit=3)
    assert total == 7
    assert rows["patient_id"].tolist() == ["P0", "P1", "P2"]
    assert rows.columns.tolist()[:4] == ["patient_id", "condition", "site", "route"]
    first = rows.iloc[0]
    assert (first["baseline"], first["followup_day"], first["followup_pain"]) == (8, 90, 2)
    assert first["reduction"] == pytest.approx(0.75)
    assert first["index_date"] == day(0)


def test_search_keeps_ids_that_start_with_the_text(engine):
    for pid in ("A1", "A10", "a2", "BA1", "A_1", "AX1"):
        add_patient(engine, pid)
    rows, total = cohort_list(engine, D, ALL, search="A1")
    assert rows["patient_id"].tolist() == ["A1", "A10"] and total == 2
    _, total = cohort_list(engine, D, ALL, search="a")  # case-insensitive
    assert total == 5
    rows, total = cohort_list(engine, D, ALL, search="A_")  # "_" is not a wildcard
    assert rows["patient_id"].tolist() == ["A_1"] and total == 1
    rows, total = cohort_list(engine, D, ALL, search="A", limit=1)
    assert len(rows) == 1 and total == 5


def test_cohort_list_follows_the_sidebar_filter(engine):
    add_patient(engine, "M1", site="main")
    add_patient(engine, "N1", site="north")
    rows, total = cohort_list(engine, D, CohortFilter(sites=("north",)))
    assert rows["patient_id"].tolist() == ["N1"] and total == 1
    rows, total = cohort_list(engine, D, CohortFilter(sites=("east",)))
    assert rows.empty and total == 0
    assert "status" in rows.columns


# --- one patient's timeline ---------------------------------------------------------------


def _timeline_patient(engine) -> None:
    add_patient(
        engine,
        "T1",
        baseline_pain=8,
        sessions=[
            {"day": 3, "pre_pain": 7, "post_pain": 4, "route": "intramuscular", "dose_mg": 60.0},
            {
                "day": 0,
                "pre_pain": 8,
                "post_pain": 5,
                "adverse_events": "dissociation",
                "ae_duration_min": 40,
            },
            {"day": 10, "pre_pain": None, "post_pain": 3},
            {"day": 450, "pre_pain": 2, "post_pain": 1},  # after the cut-off
        ],
        followups=[{"day": 30, "pain": 5}, {"day": 85, "pain": 4, "pgic": 2}, {"day": 100, "pain": 6}],
    )


def test_timeline_puts_sessions_and_follow_ups_on_days_since_the_first_session(engine):
    _timeline_patient(engine)
    timeline = patient_timeline(engine, "T1", D)
    s, f = timeline.sessions, timeline.followups
    assert s["day"].tolist() == [0, 3, 10]
    assert s["session_number"].tolist() == [1, 2, 3]
    assert s["pre_pain"].tolist()[:2] == [8, 7] and s["post_pain"].tolist() == [5, 4, 3]
    assert s["route"].tolist() == ["intranasal", "intramuscular", "intranasal"]
    assert s["adverse_events"].tolist()[0] == "dissociation"
    assert f["day"].tolist() == [30, 85, 100]
    assert f["in_window"].tolist() == [False, True, True]
    assert f["counted"].tolist() == [False, True, False]  # nearest day 90
    assert timeline.index_date == day(0)
    assert timeline.baseline == 8 and timeline.target == pytest.approx(5.6)
    assert timeline.status == RESPONDER  # 8 → 4 is 50 %
    events = timeline.events()
    assert events["event"].tolist() == [
        "Session 1",
        "Session 2",
        "Session 3",
        "Follow-up",
        "Follow-up (counted)",
        "Follow-up",
    ]
    assert events["day"].tolist() == [0, 3, 10, 30, 85, 100]


def test_timeline_of_an_unknown_patient_is_a_lookup_error(engine):
    add_patient(engine, "T1")
    with pytest.raises(LookupError, match="NOPE"):
        patient_timeline(engine, "NOPE", D)


def test_timeline_of_a_patient_without_sessions(engine):
    add_patient(engine, "Z3", sessions=[], followups=[{"day": 5, "pain": 6}])
    timeline = patient_timeline(engine, "Z3", D)
    assert timeline.sessions.empty
    assert timeline.followups["pain"].tolist() == [6]
    assert timeline.status == NOT_EVALUABLE
    figure = figures.patient_timeline_chart(timeline)  # draws without a day 0
    assert all(len(trace.x or ()) == 0 for trace in figure.data)


# --- figures ------------------------------------------------------------------------------


def test_timeline_chart_shows_every_measurement_the_window_and_both_lines(sqlite_engine):
    _timeline_patient(sqlite_engine)
    timeline = patient_timeline(sqlite_engine, "T1", D)
    figure = figures.patient_timeline_chart(timeline)
    traces = {trace.name: trace for trace in figure.data}
    assert list(traces["Pain before session"].x) == [0, 3] and list(traces["Pain before session"].y) == [8, 7]
    assert list(traces["Pain after session"].x) == [0, 3, 10]
    assert list(traces["Follow-up pain"].y) == [5, 4, 6]
    assert list(traces["Follow-up pain"].marker.size) == [11, 16, 11]  # the counted one is larger
    shapes = figure.layout.shapes
    window = next(shape for shape in shapes if shape.type == "rect")
    assert (window.x0, window.x1, window.layer) == (60, 120, "below")
    lines = {round(shape.y0, 6): shape.line.dash for shape in shapes if shape.type == "line"}
    assert lines == {8.0: None, 5.6: "dash"}
    assert figure.layout.xaxis.title.text.startswith("Days since first session")
    assert "NRS" in figure.layout.yaxis.title.text
    assert "Intramuscular 60 mg" in traces["Pain before session"].text[1]
    assert "dissociation (40 min)" in traces["Pain before session"].text[0]
    alt = figures.patient_timeline_alt_text(timeline)
    assert "3 sessions" in alt and "status: responder" in alt


def test_mean_trajectory_chart_draws_the_band_between_its_bounds(sqlite_engine):
    for i, pain in enumerate((6, 8, 10)):
        add_patient(
            sqlite_engine,
            f"P{i}",
            sessions=[{"day": 0, "pre_pain": pain}],
            followups=[{"day": 90, "pain": 4}],
        )
    add_patient(sqlite_engine, "P9", sessions=[{"day": 0, "pre_pain": 6}, {"day": 3, "pre_pain": 5}])
    frame = mean_trajectory(sqlite_engine, D, ALL, "crps")
    figure = figures.mean_trajectory_chart(frame, title="CRPS")
    lower, upper, mean = figure.data
    assert upper.fill == "tonexty"
    assert list(lower.x) == ["Session 1", "3 months"]  # session 2 has one patient: no band
    assert list(mean.x) == ["Session 1", "Session 2", "3 months"]
    assert list(mean.y) == pytest.approx([7.5, 5, 4])
    assert list(mean.marker.symbol) == ["circle", "circle", "diamond"]
    assert list(figure.layout.xaxis.categoryarray) == ["Session 1", "Session 2", "3 months"]
    assert list(figure.layout.xaxis.ticktext) == ["1", "2", "3 mo"]
    assert "Session 1: 7.5" in figures.mean_trajectory_alt_text(frame, "CRPS")
