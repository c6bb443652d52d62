"""The response table and the patient funnel: one row per group, counted in the database.

The per-patient rows come from :mod:`analysis.db.derivation`; this module groups them, and
:mod:`analysis.stats` turns the counts into rates, intervals, tests and verdicts
(docs/methods.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    Engine,
    Select,
    and_,
    func,
    select,
)
from sqlalchemy.sql.expression import ColumnElement

from analysis import stats
from analysis.db import schema
from analysis.db.cohorts import cohort_query
from analysis.db.derivation import count_where
from analysis.domain.definition import DIMENSIONS, SMALL_CELL, CohortFilter, OutcomeDefinition
from analysis.domain.vocabulary import MIXED_ROUTE, NO_ROUTE
from analysis.stats import planner

#: Sessions that make a completed induction series (docs/methods.md: 4–8 induction sessions).
INDUCTION_SESSIONS = 4


@dataclass(frozen=True)
class Funnel:
    """Patients at each step from registration to response; each step is within the one before.

    The last three steps are the headline's numbers (docs/methods.md, "The patient funnel"):
    ``reached_window`` is the ITT denominator (eligible), ``followed_up`` the patients with a
    follow-up in the window (completeness = followed_up / reached_window) and ``responded``
    the responders. Completed induction is not a step: a patient with fewer sessions is
    counted in the headline too, so it is shown beside the funnel, not inside it.
    """

    registered: int
    treated: int
    completed_induction: int
    evaluable: int
    reached_window: int
    followed_up: int
    responded: int
    pending: int
    sessions: int

    def steps(self) -> list[tuple[str, int]]:
        """(label, patients) for each step, in order."""
        return [
            ("Registered", self.registered),
            ("Had a first session", self.treated),
            ("…with a baseline pain score", self.evaluable),
            ("…and reached the follow-up window", self.reached_window),
            ("…and had a follow-up in it", self.followed_up),
            ("…and responded", self.responded),
        ]

    def shares(self) -> list[tuple[str, float | None]]:
        """(what the step is a share of, share) for each step; the last two are of the eligible.

        "Had a follow-up" of the eligible is the headline's completeness and "responded" of the
        eligible its ITT response rate, so the funnel and the headline print the same numbers.
        """

        def share(part: int, whole: int) -> float | None:
            return part / whole if whole else None

        return [
            ("", None),
            ("of registered", share(self.treated, self.registered)),
            ("of treated", share(self.evaluable, self.treated)),
            ("of evaluable", share(self.reached_window, self.evaluable)),
            ("of eligible", share(self.followed_up, self.reached_window)),
            ("of eligible", share(self.responded, self.reached_window)),
        ]


def _funnel_columns(rows: Any) -> list[ColumnElement[int]]:
    """Sums over per-patient rows that the funnel adds to the counts (see :class:`Funnel`)."""
    return [
        count_where(rows.c.n_sessions > 0).label("funnel_treated"),
        count_where(rows.c.n_sessions >= INDUCTION_SESSIONS).label("funnel_completed_induction"),
        func.coalesce(func.sum(rows.c.n_sessions), 0).label("funnel_sessions"),
    ]


def funnel_from_counts(counts: GroupCounts) -> Funnel:
    """The patient funnel of a cohort from the counts of any breakdown (they add up).

    The counts must come from ``group_counts(..., funnel=True)``; the last steps are the very
    sums the response table's overall row is made of.
    """
    if not counts.funnel:
        raise ValueError("these counts were made without the funnel: call group_counts(..., funnel=True)")

    def total(name: str) -> int:
        return sum(int(row[name]) for row in counts.rows)

    return Funnel(
        registered=total("patients"),
        treated=total("funnel_treated"),
        completed_induction=total("funnel_completed_induction"),
        evaluable=total("evaluable"),
        reached_window=total("eligible"),
        followed_up=total("with_followup"),
        responded=total("responder"),
        pending=total("pending"),
        sessions=total("funnel_sessions"),
    )


def funnel(
    engine: Engine, definition: OutcomeDefinition = OutcomeDefinition(), cohort: CohortFilter = CohortFilter()
) -> Funnel:
    """The patient funnel for a cohort, aggregated in the database.

    "Reached the follow-up window" means eligible (docs/methods.md): a follow-up in the window, or the
    window has closed; it is the headline's ITT denominator.
    """
    return funnel_from_counts(group_counts(engine, definition, cohort, funnel=True))


def filter_options(engine: Engine, sites: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """Values present in the data for each cohort filter (small queries, none scans sessions).

    ``route`` lists the patients' routes (a route no patient has as plurality would match no
    one), ``mixed`` last; ``quarter`` lists every calendar quarter from the first to the last
    session. With ``sites`` (a user limited to some sites) every list comes from those sites'
    patients only, so no option gives away what exists only elsewhere (docs/security.md).
    """
    if sites is not None:
        return _site_filter_options(engine, sites)
    p, s, t = schema.patients, schema.sessions, schema.patient_facts
    with engine.connect() as connection:
        every_site = connection.execute(select(p.c.site).distinct().order_by(p.c.site)).scalars().all()
        conditions = (
            connection.execute(select(p.c.condition).distinct().order_by(p.c.condition)).scalars().all()
        )
        present = set(connection.execute(select(t.c.route).distinct()).scalars())
        sexes = connection.execute(select(func.coalesce(p.c.sex, "unknown")).distinct()).scalars().all()
        # Two statements: SQLite answers a lone min() or max() from the index, not both at once.
        first = connection.execute(select(func.min(s.c.session_date))).scalar()
        last = connection.execute(select(func.max(s.c.session_date))).scalar()
    return _options(every_site, conditions, present, sexes, first, last)


def _site_filter_options(engine: Engine, sites: tuple[str, ...]) -> dict[str, list[str]]:
    """:func:`filter_options` from the per-patient facts of ``sites`` (one row per patient)."""
    t, s = schema.patient_facts, schema.sessions
    mine = t.c.site.in_(sites)
    with engine.connect() as connection:
        sites_present = (
            connection.execute(select(t.c.site).where(mine).distinct().order_by(t.c.site)).scalars().all()
        )
        conditions = (
            connection.execute(select(t.c.condition).where(mine).distinct().order_by(t.c.condition))
            .scalars()
            .all()
        )
        present = set(connection.execute(select(t.c.route).where(mine).distinct()).scalars())
        sexes = connection.execute(select(t.c.sex).where(mine).distinct()).scalars().all()
        first = connection.execute(select(func.min(t.c.index_date)).where(mine)).scalar()
        keys = select(t.c.patient_key).where(mine)
        last = connection.execute(
            select(func.max(s.c.session_date)).where(s.c.patient_key.in_(keys))
        ).scalar()
    return _options(sites_present, conditions, present, sexes, first, last)


def _options(
    sites: Sequence[str],
    conditions: Sequence[str],
    present: set[str],
    sexes: Sequence[str],
    first: Any,
    last: Any,
) -> dict[str, list[str]]:
    routes = sorted(present - {MIXED_ROUTE, NO_ROUTE}) + ([MIXED_ROUTE] if MIXED_ROUTE in present else [])
    quarters: list[str] = []
    if first is not None:
        first, last = (d if isinstance(d, date) else date.fromisoformat(str(d)) for d in (first, last))
        year, quarter = first.year, (first.month - 1) // 3 + 1
        while (year, quarter) <= (last.year, (last.month - 1) // 3 + 1):
            quarters.append(f"{year}-Q{quarter}")
            year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)
    order = {"F": 0, "M": 1, "X": 2, "unknown": 3}
    return {
        "site": list(sites),
        "condition": list(conditions),
        "route": routes,
        "sex": sorted(sexes, key=lambda v: order.get(v, 9)),
        "quarter": quarters,
    }


# --- groups and the response table --------------------------------------------------------


@dataclass(frozen=True)
class GroupResult:
    """One row of a response table: counts, rate, interval, tests and verdict (README, "Command line")."""

    keys: dict[str, str]
    patients: int
    evaluable: int
    pending: int
    eligible: int
    with_followup: int
    n: int
    responders: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    p_gt_lower: float | None
    p_gt_upper: float | None
    p_gt_lower_holm: float | None
    p_gt_upper_holm: float | None
    verdict: str
    small_n: bool
    substantial: int = field(default=0, compare=False)
    # The precision planner (docs/methods.md, "Precision planner"): patients needed before the
    # interval can clear the band, and when the group's recent pace may get there.
    n_needed: int | None = None
    more_needed: int | None = None
    pace_per_month: float | None = None
    expected_month: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON shape (README): the group's keys first, then the counts and statistics."""
        values = asdict(self)
        keys = values.pop("keys")
        values.pop("substantial")
        return {**keys, **values}


@dataclass(frozen=True)
class ResponseTable:
    """The response table for one outcome definition, cohort and breakdown."""

    definition: OutcomeDefinition
    by: tuple[str, ...]
    overall: GroupResult
    groups: list[GroupResult]

    def to_dict(self) -> dict[str, Any]:
        """The CLI JSON (README, "Command line") document (numbers at full precision)."""
        d = self.definition
        return {
            "definition": d.to_json(
                "timepoint_days", "window_days", "threshold", "missing", "ci", "band", "cutoff"
            ),
            "overall": self.overall.to_dict(),
            "groups": [group.to_dict() for group in self.groups],
        }

    def frame(self) -> pd.DataFrame:
        """The groups (overall last) as a DataFrame, one row per group."""
        rows = [g.to_dict() for g in self.groups]
        overall = self.overall.to_dict()
        for key in self.by:
            overall[key] = "(all)"
        return pd.DataFrame([*rows, overall])


_COUNT_COLUMNS = ("evaluable", "pending", "eligible", "with_followup", "responder", "substantial")


def recent_since(cutoff: date) -> date:
    """The day before the planner's recent months begin (first sessions after it are recent)."""
    return cutoff - timedelta(days=round(planner.PACE_MONTHS * planner.DAYS_PER_MONTH))


def group_counts_query(
    cohort_rows: Select[Any], by: Sequence[str], *, funnel: bool = False, since: date | None = None
) -> Select[Any]:
    """Counts per group (one row per group) of per-patient rows, aggregated in the database.

    ``funnel`` adds the sums the patient funnel needs (six more aggregates over every row);
    ``since`` adds ``recent_starts``, the evaluable patients first treated after that day (the
    precision planner's pace).
    """
    rows = cohort_rows.subquery("cohort")
    keys = [rows.c[name] for name in by]
    recent = (
        [count_where(and_(rows.c.evaluable == 1, rows.c.index_date > since)).label("recent_starts")]
        if since is not None
        else []
    )
    return (
        select(
            *keys,
            func.count().label("patients"),
            *[func.coalesce(func.sum(rows.c[name]), 0).label(name) for name in _COUNT_COLUMNS],
            *recent,
            *(_funnel_columns(rows) if funnel else []),
        )
        .group_by(*keys)
        .order_by(*keys)
    )


def _group_result(keys: dict[str, str], counts: dict[str, int], definition: OutcomeDefinition) -> GroupResult:
    n = counts["eligible"] if definition.missing == "itt" else counts["with_followup"]
    responders = counts["responder"]
    interval = stats.proportion_interval(responders, n, alpha=definition.alpha, method=definition.ci)
    bottom, top = definition.band
    assert definition.cutoff is not None
    share = 1.0 if definition.missing == "itt" else counts["with_followup"] / max(counts["eligible"], 1)
    plan = planner.plan(
        interval.rate,
        n,
        definition.band,
        recent_starts=int(counts.get("recent_starts", 0)),
        share_counted=share,
        cutoff=definition.cutoff,
        alpha=definition.alpha,
    )
    return GroupResult(
        keys=keys,
        patients=counts["patients"],
        evaluable=counts["evaluable"],
        pending=counts["pending"],
        eligible=counts["eligible"],
        with_followup=counts["with_followup"],
        n=n,
        responders=responders,
        rate=interval.rate,
        ci_low=interval.low,
        ci_high=interval.high,
        p_gt_lower=stats.binomial_p_greater(responders, n, bottom),
        p_gt_upper=stats.binomial_p_greater(responders, n, top),
        p_gt_lower_holm=None,
        p_gt_upper_holm=None,
        verdict=stats.band_verdict(interval.low, interval.high, definition.band),
        small_n=n < SMALL_CELL,
        substantial=counts["substantial"],
        n_needed=plan.n_needed,
        more_needed=plan.more_needed,
        pace_per_month=plan.pace_per_month,
        expected_month=plan.expected_month,
    )


def _with_holm(groups: list[GroupResult]) -> list[GroupResult]:
    lower = stats.holm([g.p_gt_lower for g in groups])
    upper = stats.holm([g.p_gt_upper for g in groups])
    return [
        replace(g, p_gt_lower_holm=lo, p_gt_upper_holm=up)
        for g, lo, up in zip(groups, lower, upper, strict=True)
    ]


@dataclass(frozen=True)
class GroupCounts:
    """Per-group counts of one per-patient pass: all a response table needs from the database.

    They depend on the time point, window, threshold, cut-off and cohort only — not on the
    missing-data policy, interval method, band or alpha, which :func:`response_table` applies —
    so the ITT and completers tables of one view can share them.
    """

    cutoff: date
    by: tuple[str, ...]
    rows: tuple[dict[str, Any], ...]
    funnel: bool = False  # the rows carry the funnel's sums (see funnel_from_counts)


def group_counts(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    by: Sequence[str] = (),
    *,
    funnel: bool = False,
) -> GroupCounts:
    """Run the per-patient pass once and return the counts per group of ``by``.

    ``funnel=True`` also sums what :func:`funnel_from_counts` needs, in the same pass.
    """
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot break down by {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}")
    read = (*by, *_COUNT_COLUMNS, "index_date", *(["n_sessions"] if funnel else []))
    definition, cohort_rows = cohort_query(engine, definition, cohort, columns=read)
    assert definition.cutoff is not None
    with engine.connect() as connection:
        query = group_counts_query(cohort_rows, by, funnel=funnel, since=recent_since(definition.cutoff))
        rows = tuple(dict(row) for row in connection.execute(query).mappings())
    return GroupCounts(cutoff=definition.cutoff, by=tuple(by), rows=rows, funnel=funnel)


def response_table(counts: GroupCounts, definition: OutcomeDefinition) -> ResponseTable:
    """Rates, intervals, tests and verdicts (docs/methods.md) on counts from :func:`group_counts`.

    Holm adjustment runs across the groups of the table; the overall row is a family of one,
    so its adjusted p-values equal its raw ones.
    """
    definition = replace(definition, cutoff=counts.cutoff)
    by = counts.by
    # Counts add up across groups, so the overall row needs no second pass over the data.
    overall_counts = {
        name: sum(int(row.get(name, 0)) for row in counts.rows)
        for name in ("patients", *_COUNT_COLUMNS, "recent_starts")
    }
    overall = _group_result({}, overall_counts, definition)
    overall = replace(overall, p_gt_lower_holm=overall.p_gt_lower, p_gt_upper_holm=overall.p_gt_upper)
    groups = (
        [_group_result({name: str(row[name]) for name in by}, row, definition) for row in counts.rows]
        if by
        else []
    )
    return ResponseTable(definition=definition, by=by, overall=overall, groups=_with_holm(groups))


def summarize(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    by: Sequence[str] = (),
) -> ResponseTable:
    """The response table (docs/methods.md) for a cohort, overall and per group of ``by``."""
    return response_table(group_counts(engine, definition, cohort, by), definition)
