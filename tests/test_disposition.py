"""Why patients stop (docs/methods.md, "Why patients stop"): the disposition table, on both databases."""

from __future__ import annotations

from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.present.board_report import overview_html
from analysis.present.disposition import disposition_frame, outcomes_frame, suppressed_row
from analysis.queries.disposition import STEPS, disposition
from analysis.queries.response import funnel
from tests.clinic import add_patient, day

INDUCTION = [{"day": d} for d in (0, 2, 4, 6)]


def clinic(engine) -> None:
    """One patient stopping at each step, some with a recorded end of care."""
    add_patient(engine, "never", sessions=[])
    add_patient(engine, "short", sessions=[{"day": 0}], end_date=day(5), end_reason="adverse_event")
    add_patient(engine, "open", sessions=[{"day": 130}, {"day": 132}, {"day": 134}, {"day": 136}])
    add_patient(engine, "lost", sessions=INDUCTION, end_date=day(40), end_reason="lost_to_follow_up")
    add_patient(engine, "nr", sessions=INDUCTION, followups=[{"day": 90, "pain": 8}])
    add_patient(engine, "resp", sessions=INDUCTION, followups=[{"day": 90, "pain": 2}], end_date=day(100))
    add_patient(
        engine,
        "died",
        condition="cancer_pain",
        sessions=INDUCTION,
        end_date=day(50),
        end_reason="death",
    )
    add_patient(
        engine,
        "later",
        sessions=INDUCTION,
        followups=[{"day": 90, "pain": 8}],
        end_date=day(135),
        end_reason="completed",
    )


def test_each_patient_is_counted_once_at_the_last_step_of_the_funnel(engine):
    clinic(engine)
    result = disposition(engine)
    per_step = {label: sum(reasons.values()) for label, reasons in result.by_step()}
    f = funnel(engine)
    assert list(per_step.values()) == [
        f.registered - f.treated,
        f.treated - f.evaluable,
        f.evaluable - f.reached_window,
        f.reached_window - f.followed_up,
        f.followed_up - f.responded,
        f.responded,
    ]
    assert list(per_step) == [label for _, label in STEPS]
    assert list(per_step.values()) == [1, 0, 1, 3, 2, 1]  # 'short' had one session: evaluable, no follow-up


def test_the_reason_is_the_recorded_end_of_care(engine):
    clinic(engine)
    steps = dict(disposition(engine).by_step())
    assert steps["Reached the window, no follow-up in it"]["adverse_event"] == 1
    assert steps["Reached the window, no follow-up in it"]["death"] == 1
    assert steps["Reached the window, no follow-up in it"]["lost_to_follow_up"] == 1


def test_an_end_of_care_after_the_cutoff_is_still_in_care(engine):
    clinic(engine)
    steps = dict(disposition(engine).by_step())  # the cut-off is the last session, day 136
    assert (
        steps["Followed up, not a responder"]["in_care"],
        steps["Followed up, not a responder"]["completed"],
    ) == (1, 1)
    steps = dict(disposition(engine, OutcomeDefinition(cutoff=day(134))).by_step())
    assert steps["Followed up, not a responder"]["in_care"] == 2  # "later" ends on day 135


def test_an_end_date_without_a_reason_reads_not_recorded(engine):
    clinic(engine)
    steps = dict(disposition(engine).by_step())
    assert steps["Responder"]["not_recorded"] == 1
    assert "Ended, reason not recorded" in disposition_frame(disposition(engine)).columns


def test_death_is_shown_apart_from_non_response_in_the_cancer_pain_row(engine):
    clinic(engine)
    rows = {r["condition"]: r for r in disposition(engine).outcomes_by_condition()}
    assert rows["cancer_pain"] == {
        "condition": "cancer_pain",
        "eligible": 1,
        "responders": 0,
        "other_non_responders": 0,
        "death_or_hospice": 1,
    }
    assert (rows["crps"]["eligible"], rows["crps"]["responders"], rows["crps"]["death_or_hospice"]) == (
        5,
        1,
        0,
    )


def test_the_filter_applies(engine):
    clinic(engine)
    only = disposition(engine, OutcomeDefinition(), CohortFilter(conditions=("cancer_pain",)))
    assert sum(sum(r.values()) for _, r in only.by_step()) == 1


def test_a_single_small_cell_takes_a_second_one_with_it():
    # 40 patients: 25 in care, 12 completed, 3 died. Hiding the 3 alone would give it back
    # (40 − 25 − 12), so the next smallest (12) is hidden too.
    assert suppressed_row(40, [25, 12, 3, 0]) == ("40", ["25", "<11", "<11", "0"])
    assert suppressed_row(40, [25, 10, 5, 0]) == ("40", ["25", "<11", "<11", "0"])
    assert suppressed_row(8, [5, 3]) == ("<11", ["<11", "<11"])
    assert suppressed_row(30, [30, 0]) == ("30", ["30", "0"])


def test_the_board_report_has_the_disposition_with_small_cells_hidden(sqlite_engine):
    clinic(sqlite_engine)
    document = overview_html(sqlite_engine, OutcomeDefinition(), CohortFilter())
    section = document.split("<h2>Why patients stop</h2>")[1].split("<h2>")[0]
    assert "Death" in section and "Lost to follow-up" in section
    assert "<td>1</td>" not in section and "&lt;11" in section
    unsuppressed = overview_html(sqlite_engine, OutcomeDefinition(), CohortFilter(), suppress=False)
    assert "<td>1</td>" in unsuppressed.split("<h2>Why patients stop</h2>")[1]


def test_the_outcomes_table_reads_for_people(engine):
    clinic(engine)
    frame = outcomes_frame(disposition(engine))
    assert list(frame["Condition"]) == ["Cancer pain", "CRPS"]
    assert "None" not in frame.to_string() and "nan" not in frame.to_string()


def test_at_earlier_cutoffs_the_table_is_the_straightforward_one(engine, monkeypatch):
    """The rows of an earlier cut-off compute only the columns the table reads
    (docs/performance.md, "Only the columns asked for"): same table as the rules over every row."""
    from datetime import date

    from analysis.db import cohorts
    from analysis.demo import generate
    from analysis.ingest import import_frames

    today = date(2026, 10, 31)
    report = import_frames(engine, generate(400, seed=21, today=today), today=today, source="demo")
    assert report.ok, report.problems
    for cutoff in (date(2026, 8, 15), date(2025, 12, 31)):
        fast = disposition(engine, OutcomeDefinition(cutoff=cutoff))
        with monkeypatch.context() as patch:
            patch.setattr(cohorts, "READ_FACTS", False)
            slow = disposition(engine, OutcomeDefinition(cutoff=cutoff))
        assert fast == slow, cutoff
        assert sum(fast.counts.values()) > 200
