"""The SQL outcome engine agrees, patient by patient, with a plain pandas reading of docs/methods.md.

Random clinics are drawn to hit the edges often: missing and zero baselines, patients without
sessions, ties between routes and between follow-ups, windows open and closed, a cut-off
before some of the data.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select

from analysis.db import facts, schema
from analysis.db.cohorts import cohort_query, patient_outcomes
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.queries.response import summarize
from tests.reference import reference_outcomes

START = date(2024, 1, 1)


def random_clinic(seed: int, n_patients: int = 120) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    patients, sessions, followups = [], [], []
    for i in range(n_patients):
        pid = f"R{seed}-{i:04d}"
        baseline = rng.choice(
            [np.nan, 0.0, 3.0, 5.0, 6.5, 8.0, 10.0], p=[0.15, 0.05, 0.1, 0.2, 0.2, 0.2, 0.1]
        )
        patients.append(
            {
                "patient_id": pid,
                "condition": str(rng.choice(["crps", "migraine", "fibromyalgia"])),
                "baseline_pain": None if np.isnan(baseline) else float(baseline),
            }
        )
        index = START + timedelta(days=int(rng.integers(0, 500)))
        n_sessions = int(rng.choice([0, 1, 2, 3, 4], p=[0.05, 0.2, 0.25, 0.25, 0.25]))
        for k in range(n_sessions):
            sessions.append(
                {
                    "patient_id": pid,
                    "session_date": index + timedelta(days=7 * k),
                    "route": str(rng.choice(["intranasal", "intramuscular"])),
                    "pre_pain": None if rng.random() < 0.1 else float(rng.integers(0, 11)),
                }
            )
        for _ in range(int(rng.integers(0, 4))):
            offset = int(rng.choice([30, 60, 80, 90, 100, 120, 121, 59, 180, int(rng.integers(-10, 200))]))
            followups.append(
                {
                    "patient_id": pid,
                    "followup_date": index + timedelta(days=offset),
                    "pain": float(rng.integers(0, 11)),
                }
            )
    frames = {
        "patients": pd.DataFrame(patients),
        "sessions": pd.DataFrame(sessions),
        "followups": pd.DataFrame(followups).drop_duplicates(["patient_id", "followup_date"]),
    }
    return frames


def _records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def store_clinic(engine, frames: dict[str, pd.DataFrame], *, derive_facts: bool = True) -> None:
    """Insert the frames with SQLAlchemy Core, then derive the per-patient facts as an import would."""
    with engine.begin() as connection:
        connection.execute(insert(schema.patients), _records(frames["patients"]))
        keys = dict(connection.execute(select(schema.patients.c.patient_id, schema.patients.c.id)).all())
        for table, name in ((schema.sessions, "sessions"), (schema.followups, "followups")):
            rows = (
                frames[name].assign(patient_key=frames[name].patient_id.map(keys)).drop(columns="patient_id")
            )
            rows = rows.assign(dose_mg=50.0) if name == "sessions" else rows
            connection.execute(insert(table), _records(rows))
        if derive_facts:
            facts.refresh(connection)


FLAGS = ["evaluable", "pending", "eligible", "with_followup", "responder"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_engine_matches_the_plain_reading_patient_by_patient(engine, seed):
    frames = random_clinic(seed)
    store_clinic(engine, frames)
    latest = max(frames["sessions"].session_date.max(), frames["followups"].followup_date.max())
    # Two earlier cut-offs read the stored sessions; the latest date reads the per-patient facts.
    for cutoff in (date(2024, 9, 1), date(2025, 9, 1), latest):
        expected = reference_outcomes(
            frames["patients"], frames["sessions"], frames["followups"], cutoff=cutoff
        )
        actual = (
            patient_outcomes(engine, OutcomeDefinition(cutoff=cutoff)).set_index("patient_id").sort_index()
        )
        assert list(actual.index) == list(expected.index)
        assert (actual["route"] == expected["route"]).all()
        pd.testing.assert_frame_equal(actual[FLAGS].astype(int), expected[FLAGS].astype(int))


def test_grouped_counts_equal_the_sum_of_patient_rows(engine):
    frames = random_clinic(7)
    store_clinic(engine, frames)
    cutoff = date(2025, 6, 1)
    expected = reference_outcomes(frames["patients"], frames["sessions"], frames["followups"], cutoff=cutoff)
    table = summarize(engine, OutcomeDefinition(cutoff=cutoff), by=("condition", "route"))
    sums = expected.groupby(["condition", "route"])[FLAGS].sum()
    for group in table.groups:
        row = sums.loc[(group.keys["condition"], group.keys["route"])]
        assert (
            group.evaluable,
            group.pending,
            group.eligible,
            group.with_followup,
            group.responders,
        ) == tuple(int(row[f]) for f in FLAGS)
    assert table.overall.patients == len(expected)
    assert sum(g.patients for g in table.groups) == len(expected)


@pytest.mark.parametrize(
    ("columns", "cohort"),
    [
        # The response table by condition: no session is read at an earlier cut-off.
        (
            ("patient_key", "condition", "eligible", "with_followup", "responder", "index_date"),
            CohortFilter(),
        ),
        # The secondary measures' and durability's columns, with a route filter (which adds the route).
        (
            ("patient_key", "index_date", "baseline", "evaluable", "reduction"),
            CohortFilter(routes=("intranasal",)),
        ),
        # The session facts themselves.
        (
            ("patient_key", "route", "n_sessions", "sessions_with_ae"),
            CohortFilter(conditions=("crps", "migraine")),
        ),
    ],
)
def test_rows_of_only_some_columns_equal_those_of_every_column(engine, columns, cohort):
    """cohort_query(columns=…) gives, patient by patient, the same values as the full rows."""
    frames = random_clinic(11)
    store_clinic(engine, frames)
    latest = max(frames["sessions"].session_date.max(), frames["followups"].followup_date.max())
    for cutoff in (date(2024, 9, 1), date(2025, 3, 1), latest):
        definition = OutcomeDefinition(cutoff=cutoff)
        _, narrow = cohort_query(engine, definition, cohort, columns=columns)
        _, full = cohort_query(engine, definition, cohort)
        with engine.connect() as connection:
            got = pd.DataFrame(connection.execute(narrow).mappings().all())
            every = pd.DataFrame(connection.execute(full).mappings().all())
        assert set(columns) <= set(got.columns) < set(every.columns)
        assert len(got) == len(every) > 0
        pd.testing.assert_frame_equal(
            got[list(columns)].sort_values("patient_key", ignore_index=True),
            every[list(columns)].sort_values("patient_key", ignore_index=True),
        )
