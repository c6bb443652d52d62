"""The per-patient derivation of the outcome rules (docs/methods.md), written once as SQLAlchemy Core.

Per patient the database derives the index date, the baseline pain, the patient's route, the
follow-up nearest the time point, and from them whether the patient is evaluable, eligible,
pending, a responder. Python only ever receives one row per patient
(:func:`analysis.db.cohorts.patient_outcomes`); the group counts and their statistics live in
:mod:`analysis.queries.response`.

Decisions the rules leave open are in ``docs/methods.md``; the main one: a cut-off set by
the user makes the analysis "as of" that date — sessions and follow-ups after it are ignored,
and patients whose first session is after it are not counted at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from analysis.db import followup_days, schema
from analysis.db.sqlfunctions import has_any_event, has_event, quarter_of
from analysis.domain.definition import AGE_GROUPS, OutcomeDefinition
from analysis.domain.vocabulary import MIXED_ROUTE, NO_ROUTE

#: A cut-off later than any stored date: every session and follow-up counts (the facts' view).
ALL_DATA = date(9999, 12, 31)
#: Tolerance of docs/methods.md so that a reduction of exactly 30 % counts despite floating point.
EPSILON = 1e-9
SUBSTANTIAL = 0.50


# --- the per-patient derivation -----------------------------------------------------------


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _age_group_expression(age: ColumnElement[Any]) -> ColumnElement[str]:
    return case(
        *[(and_(age >= low, age <= high), label) for label, low, high in AGE_GROUPS],
        else_="unknown",
    )


def _evaluable(index_date: ColumnElement[Any], baseline: ColumnElement[Any]) -> ColumnElement[bool]:
    """docs/methods.md: a first session and a baseline above 0."""
    return and_(index_date.is_not(None), baseline.is_not(None), baseline > 0)


def _reduction(
    evaluable: ColumnElement[bool], baseline: ColumnElement[Any], followup_pain: ColumnElement[Any]
) -> ColumnElement[Any]:
    """Relative pain reduction at the counted follow-up; NULL unless evaluable with a follow-up.

    ``followup_pain`` is NULL exactly when there is no follow-up in the window (pain is required).
    """
    return case(
        (
            and_(evaluable, followup_pain.is_not(None)),
            (baseline - followup_pain) / func.cast(baseline, Float),
        ),
        else_=None,
    )


def _outcome_columns(
    definition: OutcomeDefinition,
    cutoff: date,
    *,
    index_date: ColumnElement[Any],
    evaluable: ColumnElement[bool],
    reduction: ColumnElement[Any],
) -> list[ColumnElement[Any]]:
    """The docs/methods.md flags of a patient: the one place where they are defined.

    ``reduction`` is NULL unless the patient is evaluable and has a follow-up in the window
    (:func:`_reduction`), so "with follow-up" is "reduction known" and a responder is any
    patient whose reduction reaches the threshold: those patients are eligible by definition.
    """
    counted = reduction.is_not(None)
    # "index date + T + W ≤ cut-off" as a plain date comparison (no date arithmetic per row).
    window_closed = index_date <= literal(cutoff - timedelta(days=definition.window_end), Date)
    return [
        reduction.label("reduction"),
        _flag(evaluable).label("evaluable"),
        _flag(and_(evaluable, ~counted, ~window_closed)).label("pending"),
        _flag(and_(evaluable, or_(counted, window_closed))).label("eligible"),
        _flag(counted).label("with_followup"),
        _flag(reduction >= definition.threshold - EPSILON).label("responder"),
        _flag(reduction >= SUBSTANTIAL - EPSILON).label("substantial"),
    ]


def is_set(flag: ColumnElement[Any]) -> ColumnElement[bool]:
    """A 0/1 flag of the per-patient rows is 1, written ``flag <> 0`` for PostgreSQL's planner.

    The flags are CASE expressions, whose selectivity PostgreSQL cannot estimate: it guesses
    0.5 % of the rows for ``= 1`` — at 10M sessions a nested loop over 1.5M patients (10 s for
    ``secondary``) — and 99.5 % for ``<> 0``, which plans the hash join the real share (most
    patients are eligible) calls for (docs/performance.md, "The planner and the flags").
    """
    return flag != 0


def count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """An aggregate: the number of rows where ``condition`` holds (0, never NULL, when none).

    ``count(*) FILTER (WHERE …)`` (SQLite ≥ 3.30, PostgreSQL ≥ 9.4) rather than
    ``sum(CASE … THEN 1 ELSE 0 END)``: the 28 counts of ``secondary`` over 1.5M patients take
    2.6 s instead of 3.3 s on PostgreSQL, 0.21 s instead of 0.38 s over 148,000 on SQLite
    (docs/performance.md, "Outcomes beyond pain").
    """
    return func.count().filter(condition)


def _route_counts(cutoff: date, keys: Sequence[int] | Select[Any] | None) -> Any:
    """One pass over the sessions on or before ``cutoff`` (of ``keys``' patients), per patient and
    route: how many, the first and last date, and how many with adverse events and with
    dissociation. The per-patient session facts and the route both come from it (a CTE: used
    twice, computed once)."""
    s = schema.sessions
    where = [s.c.session_date <= literal(cutoff, Date)]
    if keys is not None:
        where.append(s.c.patient_key.in_(keys))
    return (
        select(
            s.c.patient_key,
            s.c.route,
            func.count().label("n"),
            func.min(s.c.session_date).label("first_date"),
            func.max(s.c.session_date).label("last_date"),
            count_where(has_any_event(s.c.adverse_events)).label("with_ae"),
            count_where(has_event(s.c.adverse_events, "dissociation")).label("with_dissociation"),
        )
        .where(*where)
        .group_by(s.c.patient_key, s.c.route)
        .cte("route_counts")
    )


def _session_totals(route_counts: Any, name: str) -> Any:
    """Per patient of :func:`_route_counts`: the index date (first session), the last session
    and the three session counts."""
    return (
        select(
            route_counts.c.patient_key,
            func.min(route_counts.c.first_date).label("index_date"),
            func.max(route_counts.c.last_date).label("last_session_date"),
            cast(func.count(), Integer).label("n_routes"),  # one row per route
            *(  # PostgreSQL sums integers as numeric: back to integers
                cast(func.sum(route_counts.c[part]), Integer).label(total)
                for part, total in (
                    ("n", "n_sessions"),
                    ("with_ae", "sessions_with_ae"),
                    ("with_dissociation", "sessions_with_dissociation"),
                )
            ),
        )
        .group_by(route_counts.c.patient_key)
        .cte(name)  # used twice: computed once
    )


def _plurality_route(route_counts: Any) -> Any:
    """docs/methods.md: the patient's route is the plurality of sessions; a tie for the most →
    "mixed". Per patient of :func:`_route_counts`."""
    route_ranked = select(
        route_counts,
        func.max(route_counts.c.n).over(partition_by=route_counts.c.patient_key).label("top"),
    ).subquery("route_ranked")
    return (
        select(
            route_ranked.c.patient_key,
            case((func.count() > 1, MIXED_ROUTE), else_=func.max(route_ranked.c.route)).label("route"),
        )
        .where(route_ranked.c.n == route_ranked.c.top)
        .group_by(route_ranked.c.patient_key)
        .subquery("patient_route")
    )


def route_as_of(cutoff: date, keys: Select[Any]) -> Any:
    """Per patient of ``keys`` with a session on or before ``cutoff``: their route as of it
    (``patient_key``, ``route``; :func:`_plurality_route` of those sessions)."""
    return _plurality_route(_route_counts(cutoff, keys))


# Long on purpose: one SQL statement built as named steps (CTEs), each reading the one before.
def patient_outcomes_query(
    definition: OutcomeDefinition,
    cutoff: date,
    *,
    keys: Sequence[int] | Select[Any] | None = None,
    with_last_dates: bool = False,
) -> Select[Any]:
    """One row per patient with every docs/methods.md quantity, computed from the stored rows.

    The straightforward computation: it scans the sessions and follow-ups as of ``cutoff``
    (the resolved data cut-off). :func:`facts_query` gives the same rows from the
    ``patient_facts`` table when the cut-off is the latest stored date;
    :func:`analysis.db.cohorts.cohort_query` chooses. ``keys`` (patient keys, a list or a query
    of them) restricts the rows to those patients (the facts refresh uses it).
    ``with_last_dates`` adds each patient's last session and follow-up date and number of routes
    (the facts keep them). The cohort is not filtered here (see
    :func:`analysis.db.cohorts.apply_filter`).
    """
    p, s = schema.patients, schema.sessions
    cutoff_value = literal(cutoff, Date)

    def mine(key: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        return [] if keys is None else [key.in_(keys)]

    route_counts = _route_counts(cutoff, keys)
    first = _session_totals(route_counts, "first_session")  # index date = first session
    first_row = s.alias("first_row")  # the first session itself, reached through its natural key

    patient_route = _plurality_route(route_counts)
    nearest = followup_days.nearest_in_followups(first, definition, cutoff, keys)
    f = schema.followups
    last_followup = (
        select(f.c.patient_key, func.max(f.c.followup_date).label("last_followup_date"))
        .where(f.c.followup_date <= cutoff_value, *mine(f.c.patient_key))
        .group_by(f.c.patient_key)
        .subquery("last_followup")
    )
    # Only the facts keep them (what an earlier cut-off needs to know, facts_settled): the
    # outcome rows of an earlier cut-off could not give them from the facts.
    last_dates = (
        [
            first.c.last_session_date,
            last_followup.c.last_followup_date,
            func.coalesce(first.c.n_routes, 0).label("n_routes"),
        ]
        if with_last_dates
        else []
    )

    # Patients first treated after the cut-off were not yet patients then (they have
    # sessions, none before the cut-off); patients with no session at all stay, counted as
    # not evaluable. With every stored row counted (ALL_DATA) nobody is first treated later.
    not_yet_patients = (
        []
        if cutoff >= ALL_DATA
        else [
            or_(
                first.c.index_date.is_not(None),
                ~select(s.c.patient_key).where(s.c.patient_key == p.c.id).exists(),
            )
        ]
    )

    # Baseline = patients.baseline_pain when given (an explicit 0 stays 0), else first pre_pain.
    baseline = func.coalesce(p.c.baseline_pain, first_row.c.pre_pain)
    evaluable = _evaluable(first.c.index_date, baseline)
    joined = (
        p.outerjoin(first, first.c.patient_key == p.c.id)
        .outerjoin(
            first_row,
            and_(first_row.c.patient_key == p.c.id, first_row.c.session_date == first.c.index_date),
        )
        .outerjoin(patient_route, patient_route.c.patient_key == p.c.id)
        .outerjoin(nearest, nearest.c.patient_key == p.c.id)
    )
    if with_last_dates:
        joined = joined.outerjoin(last_followup, last_followup.c.patient_key == p.c.id)
    return (
        select(
            p.c.id.label("patient_key"),
            p.c.patient_id,
            p.c.site,
            p.c.condition,
            func.coalesce(p.c.sex, "unknown").label("sex"),
            p.c.age,
            _age_group_expression(p.c.age).label("age_group"),
            first.c.index_date,
            func.coalesce(quarter_of(first.c.index_date), "none").label("quarter"),
            func.coalesce(first.c.n_sessions, 0).label("n_sessions"),
            func.coalesce(first.c.sessions_with_ae, 0).label("sessions_with_ae"),
            func.coalesce(first.c.sessions_with_dissociation, 0).label("sessions_with_dissociation"),
            func.coalesce(patient_route.c.route, NO_ROUTE).label("route"),
            baseline.label("baseline"),
            *followup_days.followup_columns(nearest),
            *_outcome_columns(
                definition,
                cutoff,
                index_date=first.c.index_date,
                evaluable=evaluable,
                reduction=_reduction(evaluable, baseline, nearest.c.pain),
            ),
            p.c.end_date,  # the stored end of care, as the facts keep it (_END_OF_CARE)
            p.c.end_reason,
            *last_dates,
        )
        .select_from(joined)
        .where(*not_yet_patients, *mine(p.c.id))
    )


#: Columns that ``patient_facts`` copies from the straightforward per-patient rows.
FACT_COLUMNS: tuple[str, ...] = tuple(c.name for c in schema.patient_facts.columns)
#: The patient's attributes and session facts, in the order of the per-patient rows.
_ATTRIBUTES: tuple[str, ...] = FACT_COLUMNS[: FACT_COLUMNS.index("route") + 1]
_SESSION_COUNTS: tuple[str, ...] = ("n_sessions", "sessions_with_ae", "sessions_with_dissociation")
#: What an earlier cut-off can only learn from the sessions (:func:`straddling_query`).
_SESSION_FACTS: tuple[str, ...] = (*_SESSION_COUNTS, "route")
#: What it can only learn from the follow-ups: the nearest one, and the flags that follow from it.
_FOLLOWUP_FACTS: tuple[str, ...] = (
    "followup_date",
    "followup_day",
    "followup_pain",
    "followup_pgic",
    "reduction",
    "pending",
    "eligible",
    "with_followup",
    "responder",
    "substantial",
)
#: The end of care as stored (not as of the cut-off; a reader compares ``end_date`` with it),
#: last in every kind of per-patient row, read from the facts by every kind but the derivation.
_END_OF_CARE: tuple[str, ...] = ("end_date", "end_reason")


def at_default_timepoint(definition: OutcomeDefinition) -> bool:
    """Whether the facts keep this definition's nearest follow-up (``schema.FACTS_TIMEPOINT``)."""
    return (definition.timepoint_days, definition.window_days) == schema.FACTS_TIMEPOINT


def facts_query(
    definition: OutcomeDefinition,
    cutoff: date,
    *,
    followups_until: date | None = None,
    distinct_on: bool = False,
    keys: Any = None,
) -> Select[Any]:
    """The rows of :func:`patient_outcomes_query` read from ``patient_facts``.

    Valid for the patients with nothing stored after ``cutoff`` that their facts depend on
    (every patient when ``cutoff`` is on or after the latest stored date; see
    :func:`facts_as_of_query`). At the default time point and window no other table is read —
    the reduction is stored — and at another one the nearest follow-up on or before
    ``followups_until`` (every follow-up when None) is found in ``followup_days``
    (:func:`analysis.db.followup_days.nearest`; ``distinct_on`` on PostgreSQL), searched among the
    patients of ``keys`` only when given (a query of patient keys; the caller still filters the
    rows).
    """
    t = schema.patient_facts
    evaluable = t.c.evaluable == 1
    if at_default_timepoint(definition):
        kept = ("followup_date", "followup_day", "followup_pain", "followup_pgic")
        followup: list[ColumnElement[Any]] = [t.c[name] for name in kept]
        reduction: ColumnElement[Any] = t.c.reduction
        source: Any = t
    else:
        nearest = followup_days.nearest(definition, followups_until, keys, distinct_on=distinct_on)
        followup = followup_days.followup_columns(nearest)
        reduction = _reduction(evaluable, t.c.baseline, nearest.c.pain)
        source = t.outerjoin(nearest, nearest.c.patient_key == t.c.patient_key)
    return select(
        *[t.c[name] for name in _ATTRIBUTES],
        t.c.baseline,
        *followup,
        *_outcome_columns(
            definition, cutoff, index_date=t.c.index_date, evaluable=evaluable, reduction=reduction
        ),
        *[t.c[name] for name in _END_OF_CARE],
    ).select_from(source)


def followups_settled(definition: OutcomeDefinition, cutoff: date) -> ColumnElement[bool]:
    """Patients with an index date whose follow-ups that count at the default time point and
    window are, as of ``cutoff``, those over all stored data: the last follow-up is on or before
    the cut-off, or the window closed by then (a later follow-up lies outside it)."""
    t = schema.patient_facts
    window_closed = literal(cutoff - timedelta(days=definition.window_end), Date)
    return or_(
        t.c.last_followup_date.is_(None),
        t.c.last_followup_date <= literal(cutoff, Date),
        t.c.index_date <= window_closed,
    )


def facts_settled(definition: OutcomeDefinition, cutoff: date) -> ColumnElement[bool]:
    """Patients whose facts as of ``cutoff`` are their facts over all stored data.

    docs/performance.md, "Earlier cut-offs": nothing after the cut-off changes a patient's
    sessions facts (index date, counts, route) when the last session is on or before it; and,
    at the default time point and window, the nearest follow-up when :func:`followups_settled`.
    Patients without a session stay as they are (not evaluable).
    """
    t = schema.patient_facts
    # Every term is NULL-free (a patient with an index date has a last session date), so that
    # "not settled" is exactly the complement.
    settled = [t.c.last_session_date <= literal(cutoff, Date)]
    if at_default_timepoint(definition):
        settled.append(followups_settled(definition, cutoff))
    return or_(t.c.index_date.is_(None), and_(*settled))


def _straddling_followup(
    definition: OutcomeDefinition,
    cutoff: date,
    straddles: ColumnElement[bool],
    keys: Select[Any],
    source: Any,
    distinct_on: bool,
) -> tuple[Any, ColumnElement[Any], list[ColumnElement[Any]]]:
    """``source`` joined to the straddling patients' nearest follow-up as of ``cutoff``; the pain
    and the four follow-up columns of :func:`straddling_query`.

    Their index date is the stored one, so are their follow-ups' days. At the kept time point
    only the patients whose follow-ups are not settled (:func:`followups_settled`) are searched;
    the others' kept follow-up is theirs as of the cut-off too (at 10M, 21,009 searched instead
    of 126,208: docs/performance.md, "Only the unsettled follow-ups").
    """
    t = schema.patient_facts
    searched = ~followups_settled(definition, cutoff) if at_default_timepoint(definition) else None
    if searched is not None:
        keys = select(t.c.patient_key).where(straddles, searched)
    nearest = followup_days.nearest(definition, cutoff, keys, distinct_on=distinct_on)
    source = source.outerjoin(nearest, nearest.c.patient_key == t.c.patient_key)
    pain: ColumnElement[Any] = nearest.c.pain
    followup = followup_days.followup_columns(nearest)
    if searched is not None:
        followup = [case((searched, c), else_=t.c[c.name]).label(c.name) for c in followup]
        pain = case((searched, pain), else_=t.c.followup_pain)
    return source, pain, followup


def straddling_query(
    definition: OutcomeDefinition,
    cutoff: date,
    straddles: ColumnElement[bool],
    keys: Select[Any],
    *,
    names: Sequence[str] | None = None,
    distinct_on: bool = False,
) -> Select[Any]:
    """The rows of :func:`patient_outcomes_query` as of ``cutoff`` for patients first treated on or
    before it whose care straddles it (``straddles``, a condition on ``patient_facts``; ``keys``,
    the same patients' keys), with what cannot change read from ``patient_facts``. Right for any
    patient first treated by the cut-off (durability's unsettled responders use it too).

    A patient first treated by the cut-off keeps the index date, hence the first session and the
    baseline (and whether evaluable), and the attributes. From the rows on or before the cut-off
    come the session counts, the route (:func:`_plurality_route`) and the nearest follow-up:
    the same steps as :func:`patient_outcomes_query`, without re-deriving the first session,
    whose join on its natural key PostgreSQL planned as a scan of every session (20 s at 10M).
    The sessions are read only when ``names`` (the columns the question reads; all when None)
    include the session counts or the route, and only of the patients whose session facts can
    differ; the follow-ups only when they include the nearest follow-up or a flag that follows
    from it (docs/performance.md, "Only the columns asked for").
    """
    t = schema.patient_facts
    source: Any = t
    counts_asked = names is None or not set(_SESSION_COUNTS).isdisjoint(names)
    route_asked = names is None or "route" in names
    # NULL placeholders for what is not asked for (narrow removes them; never today's values).
    session_facts: list[ColumnElement[Any]] = [null().label(name) for name in _SESSION_FACTS]
    if counts_asked or route_asked:
        # Only a patient with a session after the cut-off had other session facts then than now;
        # for the route alone, only such a patient whose sessions used two or more routes.
        changed = [t.c.last_session_date > literal(cutoff, Date)]
        if not counts_asked:
            changed.append(t.c.n_routes > 1)
        route_counts = _route_counts(cutoff, select(t.c.patient_key).where(straddles, *changed))
        if counts_asked:
            totals = _session_totals(route_counts, "straddling_sessions")
            source = source.outerjoin(totals, totals.c.patient_key == t.c.patient_key)
            session_facts[:3] = [
                func.coalesce(totals.c[name], t.c[name]).label(name) for name in _SESSION_COUNTS
            ]
        if route_asked:
            patient_route = _plurality_route(route_counts)
            source = source.outerjoin(patient_route, patient_route.c.patient_key == t.c.patient_key)
            # Of the stored type (VARCHAR(16)) as in the facts' rows: PostgreSQL flattens a UNION
            # ALL only when its parts' types match, and then filters and groups inside it (at
            # 10M, `compare --cutoff` 5.3 s → 4.0 s).
            route = func.coalesce(patient_route.c.route, t.c.route)
            session_facts[3] = cast(route, t.c.route.type).label("route")
    evaluable = t.c.evaluable == 1
    copied = _ATTRIBUTES[: _ATTRIBUTES.index("quarter") + 1]  # up to the session counts
    if names is None or not set(_FOLLOWUP_FACTS).isdisjoint(names):
        source, pain, followup = _straddling_followup(
            definition, cutoff, straddles, keys, source, distinct_on
        )
    else:  # placeholders again: nothing asked for depends on the follow-ups
        pain = null()
        followup = [null().label(name) for name in _FOLLOWUP_FACTS[:4]]
    outcome = _outcome_columns(
        definition,
        cutoff,
        index_date=t.c.index_date,
        evaluable=evaluable,
        reduction=_reduction(evaluable, t.c.baseline, pain),
    )
    rows = (
        select(*[t.c[name] for name in copied], *session_facts, t.c.baseline, *followup, *outcome)
        .add_columns(*[t.c[name] for name in _END_OF_CARE])
        .select_from(source)
        .where(straddles)  # not a join to the keys: PostgreSQL looked each facts row up in them
    )
    return narrow(rows, names)


def narrow(rows: Select[Any], names: Sequence[str] | None) -> Select[Any]:
    """``rows`` with only the columns in ``names``, in the rows' own order (all when None)."""
    if names is None:
        return rows
    wanted = set(names)
    return rows.with_only_columns(*[c for c in rows.selected_columns if c.name in wanted])


def facts_as_of_query(
    definition: OutcomeDefinition,
    cutoff: date,
    *,
    names: Sequence[str] | None = None,
    distinct_on: bool = False,
    among: ColumnElement[bool] | None = None,
) -> Select[Any]:
    """The rows of :func:`patient_outcomes_query` as of an earlier ``cutoff``, mostly from the facts.

    Patients first treated after the cut-off were not patients yet; of the others, those whose
    facts are settled (:func:`facts_settled`) are read from ``patient_facts`` (at another time
    point, with the nearest follow-up on or before the cut-off), and only the patients whose
    care straddles the cut-off are derived by :func:`patient_outcomes_query` from their own
    sessions and follow-ups — a small share of a clinic for the usual "end of last quarter".
    ``names``: the columns to compute (all when None; see :func:`analysis.db.cohorts.cohort_query`).
    ``among``: a condition on ``patient_facts`` that limits the rows to some patients.
    """
    t = schema.patient_facts
    counted = or_(t.c.index_date.is_(None), t.c.index_date <= literal(cutoff, Date))
    if among is not None:
        counted = and_(counted, among)
    settled = facts_settled(definition, cutoff)
    from_facts = narrow(
        facts_query(definition, cutoff, followups_until=cutoff, distinct_on=distinct_on).where(
            counted, settled
        ),
        names,
    )
    # SQLite computes the keys once (the derivation reads them four times). PostgreSQL cannot
    # estimate a materialised CTE's rows (it guesses 200) and then looks each of 290,000 keys up
    # by index at 10M sessions; inlined, it estimates them and hash-joins.
    straddles = and_(counted, ~settled)
    straddling = (
        select(t.c.patient_key)
        .where(straddles)
        .cte("straddling")
        .prefix_with("MATERIALIZED", dialect="sqlite")
        .prefix_with("NOT MATERIALIZED", dialect="postgresql")
    )
    derived = straddling_query(
        definition, cutoff, straddles, select(straddling.c.patient_key), names=names, distinct_on=distinct_on
    )
    return union_all(from_facts, derived)  # type: ignore[return-value]
