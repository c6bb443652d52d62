"""The condition × route summary of docs/methods.md, twice more: DuckDB SQL and load-everything pandas.

Both are written from docs/methods.md, not from ``analysis/db/derivation.py``, and return the same counts
frame as :func:`counts_from_summary` makes of :func:`analysis.db.derivation.summarize`: one row per
(condition, route) with ``patients``, ``evaluable``, ``pending``, ``eligible``,
``with_followup``, ``responders``. The harness compares the three frames cell by cell.

The rules, as implemented here:

- Data cut-off = the latest session or follow-up date; sessions and follow-ups after it are
  ignored, and patients whose sessions all fall after it are not counted (none do when the
  cut-off is the latest date, but the rule is kept).
- Index date = first session; baseline = ``patients.baseline_pain`` if not null, else the
  first session's ``pre_pain``; evaluable = index date and baseline present, baseline > 0.
- Route = plurality of sessions, a tie → ``mixed``; no session → ``none``.
- Follow-up: T − W ≤ day ≤ T + W; the nearest to T, a tie → the earlier.
- Eligible = evaluable and (follow-up in window, or cut-off − index date ≥ T + W); pending =
  evaluable and not so; responder = eligible, with follow-up, reduction ≥ threshold − 1e-9.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analysis.domain.definition import OutcomeDefinition

if TYPE_CHECKING:
    import duckdb

    from analysis.queries.response import ResponseTable

COUNT_COLUMNS: tuple[str, ...] = (
    "patients",
    "evaluable",
    "pending",
    "eligible",
    "with_followup",
    "responders",
)
KEYS: tuple[str, ...] = ("condition", "route")
MIXED = "mixed"
#: docs/methods.md: a reduction of exactly the threshold counts despite floating point. Written here
#: again (not imported from analysis.db.derivation) so that the DuckDB and pandas processes do not
#: load SciPy and statsmodels, which would inflate their measured memory.
EPSILON = 1e-9
NO_ROUTE = "none"


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[[*KEYS, *COUNT_COLUMNS]].copy()
    for key in KEYS:
        frame[key] = frame[key].astype(str)
    for column in COUNT_COLUMNS:
        frame[column] = frame[column].astype("int64")
    return frame.sort_values(list(KEYS), ignore_index=True)


def counts_from_summary(table: ResponseTable) -> pd.DataFrame:
    """The counts of a condition × route :class:`ResponseTable` as a comparable frame."""
    rows = [
        {
            **group.keys,
            "patients": group.patients,
            "evaluable": group.evaluable,
            "pending": group.pending,
            "eligible": group.eligible,
            "with_followup": group.with_followup,
            "responders": group.responders,
        }
        for group in table.groups
    ]
    return _tidy(pd.DataFrame(rows, columns=[*KEYS, *COUNT_COLUMNS]))


def counts_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows (for the probes' output)."""
    return [
        {k: (int(v) if k in COUNT_COLUMNS else str(v)) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def counts_from_records(records: list[dict[str, Any]]) -> pd.DataFrame:
    return _tidy(pd.DataFrame(records, columns=[*KEYS, *COUNT_COLUMNS]))


def same_counts(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """True when two counts frames agree on every group and every count."""
    return a.shape == b.shape and bool((a.reset_index(drop=True) == b.reset_index(drop=True)).all().all())


# --------------------------------------------------------------------------- DuckDB


def duckdb_sql(definition: OutcomeDefinition = OutcomeDefinition()) -> str:
    """One DuckDB query for the counts; the settings are validated numbers of ``definition``."""
    t, start, end = int(definition.timepoint_days), int(definition.window_start), int(definition.window_end)
    threshold = float(definition.threshold) - EPSILON
    return f"""
WITH cutoff AS (
    SELECT greatest((SELECT max(session_date) FROM sessions),
                    (SELECT max(followup_date) FROM followups)) AS d
),
s AS (SELECT s.* FROM sessions s, cutoff WHERE s.session_date <= cutoff.d),
first_session AS (SELECT patient_key, min(session_date) AS index_date FROM s GROUP BY patient_key),
first_row AS (
    SELECT s.patient_key, s.pre_pain
    FROM s JOIN first_session f ON s.patient_key = f.patient_key AND s.session_date = f.index_date
),
route_counts AS (SELECT patient_key, route, count(*) AS n FROM s GROUP BY patient_key, route),
patient_route AS (
    SELECT patient_key, CASE WHEN count(*) > 1 THEN '{MIXED}' ELSE min(route) END AS route
    FROM (SELECT *, max(n) OVER (PARTITION BY patient_key) AS top FROM route_counts)
    WHERE n = top
    GROUP BY patient_key
),
in_window AS (
    SELECT f.patient_key, f.pain, f.followup_date - fs.index_date AS day
    FROM followups f JOIN first_session fs USING (patient_key), cutoff
    WHERE f.followup_date <= cutoff.d AND f.followup_date - fs.index_date BETWEEN {start} AND {end}
),
nearest AS (
    SELECT patient_key, pain FROM in_window
    QUALIFY row_number() OVER (PARTITION BY patient_key ORDER BY abs(day - {t}), day) = 1
),
per_patient AS (
    SELECT p.condition,
           coalesce(r.route, '{NO_ROUTE}') AS route,
           fs.index_date,
           coalesce(p.baseline_pain, fr.pre_pain) AS baseline,
           n.pain AS followup_pain,
           n.patient_key IS NOT NULL AS has_followup
    FROM patients p
    LEFT JOIN first_session fs ON fs.patient_key = p.id
    LEFT JOIN first_row fr ON fr.patient_key = p.id
    LEFT JOIN patient_route r ON r.patient_key = p.id
    LEFT JOIN nearest n ON n.patient_key = p.id
    WHERE fs.index_date IS NOT NULL
       OR NOT EXISTS (SELECT 1 FROM sessions x WHERE x.patient_key = p.id)
),
flags AS (
    SELECT condition, route, has_followup,
           coalesce(index_date IS NOT NULL AND baseline IS NOT NULL AND baseline > 0, false) AS evaluable,
           coalesce((SELECT d FROM cutoff) - index_date >= {end}, false) AS closed,
           (baseline - followup_pain) / baseline AS reduction
    FROM per_patient
)
SELECT condition, route,
       count(*) AS patients,
       count(*) FILTER (WHERE evaluable) AS evaluable,
       count(*) FILTER (WHERE evaluable AND NOT (has_followup OR closed)) AS pending,
       count(*) FILTER (WHERE evaluable AND (has_followup OR closed)) AS eligible,
       count(*) FILTER (WHERE evaluable AND has_followup) AS with_followup,
       count(*) FILTER (WHERE evaluable AND has_followup AND reduction >= {threshold!r}) AS responders
FROM flags
GROUP BY condition, route
ORDER BY condition, route
"""


def duckdb_counts(
    connection: duckdb.DuckDBPyConnection, definition: OutcomeDefinition = OutcomeDefinition()
) -> pd.DataFrame:
    """Run :func:`duckdb_sql` on a DuckDB connection holding the three tables."""
    return _tidy(connection.execute(duckdb_sql(definition)).df())


# --------------------------------------------------------------------------- pandas


def _days(values: pd.Series) -> pd.Series:
    """Dates as read by ``pd.read_sql`` (ISO text on SQLite, ``date`` on PostgreSQL) → datetime64."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.astype("datetime64[s]")
    return pd.to_datetime(values.astype(str), format="%Y-%m-%d").astype("datetime64[s]")


def prepare_frames(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Typed columns for :func:`pandas_counts` (part of the load step of the pandas approach)."""
    sessions = tables["sessions"].assign(session_date=lambda f: _days(f["session_date"]))
    followups = tables["followups"].assign(followup_date=lambda f: _days(f["followup_date"]))
    return {"patients": tables["patients"], "sessions": sessions, "followups": followups}


def pandas_counts(
    tables: dict[str, pd.DataFrame],
    definition: OutcomeDefinition = OutcomeDefinition(),
    cutoff: date | None = None,
) -> pd.DataFrame:
    """The counts from whole tables in memory, with vectorised group-bys (no Python loops)."""
    patients, sessions, followups = tables["patients"], tables["sessions"], tables["followups"]
    last = max(sessions["session_date"].max(), followups["followup_date"].max())
    cut = pd.Timestamp(cutoff) if cutoff is not None else last

    s = sessions.loc[sessions["session_date"] <= cut, ["patient_key", "session_date", "route", "pre_pain"]]
    s = s.sort_values(["patient_key", "session_date"], kind="stable")
    first = s.drop_duplicates("patient_key")  # the first session (natural key: one per day)
    first = first.set_index("patient_key")[["session_date", "pre_pain"]].rename(
        columns={"session_date": "index_date", "pre_pain": "first_pre_pain"}
    )

    route_counts = s.groupby(["patient_key", "route"], sort=False).size().rename("n").reset_index()
    top = route_counts.groupby("patient_key")["n"].transform("max")
    leaders = route_counts[route_counts["n"] == top]
    leading = leaders.groupby("patient_key")["route"].agg(["size", "first"])
    route = pd.Series(
        np.where(leading["size"] > 1, MIXED, leading["first"]), index=leading.index, name="route"
    )

    f = followups.loc[followups["followup_date"] <= cut, ["patient_key", "followup_date", "pain"]]
    f = f.join(first["index_date"], on="patient_key", how="inner")
    day = (f["followup_date"] - f["index_date"]).dt.days
    f = f.assign(day=day, distance=(day - definition.timepoint_days).abs())
    f = f[(f["day"] >= definition.window_start) & (f["day"] <= definition.window_end)]
    nearest = (
        f.sort_values(["patient_key", "distance", "day"], kind="stable")
        .drop_duplicates("patient_key")
        .set_index("patient_key")["pain"]
        .rename("followup_pain")
    )

    has_sessions = patients["id"].isin(sessions["patient_key"].unique())
    p = patients.set_index("id")[["condition", "baseline_pain"]]
    p = p.join(first).join(route).join(nearest)
    p = p[p["index_date"].notna().to_numpy() | ~has_sessions.to_numpy()]

    baseline = p["baseline_pain"].astype("float64").fillna(p["first_pre_pain"].astype("float64"))
    evaluable = p["index_date"].notna() & baseline.notna() & (baseline > 0)
    has_followup = p["followup_pain"].notna()
    closed = ((cut - p["index_date"]).dt.days >= definition.window_end).fillna(False).astype(bool)
    eligible = evaluable & (has_followup | closed)
    reduction = (baseline - p["followup_pain"]) / baseline
    responder = eligible & has_followup & (reduction >= definition.threshold - EPSILON).fillna(False)

    flags = pd.DataFrame(
        {
            "condition": p["condition"].astype(str),
            "route": p["route"].fillna(NO_ROUTE).astype(str),
            "patients": 1,
            "evaluable": evaluable,
            "pending": evaluable & ~(has_followup | closed),
            "eligible": eligible,
            "with_followup": eligible & has_followup,
            "responders": responder,
        }
    )
    counts = flags.groupby(list(KEYS), sort=True).sum().reset_index()
    return _tidy(counts)
