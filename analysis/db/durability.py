"""The per-patient rules of durability (docs/methods.md, "Durability"), written once as SQL.

From the cohort's per-patient rows (:func:`analysis.db.cohorts.cohort_query`: index date,
baseline, route, condition) the database derives, per evaluable patient:

- the **measurements**: follow-up ``pain`` and session ``pre_pain`` on day ≥ 1, on or before the
  cut-off and the patient's ``end_date``; one per day, a follow-up winning over a session on
  the same day;
- the **onset**: the first measurement with reduction ≥ threshold − 1e-9 on or before day T + W
  (patients without one are not in the durability cohort);
- the **loss** (the first later measurement with reduction below the threshold) or the
  **censoring** (the last measurement): ``time`` = that day − onset day, ``event`` 1 for a loss.
  Measurements after ``end_date`` never count, so a death or hospice (a competing event)
  censors at the last measurement on or before ``end_date``, as any other end of care does;
- the **maintenance sessions** (day > 28, on or before the cut-off and ``end_date``) and, per
  patient with two or more, the median gap in days between consecutive ones.

How (docs/performance.md, "Durability" and "Pain days"): the measurements are kept merged in
``pain_days`` (:mod:`analysis.db.pain_days`), keyed ``(patient_key, day)``; every per-patient
bound (the last day of the onset window, the last day of care, the start of maintenance) is
computed once per patient, so that each question is one range search of that key, with no
per-row date arithmetic and no sort of the measurements. ``durability_inputs`` (kept here,
:func:`refresh_inputs`) spares the search of patients whose lowest pain is no response and the
ranking of the booster gaps of patients with no session after the cut-off. Python receives one
row per group and distinct time (or distinct median gap): :mod:`analysis.queries.durability`
turns them into curves.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    Float,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    insert,
    inspect,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement, CompoundSelect

from analysis.db import booster_gaps, pain_days, schema
from analysis.db.booster_gaps import MAINTENANCE_AFTER_DAY
from analysis.db.cohorts import apply_filter, filter_columns
from analysis.db.derivation import ALL_DATA, EPSILON, is_set, route_as_of
from analysis.db.sqlfunctions import add_days, days_between
from analysis.db.store import delete_patients_rows
from analysis.domain.definition import CohortFilter, OutcomeDefinition


def _earlier(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    """The earlier of two dates, ignoring a NULL one (portable ``least``)."""
    return case((a.is_(None), b), (and_(b.is_not(None), b < a), b), else_=a)


def _responding(
    pain: ColumnElement[Any], baseline: ColumnElement[Any], threshold: float
) -> ColumnElement[bool]:
    """The response rule (the same arithmetic as :func:`analysis.db.derivation._reduction`)."""
    return (baseline - pain) / cast(baseline, Float) >= threshold - EPSILON


def cohort_columns(group: str | None) -> tuple[str, ...]:
    """The per-patient columns the durability rules read, with ``group`` when grouped."""
    return ("patient_key", "index_date", "baseline", "evaluable", *([group] if group else []))


def _group_key(rows: Any, group: str | None) -> ColumnElement[Any]:
    """The group a patient's row is counted in, labelled ``grp``: its ``group`` column, or "all"."""
    return (rows.c[group] if group else literal("all")).label("grp")


def _base(
    cohort: Select[Any], group: str | None, cutoff: date, last_onset_day: int, threshold: float, kept: bool
) -> Any:
    """The evaluable patients who can have an onset, with their bounds (a CTE: computed once,
    read by each step): the last date and the day it is (since the index date), the last day of
    the onset window, and the date after which sessions are maintenance.

    A patient whose lowest pain (``durability_inputs.lowest_pain``, over every pain day) is no
    response has no measurement that is one — reduction falls as pain rises — so no onset at
    any window or cut-off: their pain days are not searched. Without the kept inputs
    (``kept`` False) the end of care is read from ``patients`` and every patient searched.
    """
    rows = cohort.subquery("cohort_rows")
    i = schema.durability_inputs if kept else schema.patients
    on = (i.c.patient_key if kept else i.c.id) == rows.c.patient_key
    can_respond = [_responding(i.c.lowest_pain, rows.c.baseline, threshold)] if kept else []
    last_date = _earlier(literal(cutoff, Date), i.c.end_date)
    last_day = days_between(last_date, rows.c.index_date)
    return _materialized(
        select(
            rows.c.patient_key,
            rows.c.baseline,
            _group_key(rows, group),
            last_date.label("last_date"),
            last_day.label("last_day"),
            case((last_day < last_onset_day, last_day), else_=literal(last_onset_day)).label("onset_by"),
            add_days(rows.c.index_date, MAINTENANCE_AFTER_DAY).label("maintenance_from"),
        )
        .join(i, on)
        .where(is_set(rows.c.evaluable), *can_respond),
        "durability_base",
    )


def _first(
    measured: Any, base: Any, after: Any, until: Any, wanted: bool, threshold: float
) -> ColumnElement[Any]:
    """Per patient of ``base``: the first day of ``measured`` in (``after``, ``until``] whose
    response is ``wanted``."""
    hit = _responding(measured.c.pain, base.c.baseline, threshold)
    return (
        select(func.min(measured.c.day))
        .where(measured.c.patient_key == base.c.patient_key, measured.c.day > after, measured.c.day <= until)
        .where(hit if wanted else ~hit)
        .scalar_subquery()
    )


def _last(measured: Any, base: Any, after: Any, until: Any) -> ColumnElement[Any]:
    """Per patient of ``base``: the last day of ``measured`` in (``after``, ``until``]."""
    return (
        select(func.max(measured.c.day))
        .where(measured.c.patient_key == base.c.patient_key, measured.c.day > after, measured.c.day <= until)
        .scalar_subquery()
    )


def _materialized(query: Select[Any] | CompoundSelect, name: str) -> Any:
    """A CTE computed once: each correlated look-up runs once per patient, not once per mention."""
    return query.cte(name).prefix_with("MATERIALIZED")


def patient_rows(
    cohort: Select[Any],
    *,
    cutoff: date,
    threshold: float,
    last_onset_day: int,
    group: str | None,
    kept: bool = True,
) -> Any:
    """One row per durability-cohort patient (a CTE): ``patient_key``, ``grp``, ``last_date``,
    ``maintenance_from``, ``time``, ``event``, ``onset`` (its day since the index date).

    ``cohort`` is the per-patient query of :func:`analysis.db.cohorts.cohort_query`;
    ``group`` the column to break down by (``route`` or ``condition``), or ``None``;
    ``kept`` False (a migration before 0015, see :func:`facts_rows`): the pain days derived on
    the spot and the end of care read from ``patients``.
    """
    measured = schema.pain_days if kept else pain_days.derived()
    base = _base(cohort, group, cutoff, last_onset_day, threshold, kept)
    responders = _materialized(
        select(base, _first(measured, base, 0, base.c.onset_by, True, threshold).label("onset")),
        "onset_candidates",
    )
    r = responders
    ends = _materialized(
        select(
            r.c.patient_key,
            r.c.grp,
            r.c.last_date,
            r.c.maintenance_from,
            r.c.onset,
            r.c.last_day,
            _first(measured, r, r.c.onset, r.c.last_day, False, threshold).label("loss"),
        ).where(r.c.onset.is_not(None)),
        "ends",
    )
    # The last measurement is searched only without a loss: COALESCE stops at its first
    # non-NULL argument on both databases.
    last = _last(measured, ends, ends.c.onset, ends.c.last_day)
    return _materialized(
        select(
            ends.c.patient_key,
            ends.c.grp,
            ends.c.last_date,
            ends.c.maintenance_from,
            (func.coalesce(ends.c.loss, last, ends.c.onset) - ends.c.onset).label("time"),
            case((ends.c.loss.is_not(None), 1), else_=0).label("event"),
            ends.c.onset,
        ),
        "durability_cohort",
    )


def _gaps_until(patients: Any, *, kept: bool) -> Any:
    """The gaps between each of ``patients``' maintenance sessions on or before their
    ``last_date`` (``patient_key``, ``grp``, ``gap``): read from ``booster_gaps`` (``kept``), or
    ranked from the sessions.

    The kept gaps are those between consecutive maintenance sessions over all stored sessions:
    bounding them by a last date keeps a first part of each patient's sessions, whose gaps are
    the same.
    """
    if kept:
        g = schema.booster_gaps
        return (
            select(g.c.patient_key, patients.c.grp, g.c.gap)
            .join(patients, patients.c.patient_key == g.c.patient_key)
            .where(g.c.session_date <= patients.c.last_date)
            .subquery("maintenance")
        )
    s = schema.sessions
    maintenance = (
        select(s.c.patient_key, patients.c.grp, booster_gaps.gap_to_previous().label("gap"))
        .join(patients, patients.c.patient_key == s.c.patient_key)
        .where(s.c.session_date > patients.c.maintenance_from, s.c.session_date <= patients.c.last_date)
        .subquery("sessions_gaps")
    )
    return select(maintenance).where(maintenance.c.gap.is_not(None)).subquery("maintenance")


def _median_gaps(patients: Any, *, kept: bool = False) -> Any:
    """Per cohort patient with two or more maintenance sessions, one row: ``grp``,
    ``patient_key``, ``median_gap``, the median gap in days (from ``booster_gaps`` when
    ``kept``, else from the sessions)."""
    maintenance = _gaps_until(patients, kept=kept)
    ranked = select(
        maintenance.c.patient_key,
        maintenance.c.grp,
        maintenance.c.gap,
        func.row_number()
        .over(partition_by=maintenance.c.patient_key, order_by=maintenance.c.gap)
        .label("rank"),
        func.count().over(partition_by=maintenance.c.patient_key).label("gaps"),
    ).subquery("ranked_gaps")
    # The middle one or two gaps: ranks (n + 1) // 2 and (n + 2) // 2.
    gaps = cast(ranked.c.gaps, Integer)
    middle = or_(ranked.c.rank == (gaps + 1) // 2, ranked.c.rank == (gaps + 2) // 2)
    return (
        select(ranked.c.grp, ranked.c.patient_key, func.avg(cast(ranked.c.gap, Float)).label("median_gap"))
        .where(middle)
        .group_by(ranked.c.grp, ranked.c.patient_key)
        .subquery("median_gaps")
    )


def _median_then(patients: Any) -> ColumnElement[Any]:
    """Per patient of ``patients``: the median gap kept in ``booster_gaps`` at their last
    maintenance session on or before their ``last_date`` (NULL with fewer than two by then)."""
    g = schema.booster_gaps
    return (
        select(g.c.median_gap)
        .where(g.c.patient_key == patients.c.patient_key, g.c.session_date <= patients.c.last_date)
        .order_by(g.c.session_date.desc())
        .limit(1)
        .scalar_subquery()
    )


def _booster_gaps(patients: Any, cutoff: date, *, kept: bool = True) -> Any:
    """Per cohort patient with two or more maintenance sessions: the median gap (``grp``,
    ``patient_key``, ``median_gap``). Kept in ``durability_inputs`` for a patient with no
    session after ``cutoff`` (bounding the maintenance sessions by the cut-off removes none);
    for the others, the median kept in ``booster_gaps`` at their last maintenance session on or
    before their last date (one search each: docs/performance.md, "Booster medians kept") — none
    over all stored data. As of an earlier cut-off a patient with fewer than two maintenance
    sessions by then has a row with a NULL median, which readers skip (filtering them here made
    PostgreSQL run each search twice). ``kept`` False (a migration before 0015, see :func:`facts_rows`): every
    gap ranked from the sessions."""
    if not kept:
        return _median_gaps(patients)
    i = schema.durability_inputs
    on_inputs = i.c.patient_key == patients.c.patient_key
    if cutoff >= ALL_DATA:  # every patient is settled: nothing to search
        read = select(patients.c.grp, patients.c.patient_key, i.c.booster_gap.label("median_gap"))
        return read.join(i, on_inputs).where(i.c.booster_gap.is_not(None)).subquery("median_gaps")
    settled = or_(i.c.last_session_date.is_(None), i.c.last_session_date <= literal(cutoff, Date))
    # One pass over the inputs: the search runs for the unsettled patients only (CASE).
    median = case((settled, i.c.booster_gap), else_=_median_then(patients)).label("median_gap")
    return select(patients.c.grp, patients.c.patient_key, median).join(i, on_inputs).subquery("median_gaps")


def refresh_inputs(connection: Connection, keys: Any = None, *, replace: bool = True) -> None:
    """Re-derive the ``durability_inputs`` of ``keys`` (a query of patient keys; all when None)
    from ``patients``, ``sessions`` and the already refreshed ``patient_facts`` and
    ``pain_days`` (``replace`` False: new patients, with no rows to delete); nothing to do before
    migration 0015 made the table."""
    inputs, t, p, d = schema.durability_inputs, schema.patient_facts, schema.patients, schema.pain_days
    if not inspect(connection).has_table(inputs.name):
        return
    delete_patients_rows(connection, inputs, keys, replace=replace)
    mine = [] if keys is None else [t.c.patient_key.in_(keys)]
    bounds = (
        select(
            t.c.patient_key,
            literal("all").label("grp"),
            _earlier(literal(ALL_DATA, Date), p.c.end_date).label("last_date"),
            add_days(t.c.index_date, MAINTENANCE_AFTER_DAY).label("maintenance_from"),
        )
        .join(p, p.c.id == t.c.patient_key)
        .where(t.c.index_date.is_not(None), *mine)
        .cte("gap_bounds")
    )
    gaps = _median_gaps(bounds, kept=inspect(connection).has_table(schema.booster_gaps.name))
    lowest = (
        select(d.c.patient_key, func.min(d.c.pain).label("lowest_pain"))
        .where(*([] if keys is None else [d.c.patient_key.in_(keys)]))
        .group_by(d.c.patient_key)
        .subquery("lowest_pain")
    )
    rows = (
        select(t.c.patient_key, p.c.end_date, t.c.last_session_date, lowest.c.lowest_pain, gaps.c.median_gap)
        .join(p, p.c.id == t.c.patient_key)
        .outerjoin(lowest, lowest.c.patient_key == t.c.patient_key)
        .outerjoin(gaps, gaps.c.patient_key == t.c.patient_key)
        .where(t.c.index_date.is_not(None), *mine)
    )
    names = ["patient_key", "end_date", "last_session_date", "lowest_pain", "booster_gap"]
    connection.execute(insert(inputs).from_select(names, rows))


def durability_counts(
    cohort: Select[Any], *, cutoff: date, threshold: float, last_onset_day: int, group: str | None
) -> Select[Any]:
    """One statement, two kinds of small rows: ``("time", grp, time, events, censored)`` per group
    and distinct time, and ``("gap", grp, median gap, patients, NULL)`` per group and distinct
    median booster gap."""
    patients = patient_rows(
        cohort, cutoff=cutoff, threshold=threshold, last_onset_day=last_onset_day, group=group
    )
    times = select(
        literal("time").label("kind"),
        patients.c.grp,
        cast(patients.c.time, Float).label("value"),
        cast(func.sum(patients.c.event), Integer).label("first"),
        cast(func.sum(1 - patients.c.event), Integer).label("second"),
    ).group_by(patients.c.grp, patients.c.time)
    medians = _booster_gaps(patients, cutoff)
    gaps = select(
        literal("gap").label("kind"),
        medians.c.grp,
        medians.c.median_gap.label("value"),
        cast(func.count(), Integer).label("first"),
        cast(null(), Integer).label("second"),
    )
    gaps = gaps.where(medians.c.median_gap.is_not(None)).group_by(medians.c.grp, medians.c.median_gap)
    return union_all(times, gaps)  # type: ignore[return-value]  # a UNION is selectable like a SELECT


def facts_rows(cohort: Select[Any], *, kept: bool, threshold: float = schema.FACTS_THRESHOLD) -> Select[Any]:
    """The ``durability_facts`` rows of the patients of ``cohort`` (per-patient rows of
    ``patient_facts``): durability at the kept time point and window and ``threshold`` over all
    stored data.

    ``kept``: read the already refreshed ``pain_days`` and ``durability_inputs``; a migration
    before the one that made them (0015), which derives these facts with today's code, derives
    the pain days on the spot and ranks the booster gaps instead.
    """
    patients = patient_rows(
        cohort,
        cutoff=ALL_DATA,
        threshold=threshold,
        last_onset_day=sum(schema.FACTS_TIMEPOINT),
        group=None,
        kept=kept,
    )
    medians = _booster_gaps(patients, ALL_DATA, kept=kept)
    # One GROUP BY over both instead of a join: SQLite's LEFT JOIN of the two took 78 s of CPU at
    # 1M sessions (the medians re-run for every patient), this takes the time of its parts.
    no_number = cast(null(), Integer)
    both = union_all(
        select(
            patients.c.patient_key,
            patients.c.time,
            patients.c.event,
            cast(null(), Float).label("gap"),
            patients.c.onset,
        ),
        select(medians.c.patient_key, no_number, no_number, medians.c.median_gap, no_number),
    ).subquery("durability_parts")
    return select(
        both.c.patient_key,
        func.max(both.c.time).label("response_days"),
        func.max(both.c.event).label("response_lost"),
        func.max(both.c.gap).label("booster_gap"),
        func.max(both.c.onset).label("onset_day"),
    ).group_by(both.c.patient_key)


def _counts(rows: Any) -> Select[Any]:
    """The small rows of :func:`durability_counts` from per-patient rows ``grp``,
    ``response_days``, ``response_lost``, ``booster_gap`` (a patient may give only a time, only
    a gap, or both)."""
    times = (
        select(
            literal("time").label("kind"),
            rows.c.grp,
            cast(rows.c.response_days, Float).label("value"),
            cast(func.sum(rows.c.response_lost), Integer).label("first"),
            cast(func.sum(1 - rows.c.response_lost), Integer).label("second"),
        )
        .where(rows.c.response_days.is_not(None))
        .group_by(rows.c.grp, rows.c.response_days)
    )
    gaps = (
        select(
            literal("gap").label("kind"),
            rows.c.grp,
            rows.c.booster_gap.label("value"),
            cast(func.count(), Integer).label("first"),
            cast(null(), Integer).label("second"),
        )
        .where(rows.c.booster_gap.is_not(None))
        .group_by(rows.c.grp, rows.c.booster_gap)
    )
    return union_all(times, gaps)  # type: ignore[return-value]  # a UNION is selectable like a SELECT


def kept_at(threshold: float) -> ColumnElement[bool]:
    """The ``durability_facts`` rows kept for ``threshold``, one of ``schema.FACTS_THRESHOLDS``."""
    return schema.durability_facts.c.threshold_pct == schema.FACTS_THRESHOLDS[threshold]


def facts_counts(cohort: CohortFilter, *, group: str | None, threshold: float) -> Select[Any]:
    """:func:`durability_counts` read from ``durability_facts`` alone (the cohort filter applies to
    its copied columns): valid at the kept time point and window and a kept ``threshold`` when
    the cut-off is the latest stored date (``analysis.db.cohorts.facts_apply``)."""
    kept = schema.durability_facts
    rows = apply_filter(select(kept).where(kept_at(threshold)), cohort).subquery("cohort_rows")
    read = (rows.c.response_days, rows.c.response_lost, rows.c.booster_gap)
    joined = select(_group_key(rows, group), *read).subquery("durability_rows")
    return _counts(joined)


def facts_settled(cutoff: date) -> ColumnElement[bool]:
    """Patients (of ``durability_facts``, which copies their last dates) whose durability as of
    ``cutoff`` is their kept one.

    docs/performance.md, "Durability", "Earlier cut-offs": with no session and no follow-up
    after the cut-off, the rules see the same rows as of the cut-off as over all stored data —
    the same index date, baseline and route (of the cohort row, pending or eligible are not
    read), the same measurements and maintenance sessions (bounding them by the cut-off as well
    as by ``end_date`` removes none) — so the same onset, loss or censoring and booster gap.
    Every term is NULL-free, so that "not settled" is exactly the complement.
    """
    facts = schema.durability_facts
    until = literal(cutoff, Date)
    return and_(
        or_(facts.c.last_session_date.is_(None), facts.c.last_session_date <= until),
        or_(facts.c.last_followup_date.is_(None), facts.c.last_followup_date <= until),
    )


def _as_of_kept(rows: Select[Any], cutoff: date, group: str | None) -> Any:
    """Per unsettled responder with an onset by ``cutoff`` (``rows``: their kept
    ``durability_facts`` rows, with the route as of the cut-off), their durability as of the
    cut-off, from the kept one: ``grp``, ``time``, ``event`` and ``median_gap`` (a CTE).

    The measurements as of the cut-off are the stored ones on or before it (and ``end_date``), so
    (docs/methods.md, "Durability"; docs/performance.md, "Durability as of an earlier cut-off,
    from the kept onset"):

    - the onset is the kept one if it is on or before the last day then; a later kept onset means
      no measurement by then was a response, so no onset then (the row is left out);
    - a kept loss or censoring on or before the last day then is the one then too;
    - otherwise every measurement from the onset to the last day then is a response: the patient
      is censored at the last of them (one search of ``pain_days``), or at the onset;
    - the booster median is the one kept at their last maintenance session on or before the last
      date (one search of ``booster_gaps``; NULL with fewer than two, which the counts skip).
    """
    r = rows.subquery("unsettled_rows")
    last_date = _earlier(literal(cutoff, Date), r.c.end_date)
    last_day = days_between(last_date, r.c.index_date)
    onsets = _materialized(
        select(
            r.c.patient_key,
            _group_key(r, group),
            last_date.label("last_date"),
            last_day.label("last_day"),
            r.c.onset_day.label("onset"),
            r.c.response_days,
            r.c.response_lost,
        ).where(r.c.onset_day <= last_day),
        "kept_onsets",
    )
    o = onsets
    ended = o.c.onset + o.c.response_days <= o.c.last_day
    last = _last(schema.pain_days, o, o.c.onset, o.c.last_day)  # searched only when not ended
    return _materialized(
        select(
            o.c.grp,
            case((ended, o.c.response_days), else_=func.coalesce(last, o.c.onset) - o.c.onset).label("time"),
            case((ended, o.c.response_lost), else_=0).label("event"),
            _median_then(o).label("median_gap"),
        ),
        "durability_cohort",
    )


def _in_shard(key: ColumnElement[Any], shard: tuple[int, int] | None) -> list[ColumnElement[bool]]:
    """``[key % n = i]`` for ``shard`` ``(i, n)``; nothing for None."""
    return [] if shard is None else [key % shard[1] == shard[0]]


def facts_as_of_counts(
    definition: OutcomeDefinition,
    cohort: CohortFilter,
    *,
    group: str | None,
    shard: tuple[int, int] | None = None,
) -> Select[Any]:
    """:func:`durability_counts` at the kept time point and window, a kept threshold and an
    earlier cut-off (the definition's, resolved), read from ``durability_facts`` alone.

    Only patients with kept durability at the threshold can have an onset by an earlier cut-off
    (the measurements then are those of today on or before it), and only those first treated by
    then count. Of them, the settled ones (:func:`facts_settled`) are read as they are — their
    cohort columns are those as of the cut-off too. The others' durability then follows from
    their kept onset, loss or censoring (:func:`_as_of_kept`). Their cohort columns then are the
    kept ones (a patient first treated by the cut-off keeps the index date and the attributes),
    but for the route of a patient whose sessions used two or more routes and went on after the
    cut-off: re-derived from their sessions on or before it
    (:func:`analysis.db.derivation.route_as_of`). No row of ``patient_facts`` is read
    (docs/performance.md, "Durability as of a cut-off, from the kept rows alone").

    ``shard`` ``(i, n)``: only the patients whose key is ``i`` modulo ``n``. The counts of the
    ``n`` shards add up to the whole cohort's (:mod:`analysis.queries.durability` runs them at
    once on PostgreSQL).
    """
    assert definition.cutoff is not None
    until = literal(definition.cutoff, Date)
    k = schema.durability_facts
    counted = [kept_at(definition.threshold), k.c.index_date <= until, *_in_shard(k.c.patient_key, shard)]
    settled_rows = apply_filter(select(k).where(*counted, facts_settled(definition.cutoff)), cohort).subquery(
        "settled_rows"
    )
    unsettled = and_(*counted, ~facts_settled(definition.cutoff))
    changed = select(k.c.patient_key).where(unsettled, k.c.last_session_date > until, k.c.n_routes > 1)
    then = route_as_of(definition.cutoff, changed)
    # Of the stored type, as in the settled rows (see derivation.straddling_query).
    route = cast(func.coalesce(then.c.route, k.c.route), k.c.route.type).label("route")
    read = ("patient_key", "index_date", "end_date", "onset_day", "response_days", "response_lost")
    grouped = [group] if group else []
    columns = [k.c[name] for name in (*read, *filter_columns(cohort), *grouped) if name != "route"]
    rows = (
        select(*dict.fromkeys(columns), route)
        .select_from(k.outerjoin(then, then.c.patient_key == k.c.patient_key))
        .where(unsettled)
    )
    patients = _as_of_kept(apply_filter(rows, cohort), definition.cutoff, group)
    s = settled_rows
    per_patient = union_all(
        select(_group_key(s, group), s.c.response_days, s.c.response_lost, s.c.booster_gap),
        select(patients.c.grp, patients.c.time, patients.c.event, patients.c.median_gap),
    )
    # Read twice (times, gaps): computed once.
    return _counts(_materialized(per_patient, "durability_rows"))
