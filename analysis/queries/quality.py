"""Data quality of the stored data for one outcome definition and cohort (the Data page).

Everything is counted in the database on top of the docs/methods.md per-patient query
(:func:`analysis.db.derivation.patient_outcomes_query` restricted by
:func:`analysis.db.cohorts.apply_filter`), so the index date, the baseline and "evaluable" are
the outcome engine's own; Python receives counts and at most :data:`EXAMPLES` example rows
per reason.

Rules decided here (where the rules are silent):

- **Scope.** The cohort of the sidebar filters and the data "as of" the resolved cut-off, as
  every rate: sessions and follow-ups dated after the cut-off are not looked at, and the index
  date is the first session on or before it.
- **Not evaluable, and why.** Each patient the outcome engine marks not evaluable gets exactly
  one reason, the first that applies: ``no_session`` (no session, so no index date), then
  ``baseline_missing`` (neither ``patients.baseline_pain`` nor the first session's
  ``pre_pain``), then ``baseline_zero`` (a baseline of 0: no reduction can be computed). The
  reasons add up to the not-evaluable count.
- **Follow-ups outside any window.** "Any window" means the windows of the standard follow-up
  time points :data:`STANDARD_TIMEPOINTS` (days 30, 90 and 180: about 1, 3 and 6 months) plus
  the current definition's time point, each with the current definition's half-width W, both
  ends included, as docs/methods.md counts a follow-up in a window. Follow-ups at about 1 and 6 months
  are routine, so a follow-up outside the current definition's window alone is not a problem;
  one outside all of these windows likely has a wrong date or an unusual schedule. Each such
  follow-up gets one reason: ``before_first_session`` (day < 0; docs/import.md accepts it and asks
  for it to be reported), ``before_first_window`` (day 0 up to the first window's start; only
  possible when W is smaller than the first time point), ``between_windows``, or
  ``after_last_window``. Follow-ups of patients without any session cannot be placed on the
  day scale; they are counted apart (``followups_without_session``), their patients being
  not evaluable with reason ``no_session``.
- **Follow-ups before the first session** are the ``before_first_session`` reason above, with
  examples giving the follow-up date and the index date. (The issue's "sessions before the
  index date" cannot happen: the index date *is* the first session; this is its meaning.)
- **Sessions with missing values**: sessions (in scope) whose ``pre_pain``, ``post_pain`` or
  ``weight_kg`` is empty, counted per column; a session may count under several columns.
- Examples are patient ids (pseudonymous), ordered by patient id then date, at most
  :data:`EXAMPLES` per reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Date, Engine, and_, case, func, literal, or_, select

from analysis.db import cohorts, derivation, schema
from analysis.db.sqlfunctions import days_between
from analysis.domain.definition import CohortFilter, OutcomeDefinition

#: Standard follow-up time points (days since the index date): about 1, 3 and 6 months.
STANDARD_TIMEPOINTS: tuple[int, ...] = (30, 90, 180)
#: Example patients listed per reason.
EXAMPLES = 10

#: Reasons a patient is not evaluable, in the order they are tested, with readable labels.
NOT_EVALUABLE_REASONS: dict[str, str] = {
    "no_session": "No session (no index date)",
    "baseline_missing": "Baseline pain missing",
    "baseline_zero": "Baseline pain 0",
}
#: Reasons a follow-up lies outside every window, with readable labels.
OUTSIDE_REASONS: dict[str, str] = {
    "before_first_session": "Before the first session",
    "before_first_window": "Before the first window",
    "between_windows": "Between windows",
    "after_last_window": "After the last window",
}


@dataclass(frozen=True)
class NotEvaluable:
    """Patients not evaluable for one reason, with a few example patient ids."""

    reason: str
    label: str
    patients: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class FollowupExample:
    """One follow-up outside every window: whose, when, and on which day since the index date."""

    patient_id: str
    followup_date: date
    index_date: date
    day: int


@dataclass(frozen=True)
class OutsideWindows:
    """Follow-ups outside every window for one reason, with a few examples."""

    reason: str
    label: str
    followups: int
    patients: int
    examples: tuple[FollowupExample, ...]


@dataclass(frozen=True)
class QualityReport:
    """Data-quality counts for one definition (cut-off resolved) and cohort."""

    definition: OutcomeDefinition
    windows: tuple[tuple[int, int], ...]
    patients: int
    not_evaluable: tuple[NotEvaluable, ...]
    followups: int
    followups_without_session: int
    outside_windows: tuple[OutsideWindows, ...]
    sessions: int
    sessions_missing_pre_pain: int
    sessions_missing_post_pain: int
    sessions_missing_weight: int

    @property
    def not_evaluable_total(self) -> int:
        return sum(item.patients for item in self.not_evaluable)

    @property
    def outside_windows_total(self) -> int:
        return sum(item.followups for item in self.outside_windows)

    def reason(self, reason: str) -> NotEvaluable | OutsideWindows:
        """The entry for one reason code (of either kind)."""
        items: tuple[NotEvaluable | OutsideWindows, ...] = (*self.not_evaluable, *self.outside_windows)
        for item in items:
            if item.reason == reason:
                return item
        raise KeyError(reason)

    @property
    def before_first_session(self) -> OutsideWindows:
        """Follow-ups dated before the patient's first session (docs/contract.md: accepted, reported)."""
        item = self.reason("before_first_session")
        assert isinstance(item, OutsideWindows)
        return item

    def windows_text(self) -> str:
        """The windows in words, e.g. ``days 0–60, 60–120, 150–210``."""
        return "days " + ", ".join(f"{start}–{end}" for start, end in self.windows)

    def not_evaluable_frame(self) -> pd.DataFrame:
        """One row per reason: label, patients, examples (comma-separated)."""
        return pd.DataFrame(
            [
                {"Reason": i.label, "Patients": i.patients, "Examples": ", ".join(i.examples)}
                for i in self.not_evaluable
            ],
            columns=["Reason", "Patients", "Examples"],
        )

    def outside_windows_frame(self) -> pd.DataFrame:
        """One row per reason: label, follow-ups, patients, examples (``id (day N)``).

        "Before the first window" is left out when the first window starts on or before day 0
        (it cannot happen then).
        """
        possible = [
            i for i in self.outside_windows if i.reason != "before_first_window" or self.windows[0][0] > 0
        ]
        return pd.DataFrame(
            [
                {
                    "Reason": i.label,
                    "Follow-ups": i.followups,
                    "Patients": i.patients,
                    "Examples": ", ".join(f"{e.patient_id} (day {e.day})" for e in i.examples),
                }
                for i in possible
            ],
            columns=["Reason", "Follow-ups", "Patients", "Examples"],
        )

    def sessions_frame(self) -> pd.DataFrame:
        """Sessions with a missing value, per column, with their share of all sessions in scope."""
        rows = [
            ("Pain before the session (pre_pain)", self.sessions_missing_pre_pain),
            ("Pain after the session (post_pain)", self.sessions_missing_post_pain),
            ("Body weight (weight_kg)", self.sessions_missing_weight),
        ]
        return pd.DataFrame(
            [
                {
                    "Value": label,
                    "Sessions": n,
                    "Share": f"{100 * n / self.sessions:.1f}%" if self.sessions else "—",
                }
                for label, n in rows
            ],
            columns=["Value", "Sessions", "Share"],
        )


def follow_up_windows(definition: OutcomeDefinition) -> tuple[tuple[int, int], ...]:
    """The windows a follow-up is expected in, overlapping ones merged, in day order."""
    points = sorted({*STANDARD_TIMEPOINTS, definition.timepoint_days})
    w = definition.window_days
    merged: list[list[int]] = []
    for start, end in ((t - w, t + w) for t in points):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((start, end) for start, end in merged)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# Long on purpose: one statement per question over one shared cohort CTE; split, each would rebuild it.
def data_quality(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    *,
    examples: int = EXAMPLES,
) -> QualityReport:
    """Count what keeps patients and follow-ups out of the rates (see the module's rules)."""
    definition, cohort_rows = cohorts.cohort_query(engine, definition, cohort)
    assert definition.cutoff is not None
    cutoff = literal(definition.cutoff, Date)
    windows = follow_up_windows(definition)
    rows = cohort_rows.cte("cohort")

    # Patients: why not evaluable (one reason each, the first that applies).
    why = case(
        (rows.c.index_date.is_(None), "no_session"),
        (rows.c.baseline.is_(None), "baseline_missing"),
        else_="baseline_zero",
    )
    ranked_patients = (
        select(
            why.label("reason"),
            rows.c.patient_id,
            func.count().over(partition_by=why).label("n"),
            func.row_number().over(partition_by=why, order_by=rows.c.patient_id).label("rank"),
        )
        .where(rows.c.evaluable == 0)
        .subquery("ranked_patients")
    )
    patient_examples = select(
        ranked_patients.c.reason, ranked_patients.c.n, ranked_patients.c.patient_id
    ).where(ranked_patients.c.rank <= examples)

    # Follow-ups: where each lies against the windows.
    f = schema.followups
    day = days_between(f.c.followup_date, rows.c.index_date)
    in_a_window = or_(*[and_(day >= start, day <= end) for start, end in windows])
    where = case(
        (rows.c.index_date.is_(None), "no_session"),
        (day < 0, "before_first_session"),
        (in_a_window, "in_window"),
        (day < windows[0][0], "before_first_window"),
        (day > windows[-1][1], "after_last_window"),
        else_="between_windows",
    )
    placed = (
        select(
            where.label("reason"),
            rows.c.patient_id,
            rows.c.index_date,
            f.c.patient_key,
            f.c.followup_date,
            day.label("day"),
        )
        .join_from(f, rows, f.c.patient_key == rows.c.patient_key)
        .where(f.c.followup_date <= cutoff)
        .subquery("placed")
    )
    followup_counts = select(
        placed.c.reason,
        func.count().label("followups"),
        func.count(placed.c.patient_key.distinct()).label("patients"),
    ).group_by(placed.c.reason)
    ranked_followups = (
        select(
            placed,
            func.row_number()
            .over(partition_by=placed.c.reason, order_by=(placed.c.patient_id, placed.c.followup_date))
            .label("rank"),
        )
        .where(placed.c.reason.in_(list(OUTSIDE_REASONS)))
        .subquery("ranked_followups")
    )
    followup_examples = select(
        ranked_followups.c.reason,
        ranked_followups.c.patient_id,
        ranked_followups.c.followup_date,
        ranked_followups.c.index_date,
        ranked_followups.c.day,
    ).where(ranked_followups.c.rank <= examples)

    # Sessions with missing values; and the cohort's size.
    s = schema.sessions

    def missing(column: Any) -> Any:
        return derivation.count_where(column.is_(None))

    session_counts = (
        select(
            func.count().label("sessions"),
            missing(s.c.pre_pain).label("pre_pain"),
            missing(s.c.post_pain).label("post_pain"),
            missing(s.c.weight_kg).label("weight_kg"),
        )
        .join_from(s, rows, s.c.patient_key == rows.c.patient_key)
        .where(s.c.session_date <= cutoff)
    )

    with engine.connect() as connection:
        patients = int(connection.execute(select(func.count()).select_from(rows)).scalar_one())
        patient_rows = connection.execute(patient_examples).all()
        count_rows = connection.execute(followup_counts).all()
        example_rows = connection.execute(followup_examples).all()
        sessions = connection.execute(session_counts).mappings().one()

    not_evaluable = []
    for reason, label in NOT_EVALUABLE_REASONS.items():
        mine = sorted((r for r in patient_rows if r.reason == reason), key=lambda r: r.patient_id)
        n = int(mine[0].n) if mine else 0
        not_evaluable.append(NotEvaluable(reason, label, n, tuple(r.patient_id for r in mine)))

    counts = {r.reason: (int(r.followups), int(r.patients)) for r in count_rows}
    outside = []
    for reason, label in OUTSIDE_REASONS.items():
        followups_here = sorted(
            (r for r in example_rows if r.reason == reason),
            key=lambda r: (r.patient_id, _as_date(r.followup_date)),
        )
        n_followups, n_patients = counts.get(reason, (0, 0))
        outside.append(
            OutsideWindows(
                reason,
                label,
                n_followups,
                n_patients,
                tuple(
                    FollowupExample(
                        r.patient_id, _as_date(r.followup_date), _as_date(r.index_date), int(r.day)
                    )
                    for r in followups_here
                ),
            )
        )

    return QualityReport(
        definition=definition,
        windows=windows,
        patients=patients,
        not_evaluable=tuple(not_evaluable),
        followups=sum(n for n, _ in counts.values()),
        followups_without_session=counts.get("no_session", (0, 0))[0],
        outside_windows=tuple(outside),
        sessions=int(sessions["sessions"]),
        sessions_missing_pre_pain=int(sessions["pre_pain"]),
        sessions_missing_post_pain=int(sessions["post_pain"]),
        sessions_missing_weight=int(sessions["weight_kg"]),
    )


def describe(report: QualityReport) -> list[str]:
    """Plain-language lines for what needs attention (empty when nothing does)."""
    lines: list[str] = []
    for item in report.not_evaluable:
        if item.patients:
            lines.append(f"{item.patients} patient(s) not evaluable: {item.label.lower()}.")
    before = report.before_first_session
    if before.followups:
        lines.append(
            f"{before.followups} follow-up(s) of {before.patients} patient(s) dated before the first "
            "session; please check the dates."
        )
    other = report.outside_windows_total - before.followups
    if other:
        lines.append(f"{other} follow-up(s) outside every follow-up window ({report.windows_text()}).")
    if report.followups_without_session:
        lines.append(f"{report.followups_without_session} follow-up(s) of patients without any session.")
    return lines


__all__ = [
    "EXAMPLES",
    "NOT_EVALUABLE_REASONS",
    "OUTSIDE_REASONS",
    "STANDARD_TIMEPOINTS",
    "FollowupExample",
    "NotEvaluable",
    "OutsideWindows",
    "QualityReport",
    "data_quality",
    "describe",
    "follow_up_windows",
]
