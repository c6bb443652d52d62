"""Tiny clinics written straight into the tables, for tests of the outcome rules.

Rows are given with day offsets from an index date so that each test reads like the rule it
checks. Writing with SQLAlchemy Core (not the importer) keeps the rules' tests independent
of the importer's.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select

from analysis.db import facts, schema

DAY0 = date(2025, 1, 6)


def stored_rows(engine: Engine) -> dict[str, list[tuple]]:
    """Every stored row of the three data tables, in key order: "the database as it is"."""
    with engine.connect() as connection:
        return {
            table.name: [tuple(r) for r in connection.execute(select(table).order_by(*table.primary_key))]
            for table in (schema.patients, schema.sessions, schema.followups)
        }


def day(n: int) -> date:
    """The date ``n`` days after the test index date."""
    return DAY0 + timedelta(days=n)


def add_patient(
    engine: Engine,
    patient_id: str,
    *,
    condition: str = "crps",
    site: str = "main",
    baseline_pain: float | None = 8.0,
    sessions: list[dict[str, Any]] | None = None,
    followups: list[dict[str, Any]] | None = None,
    **patient: Any,
) -> int:
    """Insert one patient with sessions and follow-ups; returns its key.

    Sessions default to one intranasal session on day 0; each session/follow-up dict may
    give ``day`` instead of a date.
    """
    sessions = [{"day": 0}] if sessions is None else sessions
    followups = followups or []
    with engine.begin() as connection:
        key = connection.execute(
            insert(schema.patients)
            .values(
                patient_id=patient_id, condition=condition, site=site, baseline_pain=baseline_pain, **patient
            )
            .returning(schema.patients.c.id)
        ).scalar_one()
        for row in sessions:
            row = dict(row)
            when = day(row.pop("day")) if "day" in row else row.pop("session_date")
            values = {"route": "intranasal", "dose_mg": 50.0, "pre_pain": None, **row}
            connection.execute(insert(schema.sessions).values(patient_key=key, session_date=when, **values))
        for row in followups:
            row = dict(row)
            when = day(row.pop("day")) if "day" in row else row.pop("followup_date")
            connection.execute(insert(schema.followups).values(patient_key=key, followup_date=when, **row))
        facts.refresh(connection, [patient_id])  # what the importer does in its transaction
    return key


def patient_key(engine: Engine, patient_id: str) -> int:
    """The stored key of a pseudonymous patient id."""
    with engine.connect() as connection:
        return connection.execute(
            select(schema.patients.c.id).where(schema.patients.c.patient_id == patient_id)
        ).scalar_one()
