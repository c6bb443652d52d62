"""The SQL of the outcomes beyond pain (docs/methods.md, "Outcomes beyond pain"): per group, counts.

Per eligible patient the database joins the patient's baselines to each measure's value at the
follow-up that counts for it (:func:`analysis.db.measures.measures_at_followup`) and counts, per
group, who qualifies, who has the measure and who succeeds; for the mean changes it returns each
distinct change with its number of patients (a histogram, never one row per patient). One
statement: the per-patient rows are a common table expression that both databases compute once.
:mod:`analysis.queries.secondary` turns the rows into rates, intervals, means and medians; the
default view is kept at import, already counted (:mod:`analysis.db.secondary_cells`).

Comparisons allow for computer arithmetic as docs/methods.md says: ``a ≤ c`` is
``a ≤ c + 1e-9``, ``a ≥ c`` is ``a ≥ c − 1e-9``, ``a < c`` is ``a < c − 1e-9``, ``a > c`` is
``a > c + 1e-9``, and "MME = 0" is ``MME ≤ 1e-9``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from analysis.db import schema
from analysis.db.derivation import EPSILON, count_where, followups_settled, is_set
from analysis.db.measures import BASELINES, FOLLOWUP_MEASURES, measures_at_days, measures_at_followup
from analysis.domain.definition import OutcomeDefinition
from analysis.domain.measures import MeasureSettings

#: Each mean change: (patients' baseline column, follow-up measure column).
CHANGE_COLUMNS: dict[str, tuple[str, str]] = {
    "mme_change": ("baseline_mme", "mme"),
    "phq9_change": ("baseline_phq9", "phq9"),
    "bpi_change": ("baseline_bpi_interference", "bpi_interference"),
    "headache_days_change": ("baseline_headache_days", "headache_days"),
}


# --- the statement --------------------------------------------------------------------------------


def _le(a: ColumnElement[Any], c: Any) -> ColumnElement[bool]:
    return a <= c + EPSILON


def _ge(a: ColumnElement[Any], c: Any) -> ColumnElement[bool]:
    return a >= c - EPSILON


#: The per-group counts of :func:`secondary_query`'s ``counts`` rows (``patients`` = eligible).
COUNT_NAMES: tuple[str, ...] = ("patients", *schema.BEYOND_PAIN_COUNTS)


def _count_columns(rows: Any, settings: MeasureSettings) -> list[ColumnElement[int]]:
    """The per-group counts (docs/methods.md, "Outcomes beyond pain"), each a SUM over patients."""
    r = rows.c
    pgic_improved = _le(r.pgic, settings.pgic_improved)
    mme_q = r.baseline_mme > EPSILON
    phq9_q = _ge(r.baseline_phq9, settings.phq9_baseline)
    bpi_q = r.baseline_bpi_interference.is_not(None)
    headache_q = r.baseline_headache_days > EPSILON
    agree = and_(r.with_followup == 1, r.pgic.is_not(None))
    responder = r.responder == 1
    mme_pair = and_(r.baseline_mme.is_not(None), r.mme.is_not(None))
    low, high = settings.mme_levels
    counts: dict[str, ColumnElement[bool]] = {
        "with_followup": r.with_followup == 1,
        "substantial": _ge(r.reduction, settings.substantial),
        "pgic_has": r.pgic.is_not(None),
        "pgic_improved": pgic_improved,
        "mme_q": mme_q,
        "mme_has": and_(mme_q, r.mme.is_not(None)),
        "mme_reduced_50": and_(mme_q, _le(r.mme, (1 - settings.mme_reduction) * r.baseline_mme)),
        "mme_stopped": and_(mme_q, _le(r.mme, 0)),
        "phq9_q": phq9_q,
        "phq9_has": and_(phq9_q, r.phq9.is_not(None)),
        "phq9_response": and_(phq9_q, _le(r.phq9, (1 - settings.phq9_response) * r.baseline_phq9)),
        "phq9_remission": and_(phq9_q, r.phq9 < settings.phq9_remission - EPSILON),
        "bpi_q": bpi_q,
        "bpi_has": and_(bpi_q, r.bpi_interference.is_not(None)),
        "bpi_improved": _ge(r.baseline_bpi_interference - r.bpi_interference, settings.bpi_points),
        "headache_q": headache_q,
        "headache_has": and_(headache_q, r.headache_days.is_not(None)),
        "headache_response": and_(
            headache_q, _le(r.headache_days, (1 - settings.headache_reduction) * r.baseline_headache_days)
        ),
        "agree_n": agree,
        "agree_both": and_(agree, pgic_improved, responder),
        "agree_pgic_only": and_(agree, pgic_improved, ~responder),
        "agree_nrs_only": and_(agree, ~pgic_improved, responder),
        "mme_pair": mme_pair,
        "mme_base_low": and_(mme_pair, _ge(r.baseline_mme, low)),
        "mme_fu_low": and_(mme_pair, _ge(r.mme, low)),
        "mme_base_high": and_(mme_pair, _ge(r.baseline_mme, high)),
        "mme_fu_high": and_(mme_pair, _ge(r.mme, high)),
    }
    assert tuple(counts) == COUNT_NAMES[1:]
    return [cast(count_where(condition), Integer).label(name) for name, condition in counts.items()]


#: The cohort's per-patient columns that :func:`secondary_query` reads (besides the groups').
ROW_COLUMNS: tuple[str, ...] = (
    "patient_key",
    "index_date",
    "eligible",
    "with_followup",
    "responder",
    "reduction",
)

#: Where :func:`_patient_rows` finds each eligible patient's measures (see :func:`secondary_counts`).
FROM_FACTS, AS_OF, FROM_DAYS, FROM_ROWS = "facts", "as of", "days", "rows"


def _measures_as_of(eligible: Any, definition: OutcomeDefinition) -> tuple[list[ColumnElement[Any]], Any]:
    """The measures of ``eligible`` as of an earlier cut-off, and the searched patients to join.

    The eligible patients whose follow-ups are not settled by the cut-off get the measures searched
    from their own kept follow-up days up to it (NULL where none counts); the others keep theirs
    (``measure_facts``, to be joined by the caller). A keyed join and a CASE, not a union of the
    kept rows with the searched ones: at 10M sessions PostgreSQL sorted and merged 1.4M rows for it.
    """
    assert definition.cutoff is not None
    t, kept = schema.patient_facts, schema.measure_facts
    # Found in the facts alone, not among the eligible rows, so that those are read once and
    # need not be computed ahead of the join (docs/performance.md, "Beyond pain as of an earlier
    # cut-off"). Each condition holds for every eligible patient whose follow-ups are not
    # settled: a follow-up in the window by the cut-off means the window opened by then and the
    # facts (this time point and window: AS_OF) keep a follow-up in it. Others found are
    # searched to no use, never read.
    cutoff = definition.cutoff
    opened = literal(cutoff - timedelta(days=definition.window_start), Date)
    unsettled = (
        select(t.c.patient_key)
        .where(
            t.c.index_date <= opened,
            t.c.evaluable == 1,
            t.c.followup_date.is_not(None),
            ~followups_settled(definition, cutoff),
        )
        .cte("unsettled")
    )
    found = measures_at_days(select(unsettled.c.patient_key), definition, definition.cutoff)
    searched = (
        select(unsettled.c.patient_key, *[found.c[m] for m in FOLLOWUP_MEASURES])
        .outerjoin(found, found.c.patient_key == unsettled.c.patient_key)
        .subquery("searched")
    )
    is_searched = searched.c.patient_key.is_not(None)
    return [case((is_searched, searched.c[m]), else_=kept.c[m]) for m in FOLLOWUP_MEASURES], searched


def _patient_rows(
    cohort_rows: Select[Any], definition: OutcomeDefinition, by: Sequence[str], *, source: str, keys: Any
) -> Any:
    """Per eligible patient: group keys, the pain flags, the four baselines and each measure at
    the follow-up that counts for it.

    ``source``: :data:`FROM_FACTS` reads ``measure_facts`` (one keyed join); :data:`AS_OF` (an
    earlier cut-off at the default time point and window) reads it for the patients whose
    follow-ups are settled by the cut-off and searches the kept follow-up days of the others only
    (docs/performance.md, "Earlier cut-offs"); :data:`FROM_DAYS` (another time point or window)
    ranks every eligible patient's kept follow-up days, with the baselines kept beside the
    measure facts (of the patients of ``keys`` only, a query of patient keys, when given);
    :data:`FROM_ROWS` joins ``patients`` and makes a pass over every eligible patient's follow-ups
    in the window (the straightforward query).
    """
    c = cohort_rows.subquery("cohort")
    eligible = select(c).where(is_set(c.c.eligible)).subquery("eligible")
    kept = schema.measure_facts
    if source == FROM_FACTS:
        measures: list[ColumnElement[Any]] = [kept.c[m] for m in FOLLOWUP_MEASURES]
        baselines: Any = kept
        joined = eligible.outerjoin(kept, kept.c.patient_key == eligible.c.patient_key)
    elif source == AS_OF:
        measures, searched = _measures_as_of(eligible, definition)
        baselines = kept
        joined = eligible.join(kept, kept.c.patient_key == eligible.c.patient_key).outerjoin(
            searched, searched.c.patient_key == eligible.c.patient_key
        )
    elif source == FROM_DAYS:
        # Ranked for every patient, then joined: restricted to the eligible keys, PostgreSQL
        # guessed 200 of them and looked 1.3M up one by one (16 s at 10M sessions).
        at = measures_at_days(keys, definition, definition.cutoff)
        measures = [at.c[m] for m in FOLLOWUP_MEASURES]
        baselines = kept
        joined = eligible.join(kept, kept.c.patient_key == eligible.c.patient_key).outerjoin(
            at, at.c.patient_key == eligible.c.patient_key
        )
    else:
        p = schema.patients
        at = measures_at_followup(eligible, definition, definition.cutoff)
        measures = [at.c[m] for m in FOLLOWUP_MEASURES]
        baselines = p
        joined = eligible.join(p, p.c.id == eligible.c.patient_key).outerjoin(
            at, at.c.patient_key == eligible.c.patient_key
        )
    # Used by the five selects of secondary_query, so both databases compute it once.
    return (
        select(
            *[eligible.c[name] for name in by],
            eligible.c.with_followup,
            eligible.c.responder,
            eligible.c.reduction,
            *[baselines.c[name] for name in BASELINES],
            *[measure.label(m) for measure, m in zip(measures, FOLLOWUP_MEASURES, strict=True)],
        )
        .select_from(joined)
        .cte("beyond_pain")
    )


def secondary_query(
    cohort_rows: Select[Any],
    definition: OutcomeDefinition,
    settings: MeasureSettings,
    by: Sequence[str],
    *,
    source: str = FROM_ROWS,
    keys: Any = None,
) -> Select[Any]:
    """One statement: per group a ``counts`` row, and per group and change measure one row per
    distinct change value with its number of patients (``kind`` says which).

    ``definition`` must carry its resolved cut-off (it bounds the follow-ups that count).
    ``source`` says where the measures are read (:func:`_patient_rows`, chosen by
    :func:`secondary_counts`); ``keys``, a query of patient keys, bounds the ranking of
    :data:`FROM_DAYS` when the cohort rows are those patients' only (the kept cells' parts).
    """
    rows = _patient_rows(cohort_rows, definition, by, source=source, keys=keys)
    group_keys = [rows.c[name] for name in by]
    count_columns = _count_columns(rows, settings)
    names = [column.name for column in count_columns]
    parts = [
        select(
            literal("counts", String).label("kind"),
            *group_keys,
            cast(null(), Float).label("value"),
            cast(func.count(), Integer).label("patients"),
            *count_columns,
        ).group_by(*group_keys)
    ]
    for measure, (baseline, followup) in CHANGE_COLUMNS.items():
        change = cast(rows.c[followup] - rows.c[baseline], Float)
        parts.append(
            select(
                literal(measure, String).label("kind"),
                *group_keys,
                change.label("value"),
                cast(func.count(), Integer).label("patients"),
                *[cast(literal(0), Integer).label(name) for name in names],
            )
            .where(rows.c[baseline].is_not(None), rows.c[followup].is_not(None))
            .group_by(*group_keys, change)
        )
    return union_all(*parts)  # type: ignore[return-value]
