"""Dose per kilogram against outcome, by route — aggregated in the database.

Each patient's dose is the mean of ``dose_mg / weight_kg`` over their sessions with a recorded
weight (up to the cut-off); patients with no recorded weight are left out of this view only.
Doses are compared within a route: an intranasal milligram is not an intramuscular one
(bioavailability about 25–50 % against 93 %).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Date, Engine, case, func, literal, select

from analysis import stats
from analysis.db import schema
from analysis.db.cohorts import cohort_query
from analysis.domain.definition import SMALL_CELL, CohortFilter, OutcomeDefinition

#: Upper bounds (mg/kg, exclusive) of the dose bands; the last band is open-ended.
DOSE_BANDS: tuple[tuple[str, float], ...] = (
    ("<0.5", 0.5),
    ("0.5–1", 1.0),
    ("1–1.5", 1.5),
    ("1.5–2", 2.0),
)
OPEN_BAND = "≥2"
BAND_ORDER = [label for label, _ in DOSE_BANDS] + [OPEN_BAND]


def dose_response(
    engine: Engine, definition: OutcomeDefinition = OutcomeDefinition(), cohort: CohortFilter = CohortFilter()
) -> pd.DataFrame:
    """Response by route and band of mean dose per kg: one row per (route, band).

    Columns: route, dose_band, patients, mean_mg_per_kg, n, responders, rate, ci_low, ci_high,
    small_n. ``n`` follows the definition's missing-data policy.
    """
    definition, cohort_rows = cohort_query(engine, definition, cohort)
    assert definition.cutoff is not None
    s = schema.sessions
    dose = (
        select(s.c.patient_key, func.avg(s.c.dose_mg / s.c.weight_kg).label("mg_per_kg"))
        .where(s.c.weight_kg.is_not(None), s.c.session_date <= literal(definition.cutoff, Date))
        .group_by(s.c.patient_key)
        .subquery("dose")
    )
    rows = cohort_rows.subquery("cohort")
    band = case(*[(dose.c.mg_per_kg < upper, label) for label, upper in DOSE_BANDS], else_=OPEN_BAND)
    query = (
        select(
            rows.c.route,
            band.label("dose_band"),
            func.count().label("patients"),
            func.avg(dose.c.mg_per_kg).label("mean_mg_per_kg"),
            func.sum(rows.c.eligible).label("eligible"),
            func.sum(rows.c.with_followup).label("with_followup"),
            func.sum(rows.c.responder).label("responders"),
        )
        .join(dose, dose.c.patient_key == rows.c.patient_key)
        .group_by(rows.c.route, band)
    )
    with engine.connect() as connection:
        frame = pd.DataFrame(connection.execute(query).mappings().all())
    columns = [
        "route",
        "dose_band",
        "patients",
        "mean_mg_per_kg",
        "n",
        "responders",
        "rate",
        "ci_low",
        "ci_high",
    ]
    if frame.empty:
        return pd.DataFrame(columns=[*columns, "small_n"])
    frame["n"] = frame["eligible" if definition.missing == "itt" else "with_followup"].astype(int)
    frame["responders"] = frame["responders"].astype(int)
    intervals = [
        stats.proportion_interval(int(r), int(n), alpha=definition.alpha, method=definition.ci)
        for r, n in zip(frame["responders"], frame["n"], strict=True)
    ]
    frame["rate"] = [i.rate for i in intervals]
    frame["ci_low"] = [i.low for i in intervals]
    frame["ci_high"] = [i.high for i in intervals]
    frame["small_n"] = frame["n"] < SMALL_CELL
    frame["dose_band"] = pd.Categorical(frame["dose_band"], categories=BAND_ORDER, ordered=True)
    return frame.sort_values(["route", "dose_band"])[[*columns, "small_n"]].reset_index(drop=True)
