"""The default view of the outcomes beyond pain, counted at import (``secondary_cells``).

``secondary`` at the default view counted 28 rules over every eligible patient and four change
histograms: 4.6 s at 10M sessions on PostgreSQL, where the target is 2 s. Its answer is made of
sums, so it is kept here already summed — per breakdown by one dimension (and for the whole
clinic) a ``counts`` row and the change histograms of each group — and an import changes it by
what its patients changed (docs/performance.md, "Beyond pain, counted at import"):

1. before the facts of the import's patients are re-derived, their part of the counts as they
   were, at the data cut-off the cells were counted at, is taken away;
2. after, their new part, at the new data cut-off, is added;
3. patients whose eligibility the moved data cut-off changed — evaluable, no follow-up in the
   window, and the window closing between the two cut-offs — are taken away and added the same
   way: the only patients an import changes without writing a row of theirs.

The parts come from the very statement the view would run
(:func:`analysis.db.beyond_pain.secondary_query` over ``patient_facts``), grouped by all six
dimensions and then added up per breakdown, so the kept answer and the computed one cannot drift
apart (``tests/test_secondary_cells.py`` holds
them equal after imports, refreshes and a moved cut-off on both databases).

The response profile's patterns of baseline characteristics are kept by the same steps
(:mod:`analysis.db.profile_cells`), under the same state.

The cells answer only the views they were counted for: the default window and threshold, the
default measure settings, no cohort filter, at most one dimension, at the facts' time point (90
days) and at 180 days (:data:`TIMEPOINTS`: three and six months; docs/performance.md, "Outcomes
beyond pain at six months, kept"). At 180
days the rows answer the data cut-off only: they are not bucketed by quarter (``settled_by`` is
''), and an earlier cut-off is counted from the facts.
``secondary_cells_state`` records the data cut-off they were counted at and a fingerprint of
those rules; when either differs from today's (new code; rows written without a refresh move
the data cut-off), the view is computed from the facts as before, and the next refresh rebuilds
the cells.

At the data cut-off every row answers. At an earlier cut-off C (a report "as of the end of last
quarter") the rows answer for the patients *settled* by then (docs/methods.md, "Where the
numbers are computed"; docs/performance.md, "Settled by quarter"): each row keeps the calendar quarter by
whose end its patients' part became what it is now (``settled_by``), and a patient is settled
on the day after which no stored row can change their part — the window closed (a patient
without a follow-up in it becomes eligible that day), or their last follow-up, whichever is
first. The rows of the quarters ended by C are their part as of C; the patients settled after
that quarter end are counted from the facts, as of C (:func:`unsettled_after`). The breakdown
by route has its own quarters: a patient whose sessions used two or more routes has a route as
of C that their later sessions can change, so they are settled no earlier than their last
session (with one route, their route was that route at any cut-off after their first session).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Float,
    Integer,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    inspect,
    literal,
    null,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from analysis.db import profile_cells, schema
from analysis.db.beyond_pain import COUNT_NAMES, FROM_DAYS, FROM_FACTS, ROW_COLUMNS, secondary_query
from analysis.db.derivation import facts_query, narrow
from analysis.db.sqlfunctions import add_days, quarter_of
from analysis.db.store import add_in_place, latest_date, stored_columns, temporary_like, temporary_table
from analysis.domain.definition import DIMENSIONS, OutcomeDefinition
from analysis.domain.measures import MeasureSettings

#: The view the cells count: the facts' time point and window, the default threshold.
DEFAULT_VIEW = schema.FACTS_DEFINITION
#: The time points whose view (the default window and threshold otherwise) the cells count; the
#: first is the facts' own, the only one counted by quarter.
TIMEPOINTS: tuple[int, ...] = (DEFAULT_VIEW.timepoint_days, 180)
#: ``settled_by`` of the rows of the other time points: not bucketed.
NOT_BUCKETED = ""
#: Breakdowns kept: the whole clinic ('') and each dimension alone.
GROUPINGS: tuple[str, ...] = ("", *DIMENSIONS)
_STATE_ID = 1
_VALUES = COUNT_NAMES  # "patients" (eligible), then the counts
#: How the rows are bucketed by when their patients were settled (the fingerprint's rules).
_SETTLED_BY = (
    "calendar quarter of min(last follow-up, window closed), window closed without one; "
    "by route, no earlier than the last session with two or more routes"
)


def fingerprint() -> str:
    """The rules the cells are counted under; another value means they must be recounted."""
    kept = (
        schema.FACTS_TIMEPOINT,
        DEFAULT_VIEW,
        TIMEPOINTS,
        MeasureSettings(),
        GROUPINGS,
        COUNT_NAMES,
        _SETTLED_BY,
    )
    rules = repr((*kept, *profile_cells.RULES))
    return hashlib.sha256(rules.encode()).hexdigest()[:32]


def _view(timepoint: int) -> OutcomeDefinition:
    """The view the cells count at ``timepoint`` (one of :data:`TIMEPOINTS`)."""
    return replace(DEFAULT_VIEW, timepoint_days=timepoint)


def settled_by(*, route: bool = False) -> ColumnElement[str]:
    """Per row of ``patient_facts``: the calendar quarter (``2026-Q2``) by whose end the patient's
    part of the counts is settled — the day their window closes, or their last follow-up if
    that is earlier and they have a follow-up in the window (the reduction is kept). ``route``:
    in the breakdown by route, where a patient with two or more routes is settled no earlier
    than their last session."""
    t = schema.patient_facts
    closes = add_days(t.c.index_date, DEFAULT_VIEW.window_end)
    day = case(
        (and_(t.c.reduction.is_not(None), t.c.last_followup_date < closes), t.c.last_followup_date),
        else_=closes,
    )
    if route:
        day = case((and_(t.c.n_routes >= 2, t.c.last_session_date > day), t.c.last_session_date), else_=day)
    return quarter_of(day)


def last_quarter_end(cutoff: date) -> date:
    """The last day of the latest calendar quarter that ended on or before ``cutoff``."""
    if cutoff.month % 3 == 0 and (cutoff + timedelta(days=1)).day == 1:
        return cutoff
    start = date(cutoff.year, 3 * ((cutoff.month - 1) // 3) + 1, 1)
    return start - timedelta(days=1)


def quarter_label(day: date) -> str:
    """The label :func:`settled_by` gives ``day``'s quarter (as ``quarter_of`` writes it)."""
    return f"{day.year}-Q{(day.month + 2) // 3}"


def unsettled_after(quarter_end: date, cutoff: date, *, route: bool = False) -> ColumnElement[bool]:
    """A condition on ``patient_facts``: the patients whose part at ``cutoff`` the kept rows of
    the quarters up to ``quarter_end`` do not hold — settled after it (:func:`settled_by`; by
    route when ``route``), and first treated early enough for the window to open by ``cutoff``
    (before, they are not eligible: no follow-up in the window yet, the window open). The
    evaluable only: no other patient is ever eligible."""
    t = schema.patient_facts
    end = literal(quarter_end, Date)
    later = and_(
        t.c.index_date > literal(quarter_end - timedelta(days=DEFAULT_VIEW.window_end), Date),
        or_(t.c.reduction.is_(None), t.c.last_followup_date > end),
    )
    if route:
        later = or_(later, and_(t.c.n_routes >= 2, t.c.last_session_date > end))
    return and_(
        t.c.evaluable == 1,
        t.c.index_date <= literal(cutoff - timedelta(days=DEFAULT_VIEW.window_start), Date),
        later,
    )


#: Each touched patient's part of the counts, per cell of all six dimensions (signed), as
#: :func:`analysis.db.beyond_pain.secondary_query` returns it: ``counts`` rows and change rows.
_PARTS = temporary_table(
    "secondary_cells_parts",
    [
        Column("timepoint", Integer, nullable=False),
        Column("kind", String(24), nullable=False),
        *[Column(name, String(64), nullable=False) for name in DIMENSIONS],
        Column("settled_by", String(8), nullable=False),
        Column("settled_by_route", String(8), nullable=False),  # the quarter of the route's rows
        Column("value", Float),
        *[Column(name, Integer, nullable=False) for name in _VALUES],
    ],
)
#: The kept tables: each with the rows of the parts it keeps, its key columns besides the group,
#: and the columns it adds up.
_KEPT: tuple[tuple[Table, Any, tuple[str, ...], tuple[str, ...]], ...] = (
    (schema.secondary_cells, _PARTS.c.kind == "counts", (), _VALUES),
    (schema.secondary_changes, _PARTS.c.kind != "counts", ("kind", "value"), ("patients",)),
)
#: Per kept table: the parts added up per breakdown, group and quarter.
_ROLLED = {table.name: temporary_like(table, "rolled") for table, *_ in _KEPT}
#: The patients whose part changes: the refreshed ones and those whose eligibility moved.
_TOUCHED = temporary_table("secondary_cells_touched", [Column("patient_key", Integer, primary_key=True)])
_WORK = (_PARTS, *_ROLLED.values(), _TOUCHED)


def _kept_shape(connection: Connection) -> bool:
    """Whether the cells are stored in today's shape: not before migration 0012 made them, nor
    before 0023 gave them their time point (the migrations in between refresh the facts with
    today's code; 0023 counts the cells and the profile's patterns)."""
    table = schema.secondary_cells
    return inspect(connection).has_table(table.name) and "timepoint" in stored_columns(connection, table)


class Recount:
    """One refresh of the cells around a refresh of the facts (see the module docstring).

    ``before`` runs while the facts are as they were, ``after`` once they are re-derived, both in
    the refresh's transaction. ``keys`` is a query of the refreshed patients' keys (one column,
    ``patient_key``; patients new to the clinic have no facts yet), or None
    when every patient's facts are re-derived (the cells are then counted afresh).
    """

    def __init__(self, connection: Connection, keys: Any) -> None:
        self.connection = connection
        self.keys = keys
        self.kept = _kept_shape(connection)
        # The response profile's patterns are kept the same way (analysis.db.profile_cells).
        self.patterns = self.kept and profile_cells.kept_shape(connection)
        self.rebuild = keys is None
        self.old_cutoff: date | None = None
        if not self.kept:
            return
        current, self.old_cutoff = _state(connection)
        self.rebuild = self.rebuild or not current

    def before(self) -> None:
        """Take away the touched patients' parts, counted as they were."""
        if not self.kept:
            return
        for table in self._work():
            table.drop(self.connection, checkfirst=True)  # SQLite keeps them until disconnect
            table.create(self.connection)
        if self.rebuild:
            return
        new_cutoff = latest_date(self.connection)
        self.connection.execute(insert(_TOUCHED).from_select(["patient_key"], self._touched(new_cutoff)))
        self._analyze(_TOUCHED)
        if self.old_cutoff is not None:
            self._add_parts(self.old_cutoff, sign=-1)

    def after(self) -> None:
        """Add the touched patients' new parts and fold everything into ``secondary_cells``."""
        if not self.kept:
            return
        connection = self.connection
        cutoff = latest_date(connection)
        if self.rebuild:
            for table, *_ in _KEPT:
                connection.execute(delete(table))
            if self.patterns:
                profile_cells.clear(connection)
        if cutoff is not None:
            self._add_parts(cutoff, sign=1)
        # No ANALYZE of the parts: they are only grouped, and PostgreSQL sizes a table it has no
        # statistics for by its pages. Analysing them cost 0.30 s of an import into the 10M
        # clinic and changed no plan but one 0.07 s slower (docs/performance.md, "Twelfth
        # session: the importer").
        self._fold()
        if self.patterns:
            profile_cells.fold(connection, fresh=self.rebuild)
        state = schema.secondary_cells_state
        connection.execute(delete(state))
        connection.execute(insert(state).values(id=_STATE_ID, as_of=cutoff, fingerprint=fingerprint()))
        if connection.dialect.name != "postgresql":  # PostgreSQL drops them at commit
            for table in self._work():
                table.drop(connection)

    def _work(self) -> tuple[Table, ...]:
        return (*_WORK, *profile_cells.WORK) if self.patterns else _WORK

    def _analyze(self, table: Table) -> None:
        if self.connection.dialect.name == "postgresql":  # a plan for its real size
            self.connection.exec_driver_sql(f"ANALYZE {table.name}")

    # --- steps --------------------------------------------------------------------------------

    def _touched(self, new_cutoff: date | None) -> Any:
        """The refreshed patients, and those whose window closed between the two cut-offs
        without a follow-up (eligible at the later cut-off, pending at the earlier): at the
        facts' time point those without the kept reduction, at the others every evaluable
        patient whose window closed then (a few more than need it)."""
        t = schema.patient_facts
        parts = [self.keys]
        if self.old_cutoff is not None and new_cutoff is not None and new_cutoff != self.old_cutoff:
            low, high = sorted((self.old_cutoff, new_cutoff))
            for timepoint in TIMEPOINTS:
                end = timedelta(days=_view(timepoint).window_end)
                no_followup = [t.c.reduction.is_(None)] if timepoint == DEFAULT_VIEW.timepoint_days else []
                parts.append(
                    select(t.c.patient_key).where(
                        t.c.evaluable == 1,
                        *no_followup,
                        t.c.index_date > literal(low - end, Date),
                        t.c.index_date <= literal(high - end, Date),
                    )
                )
        # UNION (not ALL): a refreshed patient may also be one whose eligibility moved.
        return parts[0] if len(parts) == 1 else union(*parts)

    def _add_parts(self, cutoff: date, *, sign: int) -> None:
        """The touched patients' (all patients' on a rebuild) counts at ``cutoff``, per cell, at
        each kept time point."""
        definition = replace(DEFAULT_VIEW, cutoff=cutoff)
        touched = None if self.rebuild else select(_TOUCHED.c.patient_key)
        mine = [] if touched is None else [schema.patient_facts.c.patient_key.in_(touched)]
        if self.patterns:
            patients = narrow(facts_query(definition, cutoff), profile_cells.ROW_COLUMNS)
            profile_cells.add_parts(self.connection, patients.where(*mine), sign=sign)
        for timepoint in TIMEPOINTS:
            view = replace(_view(timepoint), cutoff=cutoff)
            bucketed = timepoint == DEFAULT_VIEW.timepoint_days
            # Only what the counts read: a migration before 0016 has no end of care in the facts.
            rows = narrow(facts_query(view, cutoff, keys=touched), (*ROW_COLUMNS, *DIMENSIONS))
            quarters = (settled_by(), settled_by(route=True)) if bucketed else (literal(NOT_BUCKETED),) * 2
            rows = rows.add_columns(
                quarters[0].label("settled_by"), quarters[1].label("settled_by_route")
            ).where(*mine)
            cell = (*DIMENSIONS, "settled_by", "settled_by_route")
            source = FROM_FACTS if bucketed else FROM_DAYS
            counted = secondary_query(
                rows, view, MeasureSettings(), cell, source=source, keys=touched
            ).subquery()
            self.connection.execute(
                insert(_PARTS).from_select(
                    ["timepoint", "kind", *cell, "value", *_VALUES],
                    select(
                        literal(timepoint, Integer),
                        counted.c.kind,
                        *[counted.c[name] for name in cell],
                        counted.c.value,
                        *[counted.c[name] * sign for name in _VALUES],
                    ),
                )
            )

    def _fold(self) -> None:
        """Add the parts up per breakdown, group and quarter, and add those sums to the kept rows
        in place: a kept row is changed by its sum, a new key inserted, and rows left with no
        patient deleted. Only the rows the sums name are written: rewriting every touched
        group's rows cost an import twice as much once the rows were kept by quarter
        (docs/performance.md, "Settled by quarter")."""
        connection = self.connection
        for table, kept, extra, summed in _KEPT:
            rolled = _ROLLED[table.name]
            names = ["timepoint", "grouping", "group_key", "settled_by", *extra]
            per_grouping = []
            for grouping in GROUPINGS:
                key = _PARTS.c[grouping] if grouping else literal("", String)
                quarter = _PARTS.c.settled_by_route if grouping == "route" else _PARTS.c.settled_by
                per_grouping.append(
                    select(
                        _PARTS.c.timepoint,
                        literal(grouping, String),
                        key,
                        quarter,
                        *[_PARTS.c[n] for n in extra],
                        *[func.sum(_PARTS.c[n]) for n in summed],
                    )
                    .where(kept)
                    .group_by(_PARTS.c.timepoint, key, quarter, *[_PARTS.c[n] for n in extra])
                )
            connection.execute(insert(rolled).from_select([*names, *summed], union_all(*per_grouping)))
            # The value of a change row is part of its key: compared for equality, as the parts'
            # own grouping compares it (the same expression over the same stored numbers).
            add_in_place(connection, table, rolled, names, summed, "patients", fresh=self.rebuild)


def kept_counts(
    connection: Connection,
    cutoff: date,
    grouping: str,
    *,
    quarter_end: date | None = None,
    timepoint: int = DEFAULT_VIEW.timepoint_days,
) -> list[Any] | None:
    """The kept rows of ``grouping`` ('' or a dimension) counted at ``cutoff``, at ``timepoint``
    (one of :data:`TIMEPOINTS`), or None when the cells do not answer (not kept, counted at
    another cut-off or under other rules).

    ``quarter_end``, a quarter's last day before the data cut-off: instead, the part of the
    patients settled by then (see the module docstring), which is their part at any cut-off from
    that day on; at the facts' time point only.

    Rows as :func:`analysis.db.beyond_pain.secondary_query` returns them grouped by
    ``grouping``: ``kind``, the group's value under the dimension's name, ``value``, the counts.
    """
    # The table alone, as before the time point: a reader's database is at the schema's head, and
    # reflecting the columns would cost every page a catalog query.
    if grouping not in GROUPINGS or timepoint not in TIMEPOINTS:
        return None
    if not inspect(connection).has_table(schema.secondary_cells.name):
        return None
    if quarter_end is not None and timepoint != DEFAULT_VIEW.timepoint_days:
        return None
    current, as_of = _state(connection)
    if not current or as_of is None:
        return None
    if quarter_end is None and as_of != cutoff:
        return None
    if quarter_end is not None and (quarter_end >= as_of or as_of != latest_date(connection)):
        return None
    cells, changes = schema.secondary_cells, schema.secondary_changes
    key = [grouping] if grouping else []
    quarters = [] if quarter_end is None else [quarter_label(quarter_end)]
    counts = (
        select(
            literal("counts", String).label("kind"),
            *[cells.c.group_key.label(n) for n in key],
            null().label("value"),
            *[func.sum(cells.c[n]).label(n) for n in _VALUES],
        )
        .where(
            cells.c.timepoint == timepoint,
            cells.c.grouping == grouping,
            *[cells.c.settled_by <= q for q in quarters],
        )
        .group_by(cells.c.group_key)
    )
    histograms = (
        select(
            changes.c.kind,
            *[changes.c.group_key.label(n) for n in key],
            changes.c.value,
            func.sum(changes.c.patients).label("patients"),
        )
        .where(
            changes.c.timepoint == timepoint,
            changes.c.grouping == grouping,
            *[changes.c.settled_by <= q for q in quarters],
        )
        .group_by(changes.c.group_key, changes.c.kind, changes.c.value)
    )
    rows = list(connection.execute(counts).mappings().all())
    return rows + list(connection.execute(histograms).mappings().all())


def counted_at(connection: Connection) -> date | None:
    """The data cut-off the kept cells (and profile patterns) were counted at under today's rules;
    None when they were not, or nothing was stored."""
    current, as_of = _state(connection)
    return as_of if current else None


def _state(connection: Connection) -> tuple[bool, date | None]:
    """Whether the kept cells were counted under today's rules, and at which data cut-off."""
    state = schema.secondary_cells_state
    row = connection.execute(select(state.c.as_of, state.c.fingerprint)).first()
    if row is None or row.fingerprint != fingerprint():
        return False, None
    as_of = row.as_of
    return True, as_of if as_of is None or isinstance(as_of, date) else date.fromisoformat(str(as_of))


__all__ = [
    "GROUPINGS",
    "TIMEPOINTS",
    "Recount",
    "counted_at",
    "fingerprint",
    "kept_counts",
    "last_quarter_end",
    "quarter_label",
    "settled_by",
    "unsettled_after",
]
