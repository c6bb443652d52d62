"""A straightforward, load-everything pandas reading of docs/methods.md, for cross-checking the SQL.

Deliberately written from docs/methods.md's words, row by row and without sharing code with
``analysis/db/derivation.py``, so that a slip in either shows up as a disagreement.
"""

from __future__ import annotations

from datetime import date

import pandas as pd


def reference_outcomes(
    patients: pd.DataFrame,
    sessions: pd.DataFrame,
    followups: pd.DataFrame,
    *,
    timepoint: int = 90,
    window: int = 30,
    threshold: float = 0.30,
    cutoff: date,
) -> pd.DataFrame:
    """Per-patient flags keyed by ``patient_id``: evaluable, pending, eligible, with_followup, responder."""
    rows = []
    for patient in patients.itertuples(index=False):
        own = sessions[sessions.patient_id == patient.patient_id]
        if len(own) and (own.session_date <= cutoff).sum() == 0:
            continue  # first treated after the cut-off: not yet a patient
        own = own[own.session_date <= cutoff].sort_values("session_date")
        index_date = own.session_date.iloc[0] if len(own) else None
        baseline = patient.baseline_pain
        if pd.isna(baseline) and len(own):
            baseline = own.pre_pain.iloc[0]
        counts = own.route.value_counts()
        if counts.empty:
            route = "none"
        elif (counts == counts.max()).sum() > 1:
            route = "mixed"
        else:
            route = counts.idxmax()
        evaluable = index_date is not None and not pd.isna(baseline) and baseline > 0
        followup = None
        if index_date is not None:
            mine = followups[
                (followups.patient_id == patient.patient_id) & (followups.followup_date <= cutoff)
            ]
            best = None
            for f in mine.itertuples(index=False):
                d = (f.followup_date - index_date).days
                if timepoint - window <= d <= timepoint + window:
                    candidate = (abs(d - timepoint), d, f.pain)
                    if best is None or candidate < best:
                        best = candidate
            followup = best
        closed = index_date is not None and (cutoff - index_date).days >= timepoint + window
        eligible = evaluable and (followup is not None or closed)
        responder = (
            eligible and followup is not None and (baseline - followup[2]) / baseline >= threshold - 1e-9
        )
        rows.append(
            {
                "patient_id": patient.patient_id,
                "condition": patient.condition,
                "route": route,
                "evaluable": int(evaluable),
                "pending": int(evaluable and not (followup is not None or closed)),
                "eligible": int(eligible),
                "with_followup": int(eligible and followup is not None),
                "responder": int(responder),
            }
        )
    return pd.DataFrame(rows).set_index("patient_id").sort_index()
