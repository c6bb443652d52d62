"""docs/methods.md, rule by rule, on SQLite and PostgreSQL (the ``engine`` fixture runs both)."""

from __future__ import annotations

from datetime import date

import pytest

from analysis.db.cohorts import patient_outcomes
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.queries.response import summarize
from tests.clinic import add_patient, day

CUTOFF = day(400)  # every 90 ± 30 day window has closed


def outcome(engine, patient_id: str, definition: OutcomeDefinition | None = None) -> dict:
    definition = definition or OutcomeDefinition(cutoff=CUTOFF)
    frame = patient_outcomes(engine, definition)
    return frame.set_index("patient_id").loc[patient_id].to_dict()


def test_index_date_is_the_first_session(engine):
    add_patient(engine, "P1", sessions=[{"day": 7}, {"day": 0}, {"day": 14}])
    row = outcome(engine, "P1")
    assert row["index_date"] == day(0)
    assert row["n_sessions"] == 3


def test_follow_up_nearest_the_time_point_is_used(engine):
    add_patient(engine, "P1", baseline_pain=8, followups=[{"day": 70, "pain": 2}, {"day": 95, "pain": 7}])
    row = outcome(engine, "P1")
    assert row["followup_day"] == 95
    assert row["followup_pain"] == 7
    assert row["responder"] == 0


def test_tie_between_follow_ups_takes_the_earlier(engine):
    add_patient(engine, "P1", baseline_pain=10, followups=[{"day": 100, "pain": 9}, {"day": 80, "pain": 5}])
    row = outcome(engine, "P1")
    assert row["followup_day"] == 80
    assert row["responder"] == 1


@pytest.mark.parametrize(("follow_up_day", "counts"), [(59, False), (60, True), (120, True), (121, False)])
def test_window_bounds_are_inclusive(engine, follow_up_day, counts):
    add_patient(engine, "P1", baseline_pain=10, followups=[{"day": follow_up_day, "pain": 1}])
    row = outcome(engine, "P1")
    assert row["with_followup"] == int(counts)
    assert row["responder"] == int(counts)
    assert row["eligible"] == 1  # the window has closed either way


def test_window_follows_the_definition(engine):
    add_patient(engine, "P1", baseline_pain=10, followups=[{"day": 170, "pain": 2}])
    row = outcome(engine, "P1", OutcomeDefinition(timepoint_days=180, window_days=14, cutoff=CUTOFF))
    assert row["followup_day"] == 170
    assert row["responder"] == 1
    assert outcome(engine, "P1")["with_followup"] == 0


def test_baseline_is_the_patient_column_when_given(engine):
    add_patient(engine, "P1", baseline_pain=6, sessions=[{"day": 0, "pre_pain": 9}])
    assert outcome(engine, "P1")["baseline"] == 6


def test_baseline_falls_back_to_the_first_sessions_pre_pain(engine):
    add_patient(
        engine,
        "P1",
        baseline_pain=None,
        sessions=[{"day": 3, "pre_pain": 5}, {"day": 0, "pre_pain": 9}],
        followups=[{"day": 90, "pain": 6}],
    )
    row = outcome(engine, "P1")
    assert row["baseline"] == 9
    assert row["responder"] == 1  # (9 - 6) / 9 = 33 %


def test_explicit_baseline_zero_is_used_and_not_evaluable(engine):
    add_patient(
        engine,
        "P1",
        baseline_pain=0,
        sessions=[{"day": 0, "pre_pain": 8}],
        followups=[{"day": 90, "pain": 0}],
    )
    row = outcome(engine, "P1")
    assert row["baseline"] == 0
    assert (row["evaluable"], row["eligible"], row["responder"]) == (0, 0, 0)


def test_missing_baseline_is_not_evaluable(engine):
    add_patient(engine, "P1", baseline_pain=None, sessions=[{"day": 0, "pre_pain": None}])
    assert outcome(engine, "P1")["evaluable"] == 0


def test_patient_without_a_session_is_counted_but_not_evaluable(engine):
    add_patient(engine, "P1", sessions=[])
    add_patient(engine, "P2", followups=[{"day": 90, "pain": 2}])
    table = summarize(engine, OutcomeDefinition(cutoff=CUTOFF))
    assert table.overall.patients == 2
    assert table.overall.evaluable == 1
    assert table.overall.n == 1
    assert outcome(engine, "P1")["route"] == "none"


def test_pending_when_the_window_is_open_and_no_follow_up_yet(engine):
    add_patient(engine, "P1")
    definition = OutcomeDefinition(cutoff=day(119))  # window closes on day 120
    row = outcome(engine, "P1", definition)
    assert (row["pending"], row["eligible"]) == (1, 0)
    table = summarize(engine, definition)
    assert (table.overall.pending, table.overall.n, table.overall.rate) == (1, 0, None)
    assert table.overall.verdict == "no_data"


def test_closed_window_without_follow_up_is_eligible(engine):
    add_patient(engine, "P1")
    row = outcome(engine, "P1", OutcomeDefinition(cutoff=day(120)))  # closes exactly on the cut-off
    assert (row["pending"], row["eligible"], row["with_followup"], row["responder"]) == (0, 1, 0, 0)


def test_follow_up_in_an_open_window_makes_the_patient_eligible(engine):
    add_patient(engine, "P1", baseline_pain=10, followups=[{"day": 70, "pain": 3}])
    row = outcome(engine, "P1", OutcomeDefinition(cutoff=day(75)))
    assert (row["pending"], row["eligible"], row["responder"]) == (0, 1, 1)


def test_route_is_the_plurality_of_sessions(engine):
    add_patient(
        engine,
        "P1",
        sessions=[
            {"day": 0, "route": "intramuscular"},
            {"day": 7, "route": "intranasal"},
            {"day": 14, "route": "intranasal"},
        ],
    )
    assert outcome(engine, "P1")["route"] == "intranasal"


def test_route_tie_for_the_most_is_mixed(engine):
    add_patient(
        engine,
        "P1",
        sessions=[
            {"day": 0, "route": "intramuscular"},
            {"day": 7, "route": "intranasal"},
            {"day": 14, "route": "intranasal"},
            {"day": 21, "route": "intramuscular"},
            {"day": 28, "route": "oral"},
        ],
    )
    assert outcome(engine, "P1")["route"] == "mixed"


def test_itt_counts_a_missing_follow_up_as_non_responder_and_completers_leave_it_out(engine):
    add_patient(engine, "R1", baseline_pain=10, followups=[{"day": 90, "pain": 2}])
    add_patient(engine, "N1", baseline_pain=10, followups=[{"day": 90, "pain": 9}])
    add_patient(engine, "L1", baseline_pain=10)  # lost to follow-up, window closed
    itt = summarize(engine, OutcomeDefinition(cutoff=CUTOFF, missing="itt")).overall
    completers = summarize(engine, OutcomeDefinition(cutoff=CUTOFF, missing="completers")).overall
    assert (itt.n, itt.responders, itt.rate) == (3, 1, pytest.approx(1 / 3))
    assert (completers.n, completers.responders, completers.rate) == (2, 1, 0.5)
    assert itt.eligible == completers.eligible == 3
    assert itt.with_followup == completers.with_followup == 2


def test_reduction_of_exactly_30_percent_is_a_responder(engine):
    # (7 - 4.9) / 7 is 0.29999999999999993 in floating point: the 1e-9 tolerance keeps it.
    add_patient(engine, "EXACT", baseline_pain=7, followups=[{"day": 90, "pain": 4.9}])
    add_patient(engine, "BELOW", baseline_pain=10, followups=[{"day": 90, "pain": 7.1}])
    assert outcome(engine, "EXACT")["responder"] == 1
    assert outcome(engine, "BELOW")["responder"] == 0


def test_substantial_responder_needs_50_percent(engine):
    add_patient(engine, "HALF", baseline_pain=7, followups=[{"day": 90, "pain": 3.5}])
    add_patient(engine, "LESS", baseline_pain=8, followups=[{"day": 90, "pain": 4.5}])
    assert outcome(engine, "HALF")["substantial"] == 1
    assert outcome(engine, "LESS")["substantial"] == 0
    assert outcome(engine, "LESS")["responder"] == 1


def test_threshold_is_a_setting(engine):
    add_patient(engine, "P1", baseline_pain=10, followups=[{"day": 90, "pain": 6}])
    assert outcome(engine, "P1", OutcomeDefinition(cutoff=CUTOFF, threshold=0.5))["responder"] == 0
    assert outcome(engine, "P1", OutcomeDefinition(cutoff=CUTOFF, threshold=0.4))["responder"] == 1


def test_default_cutoff_is_the_latest_date_whatever_the_filters(engine):
    add_patient(engine, "A", condition="crps", sessions=[{"day": 0}])
    add_patient(engine, "B", condition="migraine", sessions=[{"day": 0}], followups=[{"day": 200, "pain": 1}])
    table = summarize(engine, OutcomeDefinition(), CohortFilter(conditions=("crps",)))
    assert table.definition.cutoff == day(200)
    assert table.overall.patients == 1
    assert table.overall.eligible == 1  # A's window closed by B's follow-up date


def test_user_cutoff_analyses_the_data_as_of_that_day(engine):
    add_patient(engine, "EARLY", baseline_pain=10, followups=[{"day": 95, "pain": 2}])
    add_patient(engine, "LATE", sessions=[{"day": 300}])
    as_of = summarize(engine, OutcomeDefinition(cutoff=day(90))).overall
    assert as_of.patients == 1  # LATE was not yet a patient
    assert (as_of.pending, as_of.with_followup) == (1, 0)  # the day-95 follow-up is in the future


def test_empty_group_has_null_rate_and_no_data_verdict(engine):
    add_patient(engine, "P1", baseline_pain=0)
    group = summarize(engine, OutcomeDefinition(cutoff=CUTOFF)).overall
    assert group.n == 0
    assert (group.rate, group.ci_low, group.ci_high, group.p_gt_lower, group.p_gt_upper) == (None,) * 5
    assert group.verdict == "no_data"
    assert group.small_n is True


def test_small_groups_are_flagged_and_large_ones_not(engine):
    for i in range(11):
        add_patient(engine, f"C{i}", condition="crps", followups=[{"day": 90, "pain": 1}])
    for i in range(10):
        add_patient(engine, f"M{i}", condition="migraine", followups=[{"day": 90, "pain": 1}])
    groups = {
        g.keys["condition"]: g
        for g in summarize(engine, OutcomeDefinition(cutoff=CUTOFF), by=["condition"]).groups
    }
    assert groups["crps"].small_n is False
    assert groups["migraine"].small_n is True


def test_verdict_above_the_band_when_the_whole_interval_is_above(engine):
    for i in range(40):
        add_patient(engine, f"P{i}", baseline_pain=10, followups=[{"day": 90, "pain": 2 if i < 36 else 9}])
    group = summarize(engine, OutcomeDefinition(cutoff=CUTOFF)).overall
    assert group.rate == 0.9
    assert group.ci_low > 0.40
    assert group.verdict == "above"
    assert group.p_gt_upper < 0.001


def test_holm_adjustment_runs_across_the_groups_of_one_table(engine):
    for i in range(20):
        add_patient(
            engine,
            f"C{i}",
            condition="crps",
            baseline_pain=10,
            followups=[{"day": 90, "pain": 2 if i < 12 else 9}],
        )
        add_patient(
            engine,
            f"F{i}",
            condition="fibromyalgia",
            baseline_pain=10,
            followups=[{"day": 90, "pain": 2 if i < 8 else 9}],
        )
    table = summarize(engine, OutcomeDefinition(cutoff=CUTOFF), by=["condition"])
    raw = sorted(g.p_gt_lower for g in table.groups)
    adjusted = {g.p_gt_lower: g.p_gt_lower_holm for g in table.groups}
    # Holm with two tests: smallest × 2, then max(previous, largest × 1).
    assert adjusted[raw[0]] == pytest.approx(min(1.0, 2 * raw[0]))
    assert adjusted[raw[1]] == pytest.approx(max(min(1.0, 2 * raw[0]), raw[1]))
    assert table.overall.p_gt_lower_holm == table.overall.p_gt_lower


def test_groups_by_condition_and_route(engine):
    add_patient(engine, "A", condition="crps", sessions=[{"day": 0, "route": "intramuscular"}])
    add_patient(engine, "B", condition="crps", sessions=[{"day": 0, "route": "intranasal"}])
    add_patient(engine, "C", condition="migraine", sessions=[{"day": 0, "route": "intranasal"}])
    table = summarize(engine, OutcomeDefinition(cutoff=CUTOFF), by=["condition", "route"])
    keys = [(g.keys["condition"], g.keys["route"]) for g in table.groups]
    assert keys == [("crps", "intramuscular"), ("crps", "intranasal"), ("migraine", "intranasal")]
    assert table.to_dict()["groups"][0]["condition"] == "crps"
    assert "site" not in table.to_dict()["groups"][0]


def test_cohort_filters_apply_in_the_query(engine):
    add_patient(engine, "A", site="north", sex="F", age=40)
    add_patient(engine, "B", site="main", sex="M", age=70)
    definition = OutcomeDefinition(cutoff=CUTOFF)
    assert summarize(engine, definition, CohortFilter(sites=("north",))).overall.patients == 1
    assert summarize(engine, definition, CohortFilter(sexes=("M",))).overall.patients == 1
    assert summarize(engine, definition, CohortFilter(age_groups=("35-49",))).overall.patients == 1
    assert summarize(engine, definition, CohortFilter(routes=("oral",))).overall.patients == 0
    window = CohortFilter(first_treated_from=date(2025, 1, 1), first_treated_to=date(2025, 1, 5))
    assert summarize(engine, definition, window).overall.patients == 0


def test_funnel_last_steps_are_the_headline_numbers(engine):
    """Issue #14 item 17: "responded" is the headline's responders, "follow-up" its completeness."""
    from analysis.queries.response import funnel

    four = [{"day": d} for d in (0, 7, 14, 21)]
    add_patient(engine, "R", baseline_pain=10, sessions=four, followups=[{"day": 90, "pain": 2}])
    add_patient(engine, "L", baseline_pain=10, sessions=four)
    add_patient(engine, "ONE", baseline_pain=10, followups=[{"day": 90, "pain": 1}])
    two = [{"day": 0}, {"day": 3}]
    add_patient(engine, "TWO", baseline_pain=8, sessions=two, followups=[{"day": 85, "pain": 7}])
    definition = OutcomeDefinition(cutoff=CUTOFF)
    headline = summarize(engine, definition).overall
    steps = funnel(engine, definition)
    assert (steps.reached_window, steps.followed_up, steps.responded) == (
        headline.eligible,
        headline.with_followup,
        headline.responders,
    )
    names = ["registered", "treated", "evaluable", "eligible", "followed", "responded"]
    shares = dict(zip(names, steps.shares(), strict=True))
    assert shares["responded"] == ("of eligible", headline.rate)
    assert shares["followed"] == ("of eligible", headline.with_followup / headline.eligible)


def test_funnel_steps_are_nested_and_add_up_from_any_breakdown(engine):
    from analysis.queries.response import funnel, funnel_from_counts, group_counts

    four = [{"day": d} for d in (0, 7, 14, 21)]
    add_patient(engine, "R", baseline_pain=10, sessions=four, followups=[{"day": 90, "pain": 2}])
    add_patient(engine, "N", baseline_pain=10, sessions=four, followups=[{"day": 90, "pain": 9}])
    add_patient(engine, "L", baseline_pain=10, sessions=four)  # lost to follow-up
    add_patient(engine, "ONE", baseline_pain=10, followups=[{"day": 90, "pain": 1}])  # responder, 1 session
    add_patient(engine, "NEVER", sessions=[])
    definition = OutcomeDefinition(cutoff=CUTOFF)
    steps = funnel(engine, definition)
    # ONE (a single session) is eligible and a responder in the headline, so in the funnel too.
    assert [count for _, count in steps.steps()] == [5, 4, 4, 4, 3, 2]
    assert steps.completed_induction == 3
    assert steps.sessions == 13
    by_quarter = funnel_from_counts(group_counts(engine, definition, by=("quarter",), funnel=True))
    assert by_quarter == steps
