"""``secondary_cells``: the default view of the outcomes beyond pain, counted at import, equals the
view computed from the facts after every import, on SQLite and PostgreSQL (docs/performance.md,
"Beyond pain, counted at import").

A demo clinic arrives in steps — each import brings the sessions and follow-ups of a few weeks,
so each moves the data cut-off and closes some patients' windows — with every refresh forced to
work per patient (the incremental path), and after each step every kept breakdown is compared
with the statement the view would otherwise run — at the data cut-off, and at earlier cut-offs
(quarter ends and days inside a quarter), where the cells answer for the patients settled by the
last quarter end and the others are counted from the facts (docs/performance.md, "Settled by
quarter"). The response profile's patterns, kept by the same steps, are compared with the
patterns counted from the facts after every step too (analysis.db.profile_cells).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine, select, update

from analysis.db import cohorts, facts, profile_cells, schema, secondary_cells, store
from analysis.demo import generate
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.domain.measures import MeasureSettings
from analysis.ingest import import_frames
from analysis.queries import profile
from analysis.queries.secondary import secondary_counts

TODAY = date(2026, 10, 31)
STEPS = tuple(TODAY - timedelta(days=d) for d in (400, 230, 150, 125, 100, 61, 30, 7, 0))


def _computed(engine: Engine, monkeypatch: pytest.MonkeyPatch, **arguments):
    with monkeypatch.context() as patch:
        patch.setattr(secondary_cells, "kept_counts", lambda *a, **k: None)
        return secondary_counts(engine, **arguments)


def _kept(engine: Engine, grouping: str):
    with engine.connect() as connection:
        return secondary_cells.kept_counts(connection, store.data_cutoff(engine), grouping)


def _assert_patterns_answer(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The response profile's kept patterns (analysis.db.profile_cells) are read, and equal the
    patterns counted from the facts, under both policies."""
    with engine.connect() as connection:
        counted_at = secondary_cells.counted_at(connection)
        assert profile_cells.kept_patterns(connection, store.data_cutoff(engine), counted_at) is not None
    for missing in ("itt", "completers"):
        definition = OutcomeDefinition(missing=missing)
        _, kept = profile.profile_patterns(engine, definition, CohortFilter())
        with monkeypatch.context() as patch:
            patch.setattr(profile, "_kept_view", lambda *a: False)
            _, counted = profile.profile_patterns(engine, definition, CohortFilter())
        pd.testing.assert_frame_equal(kept, counted, check_dtype=False)


def _assert_cells_answer(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every kept breakdown at every kept time point, and the kept profile patterns, equal the
    computed view; returns the eligible patients (at the facts' time point)."""
    _assert_patterns_answer(engine, monkeypatch)
    for grouping in secondary_cells.GROUPINGS:
        by = (grouping,) if grouping else ()
        assert _kept(engine, grouping) is not None, grouping
        kept = secondary_counts(engine, by=by)
        assert kept == _computed(engine, monkeypatch, by=by), grouping
        for timepoint in secondary_cells.TIMEPOINTS[1:]:
            definition = OutcomeDefinition(timepoint_days=timepoint)
            with engine.connect() as connection:
                cutoff = store.data_cutoff(engine)
                assert (
                    secondary_cells.kept_counts(connection, cutoff, grouping, timepoint=timepoint) is not None
                )
            kept = secondary_counts(engine, definition, by=by)
            assert kept == _computed(engine, monkeypatch, definition=definition, by=by), (timepoint, grouping)
    return sum(group["patients"] for _, group in secondary_counts(engine).counts)


def _earlier_cutoffs(latest: date) -> list[date]:
    """Two quarter ends and two days inside quarters before the data cut-off ``latest``."""
    quarter_end = secondary_cells.last_quarter_end(latest - timedelta(days=1))
    chosen = {quarter_end, secondary_cells.last_quarter_end(quarter_end - timedelta(days=1))}
    chosen |= {latest - timedelta(days=45), latest - timedelta(days=200)}
    return sorted(day for day in chosen if day < latest)


def _assert_cells_answer_earlier(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> int:
    """At each earlier cut-off, every breakdown from the cells equals the view
    computed from the facts, and the straightforward query over the stored rows; returns how
    many cut-offs the cells answered for patients they hold."""
    latest = store.data_cutoff(engine)
    answered = 0
    for cutoff in _earlier_cutoffs(latest):
        definition = replace(OutcomeDefinition(), cutoff=cutoff)
        quarter_end = secondary_cells.last_quarter_end(cutoff)
        for grouping in secondary_cells.GROUPINGS:
            by = (grouping,) if grouping else ()
            with engine.connect() as connection:
                prefix = secondary_cells.kept_counts(connection, cutoff, grouping, quarter_end=quarter_end)
            assert prefix is not None, (cutoff, grouping)
            answered += bool(prefix) and grouping == ""
            kept = secondary_counts(engine, definition, by=by)
            assert kept == _computed(engine, monkeypatch, definition=definition, by=by), (cutoff, grouping)
            with monkeypatch.context() as patch:
                patch.setattr(cohorts, "READ_FACTS", False)  # every patient from the stored rows
                assert kept == secondary_counts(engine, definition, by=by), (cutoff, grouping)
    return answered


def _in_steps(frames: dict[str, pd.DataFrame]):
    """The clinic's rows of each step: sessions and follow-ups dated in it, and the patients first
    treated in it (all the others with the first step)."""
    dates = {name: pd.to_datetime(frames[name][f"{name[:-1]}_date"]) for name in ("sessions", "followups")}
    first = dates["sessions"].groupby(frames["sessions"]["patient_id"]).min()
    start = pd.Timestamp("1900-01-01")
    for step in STEPS:
        end = pd.Timestamp(step)
        dated = {name: frames[name][(dates[name] > start) & (dates[name] <= end)] for name in dates}
        patients = frames["patients"]
        chosen = patients["patient_id"].isin(first[(first > start) & (first <= end)].index)
        if step == STEPS[0]:
            chosen |= ~patients["patient_id"].isin(first.index)
        yield step, {"patients": patients[chosen], **dated}
        start = end


def test_the_kept_cells_equal_the_computed_view_after_every_import(engine, monkeypatch):
    monkeypatch.setattr(facts, "REBUILD_SHARE", 2.0)  # every refresh per patient: the incremental path
    frames = generate(500, seed=31, today=TODAY)
    eligible, answered = [], 0
    for step, part in _in_steps(frames):
        report = import_frames(engine, part, today=TODAY)
        assert report.ok, (step, report.problems[:3])
        assert store.data_cutoff(engine) <= step
        eligible.append(_assert_cells_answer(engine, monkeypatch))
        answered += _assert_cells_answer_earlier(engine, monkeypatch)
    # The steps moved patients into the view (their windows closed), not only by writing them.
    assert eligible == sorted(eligible) and eligible[0] < eligible[-1] and eligible[-1] > 250
    # Most earlier cut-offs found settled patients in the cells (the first steps have few).
    assert answered >= 20
    # Counted afresh, the cells are what the steps left.
    with engine.connect() as connection:
        stepped = _cells(connection)
    with engine.begin() as connection:
        facts.refresh(connection)
        assert _cells(connection) == stepped


def _cells(connection) -> list[list[tuple]]:
    kept = (schema.secondary_cells, schema.secondary_changes, schema.profile_patterns)
    return [sorted(tuple(row) for row in connection.execute(select(table))) for table in kept]


@pytest.fixture
def demo(engine: Engine) -> Engine:
    report = import_frames(engine, generate(300, seed=32, today=TODAY), today=TODAY, source="demo")
    assert report.ok, report.problems
    return engine


def test_a_changed_patient_changes_the_cells_by_their_part(demo, monkeypatch):
    """Five patients' follow-ups rewritten in place and refreshed: the cells follow."""
    f = schema.followups
    with demo.begin() as connection:
        keys = list(connection.execute(select(f.c.patient_key).distinct().limit(5)).scalars())
        connection.execute(update(f).where(f.c.patient_key.in_(keys)).values(pain=0, phq9=1, mme=0))
        ids = connection.execute(select(schema.patients.c.patient_id).where(schema.patients.c.id.in_(keys)))
        assert facts.refresh(connection, list(ids.scalars())) == 5
    _assert_cells_answer(demo, monkeypatch)


def test_only_the_default_view_is_read_from_the_cells(demo, monkeypatch):
    read: list[str] = []
    real = secondary_cells.kept_counts
    monkeypatch.setattr(
        secondary_cells, "kept_counts", lambda c, cutoff, g, **k: read.append(g) or real(c, cutoff, g, **k)
    )
    secondary_counts(demo, by=("route",))
    assert read == ["route"]
    for arguments in (
        {"by": ("condition", "route")},
        {"cohort": CohortFilter(conditions=("crps",))},
        {"settings": MeasureSettings(phq9_baseline=15)},
        {"definition": OutcomeDefinition(threshold=0.5)},
        {"definition": OutcomeDefinition(timepoint_days=180, window_days=45)},
        {"definition": OutcomeDefinition(timepoint_days=120)},
    ):
        secondary_counts(demo, **arguments)
    assert read == ["route"]
    # Six months, the default window: kept too, at the data cut-off only.
    secondary_counts(demo, OutcomeDefinition(timepoint_days=180), by=("route",))
    assert read == ["route", "route"]
    earlier_cutoff = store.data_cutoff(demo) - timedelta(days=1)
    with demo.connect() as connection:  # nor by quarter: an earlier cut-off is counted
        assert secondary_cells.kept_counts(connection, earlier_cutoff, "", timepoint=180) is None
    read.clear()
    # An earlier cut-off: the cells answer for the patients settled by the last quarter end only.
    earlier = replace(OutcomeDefinition(), cutoff=store.data_cutoff(demo) - timedelta(days=1))
    assert secondary_counts(demo, definition=earlier) == _computed(demo, monkeypatch, definition=earlier)
    assert read == [""]
    with demo.connect() as connection:
        assert secondary_cells.kept_counts(connection, earlier.cutoff, "") is None


def test_cells_counted_under_other_rules_are_not_read_and_the_next_refresh_recounts_them(demo, monkeypatch):
    state = schema.secondary_cells_state
    with demo.begin() as connection:
        connection.execute(update(state).values(fingerprint="older rules"))
    assert _kept(demo, "condition") is None
    with demo.connect() as connection:  # nor the profile's patterns
        assert secondary_cells.counted_at(connection) is None
        assert profile_cells.kept_patterns(connection, store.data_cutoff(demo), None) is None
    assert secondary_counts(demo, by=("condition",)).counts  # computed from the facts meanwhile
    with demo.begin() as connection:
        patient = connection.execute(select(schema.patients.c.patient_id).limit(1)).scalar_one()
        facts.refresh(connection, [patient])
    _assert_cells_answer(demo, monkeypatch)


def test_a_refused_import_leaves_the_cells_as_they_were(demo):
    with demo.connect() as connection:
        before = _cells(connection)
    bad = {
        "sessions": pd.DataFrame(
            [{"patient_id": "NOBODY", "session_date": TODAY, "route": "oral", "dose_mg": 40}]
        )
    }
    assert not import_frames(demo, bad, today=TODAY).ok
    with demo.connect() as connection:
        assert _cells(connection) == before


def test_the_migration_counts_the_data_stored_before_it(db_url, monkeypatch):
    engine = store.make_engine(db_url)
    report = import_frames(engine, generate(200, seed=33, today=TODAY), today=TODAY, source="demo")
    assert report.ok, report.problems
    store.downgrade(engine, "0011")
    store.migrate(engine)
    _assert_cells_answer(engine, monkeypatch)
    engine.dispose()


def test_cells_counted_at_another_data_cut_off_do_not_answer_an_earlier_one(demo):
    """Rows written without a refresh move the data cut-off away from the cells' own: then not
    even the settled patients' part is read from them."""
    latest = store.data_cutoff(demo)
    earlier = latest - timedelta(days=1)
    quarter_end = secondary_cells.last_quarter_end(earlier)
    with demo.connect() as connection:
        assert secondary_cells.kept_counts(connection, earlier, "", quarter_end=quarter_end)
    with demo.begin() as connection:
        connection.execute(update(schema.secondary_cells_state).values(as_of=latest - timedelta(days=30)))
    with demo.connect() as connection:
        assert secondary_cells.kept_counts(connection, earlier, "", quarter_end=quarter_end) is None


def test_the_last_quarter_end_on_or_before_a_day():
    assert secondary_cells.last_quarter_end(date(2026, 6, 30)) == date(2026, 6, 30)
    assert secondary_cells.last_quarter_end(date(2026, 6, 29)) == date(2026, 3, 31)
    assert secondary_cells.last_quarter_end(date(2026, 1, 1)) == date(2025, 12, 31)
    assert secondary_cells.last_quarter_end(date(2025, 12, 31)) == date(2025, 12, 31)
    assert secondary_cells.quarter_label(date(2025, 12, 31)) == "2025-Q4"
    assert secondary_cells.quarter_label(date(2026, 4, 1)) == "2026-Q2"
