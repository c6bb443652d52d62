"""Outcomes beyond pain (docs/methods.md, "Outcomes beyond pain"): one row per group, counted in SQL.

Per eligible patient (docs/methods.md, rules 1–9) the database joins the patient's baselines
(``patients``) to each measure's value at the follow-up that counts for it
(:func:`analysis.db.measures.measures_at_followup`) and counts, per group, who qualifies, who
has the measure and who succeeds; for the mean changes it returns each distinct change with its
number of patients (a histogram, never one row per patient). One statement: the per-patient
rows are a common table expression that both databases compute once. :mod:`analysis.stats`
turns the counts into rates with intervals and the histograms into means, t intervals and
medians.

Comparisons allow for computer arithmetic as docs/methods.md says: ``a ≤ c`` is
``a ≤ c + 1e-9``, ``a ≥ c`` is ``a ≥ c − 1e-9``, ``a < c`` is ``a < c − 1e-9``, ``a > c`` is
``a > c + 1e-9``, and "MME = 0" is ``MME ≤ 1e-9``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import (
    Engine,
    Float,
    Integer,
    Select,
    String,
    and_,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from analysis import stats
from analysis.db import derivation, schema
from analysis.db.derivation import (
    EPSILON,
    at_default_timepoint,
    cohort_query,
    count_where,
    facts_apply,
    followups_settled,
    is_set,
)
from analysis.db.measures import BASELINES, FOLLOWUP_MEASURES, measures_at_followup
from analysis.db.store import data_cutoff
from analysis.domain.definition import SMALL_CELL, CohortFilter, OutcomeDefinition
from analysis.domain.measures import CHANGE_MEASURES, RATE_MEASURES, MeasureSettings
from analysis.queries.response import DIMENSIONS, GroupResult
from analysis.queries.secondary_results import Agreement, Measures, OpioidLevels, Rate, SecondaryTable

#: Each rate: (qualifying count, count with the measure in the window, success count) columns.
_RATE_COLUMNS: dict[str, tuple[str, str, str]] = {
    "substantial": ("patients", "with_followup", "substantial"),
    "pgic_improved": ("patients", "pgic_has", "pgic_improved"),
    "mme_reduced_50": ("mme_q", "mme_has", "mme_reduced_50"),
    "mme_stopped": ("mme_q", "mme_has", "mme_stopped"),
    "phq9_response": ("phq9_q", "phq9_has", "phq9_response"),
    "phq9_remission": ("phq9_q", "phq9_has", "phq9_remission"),
    "bpi_improved": ("bpi_q", "bpi_has", "bpi_improved"),
    "headache_response": ("headache_q", "headache_has", "headache_response"),
}
#: Each mean change: (patients' baseline column, follow-up measure column).
_CHANGE_COLUMNS: dict[str, tuple[str, str]] = {
    "mme_change": ("baseline_mme", "mme"),
    "phq9_change": ("baseline_phq9", "phq9"),
    "bpi_change": ("baseline_bpi_interference", "bpi_interference"),
    "headache_days_change": ("baseline_headache_days", "headache_days"),
}


# --- the SQL --------------------------------------------------------------------------------


def _le(a: ColumnElement[Any], c: Any) -> ColumnElement[bool]:
    return a <= c + EPSILON


def _ge(a: ColumnElement[Any], c: Any) -> ColumnElement[bool]:
    return a >= c - EPSILON


#: The per-group counts of :func:`secondary_query`'s ``counts`` rows (``patients`` = eligible).
COUNT_NAMES: tuple[str, ...] = (
    "patients",
    "with_followup",
    "substantial",
    "pgic_has",
    "pgic_improved",
    "mme_q",
    "mme_has",
    "mme_reduced_50",
    "mme_stopped",
    "phq9_q",
    "phq9_has",
    "phq9_response",
    "phq9_remission",
    "bpi_q",
    "bpi_has",
    "bpi_improved",
    "headache_q",
    "headache_has",
    "headache_response",
    "agree_n",
    "agree_both",
    "agree_pgic_only",
    "agree_nrs_only",
    "mme_pair",
    "mme_base_low",
    "mme_fu_low",
    "mme_base_high",
    "mme_fu_high",
)


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


#: Where :func:`_patient_rows` finds each eligible patient's measures (see :func:`secondary_counts`).
FROM_FACTS, AS_OF, FROM_ROWS = "facts", "as of", "rows"


def _patient_rows(
    cohort_rows: Select[Any], definition: OutcomeDefinition, by: Sequence[str], *, source: str
) -> Any:
    """Per eligible patient: group keys, the pain flags, the four baselines and each measure at
    the follow-up that counts for it.

    ``source``: :data:`FROM_FACTS` reads ``measure_facts`` (one keyed join); :data:`AS_OF` (an
    earlier cut-off at the default time point and window) reads it for the patients whose
    follow-ups are settled by the cut-off and searches the follow-ups of the others only
    (docs/performance.md, "Earlier cut-offs"); :data:`FROM_ROWS` joins ``patients`` and makes
    a pass over every eligible patient's follow-ups in the window.
    """
    c = cohort_rows.subquery("cohort")
    eligible_rows = select(c).where(is_set(c.c.eligible))
    # Read twice on an earlier cut-off (the measures of unsettled patients are searched from it):
    # computed once.
    eligible = (
        eligible_rows.cte("eligible").prefix_with("MATERIALIZED")
        if source == AS_OF
        else eligible_rows.subquery("eligible")
    )
    kept = schema.measure_facts
    if source == FROM_FACTS:
        at: Any = kept
        baselines: Any = kept
        joined = eligible.outerjoin(kept, kept.c.patient_key == eligible.c.patient_key)
    elif source == AS_OF:
        assert definition.cutoff is not None
        t = schema.patient_facts
        settled = followups_settled(definition, definition.cutoff)
        # Computed once: read by the search below and by the join of the kept measures.
        unsettled = select(t.c.patient_key).where(~settled).cte("unsettled").prefix_with("MATERIALIZED")
        searched = select(eligible).where(eligible.c.patient_key.in_(select(unsettled.c.patient_key)))
        at = union_all(
            select(kept.c.patient_key, *[kept.c[m] for m in FOLLOWUP_MEASURES]).where(
                kept.c.patient_key.not_in(select(unsettled.c.patient_key))
            ),
            select(measures_at_followup(searched.subquery("searched"), definition, definition.cutoff)),
        ).subquery("measures_as_of")
        baselines = kept
        joined = eligible.join(kept, kept.c.patient_key == eligible.c.patient_key).outerjoin(
            at, at.c.patient_key == eligible.c.patient_key
        )
    else:
        p = schema.patients
        at = measures_at_followup(eligible, definition, definition.cutoff)
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
            *[at.c[m] for m in FOLLOWUP_MEASURES],
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
) -> Select[Any]:
    """One statement: per group a ``counts`` row, and per group and change measure one row per
    distinct change value with its number of patients (``kind`` says which).

    ``definition`` must carry its resolved cut-off (it bounds the follow-ups that count).
    ``source`` says where the measures are read (:func:`_patient_rows`, chosen by
    :func:`secondary_counts`).
    """
    rows = _patient_rows(cohort_rows, definition, by, source=source)
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
    for measure, (baseline, followup) in _CHANGE_COLUMNS.items():
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


# --- from counts to results -----------------------------------------------------------------


def _rate(counts: dict[str, int], measure: str, definition: OutcomeDefinition) -> Rate:
    qualifying_name, has_name, count_name = _RATE_COLUMNS[measure]
    qualifying, with_measure = counts[qualifying_name], counts[has_name]
    n = qualifying if definition.missing == "itt" else with_measure
    estimate = stats.proportion_interval(counts[count_name], n, alpha=definition.alpha, method=definition.ci)
    return Rate(
        n=n,
        count=counts[count_name],
        rate=estimate.rate,
        ci_low=estimate.low,
        ci_high=estimate.high,
        small_n=n < SMALL_CELL,
        qualifying=qualifying,
        with_measure=with_measure,
    )


def _measures(
    keys: dict[str, str],
    counts: dict[str, int],
    histograms: dict[str, list[tuple[float, int]]],
    definition: OutcomeDefinition,
    settings: MeasureSettings,
) -> Measures:
    agree_n, both = counts["agree_n"], counts["agree_both"]
    pgic_only, nrs_only = counts["agree_pgic_only"], counts["agree_nrs_only"]
    return Measures(
        keys=keys,
        eligible=counts["patients"],
        rates={m: _rate(counts, m, definition) for m in RATE_MEASURES},
        changes={
            m: stats.mean_change(histograms.get(m, []), alpha=definition.alpha) for m in CHANGE_MEASURES
        },
        agreement=Agreement(agree_n, both, pgic_only, nrs_only, agree_n - both - pgic_only - nrs_only),
        opioid_levels=OpioidLevels(
            settings.mme_levels,
            counts["mme_pair"],
            counts["mme_base_low"],
            counts["mme_fu_low"],
            counts["mme_base_high"],
            counts["mme_fu_high"],
        ),
    )


@dataclass(frozen=True)
class SecondaryCounts:
    """Per-group counts and change histograms of one database pass: all a table needs.

    They depend on the time point, window, threshold, cut-off, cohort and measure settings —
    not on the missing-data policy, interval method or alpha, which
    :func:`secondary_from_counts` applies — so the ITT and completers views share them.
    """

    cutoff: date
    by: tuple[str, ...]
    settings: MeasureSettings
    counts: tuple[tuple[tuple[str, ...], dict[str, int]], ...]
    histograms: tuple[tuple[tuple[str, ...], dict[str, tuple[tuple[float, int], ...]]], ...]


def secondary_counts(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    by: Sequence[str] = (),
    settings: MeasureSettings = MeasureSettings(),
) -> SecondaryCounts:
    """Run the one statement of :func:`secondary_query` and collect its rows per group."""
    unknown = [name for name in by if name not in DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot break down by {', '.join(unknown)}; choose from {', '.join(DIMENSIONS)}")
    by = tuple(by)
    definition, cohort_rows = cohort_query(engine, definition, cohort)
    assert definition.cutoff is not None
    # The measure facts hold the default time point and window over all stored data.
    source = FROM_ROWS
    if at_default_timepoint(definition) and derivation.READ_FACTS:
        source = FROM_FACTS if facts_apply(definition.cutoff, data_cutoff(engine)) else AS_OF
    query = secondary_query(cohort_rows, definition, settings, by, source=source)
    with engine.connect() as connection:
        result = connection.execute(query).mappings().all()
    counts: dict[tuple[str, ...], dict[str, int]] = {}
    histograms: dict[tuple[str, ...], dict[str, list[tuple[float, int]]]] = {}
    for row in result:
        group = tuple(str(row[name]) for name in by)
        if row["kind"] == "counts":
            counts[group] = {name: int(row[name]) for name in COUNT_NAMES}
        else:
            histograms.setdefault(group, {}).setdefault(row["kind"], []).append(
                (float(row["value"]), int(row["patients"]))
            )
    return SecondaryCounts(
        cutoff=definition.cutoff,
        by=by,
        settings=settings,
        counts=tuple(sorted(counts.items())),
        histograms=tuple(
            (group, {m: tuple(pairs) for m, pairs in per.items()})
            for group, per in sorted(histograms.items())
        ),
    )


def secondary_from_counts(counts: SecondaryCounts, definition: OutcomeDefinition) -> SecondaryTable:
    """Rates, intervals, means and medians (docs/methods.md) from :func:`secondary_counts`."""
    definition = replace(definition, cutoff=counts.cutoff)
    by, settings = counts.by, counts.settings
    per_group = dict(counts.counts)
    histograms = dict(counts.histograms)
    # Counts and histograms add up across groups, so the overall row needs no second pass.
    overall_counts = {name: sum(group[name] for group in per_group.values()) for name in COUNT_NAMES}
    overall_histograms = {
        m: [pair for group in histograms.values() for pair in group.get(m, ())] for m in CHANGE_MEASURES
    }
    overall = _measures({}, overall_counts, overall_histograms, definition, settings)
    groups = [
        _measures(
            dict(zip(by, group, strict=True)),
            per_group[group],
            {m: list(pairs) for m, pairs in histograms.get(group, {}).items()},
            definition,
            settings,
        )
        for group in per_group
    ]
    return SecondaryTable(
        definition=definition, settings=settings, by=by, overall=overall, groups=groups if by else []
    )


def secondary_table(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    by: Sequence[str] = (),
    settings: MeasureSettings = MeasureSettings(),
) -> SecondaryTable:
    """Every measure beyond pain, overall and per group of ``by`` (groups: among eligible patients)."""
    return secondary_from_counts(secondary_counts(engine, definition, cohort, by, settings), definition)


def substantial_rate(group: GroupResult, definition: OutcomeDefinition) -> Rate:
    """The ≥ 50 % ("substantial") rate of a response-table group, beside its ≥ 30 % rate.

    Same denominator ``n`` and interval method as the response rate; the count is the
    derivation's substantial responders (docs/methods.md, "Outcomes beyond pain").
    """
    estimate = stats.proportion_interval(
        group.substantial, group.n, alpha=definition.alpha, method=definition.ci
    )
    return Rate(
        n=group.n,
        count=group.substantial,
        rate=estimate.rate,
        ci_low=estimate.low,
        ci_high=estimate.high,
        small_n=group.small_n,
        qualifying=group.eligible,
        with_measure=group.with_followup,
    )
