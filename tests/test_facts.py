"""The per-patient facts table: every number equals the straightforward computation.

``patient_facts`` is a cache of per-patient quantities kept at import (docs/performance.md).
These tests hold it to the raw per-patient query over the stored sessions and follow-ups
(:func:`analysis.db.derivation.patient_outcomes_query`), on a demo clinic written through the real
importer and on random clinics full of edge cases, for every analysis that reads it, and
check that imports, refusals, partial refreshes and the migration keep it current.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, delete, select, update

from analysis.db import cohorts, facts, schema, store
from analysis.demo import generate
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.ingest import import_frames
from analysis.queries import dosing, quality, response, safety, trajectories
from tests.test_equivalence import random_clinic, store_clinic

TODAY = date(2026, 10, 31)

DEFINITIONS = (
    OutcomeDefinition(),
    OutcomeDefinition(timepoint_days=30, window_days=14),
    OutcomeDefinition(timepoint_days=180, window_days=45),
    OutcomeDefinition(threshold=0.5, missing="completers", ci="exact"),
)
COHORTS = (
    CohortFilter(),
    CohortFilter(conditions=("crps", "migraine")),
    CohortFilter(routes=("mixed",)),
    CohortFilter(routes=("intranasal",), sexes=("F",)),
    CohortFilter(age_groups=("50-64", "90+")),
    CohortFilter(first_treated_from=date(2025, 4, 1), first_treated_to=date(2025, 12, 31)),
)
BREAKDOWNS = ((), ("condition", "route"), ("quarter",), ("site", "sex", "age_group"))


@pytest.fixture
def demo(engine: Engine) -> Engine:
    """A 600-patient demo clinic written through the real importer."""
    report = import_frames(engine, generate(600, seed=11, today=TODAY), today=TODAY, source="demo")
    assert report.ok, report.problems
    return engine


def straightforward(monkeypatch: pytest.MonkeyPatch, call):
    """``call()`` with the per-patient facts switched off (the raw query over every row)."""
    with monkeypatch.context() as patch:
        patch.setattr(cohorts, "READ_FACTS", False)
        patch.setattr(cohorts, "facts_apply", lambda cutoff, latest: False)
        return call()


def stored_facts(engine: Engine) -> pd.DataFrame:
    t = schema.patient_facts
    with engine.connect() as connection:
        rows = connection.execute(select(t).order_by(t.c.patient_key)).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in t.columns])


def test_group_counts_from_facts_equal_the_straightforward_computation(demo, monkeypatch):
    compared = 0
    for definition in DEFINITIONS:
        for cohort in COHORTS:
            for by in BREAKDOWNS:
                fast = response.group_counts(demo, definition, cohort, by)
                slow = straightforward(
                    monkeypatch, lambda d=definition, c=cohort, b=by: response.group_counts(demo, d, c, b)
                )
                assert fast == slow, (definition, cohort, by)
                compared += len(fast.rows)
    assert compared > 500  # the cohorts are not all empty


def test_patient_rows_from_facts_equal_the_straightforward_ones_on_edge_cases(engine, monkeypatch):
    # Random clinics: missing and zero baselines, patients without sessions, follow-ups
    # before the first session or at the window's edges, ties for the plurality route.
    for seed in (1, 2, 3):
        store_clinic(
            engine, {k: v.assign(patient_id=v.patient_id + "x") for k, v in random_clinic(seed).items()}
        )
    for definition in DEFINITIONS:
        fast = cohorts.patient_outcomes(engine, definition)
        slow = straightforward(monkeypatch, lambda d=definition: cohorts.patient_outcomes(engine, d))
        assert len(fast) == 360
        pd.testing.assert_frame_equal(fast, slow)


def test_rows_as_of_earlier_cutoffs_equal_the_straightforward_ones_on_edge_cases(engine, monkeypatch):
    # Settled patients from the facts, straddling ones from their rows (docs/performance.md,
    # "Earlier cut-offs"): every column of every patient, for each definition and cut-off,
    # including cut-offs inside many patients' windows and before most first sessions.
    for seed in (4, 5, 6):
        store_clinic(
            engine, {k: v.assign(patient_id=v.patient_id + "y") for k, v in random_clinic(seed).items()}
        )
    compared = 0
    for definition in DEFINITIONS:
        for cutoff in (date(2024, 3, 15), date(2024, 12, 31), date(2025, 6, 30), date(2025, 11, 2)):
            d = replace(definition, cutoff=cutoff)
            fast = cohorts.patient_outcomes(engine, d)
            slow = straightforward(monkeypatch, lambda d=d: cohorts.patient_outcomes(engine, d))
            pd.testing.assert_frame_equal(fast, slow, obj=str((definition, cutoff)))
            compared += len(fast)
    assert compared > 2000


def test_every_analysis_reading_the_facts_matches_the_straightforward_one(demo, monkeypatch):
    crps = CohortFilter(conditions=("crps",))
    d = OutcomeDefinition()
    some_patient = cohorts.patient_outcomes(demo, d, limit=1).patient_id.iloc[0]
    calls = {
        "session summary": lambda: safety.session_summary(demo, d, crps),
        "session summary, all": lambda: safety.session_summary(demo, d),
        "events by type": lambda: safety.events_by_type(demo, d, crps),
        "dissociation": lambda: safety.dissociation_durations(demo, d, crps),
        "follow-up events": lambda: safety.followup_events(demo, d, crps),
        "long-term events": lambda: safety.long_term_events(demo, d, crps),
        "blood pressure": lambda: safety.blood_pressure_sessions(demo, d, crps).sessions,
        "dose response": lambda: dosing.dose_response(demo, d, crps),
        "data quality": lambda: quality.data_quality(demo, d, crps),
        "trajectory": lambda: trajectories.mean_trajectory(demo, d, CohortFilter(), "crps"),
        "cohort list": lambda: trajectories.cohort_list(demo, d, crps, limit=50)[0],
        "timeline": lambda: trajectories.patient_timeline(demo, some_patient, d).outcome,
    }
    for name, call in calls.items():
        fast, slow = call(), straightforward(monkeypatch, call)
        if isinstance(fast, pd.DataFrame):
            pd.testing.assert_frame_equal(fast, slow, obj=name)
        else:
            assert fast == slow, name
    summary = safety.session_summary(demo, d)
    assert summary.sessions > 3000 and 0 < summary.sessions_with_any_ae < summary.sessions


def test_the_default_view_reads_the_facts_and_an_earlier_cutoff_derives_only_straddling_patients(demo):
    everyone = response.group_counts(demo).rows[0]["patients"]
    assert everyone == 600
    cutoff = store.data_cutoff(demo) - timedelta(days=60)
    stored = stored_facts(demo)
    first_treated = stored.index_date.isna() | (stored.index_date <= cutoff)
    # Only a patient with a session after the cut-off can have had other session facts then.
    sessions_after = first_treated & (stored.last_session_date > cutoff)
    # Mark every stored route: the rows read from the facts keep the mark; the routes of the
    # patients with sessions after the cut-off are derived from their sessions up to it.
    with demo.begin() as connection:
        connection.execute(update(schema.patient_facts).values(route="from-facts"))

    def by_route(**options) -> dict[str, int]:
        counts = response.group_counts(demo, OutcomeDefinition(cutoff=cutoff), by=("route",), **options)
        return {row["route"]: row["patients"] for row in counts.rows}

    # With the session counts asked for (the funnel), every such patient is derived.
    with_counts = by_route(funnel=True)
    assert with_counts.pop("from-facts") == int((first_treated & ~sessions_after).sum()) > 300
    assert sum(with_counts.values()) == int(sessions_after.sum()) > 20
    # The route alone: only those whose sessions used two or more routes; one route stays one.
    route_only = by_route()
    derived = sessions_after & (stored.n_routes > 1)
    assert route_only.pop("from-facts") == int((first_treated & ~derived).sum())
    assert sum(route_only.values()) == int(derived.sum()) > 0
    with demo.begin() as connection:
        connection.execute(delete(schema.patient_facts))
    # No facts, no patients: the default view read the facts table, not the sessions.
    assert response.group_counts(demo).rows[0]["patients"] == 0


def test_imports_keep_the_facts_equal_to_a_rebuild(demo):
    first = cohorts.patient_outcomes(demo).set_index("patient_id")
    a, b, c = first.index[:3]
    changed = {
        # a new baseline for A; B gets two sessions by another route (a tie → mixed, or a new
        # plurality); C a follow-up on day 90; D is a new patient with one session.
        "patients": pd.DataFrame(
            [
                {"patient_id": a, "condition": first.loc[a, "condition"], "baseline_pain": 9.5},
                {"patient_id": "NEW-1", "condition": "migraine", "baseline_pain": 7},
            ]
        ),
        "sessions": pd.DataFrame(
            [
                {"patient_id": b, "session_date": TODAY - timedelta(days=d), "route": "oral", "dose_mg": 40}
                for d in (1, 2)
            ]
            + [{"patient_id": "NEW-1", "session_date": TODAY, "route": "intranasal", "dose_mg": 50}]
        ),
        "followups": pd.DataFrame(
            [{"patient_id": c, "followup_date": first.loc[c, "index_date"] + timedelta(days=90), "pain": 1}]
        ),
    }
    report = import_frames(demo, changed, today=TODAY)
    assert report.ok, report.problems
    after = stored_facts(demo)
    with demo.begin() as connection:
        assert facts.refresh(connection) == 601
    pd.testing.assert_frame_equal(after, stored_facts(demo))
    row = after.set_index("patient_id")
    assert row.loc[a, "baseline"] == 9.5
    assert row.loc["NEW-1", "n_sessions"] == 1 and row.loc["NEW-1", "route"] == "intranasal"
    assert row.loc[b, "n_sessions"] == first.loc[b, "n_sessions"] + 2
    assert row.loc[c, "followup_day"] == 90 and row.loc[c, "followup_pain"] == 1


#: The per-patient tables a refresh derives (each keyed by patient first).
DERIVED = (
    schema.patient_facts,
    schema.followup_days,
    schema.pain_days,
    schema.booster_gaps,
    schema.durability_inputs,
    schema.measure_facts,
    schema.durability_facts,
)


def test_an_import_of_new_patients_deletes_nothing_and_derives_what_a_rebuild_does(demo, monkeypatch):
    """An import whose patients are all new to the clinic has no derived rows to replace: no
    delete runs (docs/performance.md, "Twelfth session: the importer"), and every derived table
    is what a full refresh derives."""
    deletes: list[bool] = []
    real = store.delete_patients_rows

    def spy(connection, table, keys, *, replace=True):
        deletes.append(replace)
        real(connection, table, keys, replace=replace)

    monkeypatch.setattr(store, "delete_patients_rows", spy)
    for module in ("facts", "followup_days", "measures", "durability"):
        monkeypatch.setattr(f"analysis.db.{module}.delete_patients_rows", spy)
    frames = generate(40, seed=31, today=TODAY)
    for frame in frames.values():
        frame["patient_id"] = "NEW-" + frame["patient_id"].astype(str)
    assert import_frames(demo, frames, today=TODAY).ok
    assert len(deletes) == len(DERIVED) and not any(deletes)

    def derived() -> list[list[tuple]]:
        with demo.connect() as connection:
            return [sorted(tuple(r) for r in connection.execute(select(table))) for table in DERIVED]

    imported = derived()
    with demo.begin() as connection:
        facts.refresh(connection)
    assert imported == derived() and all(imported)


def test_a_refused_import_leaves_the_facts_as_they_were(demo):
    before = stored_facts(demo)
    patient = before.patient_id.iloc[0]
    bad = {
        "sessions": pd.DataFrame(
            [
                {"patient_id": patient, "session_date": TODAY, "route": "oral", "dose_mg": 40},
                {"patient_id": "NOBODY", "session_date": TODAY, "route": "oral", "dose_mg": 40},
            ]
        )
    }
    report = import_frames(demo, bad, today=TODAY)
    assert not report.ok
    pd.testing.assert_frame_equal(before, stored_facts(demo))


def test_a_partial_refresh_equals_a_rebuild(demo):
    s = schema.sessions
    with demo.begin() as connection:
        keys = connection.execute(
            select(s.c.patient_key).distinct().order_by(s.c.patient_key).limit(5)
        ).scalars()
        keys = list(keys)
        connection.execute(update(s).where(s.c.patient_key.in_(keys)).values(route="intravenous"))
        ids = connection.execute(
            select(schema.patients.c.patient_id).where(schema.patients.c.id.in_(keys))
        ).scalars()
        assert facts.refresh(connection, list(ids)) == 5  # below the rebuild share: per patient
    partial = stored_facts(demo)
    assert set(partial.set_index("patient_key").loc[keys, "route"]) == {"intravenous"}
    with demo.begin() as connection:
        facts.refresh(connection)
    pd.testing.assert_frame_equal(partial, stored_facts(demo))


def test_the_migration_derives_facts_for_data_stored_before_it(db_url):
    engine = store.make_engine(db_url)
    store.downgrade(engine, "0003")  # back to the schema before the facts table
    frames = random_clinic(5)
    store_clinic(engine, frames, derive_facts=False)
    store.migrate(engine)
    derived = stored_facts(engine)
    assert len(derived) == len(frames["patients"])
    with engine.begin() as connection:
        facts.refresh(connection)
    pd.testing.assert_frame_equal(derived, stored_facts(engine))
    engine.dispose()


def test_an_explicit_cutoff_on_the_latest_date_uses_the_facts_too(demo, monkeypatch):
    latest = store.data_cutoff(demo)
    seen: list[bool] = []
    real = cohorts.facts_apply
    monkeypatch.setattr(
        cohorts, "facts_apply", lambda cutoff, last: seen.append(real(cutoff, last)) or seen[-1]
    )
    d = replace(OutcomeDefinition(), cutoff=latest)
    response.group_counts(demo, d)
    response.group_counts(demo, replace(d, cutoff=latest - timedelta(days=1)))
    response.group_counts(demo, replace(d, cutoff=latest + timedelta(days=30)))
    assert seen == [True, False, True]
