"""End of care (docs/contract.md): checks of ``end_date`` and ``end_reason`` against stored rows.

``end_reason`` needs an ``end_date``; an ``end_date`` may not be before the patient's first
session, whether the session and the end date come from this import or were stored before.
The values that count are those the import leaves stored: the imported cell where the file has
the column, else the stored value (an absent column keeps the stored value, docs/import.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from analysis.ingest.report import _display, _Problems
from analysis.ingest.validate import END_REASON_NEEDS_DATE, _Checked


def _days(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).astype("datetime64[us]")


def _stored(values: pd.Series, ids: pd.Series) -> pd.Series:
    """The stored values of ``ids`` (missing for patients not stored), aligned with ``ids``."""
    return pd.Series(values[~values.index.duplicated()].reindex(ids).to_numpy(), index=ids.index)


def check_end_of_care(
    checked: Mapping[str, _Checked],
    stored_patients: pd.DataFrame,
    stored_first: pd.DataFrame,
    problems: _Problems,
) -> None:
    """Report an end reason without an end date, and an end date before the first session."""
    stored = stored_patients.set_index("patient_id")[["end_date", "end_reason"]]
    stored = stored.assign(end_date=_days(stored["end_date"]))
    patients = checked.get("patients")
    imported_end = pd.Series(dtype="datetime64[us]")
    if patients is not None and "patient_id" in patients.data:
        data, supplied = patients.data, patients.supplied
        ids = data["patient_id"]
        end_date = data["end_date"] if "end_date" in supplied else _stored(stored["end_date"], ids)
        if "end_date" not in supplied and "end_reason" in supplied:  # the stored date must do
            problems.cells(
                "patients",
                "end_reason",
                (data["end_reason"].notna() & end_date.isna()).to_numpy(),
                data["_row"].to_numpy(),
                data["end_reason"],
                END_REASON_NEEDS_DATE,
            )
        imported_end = pd.Series(_days(end_date).to_numpy(), index=ids.to_numpy()).dropna()
    ends = pd.concat([imported_end, stored["end_date"].dropna().drop(imported_end.index, errors="ignore")])
    if ends.empty:
        return
    firsts = [pd.Series(_days(stored_first["first_session"]).to_numpy(), index=stored_first["patient_id"])]
    sessions = checked.get("sessions")
    if sessions is not None and {"patient_id", "session_date"} <= set(sessions.data.columns):
        firsts.append(sessions.data.groupby("patient_id")["session_date"].min())
    first = pd.concat(firsts).dropna().groupby(level=0).min()
    early = ends[ends < first.reindex(ends.index)]
    if early.empty:
        return
    reported: set[str] = set()
    if patients is not None and "end_date" in patients.supplied:
        data = patients.data
        mask = data["patient_id"].isin(early.index) & data["end_date"].notna()
        reasons = data["patient_id"].map(
            lambda pid: (
                f"end_date is before the patient's first session ({_display(first.get(pid))}); "
                "check the dates"
            )
        )
        problems.cells(
            "patients", "end_date", mask.to_numpy(), data["_row"].to_numpy(), data["end_date"], reasons
        )
        reported = set(data.loc[mask, "patient_id"])
    if sessions is not None and "session_date" in sessions.data:
        data = sessions.data
        rest = early.drop(list(reported), errors="ignore")
        # The earliest imported session of each such patient carries the problem.
        earliest = data["session_date"] == data.groupby("patient_id")["session_date"].transform("min")
        mask = (data["patient_id"].isin(rest.index) & earliest).to_numpy()
        reasons = data["patient_id"].map(
            lambda pid: (
                f"the patient left care on {_display(rest.get(pid))} (end_date), before this "
                "first session; check the dates"
            )
        )
        problems.cells(
            "sessions",
            "session_date",
            np.asarray(mask),
            data["_row"].to_numpy(),
            data["session_date"],
            reasons,
        )
