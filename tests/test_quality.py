"""Data quality (analysis.queries.quality) on tiny clinics, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.queries.quality import data_quality, describe, follow_up_windows
from analysis.queries.response import summarize
from tests.clinic import add_patient, day


def session(n: int, **values) -> dict:
    return {"day": n, "pre_pain": 8, "post_pain": 5, "weight_kg": 70, **values}


def mixed_clinic(engine) -> None:
    """One patient for each case the report tells apart."""
    # Evaluable, follow-ups at about 1, 3 and 6 months: nothing to report.
    add_patient(
        engine,
        "A-ok",
        sessions=[session(0), session(7)],
        followups=[{"day": 30, "pain": 6}, {"day": 90, "pain": 4}, {"day": 180, "pain": 4}],
    )
    # No session at all: not evaluable (no index date); its follow-up cannot be placed.
    add_patient(engine, "B-nosession", sessions=[], followups=[{"day": 10, "pain": 5}])
    # No baseline anywhere: neither patients.baseline_pain nor the first pre_pain.
    add_patient(engine, "C-nobaseline", baseline_pain=None, sessions=[session(0, pre_pain=None)])
    # An explicit baseline of 0.
    add_patient(engine, "D-zero", baseline_pain=0, sessions=[session(0)])
    # Baseline from the first session's pre_pain: evaluable.
    add_patient(engine, "E-prepain", baseline_pain=None, sessions=[session(0, pre_pain=7)])
    # Follow-ups before the first session, between windows and after the last window.
    add_patient(
        engine,
        "F-odd",
        sessions=[session(0, weight_kg=None), session(3, post_pain=None, weight_kg=None)],
        followups=[
            {"day": -5, "pain": 8},
            {"day": 90, "pain": 4},
            {"day": 135, "pain": 5},
            {"day": 250, "pain": 5},
        ],
    )


def test_not_evaluable_patients_get_one_reason_each(engine):
    mixed_clinic(engine)
    report = data_quality(engine)
    counts = {item.reason: item.patients for item in report.not_evaluable}
    assert counts == {"no_session": 1, "baseline_missing": 1, "baseline_zero": 1}
    assert report.reason("no_session").examples == ("B-nosession",)
    assert report.reason("baseline_missing").examples == ("C-nobaseline",)
    assert report.reason("baseline_zero").examples == ("D-zero",)
    assert report.patients == 6


def test_not_evaluable_count_is_the_outcome_engines(engine):
    mixed_clinic(engine)
    overall = summarize(engine).overall
    report = data_quality(engine)
    assert report.not_evaluable_total == overall.patients - overall.evaluable == 3


def test_follow_ups_outside_every_window_by_reason(engine):
    mixed_clinic(engine)
    report = data_quality(engine)
    assert report.windows == ((0, 120), (150, 210))
    outside = {item.reason: (item.followups, item.patients) for item in report.outside_windows}
    assert outside == {
        "before_first_session": (1, 1),
        "before_first_window": (0, 0),
        "between_windows": (1, 1),
        "after_last_window": (1, 1),
    }
    assert report.outside_windows_total == 3
    assert report.followups == 8  # every follow-up up to the cut-off, also the unplaceable one
    assert report.followups_without_session == 1
    (between,) = report.reason("between_windows").examples
    assert (between.patient_id, between.day, between.followup_date) == ("F-odd", 135, day(135))


def test_follow_up_before_the_first_session_is_reported_with_its_dates(engine):
    mixed_clinic(engine)
    before = data_quality(engine).before_first_session
    assert before.followups == 1
    (example,) = before.examples
    assert example.patient_id == "F-odd"
    assert (example.followup_date, example.index_date, example.day) == (day(-5), day(0), -5)


def test_window_ends_are_inclusive(engine):
    add_patient(
        engine,
        "P",
        sessions=[session(0)],
        followups=[{"day": d, "pain": 5} for d in (120, 121, 149, 150, 210, 211)],
    )
    outside = {item.reason: item.followups for item in data_quality(engine).outside_windows}
    assert outside["between_windows"] == 2  # days 121 and 149
    assert outside["after_last_window"] == 1  # day 211


def test_narrow_window_reports_follow_ups_before_the_first_window(engine):
    add_patient(engine, "P", sessions=[session(0)], followups=[{"day": 5, "pain": 5}, {"day": 25, "pain": 5}])
    report = data_quality(engine, OutcomeDefinition(window_days=10))
    assert report.windows == ((20, 40), (80, 100), (170, 190))
    assert report.reason("before_first_window").followups == 1
    assert report.outside_windows_total == 1
    assert "Before the first window" in set(report.outside_windows_frame()["Reason"])


def test_windows_include_the_definitions_time_point():
    assert follow_up_windows(OutcomeDefinition(timepoint_days=365, window_days=30)) == (
        (0, 120),
        (150, 210),
        (335, 395),
    )
    # Day 135 ± 30 bridges the gap between the 3- and 6-month windows.
    assert follow_up_windows(OutcomeDefinition(timepoint_days=135, window_days=30)) == ((0, 210),)


def test_sessions_with_missing_values_are_counted_per_column(engine):
    mixed_clinic(engine)
    report = data_quality(engine)
    assert report.sessions == 7
    assert report.sessions_missing_pre_pain == 1  # C-nobaseline
    assert report.sessions_missing_post_pain == 1  # F-odd's second session
    assert report.sessions_missing_weight == 2  # both of F-odd's sessions
    assert list(report.sessions_frame()["Sessions"]) == [1, 1, 2]


def test_cohort_filter_restricts_every_count(engine):
    mixed_clinic(engine)
    add_patient(engine, "M-nosession", condition="migraine", sessions=[])
    add_patient(
        engine, "M-odd", condition="migraine", sessions=[session(0)], followups=[{"day": 300, "pain": 5}]
    )
    report = data_quality(engine, cohort=CohortFilter(conditions=("migraine",)))
    assert report.patients == 2
    assert report.not_evaluable_total == 1
    assert report.reason("no_session").examples == ("M-nosession",)
    assert report.outside_windows_total == 1
    assert report.reason("after_last_window").examples[0].patient_id == "M-odd"
    assert report.sessions == 1


def test_data_after_the_cutoff_is_not_looked_at(engine):
    mixed_clinic(engine)
    report = data_quality(engine, replace(OutcomeDefinition(), cutoff=day(200)))
    # F-odd's follow-up on day 250 is after the cut-off; A-ok's on day 180 is not.
    assert report.reason("after_last_window").followups == 0
    assert report.followups == 7
    assert report.definition.cutoff == day(200)


def test_examples_are_limited_and_ordered(engine):
    for i in (5, 3, 11, 1, 8, 2, 9):
        add_patient(engine, f"N{i:02d}", sessions=[])
    item = data_quality(engine, examples=3).reason("no_session")
    assert item.patients == 7
    assert item.examples == ("N01", "N02", "N03")


def test_empty_database_has_nothing_to_report(engine):
    report = data_quality(engine)
    assert report.patients == report.not_evaluable_total == report.outside_windows_total == 0
    assert report.sessions == 0
    assert describe(report) == []


def test_describe_says_what_needs_attention(engine):
    mixed_clinic(engine)
    lines = describe(data_quality(engine))
    assert "1 patient(s) not evaluable: baseline pain 0." in lines
    assert any("dated before the first session" in line for line in lines)
    assert any(line.startswith("2 follow-up(s) outside every follow-up window") for line in lines)
