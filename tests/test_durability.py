"""Durability's rules (docs/methods.md, "Durability"), one test a rule, on SQLite and PostgreSQL.

Each clinic is written straight into the tables (tests/clinic.py), baseline pain 10 unless the
test says otherwise, so that a pain of 7 is exactly a 30 % reduction.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, update

from analysis.cli import main
from analysis.db import schema
from analysis.demo import generate
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.ingest import import_frames
from analysis.queries import durability as durability_queries
from analysis.queries.durability import durability
from tests.clinic import add_patient, day
from tests.test_equivalence import store_clinic

DEFAULT = OutcomeDefinition()


def patient(
    engine: Engine, pid: str, *, sessions=None, followups=None, baseline: float = 10, **extra
) -> None:
    add_patient(engine, pid, baseline_pain=baseline, sessions=sessions, followups=followups, **extra)


def one(engine: Engine, definition: OutcomeDefinition = DEFAULT, **kwargs) -> dict:
    """The overall curve as the CLI prints it."""
    return durability(engine, definition, **kwargs).to_dict()["overall"]


def times(curve: dict) -> list[tuple[int, int, int]]:
    """(day, events, censored) of each curve step."""
    return [(step["day"], step["events"], step["censored"]) for step in curve["curve"]]


# --- measurements -------------------------------------------------------------------------


def plain_pain_days(engine: Engine) -> pd.DataFrame:
    """The measurements read plainly from the stored rows (docs/methods.md, "Durability"): each
    follow-up's pain and each session's pre_pain after the index date, by day since it, the
    follow-up winning on a shared day."""
    with engine.connect() as connection:
        s = pd.DataFrame(connection.execute(select(schema.sessions)).mappings().all())
        f = pd.DataFrame(connection.execute(select(schema.followups)).mappings().all())
    index = s.groupby("patient_key").session_date.min()
    f = f.assign(day=(f.followup_date - f.patient_key.map(index)).map(lambda d: d.days), pain=f.pain)
    s = s.assign(day=(s.session_date - s.patient_key.map(index)).map(lambda d: d.days), pain=s.pre_pain)
    s = s[s.pre_pain.notna()]
    s = s[~s.set_index(["patient_key", "day"]).index.isin(f.set_index(["patient_key", "day"]).index)]
    both = pd.concat([f[["patient_key", "day", "pain"]], s[["patient_key", "day", "pain"]]])
    both = both[both.day >= 1].astype({"patient_key": int, "day": int, "pain": float})
    return both.sort_values(["patient_key", "day"]).reset_index(drop=True)


def kept_pain_days(engine: Engine) -> pd.DataFrame:
    t = schema.pain_days
    with engine.connect() as connection:
        rows = connection.execute(
            select(t.c.patient_key, t.c.day, t.c.pain).order_by(t.c.patient_key, t.c.day)
        )
        kept = pd.DataFrame(rows.all(), columns=["patient_key", "day", "pain"])
    return kept.astype({"patient_key": int, "day": int, "pain": float})


def stored_sessions(engine: Engine) -> pd.DataFrame:
    """Every stored session's pseudonym and date, in that order."""
    p, s = schema.patients, schema.sessions
    query = select(p.c.patient_id, s.c.session_date).join(s, s.c.patient_key == p.c.id)
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(query.order_by(p.c.patient_id, s.c.session_date)).all())


def test_the_kept_pain_days_are_the_measurements_through_every_kind_of_import(engine):
    """``pain_days`` (docs/performance.md, "Pain days") is what the rules search: after imports
    that move an index date earlier, put a follow-up on a session's day and add a session
    without pre_pain, it still holds exactly the plain reading of the stored rows."""
    report = import_frames(engine, generate(200, seed=5, today=TODAY), today=TODAY, source="demo")
    assert report.ok, report.problems
    pd.testing.assert_frame_equal(kept_pain_days(engine), plain_pain_days(engine))
    stored = stored_sessions(engine)
    second = stored.groupby("patient_id").nth(1).set_index("patient_id").session_date
    a, b, c = second.index[:3]
    first_of_a = stored[stored.patient_id == a].session_date.min()
    changed = {
        "sessions": pd.DataFrame(
            [
                # A: a session a month before the first moves the index date and so every day.
                {
                    "patient_id": a,
                    "session_date": first_of_a - timedelta(days=30),
                    "route": "oral",
                    "dose_mg": 40,
                    "pre_pain": 9,
                },
                # C: a session without pre_pain is no measurement.
                {"patient_id": c, "session_date": TODAY, "route": "oral", "dose_mg": 40},
            ]
        ),
        # B: a follow-up on the day of its second session wins over that session's pre_pain.
        "followups": pd.DataFrame([{"patient_id": b, "followup_date": second[b], "pain": 1}]),
    }
    report = import_frames(engine, changed, today=TODAY)
    assert report.ok, report.problems
    kept = kept_pain_days(engine)
    pd.testing.assert_frame_equal(kept, plain_pain_days(engine))
    assert len(kept) > 1000 and (kept.day >= 1).all()


def plain_booster_gaps(engine: Engine) -> pd.DataFrame:
    """Each maintenance session after a patient's first with its gap to the previous one, read
    plainly from the stored sessions (docs/methods.md, "Durability": maintenance sessions are
    those more than 28 days after the first)."""
    s = schema.sessions
    with engine.connect() as connection:
        stored = pd.DataFrame(connection.execute(select(s.c.patient_key, s.c.session_date)).all())
    stored["session_date"] = pd.to_datetime(stored.session_date)
    first = stored.groupby("patient_key").session_date.transform("min")
    maintenance = stored[stored.session_date > first + pd.Timedelta(days=28)]
    maintenance = maintenance.sort_values(["patient_key", "session_date"])
    gap = maintenance.groupby("patient_key").session_date.diff().dt.days
    gaps = maintenance.assign(gap=gap).dropna(subset=["gap"])
    # The median of each patient's gaps so far: pandas' expanding median (the middle value, or
    # the mean of the middle two).
    so_far = gaps.groupby("patient_key").gap.expanding().median().reset_index(level=0, drop=True)
    gaps = gaps.assign(median_gap=so_far)
    return gaps.astype({"patient_key": int, "gap": int}).reset_index(drop=True)


def test_the_kept_booster_gaps_are_the_sessions_gaps_through_every_kind_of_import(engine):
    """``booster_gaps`` (docs/performance.md, "Booster gaps kept") is what an earlier cut-off
    ranks: after an import that moves an index date earlier (so other sessions are maintenance)
    and one that adds a session, it still holds exactly the plain reading of the stored sessions,
    each gap with the median of the patient's gaps so far ("Booster medians kept")."""
    report = import_frames(engine, generate(200, seed=6, today=TODAY), today=TODAY, source="demo")
    assert report.ok, report.problems
    g = schema.booster_gaps

    def kept() -> pd.DataFrame:
        with engine.connect() as connection:
            rows = connection.execute(select(g).order_by(g.c.patient_key, g.c.session_date)).all()
        frame = pd.DataFrame(rows, columns=["patient_key", "session_date", "gap", "median_gap"])
        frame["session_date"] = pd.to_datetime(frame.session_date)
        return frame.astype({"patient_key": int, "gap": int})

    pd.testing.assert_frame_equal(kept(), plain_booster_gaps(engine))
    stored = stored_sessions(engine)
    many = stored.groupby("patient_id").session_date.agg(["min", "count"]).sort_values("count").iloc[-2:]
    (a, a_first), (b, _) = [(pid, row["min"]) for pid, row in many.iterrows()]
    changed = {
        "sessions": pd.DataFrame(
            [
                # A: a session 40 days before the first moves the index date: more maintenance.
                {
                    "patient_id": a,
                    "session_date": a_first - timedelta(days=40),
                    "route": "oral",
                    "dose_mg": 40,
                },
                # B: a booster today adds a gap.
                {"patient_id": b, "session_date": TODAY, "route": "oral", "dose_mg": 40},
            ]
        )
    }
    before = len(kept())
    report = import_frames(engine, changed, today=TODAY)
    assert report.ok, report.problems
    pd.testing.assert_frame_equal(kept(), plain_booster_gaps(engine))
    assert len(kept()) > before > 100


def test_same_day_follow_up_wins_over_the_sessions_pre_pain(engine):
    # Day 50: the session's pre_pain (9) would be a loss; the follow-up (3) that day wins.
    patient(
        engine,
        "P1",
        sessions=[{"day": 0}, {"day": 50, "pre_pain": 9}],
        followups=[{"day": 20, "pain": 3}, {"day": 50, "pain": 3}, {"day": 80, "pain": 9}],
    )
    assert times(one(engine)) == [(60, 1, 0)]  # onset day 20, loss day 80


def test_a_session_without_a_follow_up_that_day_is_a_measurement(engine):
    patient(
        engine, "P1", sessions=[{"day": 0}, {"day": 50, "pre_pain": 9}], followups=[{"day": 20, "pain": 3}]
    )
    assert times(one(engine)) == [(30, 1, 0)]


def test_onset_can_be_a_sessions_pre_pain(engine):
    patient(
        engine,
        "P1",
        sessions=[{"day": 0}, {"day": 14, "pre_pain": 5}, {"day": 30, "pre_pain": 6}],
        followups=[{"day": 60, "pain": 8}],
    )
    assert times(one(engine)) == [(46, 1, 0)]  # onset day 14 (a session), loss day 60 (a follow-up)


def test_day_0_is_not_a_measurement(engine):
    # The first session's pre_pain (2) is on day 0: never an onset.
    patient(engine, "P1", sessions=[{"day": 0, "pre_pain": 2}], followups=[{"day": 30, "pain": 9}])
    assert one(engine)["patients"] == 0


def test_onset_on_day_T_plus_W_counts(engine):
    patient(engine, "P1", followups=[{"day": 120, "pain": 3}, {"day": 150, "pain": 3}])
    assert times(one(engine)) == [(30, 0, 1)]


def test_a_first_response_after_day_T_plus_W_is_no_onset(engine):
    patient(engine, "P1", followups=[{"day": 121, "pain": 3}, {"day": 150, "pain": 3}])
    assert one(engine)["patients"] == 0


def test_onset_follows_the_time_point_and_window_settings(engine):
    patient(engine, "P1", followups=[{"day": 40, "pain": 3}, {"day": 60, "pain": 9}])
    assert one(engine, OutcomeDefinition(timepoint_days=30, window_days=10))["patients"] == 1
    assert one(engine, OutcomeDefinition(timepoint_days=20, window_days=10))["patients"] == 0


def test_exactly_30_percent_is_still_a_response(engine):
    # (3 − 2.1) / 3 is 0.29999999999999993 in floating point: still a response.
    patient(engine, "P1", baseline=3, followups=[{"day": 20, "pain": 2.1}, {"day": 60, "pain": 2.1}])
    curve = one(engine)
    assert (curve["patients"], curve["events"]) == (1, 0)


def test_just_under_30_percent_is_a_loss(engine):
    patient(engine, "P1", followups=[{"day": 20, "pain": 5}, {"day": 60, "pain": 7.01}])
    assert times(one(engine)) == [(40, 1, 0)]


def test_the_threshold_setting_moves_onset_and_loss(engine):
    patient(engine, "P1", followups=[{"day": 20, "pain": 6}, {"day": 60, "pain": 4}, {"day": 90, "pain": 6}])
    assert times(one(engine)) == [(70, 0, 1)]  # 40 % at 20, 60 at 60, 40 % at 90: all responses
    assert times(one(engine, OutcomeDefinition(threshold=0.5))) == [(30, 1, 0)]  # onset 60, loss 90


# --- loss and censoring -------------------------------------------------------------------


def test_loss_is_the_first_later_measurement_below_the_threshold(engine):
    patient(
        engine,
        "P1",
        followups=[
            {"day": 10, "pain": 4},
            {"day": 30, "pain": 3},
            {"day": 45, "pain": 8},
            {"day": 60, "pain": 2},
        ],
    )
    assert times(one(engine)) == [(35, 1, 0)]


def test_without_a_loss_the_patient_is_censored_at_the_last_measurement(engine):
    patient(engine, "P1", followups=[{"day": 10, "pain": 4}, {"day": 30, "pain": 3}, {"day": 75, "pain": 6}])
    assert times(one(engine)) == [(65, 0, 1)]


def test_an_onset_at_the_last_measurement_is_censored_on_day_0(engine):
    patient(engine, "P1", followups=[{"day": 100, "pain": 3}])
    assert times(one(engine)) == [(0, 0, 1)]


def test_measurements_after_the_cutoff_are_ignored(engine):
    patient(engine, "P1", followups=[{"day": 10, "pain": 3}, {"day": 40, "pain": 3}, {"day": 80, "pain": 9}])
    as_of = OutcomeDefinition(cutoff=day(60))
    assert times(one(engine, as_of)) == [(30, 0, 1)]
    assert times(one(engine)) == [(70, 1, 0)]


def test_measurements_after_end_date_ignored(engine):
    patient(
        engine,
        "P1",
        followups=[{"day": 10, "pain": 3}, {"day": 40, "pain": 3}, {"day": 80, "pain": 9}],
        end_date=day(60),
        end_reason="moved",
    )
    assert times(one(engine)) == [(30, 0, 1)]


def test_death_censors(engine):
    # A recorded death is a competing event: censored at the last measurement on or before it,
    # never a loss, even when a pain score was (wrongly) recorded after it.
    patient(
        engine,
        "P1",
        condition="cancer_pain",
        followups=[{"day": 10, "pain": 3}, {"day": 40, "pain": 4}, {"day": 70, "pain": 10}],
        end_date=day(55),
        end_reason="death",
    )
    curve = one(engine)
    assert times(curve) == [(30, 0, 1)]
    assert (curve["events"], curve["censored"]) == (0, 1)


def test_hospice_censors_like_death(engine):
    patient(
        engine,
        "P1",
        condition="cancer_pain",
        followups=[{"day": 10, "pain": 3}, {"day": 40, "pain": 3}],
        end_date=day(40),
        end_reason="hospice",
    )
    assert times(one(engine)) == [(30, 0, 1)]  # a measurement on end_date still counts


def test_a_loss_before_death_is_still_a_loss(engine):
    patient(
        engine,
        "P1",
        condition="cancer_pain",
        followups=[{"day": 10, "pain": 3}, {"day": 40, "pain": 9}],
        end_date=day(50),
        end_reason="death",
    )
    assert times(one(engine)) == [(30, 1, 0)]


# --- the cohort ---------------------------------------------------------------------------


def test_a_patient_without_onset_is_not_in_the_cohort(engine):
    patient(engine, "P1", followups=[{"day": 30, "pain": 8}, {"day": 90, "pain": 7.5}])
    patient(engine, "P2", followups=[{"day": 30, "pain": 3}, {"day": 90, "pain": 3}])
    assert one(engine)["patients"] == 1


def test_a_pending_patient_with_an_onset_is_in_the_cohort(engine):
    # P2's window is still open on the cut-off (day 60 of P1): pending, but with an onset.
    patient(engine, "P1", followups=[{"day": 30, "pain": 3}, {"day": 60, "pain": 3}])
    patient(engine, "P2", sessions=[{"day": 20}], followups=[{"day": 40, "pain": 3}, {"day": 60, "pain": 3}])
    assert times(one(engine)) == [(20, 0, 1), (30, 0, 1)]


def test_a_patient_without_a_baseline_is_not_in_the_cohort(engine):
    patient(engine, "P1", baseline=None, followups=[{"day": 30, "pain": 3}, {"day": 60, "pain": 3}])
    assert one(engine)["patients"] == 0


def test_the_sidebar_cohort_filter_applies(engine):
    patient(engine, "P1", condition="crps", followups=[{"day": 30, "pain": 3}, {"day": 60, "pain": 3}])
    patient(engine, "P2", condition="lyme", followups=[{"day": 30, "pain": 3}, {"day": 60, "pain": 9}])
    only_lyme = durability(engine, DEFAULT, CohortFilter(conditions=("lyme",))).to_dict()["overall"]
    assert times(only_lyme) == [(30, 1, 0)]


# --- the estimate -------------------------------------------------------------------------


def test_curve_has_one_step_per_day_with_a_loss_or_censoring_and_survival_multiplies(engine):
    for i, (loss, last) in enumerate([(40, 60), (40, 60), (None, 40), (80, 90), (None, 120)]):
        followups = [{"day": 10, "pain": 3}, {"day": last, "pain": 3}]
        if loss is not None:
            followups.append({"day": loss, "pain": 9})
        patient(engine, f"P{i}", followups=followups)
    curve = one(engine)
    assert times(curve) == [(30, 2, 1), (70, 1, 0), (110, 0, 1)]  # times from onset on day 10
    # Day 30: 2 losses among 5 at risk (the censoring that day counts as after them, as
    # Kaplan–Meier takes ties) → 3/5; day 70: 1 loss among 2 → 3/10.
    assert [s["at_risk"] for s in curve["curve"]] == [5, 2, 1]
    assert [s["survival"] for s in curve["curve"]] == pytest.approx([3 / 5, 3 / 10, 3 / 10])
    assert curve["median_days"] == 70
    assert [a["at_risk"] for a in curve["at"]] == [5, 2, 1, 0]
    assert [a["survival"] for a in curve["at"]] == pytest.approx([1, 3 / 5, 3 / 10, None])


def test_groups_are_the_by_values_among_the_cohort_with_a_log_rank_p(engine):
    for i in range(6):
        route = "intranasal" if i < 3 else "intramuscular"
        loss = {"day": 30 + 10 * i, "pain": 9}
        patient(
            engine, f"P{i}", sessions=[{"day": 0, "route": route}], followups=[{"day": 10, "pain": 3}, loss]
        )
    patient(engine, "NR", sessions=[{"day": 0, "route": "oral"}], followups=[{"day": 30, "pain": 9}])
    table = durability(engine, DEFAULT, by="route").to_dict()
    assert [g["route"] for g in table["groups"]] == ["intramuscular", "intranasal"]  # no oral onset
    assert 0 < table["logrank_p"] < 1
    assert durability(engine, DEFAULT).to_dict()["logrank_p"] is None


# --- boosters -----------------------------------------------------------------------------


def test_booster_gap_is_the_median_gap_between_maintenance_sessions(engine):
    # Sessions on day 28 and before are induction; maintenance on 40, 50, 80, 100, 130:
    # gaps 10, 30, 20, 30 → median of the middle two (20, 30) = 25.
    sessions = [{"day": d} for d in (0, 3, 7, 28, 40, 50, 80, 100, 130)]
    patient(engine, "P1", sessions=sessions, followups=[{"day": 10, "pain": 3}, {"day": 130, "pain": 3}])
    curve = one(engine)
    assert (curve["booster_gap_median"], curve["booster_gap_q1"], curve["booster_gap_q3"]) == (25, 25, 25)


def test_a_single_maintenance_session_gives_no_gap(engine):
    patient(engine, "P1", sessions=[{"day": 0}, {"day": 60}], followups=[{"day": 10, "pain": 3}])
    assert one(engine)["booster_gap_median"] is None


def test_sessions_after_end_date_are_not_boosters(engine):
    patient(
        engine,
        "P1",
        sessions=[{"day": 0}, {"day": 40}, {"day": 60}, {"day": 100}],
        followups=[{"day": 10, "pain": 3}],
        end_date=day(70),
        end_reason="completed",
    )
    assert one(engine)["booster_gap_median"] == 20


def test_boosters_of_patients_without_onset_do_not_count(engine):
    patient(engine, "P1", sessions=[{"day": 0}, {"day": 40}, {"day": 60}], followups=[{"day": 10, "pain": 9}])
    assert one(engine)["booster_gap_median"] is None


def test_group_quartiles_of_booster_gaps_interpolate_as_numpy(engine):
    medians = [14, 21, 28, 35, 60]
    for i, gap in enumerate(medians):
        sessions = [{"day": 0}, {"day": 30}, {"day": 30 + gap}]
        patient(engine, f"P{i}", sessions=sessions, followups=[{"day": 10, "pain": 3}])
    curve = one(engine)
    q1, median, q3 = np.percentile(medians, [25, 50, 75])
    assert (curve["booster_gap_q1"], curve["booster_gap_median"], curve["booster_gap_q3"]) == (q1, median, q3)


# --- the command line ---------------------------------------------------------------------

CURVE_KEYS = {
    "patients", "events", "censored", "median_days", "median_ci_low", "median_ci_high", "at", "curve",
    "booster_gap_median", "booster_gap_q1", "booster_gap_q3",
}  # fmt: skip


def test_cli_json_has_the_documented_shape(engine, capsys):
    for i in range(4):
        route = "intranasal" if i % 2 else "intramuscular"
        patient(
            engine,
            f"P{i}",
            sessions=[{"day": 0, "route": route}],
            followups=[{"day": 10, "pain": 3}, {"day": 40 + 10 * i, "pain": 8 if i < 2 else 3}],
        )
    url = engine.url.render_as_string(hide_password=False)
    assert main(["durability", "--db", url, "--by", "route", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"definition", "overall", "groups", "logrank_p"}
    assert set(document["overall"]) == CURVE_KEYS
    assert [set(g) for g in document["groups"]] == [CURVE_KEYS | {"route"}] * 2
    assert [a["day"] for a in document["overall"]["at"]] == [28, 56, 84, 182]
    assert set(document["overall"]["at"][0]) == {"day", "survival", "ci_low", "ci_high", "at_risk"}
    assert set(document["overall"]["curve"][0]) == {
        "day", "survival", "ci_low", "ci_high", "at_risk", "events", "censored"
    }  # fmt: skip
    assert document["definition"]["cutoff"] == (day(0) + timedelta(days=70)).isoformat()


def test_cli_table_reads_for_people(engine, capsys):
    patient(engine, "P1", followups=[{"day": 10, "pain": 3}, {"day": 40, "pain": 9}])
    url = engine.url.render_as_string(hide_password=False)
    assert main(["durability", "--db", url, "--format", "table"]) == 0
    out = capsys.readouterr().out
    assert "Median" in out and "<11" in out and "None" not in out and "nan" not in out


def test_the_table_hides_a_small_group_and_the_group_that_would_give_it_back(engine, capsys):
    """docs/methods.md, "Small cells": one small group (3 responders by IV) is hidden, and so is
    the smallest shown group (12 by IM): the overall row minus the shown groups would otherwise
    give the small group's counts back. Medians and booster gaps of hidden groups are hidden too."""
    sizes = {"intranasal": 15, "intramuscular": 12, "intravenous": 3}
    for route, size in sizes.items():
        for i in range(size):
            patient(
                engine,
                f"{route[5:8]}{i:02d}",
                sessions=[{"day": 0, "route": route}],
                followups=[{"day": 10, "pain": 3}, {"day": 40 + i, "pain": 9}],
            )
    url = engine.url.render_as_string(hide_password=False)
    assert main(["durability", "--db", url, "--by", "route", "--format", "table"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert lines["Intravenous"].count("<11") >= 5 and lines["Intramuscular"].count("<11") >= 5
    assert "<11" not in lines["Intranasal"] and " 15 " in lines["Intranasal"]
    assert " 30 " in lines["All"]


def test_cli_refuses_an_unknown_breakdown(engine, capsys):
    url = engine.url.render_as_string(hide_password=False)
    with pytest.raises(SystemExit) as exit_:
        main(["durability", "--db", url, "--by", "site"])
    assert exit_.value.code == 2


# --- the kept facts -----------------------------------------------------------------------


def mixed_clinic(engine) -> None:
    """Forty patients with every kind of path: onsets by session or follow-up, losses, deaths,
    ends of care, boosters, no onset — written one by one (each import refreshes its patient)."""
    rng = np.random.default_rng(7)
    for i in range(40):
        sessions = [{"day": 0, "route": "intranasal" if i % 3 else "intramuscular"}]
        for d in sorted(set(int(x) for x in rng.integers(1, 200, 6))):
            pre = None if rng.random() < 0.3 else float(rng.integers(2, 10))
            sessions.append({"day": d, "pre_pain": pre, "route": sessions[0]["route"]})
        followups = [
            {"day": int(d), "pain": float(rng.integers(1, 10))} for d in sorted(set(rng.integers(1, 220, 3)))
        ]
        end = {}
        if i % 5 == 0:
            end = {
                "end_date": day(int(rng.integers(30, 200))),
                "end_reason": ("death", "moved", "hospice")[i % 3],
            }
        condition = ("crps", "cancer_pain", "migraine")[i % 3]
        patient(engine, f"X{i:02d}", condition=condition, sessions=sessions, followups=followups, **end)


@pytest.mark.parametrize("threshold", [0.3, 0.5])
@pytest.mark.parametrize("by", [None, "route", "condition"])
def test_the_kept_facts_give_what_the_sessions_give(engine, monkeypatch, by, threshold):
    """At both kept thresholds (30 %, 50 %: migration 0018) the facts give the rules' answer."""
    mixed_clinic(engine)
    definition = OutcomeDefinition(threshold=threshold)
    from_facts = durability(engine, definition, by=by).to_dict()
    monkeypatch.setattr(durability_queries, "READ_FACTS", False)
    assert durability(engine, definition, by=by).to_dict() == from_facts
    assert from_facts["overall"]["patients"] > 5 and from_facts["overall"]["booster_gap_median"] is not None


def test_each_kept_threshold_reads_its_own_facts(engine):
    """Marked rows show which kept rows a table was read from: 30 % from the 30 % rows, 50 % from
    the 50 % rows, and another threshold (40 %) from neither (it runs the rules)."""
    mixed_clinic(engine)
    kept = schema.durability_facts
    with engine.begin() as connection:
        responders = dict(
            connection.execute(
                select(kept.c.threshold_pct, func.count()).group_by(kept.c.threshold_pct)
            ).all()
        )
        for pct, mark in ((30, 10_000), (50, 20_000)):
            marked_rows = update(kept).where(kept.c.threshold_pct == pct)
            connection.execute(marked_rows.values(response_days=kept.c.response_days + mark))
    assert responders[30] > responders[50] > 5  # fewer reach 50 % than 30 %

    def marked(threshold: float) -> dict[int, int]:
        curve = durability(engine, OutcomeDefinition(threshold=threshold)).to_dict()["overall"]["curve"]
        counts = {0: 0, 10_000: 0, 20_000: 0}
        for step in curve:
            counts[10_000 * (step["day"] // 10_000)] += step["events"] + step["censored"]
        return counts

    assert marked(0.3) == {0: 0, 10_000: responders[30], 20_000: 0}
    assert marked(0.5) == {0: 0, 10_000: 0, 20_000: responders[50]}
    assert marked(0.4)[0] > 5 and marked(0.4)[10_000] == marked(0.4)[20_000] == 0


@pytest.mark.parametrize(
    "cohort",
    [
        CohortFilter(conditions=("crps", "migraine")),
        CohortFilter(routes=("intramuscular",)),
        CohortFilter(sexes=("unknown",), age_groups=("unknown",)),
        CohortFilter(first_treated_from=day(0), first_treated_to=day(0)),
    ],
)
def test_the_kept_facts_filter_the_cohort_as_the_cohort_rows_do(engine, monkeypatch, cohort):
    """The kept facts carry the patients' cohort columns (migration 0011): a sidebar filter on
    them gives what the rules give over the filtered cohort rows."""
    mixed_clinic(engine)
    from_facts = durability(engine, DEFAULT, cohort, by="route").to_dict()
    monkeypatch.setattr(durability_queries, "READ_FACTS", False)
    assert durability(engine, DEFAULT, cohort, by="route").to_dict() == from_facts
    assert from_facts["overall"]["patients"] > 3


def test_a_full_rebuild_of_the_facts_equals_the_refreshes_at_import(engine):
    from sqlalchemy import select

    from analysis.db import facts, schema

    mixed_clinic(engine)
    table = schema.durability_facts
    with engine.connect() as connection:
        kept = connection.execute(select(table).order_by(table.c.patient_key, table.c.threshold_pct)).all()
    with engine.begin() as connection:
        facts.refresh(connection)
        rebuilt = connection.execute(select(table).order_by(table.c.patient_key, table.c.threshold_pct)).all()
    assert kept == rebuilt and len(kept) > 10


# --- earlier cut-offs ---------------------------------------------------------------------

TODAY = date(2026, 10, 31)
EARLIER = (date(2023, 6, 30), date(2025, 3, 31), date(2026, 6, 30), date(2026, 9, 30), date(2026, 10, 29))


def full_rules(monkeypatch: pytest.MonkeyPatch, engine: Engine, *args, **kwargs) -> dict:
    """The durability table (as the CLI prints it) with the durability facts switched off: the
    rules over every cohort patient."""
    with monkeypatch.context() as patch:
        patch.setattr(durability_queries, "READ_FACTS", False)
        return durability(engine, *args, **kwargs).to_dict()


def lasting_clinic(seed: int, n_patients: int = 150) -> dict[str, pd.DataFrame]:
    """A random clinic for durability: inductions, boosters for months (some changing route),
    follow-ups for a year, and ends of care — deaths and hospice among them — with measurements
    recorded after some of the end dates."""
    rng = np.random.default_rng(seed)
    start = date(2025, 1, 1)
    patients, sessions, followups = [], [], []
    for i in range(n_patients):
        pid = f"L{seed}-{i:04d}"
        index = start + timedelta(days=int(rng.integers(0, 500)))
        end: dict[str, object] = {"end_date": None, "end_reason": None}
        if rng.random() < 0.3:
            end_day = int(rng.integers(10, 300))
            end = {
                "end_date": index + timedelta(days=end_day),
                "end_reason": str(rng.choice(["death", "hospice", "moved", "completed"])),
            }
        baseline = float(rng.choice([0.0, 5.0, 7.0, 8.0, 10.0], p=[0.05, 0.2, 0.25, 0.25, 0.25]))
        condition = str(rng.choice(["crps", "migraine"]))
        patients.append({"patient_id": pid, "condition": condition, "baseline_pain": baseline, **end})
        days = {0, 3, 7, 14} | {int(d) for d in rng.integers(15, 330, int(rng.integers(0, 12)))}
        later_route = str(rng.choice(["intranasal", "intramuscular", "oral"]))
        for d in sorted(days):
            route = "intranasal" if d < 60 else later_route
            pre = None if rng.random() < 0.3 else float(rng.integers(0, 11))
            sessions.append(
                {
                    "patient_id": pid,
                    "session_date": index + timedelta(days=d),
                    "route": route,
                    "pre_pain": pre,
                }
            )
        for d in {int(d) for d in rng.integers(1, 365, int(rng.integers(0, 6)))}:
            pain = float(rng.integers(0, 11))
            followups.append({"patient_id": pid, "followup_date": index + timedelta(days=d), "pain": pain})
    return {
        "patients": pd.DataFrame(patients),
        "sessions": pd.DataFrame(sessions),
        "followups": pd.DataFrame(followups),
    }


def assert_same_as_the_full_rules(engine: Engine, monkeypatch, cutoffs, cohorts) -> int:
    """Every table (overall, by route, by condition), at both kept thresholds, equals the full
    rules'; returns the patients compared."""
    compared = 0
    for cutoff, threshold in [(cutoff, threshold) for cutoff in cutoffs for threshold in (0.3, 0.5)]:
        definition = OutcomeDefinition(cutoff=cutoff, threshold=threshold)
        for cohort in cohorts:
            for by in (None, "route", "condition"):
                fast = durability(engine, definition, cohort, by=by).to_dict()
                slow = full_rules(monkeypatch, engine, definition, cohort, by=by)
                assert fast == slow, (cutoff, threshold, cohort, by)
                compared += fast["overall"]["patients"]
    return compared


def test_an_earlier_cutoff_gives_the_full_rules_answer_on_a_demo_clinic(engine, monkeypatch):
    report = import_frames(engine, generate(600, seed=11, today=TODAY), today=TODAY, source="demo")
    assert report.ok, report.problems
    cohorts = (CohortFilter(), CohortFilter(routes=("intranasal", "mixed")))
    assert assert_same_as_the_full_rules(engine, monkeypatch, EARLIER, cohorts) > 500


def test_an_earlier_cutoff_gives_the_full_rules_answer_with_ends_of_care_and_route_changes(
    engine, monkeypatch
):
    for seed in (21, 22):
        store_clinic(engine, lasting_clinic(seed))
    cutoffs = (date(2025, 2, 1), date(2025, 6, 30), date(2025, 11, 15), date(2026, 3, 31), date(2026, 9, 1))
    cohorts = (CohortFilter(), CohortFilter(routes=("oral",)), CohortFilter(conditions=("migraine",)))
    assert assert_same_as_the_full_rules(engine, monkeypatch, cutoffs, cohorts) > 500


def test_an_earlier_cutoff_reads_the_settled_patients_from_the_facts(engine, monkeypatch):
    # Mark every kept row: the settled patients' times keep the mark, the rules' do not.
    store_clinic(engine, lasting_clinic(23, n_patients=300))
    cutoff = date(2026, 3, 31)
    t, kept = schema.patient_facts, schema.durability_facts
    with engine.begin() as connection:
        rows = connection.execute(
            select(t.c.index_date, t.c.last_session_date, t.c.last_followup_date)
            .join(kept, kept.c.patient_key == t.c.patient_key)
            .where(kept.c.threshold_pct == 30)  # the default threshold's responders
        ).all()
        connection.execute(update(kept).values(response_days=kept.c.response_days + 10_000))
    treated = [r for r in rows if r.index_date <= cutoff]
    settled = [
        r for r in treated if r.last_session_date <= cutoff and (r.last_followup_date or cutoff) <= cutoff
    ]
    curve = durability(engine, OutcomeDefinition(cutoff=cutoff)).to_dict()["overall"]["curve"]
    marked = sum(step["events"] + step["censored"] for step in curve if step["day"] >= 10_000)
    assert marked == len(settled) > 20
    assert len(treated) - len(settled) > 20  # some straddle the cut-off: those run the rules


def test_the_shards_of_an_earlier_cutoff_add_up_to_the_whole_cohort(engine):
    """On PostgreSQL the command line counts the durability as of an earlier cut-off in
    statements over shards of the patients, run at once (docs/performance.md, "Durability as of
    a cut-off, from the kept rows alone"): the counts of any number of shards, added up, are the
    one statement's, for a breakdown and a cohort filter."""
    from analysis.db import durability as rules

    for seed in (24, 25):
        store_clinic(engine, lasting_clinic(seed))
    definition = OutcomeDefinition(cutoff=date(2025, 11, 15))
    cases = ((CohortFilter(), "route", 100), (CohortFilter(routes=("oral",)), "condition", 5))
    for cohort, by, at_least in cases:
        whole = durability_queries._counted(engine, [rules.facts_as_of_counts(definition, cohort, group=by)])
        patients = sum(losses + censored for kind, _, _, losses, censored in whole if kind == "time")
        assert patients > at_least and any(kind == "gap" for kind, *_ in whole)
        for n in (2, 3):
            shards = [rules.facts_as_of_counts(definition, cohort, group=by, shard=(i, n)) for i in range(n)]
            assert durability_queries._counted(engine, shards) == sorted(whole), (cohort, by, n)


def test_only_a_command_on_postgresql_runs_statements_at_once(db_url):
    """Two statements at once on PostgreSQL for the command line; one on SQLite, and one for the
    dashboard's server, which answers many users at once."""
    from analysis.db import store

    command, serving = store.make_engine(db_url), store.make_engine(db_url, serving=True)
    postgresql = command.dialect.name == "postgresql"
    assert store.shards(command) == (store.POSTGRESQL_COMMAND_SHARDS if postgresql else 1)
    assert store.shards(serving) == 1
    assert store.POSTGRESQL_COMMAND_SHARDS == 2
    command.dispose()
    serving.dispose()


def test_the_kept_inputs_give_what_the_stored_rows_give(engine, monkeypatch):
    """The rules read ``pain_days`` and ``durability_inputs`` (docs/performance.md, "Pain days"):
    the pain days, the search of only the patients whose lowest pain is a response, and the
    kept booster gaps of the patients with no session after the cut-off. At every cut-off,
    threshold and window they give what the rules give with the pain days derived from the
    stored rows, every patient searched and every gap ranked from the sessions."""
    import functools

    from analysis.db import durability as rules

    store_clinic(engine, lasting_clinic(24, n_patients=200))
    derived = functools.partial(rules.patient_rows, kept=False)
    compared = 0
    for cutoff in (date(2025, 6, 30), date(2026, 3, 31), None):
        for threshold, timepoint in ((0.3, 90), (0.5, 90), (0.7, 30), (0.3, 180)):
            definition = OutcomeDefinition(cutoff=cutoff, threshold=threshold, timepoint_days=timepoint)
            kept = full_rules(monkeypatch, engine, definition, by="route")
            with monkeypatch.context() as patch:
                patch.setattr(rules, "patient_rows", derived)
                patch.setattr(rules, "_booster_gaps", lambda patients, cutoff: rules._median_gaps(patients))
                from_rows = full_rules(monkeypatch, engine, definition, by="route")
            assert kept == from_rows, (cutoff, threshold, timepoint)
            compared += kept["overall"]["patients"]
            if threshold == 0.3:
                assert kept["overall"]["booster_gap_median"] is not None
    assert compared > 300
