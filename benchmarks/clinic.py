"""Benchmark clinics: sizes, the chunked demo generator, and the tables in their stored form.

A size is named by its number of sessions, because the targets are. The demo generator
(:func:`analysis.demo.generate`) gives about 5.9 sessions and 1.7 follow-ups per patient, so
the "1m" clinic has about 169,000 patients. Large clinics are generated in chunks of
:data:`CHUNK_PATIENTS` patients, each chunk with its own seed and a ``Cnn-`` prefix on its
pseudonyms so that chunks never share a ``patient_id``.

:class:`StoredClinic` holds the three tables as the importer would store them (docs/contract.md):
surrogate keys ``patients.id`` 1..n referenced by ``patient_key``, ages capped at 90, ``site``
defaulting to ``main``, rows in natural-key order. The bulk loaders write these frames as they
are; :func:`benchmarks.databases.check_bulk_load` proves on a small clinic that the result is
what :func:`analysis.ingest.import_frames` stores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from analysis.demo import generate

#: The day the synthetic history ends (fixed, so that every run builds the same clinics).
TODAY = date(2026, 10, 31)
BASE_SEED = 20261125
#: Patients per generator call; 100k patients take about 2–4 s (shared machine) and 0.4 GB.
CHUNK_PATIENTS = 100_000
#: Sessions per patient that :func:`analysis.demo.generate` gives on average (measured).
SESSIONS_PER_PATIENT = 5.92
#: Age is stored capped at 90 (docs/contract.md, "90+").
AGE_CAP = 90


@dataclass(frozen=True)
class Size:
    """A clinic size: its name on the command line and the sessions it aims at."""

    name: str
    sessions: int

    @property
    def patients(self) -> int:
        return math.ceil(self.sessions / SESSIONS_PER_PATIENT)


SIZES: dict[str, Size] = {
    s.name: s for s in (Size("100k", 100_000), Size("1m", 1_000_000), Size("10m", 10_000_000))
}


def contract_frames(n_patients: int, seed: int = BASE_SEED) -> dict[str, pd.DataFrame]:
    """Import-contract frames (docs/contract.md) for ``n_patients``, generated in chunks if large."""
    parts: list[dict[str, pd.DataFrame]] = []
    chunks = max(1, math.ceil(n_patients / CHUNK_PATIENTS))
    for chunk in range(chunks):
        size = min(CHUNK_PATIENTS, n_patients - chunk * CHUNK_PATIENTS)
        frames = generate(size, seed + chunk, today=TODAY)
        if chunks > 1:
            prefix = f"C{chunk:02d}-"
            for frame in frames.values():
                frame["patient_id"] = prefix + frame["patient_id"].astype(str)
        parts.append(frames)
    if len(parts) == 1:
        return parts[0]
    return {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in parts[0]}


@dataclass
class StoredClinic:
    """The three tables as stored: integer keys, dates as ``datetime64[s]``, natural-key order."""

    patients: pd.DataFrame
    sessions: pd.DataFrame
    followups: pd.DataFrame

    @property
    def rows(self) -> int:
        return len(self.patients) + len(self.sessions) + len(self.followups)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"patients": self.patients, "sessions": self.sessions, "followups": self.followups}

    def describe(self) -> str:
        return (
            f"{len(self.patients):,} patients, {len(self.sessions):,} sessions, "
            f"{len(self.followups):,} follow-ups"
        )


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).astype("datetime64[s]")


def stored_clinic(frames: dict[str, pd.DataFrame]) -> StoredClinic:
    """The contract frames in the form the importer stores them (see the module docstring)."""
    p = frames["patients"].reset_index(drop=True)
    key = pd.Series(np.arange(1, len(p) + 1, dtype=np.int64), index=p["patient_id"].astype(str))
    patients = pd.DataFrame(
        {
            "id": key.to_numpy(),
            "patient_id": p["patient_id"].astype(str),
            "condition": p["condition"].astype(str),
            "site": p["site"].fillna("main").astype(str),
            "age": pd.to_numeric(p["age"]).clip(upper=AGE_CAP).astype("Int64"),
            "sex": p["sex"].astype(object).where(p["sex"].notna(), None),
            "baseline_pain": p["baseline_pain"].astype("float64"),
            "baseline_mme": p["baseline_mme"].astype("float64"),
            # The second edition's optional columns (docs/contract.md): without them the measures
            # beyond pain and the end-of-care censoring would have nothing to work on.
            "baseline_phq9": pd.to_numeric(p["baseline_phq9"]).astype("Int64"),
            "baseline_bpi_interference": p["baseline_bpi_interference"].astype("float64"),
            "baseline_headache_days": pd.to_numeric(p["baseline_headache_days"]).astype("Int64"),
            "end_date": _dates(p["end_date"]),
            "end_reason": p["end_reason"].astype(object).where(p["end_reason"].notna(), None),
        }
    )

    def child(frame: pd.DataFrame, date_column: str) -> pd.DataFrame:
        out = frame.copy()
        out.insert(0, "patient_key", out.pop("patient_id").astype(str).map(key).astype(np.int64))
        out[date_column] = _dates(out[date_column])
        return out.sort_values(["patient_key", date_column], kind="stable", ignore_index=True)

    sessions = child(frames["sessions"], "session_date")
    followups = child(frames["followups"], "followup_date")
    for column in ("pgic", "phq9", "headache_days"):
        followups[column] = pd.to_numeric(followups[column]).astype("Int64")
    return StoredClinic(patients, sessions, followups)


def build(size: Size) -> tuple[StoredClinic, dict[str, pd.DataFrame]]:
    """The clinic of ``size`` (stored form) and the contract frames it came from."""
    frames = contract_frames(size.patients)
    return stored_clinic(frames), frames


def import_slice(sessions: int, seed: int = BASE_SEED + 999) -> dict[str, pd.DataFrame]:
    """Contract frames of about ``sessions`` sessions (with their patients and follow-ups).

    Its pseudonyms start with ``IMP-``, so that imported into any benchmark clinic it adds new
    patients rather than updating the clinic's own.
    """
    frames = contract_frames(math.ceil(sessions / SESSIONS_PER_PATIENT), seed)
    for frame in frames.values():
        frame["patient_id"] = "IMP-" + frame["patient_id"].astype(str)
    return frames
