"""The rules of the outcomes beyond pain (docs/methods.md, "Outcomes beyond pain"), on SQLite and
PostgreSQL: one test a rule, each on a tiny clinic written row by row (tests/clinic.py).

Every patient starts on day 0 with a baseline pain of 8; follow-ups are given by day. The
default definition: time point 90 days, window ±30, ITT, Wilson intervals.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.domain.measures import MeasureSettings
from analysis.queries.secondary import secondary_table
from tests.clinic import add_patient, day

COMPLETERS = OutcomeDefinition(missing="completers")


def _fu(at: int, pain: float = 8.0, **measures: object) -> dict[str, object]:
    return {"day": at, "pain": pain, **measures}


def _overall(engine, definition=OutcomeDefinition(), settings=MeasureSettings()):
    return secondary_table(engine, definition, settings=settings).overall


# --- the follow-up that counts -------------------------------------------------------------


def test_the_follow_up_that_counts_is_the_nearest_that_records_the_measure(engine):
    add_patient(
        engine,
        "P1",
        baseline_phq9=16,
        followups=[_fu(90), _fu(100, phq9=4), _fu(70, phq9=20)],
    )
    result = _overall(engine)
    assert result.rates["phq9_remission"].count == 1  # day 100 (PHQ-9 4), not day 90 (none)
    assert result.changes["phq9_change"].mean == -12


def test_tie_between_follow_ups_takes_the_earlier(engine):
    add_patient(engine, "P1", baseline_phq9=16, followups=[_fu(80, phq9=4), _fu(100, phq9=20)])
    result = _overall(engine)
    assert result.rates["phq9_remission"].count == 1
    assert result.changes["phq9_change"].mean == -12


def test_follow_ups_outside_the_window_do_not_count(engine):
    add_patient(engine, "P1", baseline_phq9=16, followups=[_fu(59, phq9=2), _fu(121, phq9=2), _fu(90)])
    result = _overall(engine)
    assert result.rates["phq9_remission"].n == 1  # qualifies (ITT) …
    assert result.rates["phq9_remission"].count == 0  # … but no PHQ-9 in the window
    assert result.changes["phq9_change"].n == 0


def test_a_follow_up_after_the_cutoff_does_not_count(engine):
    add_patient(engine, "P1", baseline_phq9=16, followups=[_fu(85), _fu(95, phq9=2)])
    add_patient(engine, "P2", sessions=[{"day": 200}])  # moves the latest date
    cut = replace(OutcomeDefinition(), cutoff=day(90))
    assert _overall(engine, cut).rates["phq9_remission"].count == 0
    assert _overall(engine).rates["phq9_remission"].count == 1


# --- each measure ---------------------------------------------------------------------------


def test_substantial_relief_is_a_reduction_of_at_least_half(engine):
    add_patient(engine, "P1", baseline_pain=8, followups=[_fu(90, pain=4)])  # exactly 50 %
    add_patient(engine, "P2", baseline_pain=8, followups=[_fu(90, pain=4.5)])
    add_patient(engine, "P3", baseline_pain=6.3, followups=[_fu(90, pain=3.15)])  # 50 % in floating point
    rate = _overall(engine).rates["substantial"]
    assert (rate.n, rate.count) == (3, 2)


def test_pgic_of_2_is_improved_and_3_is_not(engine):
    add_patient(engine, "P1", followups=[_fu(90, pgic=2)])
    add_patient(engine, "P2", followups=[_fu(90, pgic=3)])
    add_patient(engine, "P3", followups=[_fu(90, pgic=1)])
    rate = _overall(engine).rates["pgic_improved"]
    assert (rate.n, rate.count) == (3, 2)


def test_mme_qualifies_only_above_zero_at_baseline(engine):
    add_patient(engine, "P1", baseline_mme=0.0, followups=[_fu(90, mme=0.0)])
    add_patient(engine, "P2", baseline_mme=None, followups=[_fu(90, mme=0.0)])
    add_patient(engine, "P3", baseline_mme=40.0, followups=[_fu(90, mme=40.0)])
    rate = _overall(engine).rates["mme_stopped"]
    assert (rate.n, rate.count) == (1, 0)


def test_mme_halved_exactly_counts_as_reduced(engine):
    add_patient(engine, "P1", baseline_mme=60.0, followups=[_fu(90, mme=30.0)])
    add_patient(engine, "P2", baseline_mme=60.0, followups=[_fu(90, mme=30.001)])
    add_patient(engine, "P3", baseline_mme=0.3, followups=[_fu(90, mme=0.15)])  # 0.5 × 0.3 in floating point
    rate = _overall(engine).rates["mme_reduced_50"]
    assert (rate.n, rate.count) == (3, 2)


def test_mme_stopped_means_zero_within_tolerance(engine):
    add_patient(engine, "P1", baseline_mme=60.0, followups=[_fu(90, mme=1e-10)])
    add_patient(engine, "P2", baseline_mme=60.0, followups=[_fu(90, mme=0.0)])
    add_patient(engine, "P3", baseline_mme=60.0, followups=[_fu(90, mme=0.001)])
    result = _overall(engine)
    assert result.rates["mme_stopped"].count == 2
    assert result.rates["mme_reduced_50"].count == 3  # stopping is also a 50 % reduction


def test_phq9_qualifies_at_baseline_10(engine):
    add_patient(engine, "P1", baseline_phq9=10, followups=[_fu(90, phq9=5)])
    add_patient(engine, "P2", baseline_phq9=9, followups=[_fu(90, phq9=1)])
    rate = _overall(engine).rates["phq9_response"]
    assert (rate.n, rate.count) == (1, 1)  # 5 ≤ 0.5 × 10: a response; the 9 does not qualify


def test_phq9_remission_is_below_5(engine):
    add_patient(engine, "P1", baseline_phq9=20, followups=[_fu(90, phq9=5)])
    add_patient(engine, "P2", baseline_phq9=20, followups=[_fu(90, phq9=4)])
    rate = _overall(engine).rates["phq9_remission"]
    assert (rate.n, rate.count) == (2, 1)


def test_bpi_improves_with_a_one_point_drop_within_tolerance(engine):
    add_patient(engine, "P1", baseline_bpi_interference=6.3, followups=[_fu(90, bpi_interference=5.3)])
    add_patient(engine, "P2", baseline_bpi_interference=6.0, followups=[_fu(90, bpi_interference=5.1)])
    add_patient(engine, "P3", baseline_bpi_interference=0.0, followups=[_fu(90, bpi_interference=0.0)])
    rate = _overall(engine).rates["bpi_improved"]
    assert (rate.n, rate.count) == (3, 1)  # a recorded baseline of 0 qualifies


def test_headache_response_needs_headache_days_at_baseline(engine):
    for name, before, after in (("P1", 12, 6), ("P2", 12, 7), ("P3", 0, 0)):
        add_patient(
            engine,
            name,
            condition="migraine",
            baseline_headache_days=before,
            followups=[_fu(90, headache_days=after)],
        )
    rate = _overall(engine).rates["headache_response"]
    assert (rate.n, rate.count) == (2, 1)


# --- policies, changes, agreement -----------------------------------------------------------


def test_itt_counts_a_missing_measure_as_no_success_and_completers_leave_it_out(engine):
    add_patient(engine, "P1", baseline_phq9=20, followups=[_fu(90, phq9=4)])
    add_patient(engine, "P2", baseline_phq9=20, followups=[_fu(90)])  # no PHQ-9 in the window
    add_patient(engine, "P3", baseline_phq9=20, sessions=[{"day": -300}])  # window closed, no follow-up
    itt = _overall(engine).rates["phq9_remission"]
    completers = _overall(engine, COMPLETERS).rates["phq9_remission"]
    assert (itt.n, itt.count) == (3, 1)
    assert (completers.n, completers.count) == (1, 1)
    assert itt.rate == pytest.approx(1 / 3)


def test_pending_patients_are_in_no_measure(engine):
    add_patient(engine, "P1", baseline_phq9=20, followups=[_fu(90, phq9=4)])
    add_patient(engine, "P2", baseline_phq9=20, sessions=[{"day": 80}])  # window still open
    result = _overall(engine)
    assert result.eligible == 1
    assert result.rates["phq9_remission"].n == 1


def test_mean_change_includes_a_zero_baseline_whatever_the_policy(engine):
    add_patient(engine, "P1", baseline_mme=0.0, followups=[_fu(90, mme=10.0)])
    add_patient(engine, "P2", baseline_mme=30.0, followups=[_fu(90, mme=0.0)])
    add_patient(engine, "P3", baseline_mme=30.0, followups=[_fu(90)])  # no MME: not in the change
    for definition in (OutcomeDefinition(), COMPLETERS):
        change = _overall(engine, definition).changes["mme_change"]
        assert (change.n, change.mean, change.median) == (2, -10.0, -10.0)


def test_bpi_change_interval_matches_r_t_test_on_the_sleep_data(engine):
    """R ``t.test(extra ~ group, data = sleep, paired = TRUE)``: −1.58, 95 % CI −2.4598858 to −0.7001142."""
    differences = [-1.2, -2.4, -1.3, -1.3, 0.0, -1.0, -1.8, -0.8, -4.6, -1.4]
    for i, difference in enumerate(differences):
        add_patient(
            engine,
            f"P{i}",
            baseline_bpi_interference=6.0,
            followups=[_fu(90, bpi_interference=6.0 + difference)],
        )
    change = _overall(engine).changes["bpi_change"]
    assert change.n == 10
    assert change.mean == pytest.approx(-1.58, abs=1e-9)
    assert change.ci_low == pytest.approx(-2.4598858, abs=5e-8)
    assert change.ci_high == pytest.approx(-0.7001142, abs=5e-8)
    assert change.median == pytest.approx(-1.3, abs=1e-9)


def test_pgic_agreement_takes_each_from_its_own_follow_up(engine):
    # Pain at day 90 (a responder: 8 → 2); PGIC only at day 110 (much improved).
    add_patient(engine, "P1", followups=[_fu(90, pain=2.0), _fu(110, pain=8.0, pgic=2)])
    add_patient(engine, "P2", followups=[_fu(90, pain=8.0, pgic=2)])  # PGIC only
    add_patient(engine, "P3", followups=[_fu(90, pain=2.0, pgic=4)])  # NRS only
    add_patient(engine, "P4", followups=[_fu(90, pain=8.0, pgic=5)])  # neither
    add_patient(engine, "P5", followups=[_fu(90, pain=2.0)])  # no PGIC: not in the table
    agreement = _overall(engine).agreement
    assert agreement.to_dict() == {"n": 4, "both": 1, "pgic_only": 1, "nrs_only": 1, "neither": 1}


def test_groups_list_each_value_among_eligible_patients(engine):
    add_patient(engine, "P1", condition="crps", baseline_phq9=20, followups=[_fu(90, phq9=2)])
    add_patient(engine, "P2", condition="migraine", followups=[_fu(90)])
    add_patient(engine, "P3", condition="lyme", sessions=[{"day": 80}])  # pending: no group
    table = secondary_table(engine, by=("condition",))
    assert [g.keys["condition"] for g in table.groups] == ["crps", "migraine"]
    migraine = table.groups[1]
    assert migraine.rates["phq9_remission"].n == 0
    assert migraine.rates["phq9_remission"].rate is None
    assert migraine.changes["phq9_change"].mean is None
    assert table.overall.rates["phq9_remission"].n == 1
    assert all(g.rates["substantial"].small_n for g in table.groups)


def test_the_cohort_filter_applies(engine):
    add_patient(engine, "P1", condition="crps", followups=[_fu(90, pgic=1)])
    add_patient(engine, "P2", condition="migraine", followups=[_fu(90, pgic=6)])
    table = secondary_table(engine, cohort=CohortFilter(conditions=("migraine",)))
    assert (table.overall.rates["pgic_improved"].n, table.overall.rates["pgic_improved"].count) == (1, 0)


def test_settings_change_the_rules(engine):
    add_patient(engine, "P1", baseline_phq9=8, followups=[_fu(90, pgic=3, phq9=2)])
    settings = MeasureSettings(pgic_improved=3, phq9_baseline=5)
    result = _overall(engine, settings=settings)
    assert result.rates["pgic_improved"].count == 1
    assert (result.rates["phq9_remission"].n, result.rates["phq9_remission"].count) == (1, 1)


def test_another_time_point_reads_the_stored_rows_and_agrees(engine):
    add_patient(engine, "P1", baseline_phq9=20, followups=[_fu(180, phq9=4), _fu(90, phq9=19)])
    at_180 = _overall(engine, OutcomeDefinition(timepoint_days=180))
    assert at_180.rates["phq9_remission"].count == 1
    assert _overall(engine).rates["phq9_remission"].count == 0


def test_opioid_levels_count_patients_at_or_above_50_and_90_before_and_after(engine):
    add_patient(engine, "P1", baseline_mme=120.0, followups=[_fu(90, mme=60.0)])
    add_patient(engine, "P2", baseline_mme=50.0, followups=[_fu(90, mme=20.0)])
    add_patient(engine, "P3", baseline_mme=20.0, followups=[_fu(90, mme=0.0)])
    levels = _overall(engine).opioid_levels
    assert (levels.n, levels.baseline_low, levels.baseline_high) == (3, 2, 1)
    assert (levels.followup_low, levels.followup_high) == (1, 0)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="PGIC"):
        MeasureSettings(pgic_improved=9)
    with pytest.raises(ValueError, match="phq9 response"):
        MeasureSettings(phq9_response=0)


def test_measure_facts_give_what_the_stored_rows_give(engine):
    """The default view reads ``measure_facts``; an earlier cut-off computes from the stored rows.

    A late patient (first session on day 400) is outside the earlier cut-off and in no rate
    (pending), so both views must agree on every measure of everyone else.
    """
    for i in range(14):
        add_patient(
            engine,
            f"P{i:02d}",
            condition="crps" if i % 2 else "migraine",
            baseline_mme=[0.0, 30.0, None][i % 3],
            baseline_phq9=8 + i,
            baseline_bpi_interference=None if i == 5 else 4.0 + i / 4,
            baseline_headache_days=i,
            followups=[
                _fu(70 + i, pain=8 - i / 2, pgic=1 + i % 7, mme=(i % 4) * 10.0),
                _fu(100 - i, pain=7.0, phq9=i, bpi_interference=3.0, headache_days=i // 2),
            ],
        )
    add_patient(engine, "LATE", sessions=[{"day": 400}])
    from_facts = secondary_table(engine, by=("condition",))
    from_rows = secondary_table(engine, replace(OutcomeDefinition(), cutoff=day(399)), by=("condition",))
    assert from_facts.definition.cutoff == day(400)
    assert [g.to_dict() for g in from_facts.groups] == [g.to_dict() for g in from_rows.groups]
    assert from_facts.overall.to_dict() == from_rows.overall.to_dict()
    assert from_facts.overall.rates["pgic_improved"].n == 14


def test_every_source_of_the_measures_gives_the_straightforward_answer(engine, monkeypatch):
    """docs/performance.md, "Earlier cut-offs": the kept measure facts (latest cut-off), the kept
    facts of settled patients plus a search for the others (earlier cut-offs) and the pass over
    every follow-up (another time point) all equal the straightforward query over every row."""
    from datetime import date

    from analysis.db import cohorts
    from analysis.demo import generate
    from analysis.ingest import import_frames

    today = date(2026, 10, 31)
    report = import_frames(engine, generate(600, seed=12, today=today), today=today, source="demo")
    assert report.ok, report.problems
    settings = MeasureSettings(mme_levels=(30.0, 60.0))
    compared = 0
    for definition in (OutcomeDefinition(), OutcomeDefinition(timepoint_days=180, window_days=45)):
        for cutoff in (None, date(2026, 8, 15), date(2025, 12, 31), date(2025, 3, 1)):
            d = replace(definition, cutoff=cutoff)
            fast = secondary_table(engine, d, by=("condition",), settings=settings)
            with monkeypatch.context() as patch:
                patch.setattr(cohorts, "READ_FACTS", False)
                patch.setattr(cohorts, "facts_apply", lambda cutoff, latest: False)
                slow = secondary_table(engine, d, by=("condition",), settings=settings)
            assert fast.overall.to_dict() == slow.overall.to_dict(), (definition, cutoff)
            assert [g.to_dict() for g in fast.groups] == [g.to_dict() for g in slow.groups]
            compared += fast.overall.eligible
    assert compared > 1000
