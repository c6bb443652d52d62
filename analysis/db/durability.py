"""The per-patient rules of durability (docs/methods.md, "Durability"), written once as SQL.

From the cohort's per-patient rows (:func:`analysis.db.derivation.cohort_query`: index date,
baseline, route, condition) the database derives, per evaluable patient:

- the **measurements**: follow-up ``pain`` and session ``pre_pain`` on day ≥ 1, on or before the
  cut-off and the patient's ``end_date``; one per day, a follow-up winning over a session on
  the same day;
- the **onset**: the first measurement with reduction ≥ threshold − 1e-9 on or before day T + W
  (patients without one are not in the durability cohort);
- the **loss** (the first later measurement with reduction below the threshold) or the
  **censoring** (the last measurement): ``time`` = that day − onset day, ``event`` 1 for a loss.
  Measurements after ``end_date`` never exist here, so a death or hospice (a competing event)
  censors at the last measurement on or before ``end_date``, as any other end of care does;
- the **maintenance sessions** (day > 28, on or before the cut-off and ``end_date``) and, per
  patient with two or more, the median gap in days between consecutive ones.

Python receives one row per distinct (group, time, event) and per distinct (group, median gap):
:mod:`analysis.queries.durability` turns them into curves.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Date, Float, Integer, Select, case, cast, exists, func, literal, or_, select, union_all

from analysis.db import schema
from analysis.db.derivation import EPSILON, days_between

#: Sessions after this day (days since the first session) are maintenance ("booster") sessions.
MAINTENANCE_AFTER_DAY = 28


def _within_care(when: Any, base: Any, cutoff: date) -> list[Any]:
    """A dated row counts: after day 0, on or before the cut-off and the patient's end of care."""
    return [
        when > base.c.index_date,
        when <= literal(cutoff, Date),
        or_(base.c.end_date.is_(None), when <= base.c.end_date),
    ]


def _base(cohort: Select[Any], group: str | None) -> Any:
    """The evaluable patients of the cohort with what durability needs (a CTE, read three times)."""
    rows = cohort.subquery("cohort_rows")
    p = schema.patients
    key = rows.c[group] if group else literal("all")
    return (
        select(
            rows.c.patient_key,
            rows.c.index_date,
            rows.c.baseline,
            key.label("grp"),
            p.c.end_date,
            p.c.end_reason,
        )
        .join(p, p.c.id == rows.c.patient_key)
        .where(rows.c.evaluable == 1)
        .cte("durability_base")
    )


def _measurements(base: Any, cutoff: date, threshold: float) -> Any:
    """One measurement per patient and day, with whether it is a response (a CTE)."""
    f, s = schema.followups, schema.sessions
    followups = select(
        f.c.patient_key, days_between(f.c.followup_date, base.c.index_date).label("day"), f.c.pain
    ).join(base, base.c.patient_key == f.c.patient_key)
    followups = followups.where(*_within_care(f.c.followup_date, base, cutoff))
    same_day_followup = exists().where(
        f.c.patient_key == s.c.patient_key, f.c.followup_date == s.c.session_date
    )
    sessions = (
        select(
            s.c.patient_key,
            days_between(s.c.session_date, base.c.index_date).label("day"),
            s.c.pre_pain.label("pain"),
        )
        .join(base, base.c.patient_key == s.c.patient_key)
        .where(s.c.pre_pain.is_not(None), ~same_day_followup, *_within_care(s.c.session_date, base, cutoff))
    )
    measured = union_all(followups, sessions).subquery("measured")
    # The same arithmetic as the response rule (analysis.db.derivation._reduction).
    reduction = (base.c.baseline - measured.c.pain) / cast(base.c.baseline, Float)
    return (
        select(
            measured.c.patient_key,
            measured.c.day,
            case((reduction >= threshold - EPSILON, 1), else_=0).label("responding"),
        )
        .join(base, base.c.patient_key == measured.c.patient_key)
        .cte("measurements")
    )


def patient_times(
    cohort: Select[Any], *, cutoff: date, threshold: float, last_onset_day: int, group: str | None
) -> Select[Any]:
    """One row per durability-cohort patient: ``grp``, ``onset_day``, ``time``, ``event``, ``end_reason``.

    ``cohort`` is the per-patient query of :func:`analysis.db.derivation.cohort_query`;
    ``group`` the column to break down by (``route`` or ``condition``), or ``None``.
    """
    base = _base(cohort, group)
    m = _measurements(base, cutoff, threshold)
    onset = (
        select(m.c.patient_key, func.min(m.c.day).label("onset_day"))
        .where(m.c.responding == 1, m.c.day <= last_onset_day)
        .group_by(m.c.patient_key)
        .cte("onset")
    )
    later = (
        select(
            m.c.patient_key,
            func.min(case((m.c.responding == 0, m.c.day), else_=None)).label("loss_day"),
            func.max(m.c.day).label("last_day"),
        )
        .join(onset, onset.c.patient_key == m.c.patient_key)
        .where(m.c.day > onset.c.onset_day)
        .group_by(m.c.patient_key)
        .subquery("after_onset")
    )
    end_day = func.coalesce(later.c.loss_day, later.c.last_day, onset.c.onset_day)
    return (
        select(
            base.c.grp,
            onset.c.patient_key,
            onset.c.onset_day,
            (end_day - onset.c.onset_day).label("time"),
            case((later.c.loss_day.is_not(None), 1), else_=0).label("event"),
            base.c.index_date,
            base.c.end_date,
            base.c.end_reason,
        )
        .join(base, base.c.patient_key == onset.c.patient_key)
        .outerjoin(later, later.c.patient_key == onset.c.patient_key)
    )


def time_counts(times: Select[Any]) -> Select[Any]:
    """Per group and distinct time: events and censorings (what a Kaplan–Meier curve needs)."""
    t = times.subquery("patient_times")
    return (
        select(
            t.c.grp,
            t.c.time,
            cast(func.sum(t.c.event), Integer).label("events"),
            cast(func.sum(1 - t.c.event), Integer).label("censored"),
        )
        .group_by(t.c.grp, t.c.time)
        .order_by(t.c.grp, t.c.time)
    )


def booster_gaps(
    cohort: Select[Any], *, cutoff: date, threshold: float, last_onset_day: int, group: str | None
) -> Select[Any]:
    """Per group and distinct value: how many cohort patients have that median booster gap.

    A patient's median gap is the median of the gaps in days between consecutive maintenance
    sessions (two or more of them); with an even number of gaps, the mean of the middle two.
    """
    times = patient_times(
        cohort, cutoff=cutoff, threshold=threshold, last_onset_day=last_onset_day, group=group
    ).cte("durability_cohort")
    s = schema.sessions
    day = days_between(s.c.session_date, times.c.index_date)
    maintenance = (
        select(
            s.c.patient_key,
            times.c.grp,
            (day - func.lag(day).over(partition_by=s.c.patient_key, order_by=s.c.session_date)).label("gap"),
        )
        .join(times, times.c.patient_key == s.c.patient_key)
        .where(
            day > MAINTENANCE_AFTER_DAY,
            s.c.session_date <= literal(cutoff, Date),
            or_(times.c.end_date.is_(None), s.c.session_date <= times.c.end_date),
        )
        .subquery("maintenance")
    )
    ranked = (
        select(
            maintenance.c.patient_key,
            maintenance.c.grp,
            maintenance.c.gap,
            func.row_number()
            .over(partition_by=maintenance.c.patient_key, order_by=maintenance.c.gap)
            .label("rank"),
            func.count().over(partition_by=maintenance.c.patient_key).label("gaps"),
        )
        .where(maintenance.c.gap.is_not(None))
        .subquery("ranked_gaps")
    )
    # The middle one or two gaps: ranks (n + 1) / 2 and (n + 2) / 2 in integer division.
    gaps = cast(ranked.c.gaps, Integer)
    middle = or_(ranked.c.rank == (gaps + 1) // 2, ranked.c.rank == (gaps + 2) // 2)
    medians = (
        select(
            ranked.c.grp,
            ranked.c.patient_key,
            func.avg(cast(ranked.c.gap, Float)).label("median_gap"),
        )
        .where(middle)
        .group_by(ranked.c.grp, ranked.c.patient_key)
        .subquery("median_gaps")
    )
    return (
        select(medians.c.grp, medians.c.median_gap, func.count().label("patients"))
        .group_by(medians.c.grp, medians.c.median_gap)
        .order_by(medians.c.grp, medians.c.median_gap)
    )
