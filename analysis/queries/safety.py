"""Safety: adverse events per session, dissociation against four hours, events at follow-up.

docs/methods.md ("Other views") names two claims the product checks against the clinic's own data:

- *dissociative effects last no more than about four hours* → :func:`dissociation_durations`;
- *no long-term effects are expected at the 3-month follow-up* → :func:`long_term_events`.

All row work happens in the database (SQLAlchemy Core aggregates): Python receives one row per
group or histogram bin, never the sessions themselves. The cohort is the one of
:func:`analysis.db.cohorts.apply_filter` (so the patient's route, index date and the rest are
defined once, in :mod:`analysis.queries.response`); only sessions and follow-ups on or before the data
cut-off count.

Rules where the rules are silent (to be written into ``docs/methods.md`` as well):

- An adverse event is counted once per session (or follow-up) and type; the rate per session is
  sessions with the event ÷ sessions. Its interval is the definition's (Wilson by default) and
  treats sessions as independent; sessions of one patient are alike, so the true uncertainty
  is somewhat wider than shown.
- Codes are matched with their delimiters, ``';' || adverse_events || ';'`` containing
  ``';code;'``, so ``other`` never matches inside another code.
- The stored duration (``ae_duration_min``) is that of the *longest* adverse event of the
  session. For a session with dissociation and another event it is therefore an upper bound of
  the dissociation's duration: the share "within four hours" can only be understated, never
  flattered. Exactly 240 minutes counts as within four hours.
- Long term = follow-ups from the start of the time-point window on (day ≥ T − W, day 60 by
  default): the 3-month follow-up and everything after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Date, Engine, Select, String, and_, case, func, literal, select

from analysis import stats
from analysis.db import schema
from analysis.db.cohorts import cohort_query
from analysis.db.derivation import count_where
from analysis.db.sqlfunctions import days_between, has_any_event, has_event
from analysis.domain.definition import SMALL_CELL, CohortFilter, OutcomeDefinition
from analysis.domain.vocabulary import ADVERSE_EVENTS

#: Dissociation is expected to last no more than about this long (docs/methods.md), in minutes.
FOUR_HOURS_MIN = 240.0
#: Histogram edges for dissociation durations (minutes); each bin includes its upper edge, and
#: a last open bin holds everything above the final edge. Equal widths keep bar heights honest.
DURATION_EDGES: tuple[float, ...] = (0, 30, 60, 90, 120, 150, 180, 210, 240, 270, 300)


# --- building blocks ----------------------------------------------------------------------


def _resolve(
    engine: Engine, definition: OutcomeDefinition, cohort: CohortFilter
) -> tuple[OutcomeDefinition, date, Any]:
    """The definition with its cut-off resolved, the cut-off, and the cohort's per-patient rows
    (outcomes' query, from the per-patient facts where they apply) as a subquery."""
    definition, rows = cohort_query(engine, definition, cohort)
    assert definition.cutoff is not None
    return definition, definition.cutoff, rows.subquery("cohort")


def _session_scope(cutoff: date, cohort: CohortFilter, members: Any) -> list[Any]:
    """WHERE clauses for the sessions of the cohort up to the cut-off.

    With no filter, every patient with a session on or before the cut-off is in the cohort, so
    the membership test is left out.
    """
    s = schema.sessions
    clauses: list[Any] = [s.c.session_date <= literal(cutoff, Date)]
    if not cohort.is_empty:
        clauses.append(s.c.patient_key.in_(select(members.c.patient_key)))
    return clauses


def _estimate(count: int, nobs: int, definition: OutcomeDefinition) -> stats.ProportionEstimate:
    return stats.proportion_interval(int(count), int(nobs), alpha=definition.alpha, method=definition.ci)


# --- adverse events per session -----------------------------------------------------------


@dataclass(frozen=True)
class SessionSafety:
    """Sessions of a cohort and how many had an adverse event (any; dissociation)."""

    cutoff: date
    patients: int
    sessions: int
    sessions_with_any_ae: int
    sessions_with_dissociation: int
    any_ae: stats.ProportionEstimate
    dissociation: stats.ProportionEstimate


def session_summary(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
) -> SessionSafety:
    """Adverse-event rate per session (any event, and dissociation) — one aggregate query.

    Summed over the cohort's per-patient rows, which carry each patient's session counts: at
    the default cut-off that reads the per-patient facts, never the sessions.
    """
    definition, cutoff, rows = _resolve(engine, definition, cohort)
    query = select(
        func.coalesce(func.sum(rows.c.n_sessions), 0).label("sessions"),
        count_where(rows.c.n_sessions > 0).label("patients"),
        func.coalesce(func.sum(rows.c.sessions_with_ae), 0).label("any_ae"),
        func.coalesce(func.sum(rows.c.sessions_with_dissociation), 0).label("dissociation"),
    )
    with engine.connect() as connection:
        row = connection.execute(query).mappings().one()
    return SessionSafety(
        cutoff=cutoff,
        patients=int(row["patients"]),
        sessions=int(row["sessions"]),
        sessions_with_any_ae=int(row["any_ae"]),
        sessions_with_dissociation=int(row["dissociation"]),
        any_ae=_estimate(row["any_ae"], row["sessions"], definition),
        dissociation=_estimate(row["dissociation"], row["sessions"], definition),
    )


EVENT_COLUMNS = ("route", "event", "sessions", "with_event", "rate", "ci_low", "ci_high", "small_n")


def events_by_type(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    by: Literal["route"] | None = "route",
) -> pd.DataFrame:
    """Per-session rate of each adverse-event type, per session route (or for all sessions).

    One row per route × event type (vocabulary order), columns :data:`EVENT_COLUMNS`; ``route``
    is the route *of the session* (not the patient's plurality route), ``"all"`` when
    ``by=None``. ``small_n`` marks routes with fewer than 11 sessions.
    """
    if by not in ("route", None):
        raise ValueError(f"events can be broken down by 'route' or not at all (None): got {by!r}")
    definition, cutoff, members = _resolve(engine, definition, cohort)
    s = schema.sessions
    keys = [s.c.route] if by == "route" else [literal("all", String).label("route")]
    query = select(
        *keys,
        func.count().label("sessions"),
        *[count_where(has_event(s.c.adverse_events, code)).label(code) for code in ADVERSE_EVENTS],
    ).where(*_session_scope(cutoff, cohort, members))
    if by == "route":
        query = query.group_by(s.c.route).order_by(s.c.route)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    records = []
    for row in rows:
        if not row["sessions"]:
            continue  # an empty cohort still returns one aggregate row without a group
        for code in ADVERSE_EVENTS:
            estimate = _estimate(row[code], row["sessions"], definition)
            records.append(
                {
                    "route": str(row["route"]),
                    "event": code,
                    "sessions": int(row["sessions"]),
                    "with_event": int(row[code]),
                    "rate": estimate.rate,
                    "ci_low": estimate.low,
                    "ci_high": estimate.high,
                    "small_n": int(row["sessions"]) < SMALL_CELL,
                }
            )
    return pd.DataFrame.from_records(records, columns=list(EVENT_COLUMNS))


# --- dissociation against four hours ------------------------------------------------------


@dataclass(frozen=True)
class DurationBin:
    """Episodes whose duration is in ``(low, high]`` minutes (``[0, high]`` for the first bin;
    ``high`` is ``None`` for the open last bin)."""

    low: float
    high: float | None
    episodes: int

    @property
    def label(self) -> str:
        if self.high is None:
            return f">{self.low:g}"
        return f"{self.low:g}–{self.high:g}"


@dataclass(frozen=True)
class DissociationSummary:
    """Dissociation episodes (sessions with ``dissociation``) and their recorded durations."""

    episodes: int  # sessions with dissociation
    with_duration: int  # … whose duration was recorded
    within_limit: int  # … of at most 240 minutes (exactly 240 counts as within)
    over_limit: int  # … of more than 240 minutes
    with_other_events: int  # recorded episodes with another event too (duration may be that one's)
    within: stats.ProportionEstimate  # within_limit / with_duration
    median_min: float | None
    longest_min: float | None
    bins: tuple[DurationBin, ...]
    limit_min: float = FOUR_HOURS_MIN


def dissociation_durations(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
) -> DissociationSummary:
    """Durations of dissociation episodes against four hours, binned in the database.

    Two statements: one aggregate row (counts and histogram bins), then the exact median —
    the one or two middle durations picked by ``row_number()`` (SQLite ≥ 3.25, PostgreSQL).
    """
    definition, cutoff, members = _resolve(engine, definition, cohort)
    s = schema.sessions
    minutes = s.c.ae_duration_min
    scope = [*_session_scope(cutoff, cohort, members), has_event(s.c.adverse_events, "dissociation")]
    recorded = minutes.is_not(None)
    lows = DURATION_EDGES
    highs: tuple[float | None, ...] = (*DURATION_EDGES[1:], None)
    in_bin = [
        and_(recorded, minutes >= lo if i == 0 else minutes > lo, *([] if hi is None else [minutes <= hi]))
        for i, (lo, hi) in enumerate(zip(lows, highs, strict=True))
    ]
    counts = select(
        func.count().label("episodes"),
        count_where(recorded).label("with_duration"),
        count_where(and_(recorded, minutes <= FOUR_HOURS_MIN)).label("within"),
        count_where(and_(recorded, minutes > FOUR_HOURS_MIN)).label("over"),
        count_where(and_(recorded, s.c.adverse_events != "dissociation")).label("with_other"),
        func.max(minutes).label("longest"),
        *[count_where(condition).label(f"bin{i}") for i, condition in enumerate(in_bin)],
    ).where(*scope)
    ranked = (
        select(minutes.label("minutes"), func.row_number().over(order_by=minutes).label("row_rank"))
        .where(*scope, recorded)
        .subquery("ranked")
    )
    with engine.connect() as connection:
        row = connection.execute(counts).mappings().one()
        n = int(row["with_duration"])
        # The exact median: the one or two middle durations (ranks are 1-based).
        middle_ranks = sorted({(n - 1) // 2 + 1, n // 2 + 1})
        middle = (
            connection.execute(select(ranked.c.minutes).where(ranked.c.row_rank.in_(middle_ranks)))
            .scalars()
            .all()
            if n
            else []
        )
    bins = tuple(
        DurationBin(float(lo), hi, int(row[f"bin{i}"]))
        for i, (lo, hi) in enumerate(zip(lows, highs, strict=True))
    )
    return DissociationSummary(
        episodes=int(row["episodes"]),
        with_duration=n,
        within_limit=int(row["within"]),
        over_limit=int(row["over"]),
        with_other_events=int(row["with_other"]),
        within=_estimate(row["within"], n, definition),
        median_min=float(sum(middle) / len(middle)) if middle else None,
        longest_min=None if row["longest"] is None else float(row["longest"]),
        bins=bins,
    )


# --- adverse events at follow-up ----------------------------------------------------------


def followup_periods(definition: OutcomeDefinition) -> tuple[str, str, str]:
    """Labels of the follow-up periods: before the time-point window, in it, after it."""
    return (
        f"Before day {definition.window_start}",
        f"Day {definition.window_start}–{definition.window_end} (window)",
        f"After day {definition.window_end}",
    )


def _followups_of_cohort(cutoff: date, members: Any) -> Select[Any]:
    """Follow-ups of the cohort up to the cut-off with their day since the index date."""
    f = schema.followups
    day = days_between(f.c.followup_date, members.c.index_date)
    return (
        select(f.c.patient_key, f.c.adverse_events, day.label("day"))
        .join(members, members.c.patient_key == f.c.patient_key)
        .where(f.c.followup_date <= literal(cutoff, Date), members.c.index_date.is_not(None))
    )


FOLLOWUP_COLUMNS = ("period", "event", "followups", "with_event", "rate", "ci_low", "ci_high")


def followup_events(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
) -> pd.DataFrame:
    """Adverse events reported at follow-up, per period since the index date and type.

    Periods (:func:`followup_periods`): before the time-point window (day < T − W, including
    follow-ups dated before the first session), in it, after it (day > T + W). One row per
    period × event, with ``event == "any"`` first; columns :data:`FOLLOWUP_COLUMNS`. Periods
    without follow-ups are left out.
    """
    definition, cutoff, members = _resolve(engine, definition, cohort)
    rows = _followups_of_cohort(cutoff, members).subquery("followups_of_cohort")
    period = (
        select(
            case(
                (rows.c.day < definition.window_start, 0),
                (rows.c.day <= definition.window_end, 1),
                else_=2,
            ).label("period"),
            rows.c.adverse_events,
        )
    ).subquery("periods")
    query = (
        select(
            period.c.period,
            func.count().label("followups"),
            count_where(has_any_event(period.c.adverse_events)).label("any"),
            *[count_where(has_event(period.c.adverse_events, code)).label(code) for code in ADVERSE_EVENTS],
        )
        .group_by(period.c.period)
        .order_by(period.c.period)
    )
    with engine.connect() as connection:
        found = connection.execute(query).mappings().all()
    labels = followup_periods(definition)
    records = []
    for row in found:
        for event in ("any", *ADVERSE_EVENTS):
            estimate = _estimate(row[event], row["followups"], definition)
            records.append(
                {
                    "period": labels[int(row["period"])],
                    "event": event,
                    "followups": int(row["followups"]),
                    "with_event": int(row[event]),
                    "rate": estimate.rate,
                    "ci_low": estimate.low,
                    "ci_high": estimate.high,
                }
            )
    return pd.DataFrame.from_records(records, columns=list(FOLLOWUP_COLUMNS))


@dataclass(frozen=True)
class LongTermEvents:
    """Adverse events reported at follow-ups from day ``from_day`` on (the 3-month claim)."""

    from_day: int
    followups: int
    followups_with_ae: int
    patients: int  # patients with such a follow-up
    patients_with_ae: int
    any_ae: stats.ProportionEstimate  # followups_with_ae / followups
    by_event: tuple[tuple[str, int], ...]  # (code, follow-ups with it), most frequent first


def long_term_events(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
) -> LongTermEvents:
    """Adverse events at follow-ups from the time-point window on (day ≥ T − W; 60 by default)."""
    definition, cutoff, members = _resolve(engine, definition, cohort)
    rows = _followups_of_cohort(cutoff, members).subquery("followups_of_cohort")
    any_ae = has_any_event(rows.c.adverse_events)
    query = select(
        func.count().label("followups"),
        count_where(any_ae).label("any"),
        func.count(func.distinct(rows.c.patient_key)).label("patients"),
        func.count(func.distinct(case((any_ae, rows.c.patient_key), else_=None))).label("patients_with_ae"),
        *[count_where(has_event(rows.c.adverse_events, code)).label(code) for code in ADVERSE_EVENTS],
    ).where(rows.c.day >= definition.window_start)
    with engine.connect() as connection:
        row = connection.execute(query).mappings().one()
    by_event = sorted(((code, int(row[code])) for code in ADVERSE_EVENTS), key=lambda item: -item[1])
    return LongTermEvents(
        from_day=definition.window_start,
        followups=int(row["followups"]),
        followups_with_ae=int(row["any"]),
        patients=int(row["patients"]),
        patients_with_ae=int(row["patients_with_ae"]),
        any_ae=_estimate(row["any"], row["followups"], definition),
        by_event=tuple(by_event),
    )


# --- blood pressure -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BloodPressureSessions:
    """Sessions with ``hypertension`` (a blood-pressure rise): the total and the latest ones."""

    total: int
    sessions: pd.DataFrame  # at most ``limit`` rows, latest first

    @property
    def truncated(self) -> bool:
        return len(self.sessions) < self.total


BP_COLUMNS = (
    "patient_id",
    "session_date",
    "route",
    "dose_mg",
    "dose_mg_per_kg",
    "ae_duration_min",
    "adverse_events",
)


def blood_pressure_sessions(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    limit: int = 200,
) -> BloodPressureSessions:
    """Sessions with a blood-pressure event, latest first (then by pseudonymous patient id).

    Columns :data:`BP_COLUMNS`; ``dose_mg_per_kg`` is empty when the weight was not recorded,
    ``adverse_events`` lists every event of the session.
    """
    if limit < 0:
        raise ValueError(f"limit must be 0 or more: got {limit}")
    definition, cutoff, members = _resolve(engine, definition, cohort)
    s, p = schema.sessions, schema.patients
    scope = [*_session_scope(cutoff, cohort, members), has_event(s.c.adverse_events, "hypertension")]
    total = select(func.count()).select_from(s).where(*scope)
    rows = (
        select(
            p.c.patient_id,
            s.c.session_date,
            s.c.route,
            s.c.dose_mg,
            (s.c.dose_mg / s.c.weight_kg).label("dose_mg_per_kg"),
            s.c.ae_duration_min,
            s.c.adverse_events,
        )
        .join(p, p.c.id == s.c.patient_key)
        .where(*scope)
        .order_by(s.c.session_date.desc(), p.c.patient_id)
        .limit(limit)
    )
    with engine.connect() as connection:
        count = connection.execute(total).scalar_one()
        found = connection.execute(rows).mappings().all()
    frame = pd.DataFrame.from_records([dict(r) for r in found], columns=list(BP_COLUMNS))
    return BloodPressureSessions(total=int(count), sessions=frame)
