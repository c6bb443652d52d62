"""Pain over time: one patient's timeline, a condition's mean trajectory, the cohort list.

Everything builds on the per-patient query of :mod:`analysis.queries.response` (docs/methods.md is written
there once): the index date (day 0), the baseline, the follow-up that counts and the
responder / eligible / pending flags come from :func:`analysis.db.derivation.patient_outcomes_query`
filtered with :func:`analysis.db.cohorts.apply_filter`. Row work stays in the database; Python receives
one patient's rows, one row per trajectory point, or one page of the cohort list.

Rules written down here (the outcome rules are silent on them):

- **Outcome status** of a patient: ``not evaluable`` (no session, or a baseline missing or 0),
  ``pending`` (window still open, no follow-up in it yet), ``responder``, ``non-responder``
  (a follow-up in the window with less than the threshold's reduction, or — under ITT — no
  follow-up and the window closed). Under the completers policy an eligible patient without
  a follow-up is ``no follow-up``: left out of the rate rather than counted as a
  non-responder.
- **Mean trajectory**: the mean pre-session pain at session 1 … 8 (sessions numbered by date
  per patient, whether or not pain was recorded) and the mean follow-up pain in three
  descriptive bins — days 15–45 ("1 month"), 60–120 ("3 months"), 150–210 ("6 months") —
  taking for each patient the one follow-up nearest the bin's centre (a tie → the earlier),
  so that every patient counts once per point. Every patient of the cohort with the
  condition contributes (evaluable or not); the patients differ from point to point
  (drop-out), so the line is a description, not a within-patient change. The interval is
  the t-based ``1 - alpha`` interval of a mean, ``mean ± t(1 - alpha/2, n - 1) · sd / √n``;
  it needs two patients (``None`` for one).
- Sessions and follow-ups after the data cut-off are ignored everywhere, as in the outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
from scipy.special import stdtrit
from sqlalchemy import Date, Engine, and_, case, func, literal, null, select

from analysis.db import schema
from analysis.db.cohorts import cohort_query
from analysis.db.sqlfunctions import days_between
from analysis.domain.definition import CohortFilter, OutcomeDefinition

__all__ = [
    "FOLLOWUP_BINS",
    "MAX_SESSIONS",
    "NON_RESPONDER",
    "NOT_EVALUABLE",
    "NO_FOLLOWUP",
    "PENDING",
    "RESPONDER",
    "FollowUpBin",
    "PatientTimeline",
    "cohort_list",
    "mean_trajectory",
    "outcome_status",
    "patient_timeline",
    "status_reason",
]

RESPONDER = "responder"
NON_RESPONDER = "non-responder"
PENDING = "pending"
NOT_EVALUABLE = "not evaluable"
NO_FOLLOWUP = "no follow-up"

#: Sessions shown on the mean trajectory (docs/methods.md: 4–8 induction sessions).
MAX_SESSIONS = 8


@dataclass(frozen=True)
class FollowUpBin:
    """A range of days since the index date summarised as one trajectory point."""

    label: str
    first_day: int
    last_day: int
    centre: int


#: Follow-up bins of the mean trajectory (inclusive day ranges).
FOLLOWUP_BINS: tuple[FollowUpBin, ...] = (
    FollowUpBin("1 month", 15, 45, 30),
    FollowUpBin("3 months", 60, 120, 90),
    FollowUpBin("6 months", 150, 210, 180),
)

#: Columns of :func:`cohort_list` (in order).
COHORT_COLUMNS: tuple[str, ...] = (
    "patient_id",
    "condition",
    "site",
    "route",
    "index_date",
    "n_sessions",
    "baseline",
    "followup_day",
    "followup_pain",
    "reduction",
    "status",
)


# --- outcome status -----------------------------------------------------------------------


def _flag(row: Mapping[str, Any], name: str) -> bool:
    value = row.get(name)
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def outcome_status(row: Mapping[str, Any], missing: str = "itt") -> str:
    """The outcome status of one per-patient outcome row (its docs/methods.md flags).

    Parameters
    ----------
    row : mapping
        A row of :func:`analysis.db.derivation.patient_outcomes_query` (dict or pandas Series).
    missing : {"itt", "completers"}
        The missing-data policy: under ``completers`` an eligible patient without a
        follow-up in the window is ``"no follow-up"`` instead of ``"non-responder"``.

    Returns
    -------
    str
        ``"responder"``, ``"non-responder"``, ``"pending"``, ``"not evaluable"`` or
        ``"no follow-up"``.
    """
    if not _flag(row, "evaluable"):
        return NOT_EVALUABLE
    if _flag(row, "pending"):
        return PENDING
    if _flag(row, "responder"):
        return RESPONDER
    if not _flag(row, "with_followup") and missing == "completers":
        return NO_FOLLOWUP
    return NON_RESPONDER


def status_reason(row: Mapping[str, Any], definition: OutcomeDefinition) -> str:
    """Why a patient has the status :func:`outcome_status` gives, in one sentence."""
    start, end = definition.window_start, definition.window_end
    index_date, baseline = row.get("index_date"), row.get("baseline")
    status = outcome_status(row, definition.missing)
    if status == NOT_EVALUABLE:
        if not _present(index_date):
            return "No session is recorded, so there is no day 0 to measure from."
        if not _present(baseline):
            return (
                "No baseline pain: none recorded for the patient and no pre-session pain at the "
                "first session."
            )
        return "The baseline pain is 0, so a reduction cannot be measured."
    assert index_date is not None  # only a not-evaluable patient lacks day 0
    closes = index_date + timedelta(days=end)
    if status == PENDING:
        return (
            f"The day {start}–{end} follow-up window is open until {closes:%d %b %Y}; no follow-up in it yet."
        )
    if _flag(row, "with_followup"):
        change = row["reduction"]
        if abs(change) < 0.005:
            direction = "unchanged"
        elif change > 0:
            direction = f"reduced by {100 * change:.0f}%"
        else:
            direction = f"increased by {-100 * change:.0f}%"
        return (
            f"Pain {row['baseline']:g} at baseline, {row['followup_pain']:g} "
            f"on day {int(row['followup_day'])}: "
            f"{direction} (responder at ≥ {100 * definition.threshold:.0f}% reduction)."
        )
    consequence = (
        "counted as a non-responder (intention to treat)."
        if definition.missing == "itt"
        else "left out of the rate (completers analysis)."
    )
    return (
        f"No follow-up between day {start} and day {end}; the window closed on {closes:%d %b %Y}: "
        + consequence
    )


# --- one patient --------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientTimeline:
    """One patient's sessions and follow-ups on one axis (days since the first session).

    ``sessions`` has one row per session up to the cut-off: ``session_number``, ``session_date``,
    ``day``, ``route``, ``dose_mg``, ``weight_kg``, ``pre_pain``, ``post_pain``,
    ``adverse_events``, ``ae_duration_min``. ``followups`` has one row per follow-up:
    ``followup_date``, ``day``, ``pain``, ``pgic``, ``bpi_interference``, ``phq9``, ``mme``,
    ``adverse_events``, ``in_window`` (inside the time-point window) and ``counted`` (the
    follow-up the outcome uses). ``day`` is ``None`` when the patient has no session.
    ``outcome`` is the patient's row of the per-patient outcome query.
    """

    patient_id: str
    definition: OutcomeDefinition  # resolved: the cut-off is set
    outcome: dict[str, Any]
    sessions: pd.DataFrame
    followups: pd.DataFrame

    @property
    def status(self) -> str:
        return outcome_status(self.outcome, self.definition.missing)

    @property
    def reason(self) -> str:
        return status_reason(self.outcome, self.definition)

    @property
    def index_date(self) -> date | None:
        return self.outcome["index_date"]

    @property
    def baseline(self) -> float | None:
        value = self.outcome["baseline"]
        return float(value) if _present(value) else None

    @property
    def target(self) -> float | None:
        """The pain at or below which the patient is a responder: baseline × (1 − threshold)."""
        if self.baseline is None:
            return None
        return self.baseline * (1 - self.definition.threshold)

    def events(self) -> pd.DataFrame:
        """Sessions and follow-ups as one compact table, in date order (sessions first on a tie)."""
        sessions = pd.DataFrame(
            {
                "day": self.sessions["day"],
                "date": self.sessions["session_date"],
                "event": [f"Session {n}" for n in self.sessions["session_number"]],
                "route": self.sessions["route"],
                "dose_mg": self.sessions["dose_mg"],
                "pre_pain": self.sessions["pre_pain"],
                "post_pain": self.sessions["post_pain"],
                "pain": None,
                "pgic": None,
                "adverse_events": self.sessions["adverse_events"],
                "ae_duration_min": self.sessions["ae_duration_min"],
                "_order": 0,
            }
        )
        followups = pd.DataFrame(
            {
                "day": self.followups["day"],
                "date": self.followups["followup_date"],
                "event": [
                    "Follow-up (counted)" if counted else "Follow-up" for counted in self.followups["counted"]
                ],
                "route": None,
                "dose_mg": None,
                "pre_pain": None,
                "post_pain": None,
                "pain": self.followups["pain"],
                "pgic": self.followups["pgic"],
                "adverse_events": self.followups["adverse_events"],
                "ae_duration_min": None,
                "_order": 1,
            }
        )
        frames = [frame for frame in (sessions, followups) if not frame.empty]
        if not frames:
            return sessions.drop(columns="_order")
        events = pd.concat(frames, ignore_index=True).sort_values(["date", "_order"], kind="stable")
        return events.drop(columns="_order").reset_index(drop=True)


# The contract's columns after patient_id: what a clinician sees of each session and follow-up.
_SESSION_COLUMNS = schema.CONTRACT_COLUMNS["sessions"][1:]
_FOLLOWUP_COLUMNS = schema.CONTRACT_COLUMNS["followups"][1:]


def patient_timeline(engine: Engine, patient_id: str, definition: OutcomeDefinition) -> PatientTimeline:
    """One patient's sessions, follow-ups and outcome (docs/methods.md) up to the cut-off.

    Raises
    ------
    LookupError
        When no patient has this ``patient_id`` (or the patient was first treated after a
        cut-off the user set, so is not yet a patient then).
    """
    definition, patient_rows = cohort_query(engine, definition)
    cutoff = definition.cutoff
    assert cutoff is not None
    s, f = schema.sessions, schema.followups
    rows = patient_rows.subquery("patient_outcomes")
    with engine.connect() as connection:
        found = connection.execute(select(rows).where(rows.c.patient_id == patient_id)).mappings().first()
        if found is None:
            raise LookupError(f"No patient {patient_id!r} up to {cutoff:%d %b %Y}.")
        outcome = dict(found)
        key, index_date = outcome["patient_key"], outcome["index_date"]

        def day_of(column: Any) -> Any:
            if index_date is None:
                return null()
            return days_between(column, literal(index_date, Date))

        session_rows = connection.execute(
            select(
                func.row_number().over(order_by=s.c.session_date).label("session_number"),
                *[s.c[name] for name in _SESSION_COLUMNS],
                day_of(s.c.session_date).label("day"),
            )
            .where(s.c.patient_key == key, s.c.session_date <= literal(cutoff, Date))
            .order_by(s.c.session_date)
        )
        sessions = pd.DataFrame(session_rows.mappings().all(), columns=list(session_rows.keys()))
        followup_rows = connection.execute(
            select(*[f.c[name] for name in _FOLLOWUP_COLUMNS], day_of(f.c.followup_date).label("day"))
            .where(f.c.patient_key == key, f.c.followup_date <= literal(cutoff, Date))
            .order_by(f.c.followup_date)
        )
        followups = pd.DataFrame(followup_rows.mappings().all(), columns=list(followup_rows.keys()))
    days = pd.to_numeric(followups["day"], errors="coerce")
    followups["in_window"] = days.between(definition.window_start, definition.window_end)
    followups["counted"] = followups["followup_date"] == outcome["followup_date"]
    return PatientTimeline(patient_id, definition, outcome, sessions, followups)


# --- a condition's mean trajectory --------------------------------------------------------


def _interval(total: float, total_sq: float, n: int, alpha: float) -> dict[str, float | None]:
    mean = total / n
    if n < 2:
        return {"mean": mean, "sd": None, "ci_low": None, "ci_high": None}
    variance = max(0.0, (total_sq - n * mean * mean) / (n - 1))
    sd = math.sqrt(variance)
    # Student's t quantile; scipy.stats.t.ppf is this same function, without importing scipy.stats.
    half = float(stdtrit(n - 1, 1 - alpha / 2)) * sd / math.sqrt(n)
    return {"mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half}


# Long on purpose: sessions and follow-up bins are aggregated in one UNION over one cohort CTE.
def mean_trajectory(
    engine: Engine, definition: OutcomeDefinition, cohort: CohortFilter, condition: str
) -> pd.DataFrame:
    """Mean pain with a t-based interval by session number and follow-up bin, for one condition.

    Aggregated in the database (``COUNT``, ``SUM`` and ``SUM(x * x)`` per point); one row per
    point that has data, in order: ``point`` (label), ``kind`` (``"session"`` or
    ``"follow-up"``), ``position`` (1–8 for sessions, then 9, 10, 11 for the bins), ``n``,
    ``mean``, ``sd``, ``ci_low``, ``ci_high`` (``None`` when ``n`` is 1). See the module
    docstring for who counts at each point.
    """
    definition, members_query = cohort_query(engine, definition, cohort)
    cutoff = definition.cutoff
    assert cutoff is not None
    s, f = schema.sessions, schema.followups
    cohort_rows = members_query.subquery("cohort")
    members = (
        select(cohort_rows.c.patient_key, cohort_rows.c.index_date)
        .where(cohort_rows.c.condition == condition, cohort_rows.c.index_date.is_not(None))
        .subquery("members")
    )

    numbered = (
        select(
            s.c.pre_pain,
            func.row_number()
            .over(partition_by=s.c.patient_key, order_by=s.c.session_date)
            .label("session_number"),
        )
        .join(members, members.c.patient_key == s.c.patient_key)
        .where(s.c.session_date <= literal(cutoff, Date))
        .subquery("numbered")
    )
    pre = numbered.c.pre_pain
    session_points = (
        select(
            numbered.c.session_number.label("point"),
            func.count(pre).label("n"),
            func.sum(pre).label("total"),
            func.sum(pre * pre).label("total_sq"),
        )
        .where(numbered.c.session_number <= MAX_SESSIONS, pre.is_not(None))
        .group_by(numbered.c.session_number)
    )

    day = days_between(f.c.followup_date, members.c.index_date)
    bin_index = case(
        *[(and_(day >= b.first_day, day <= b.last_day), i) for i, b in enumerate(FOLLOWUP_BINS)], else_=None
    )
    centre = case(
        *[(and_(day >= b.first_day, day <= b.last_day), b.centre) for b in FOLLOWUP_BINS], else_=None
    )
    ranked = (
        select(
            f.c.pain,
            bin_index.label("bin"),
            func.row_number()
            .over(partition_by=(f.c.patient_key, bin_index), order_by=(func.abs(day - centre), day))
            .label("rank"),
        )
        .join(members, members.c.patient_key == f.c.patient_key)
        .where(f.c.followup_date <= literal(cutoff, Date), bin_index.is_not(None))
        .subquery("ranked")
    )
    pain = ranked.c.pain
    followup_points = (
        select(
            ranked.c.bin.label("point"),
            func.count(pain).label("n"),
            func.sum(pain).label("total"),
            func.sum(pain * pain).label("total_sq"),
        )
        .where(ranked.c.rank == 1)
        .group_by(ranked.c.bin)
    )

    with engine.connect() as connection:
        by_session = connection.execute(session_points).mappings().all()
        by_bin = connection.execute(followup_points).mappings().all()
    records = []
    for row in by_session:
        number = int(row["point"])
        records.append(
            {
                "point": f"Session {number}",
                "kind": "session",
                "position": number,
                "n": int(row["n"]),
                **_interval(float(row["total"]), float(row["total_sq"]), int(row["n"]), definition.alpha),
            }
        )
    for row in by_bin:
        index = int(row["point"])
        records.append(
            {
                "point": FOLLOWUP_BINS[index].label,
                "kind": "follow-up",
                "position": MAX_SESSIONS + 1 + index,
                "n": int(row["n"]),
                **_interval(float(row["total"]), float(row["total_sq"]), int(row["n"]), definition.alpha),
            }
        )
    columns = ["point", "kind", "position", "n", "mean", "sd", "ci_low", "ci_high"]
    frame = pd.DataFrame(records, columns=columns)
    return frame.sort_values("position").reset_index(drop=True)


# --- the cohort list ----------------------------------------------------------------------


def cohort_list(
    engine: Engine,
    definition: OutcomeDefinition,
    cohort: CohortFilter,
    *,
    search: str = "",
    limit: int = 500,
) -> tuple[pd.DataFrame, int]:
    """One page of the cohort's patients with their outcome status, and how many match in all.

    ``search`` keeps the patients whose ``patient_id`` starts with it (case-insensitive,
    ``%`` and ``_`` taken literally); filter, order (by ``patient_id``) and ``LIMIT`` run in
    the database. Returns the rows (columns :data:`COHORT_COLUMNS`) and the total count.
    """
    if limit < 0:
        raise ValueError(f"the limit must be 0 or more: got {limit}")
    definition, cohort_rows = cohort_query(engine, definition, cohort)
    assert definition.cutoff is not None
    rows = cohort_rows.subquery("cohort")
    where = [rows.c.patient_id.istartswith(search.strip(), autoescape=True)] if search.strip() else []
    flags = ("evaluable", "pending", "eligible", "with_followup", "responder")
    query = (
        select(*[rows.c[name] for name in COHORT_COLUMNS if name != "status"], *[rows.c[n] for n in flags])
        .where(*where)
        .order_by(rows.c.patient_id)
        .limit(limit)
    )
    with engine.connect() as connection:
        total = connection.execute(select(func.count()).select_from(rows).where(*where)).scalar_one()
        result = connection.execute(query)
        frame = pd.DataFrame(result.mappings().all(), columns=list(result.keys()))
    frame["status"] = [outcome_status(row, definition.missing) for row in frame.to_dict("records")]
    return frame[list(COHORT_COLUMNS)], int(total)
