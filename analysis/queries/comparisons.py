"""Two routes compared: crude, and adjusted for case mix (docs/comparisons.md).

The database counts the patients of each covariate pattern — route × condition × baseline
pain × age × sex × site, with responders — among the patients in the denominator of the two
routes (eligible under ITT, with a follow-up under completers). Python receives at most one
row per pattern and fits ``responder ~ route + condition + baseline_pain + age + sex + site``
(:mod:`analysis.stats.logistic`); the crude comparison adds the patterns up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from analysis import stats
from analysis.db.cohorts import cohort_query
from analysis.db.derivation import is_set
from analysis.db.frames import read_frame
from analysis.domain.definition import CohortFilter, OutcomeDefinition

__all__ = ["CohortFilter", "RouteComparison", "compare_cohort_routes", "compare_routes", "route_patterns"]
from analysis.domain.vocabulary import display_name
from analysis.stats import logistic

#: Each route needs at least this many patients in the model, and the model this many
#: responders and non-responders, before an adjusted estimate is given (docs/comparisons.md).
MIN_PER_ROUTE = 10
MIN_EVENTS = 10
#: Levels of a categorical covariate with fewer responders or non-responders than this are pooled.
MIN_LEVEL_EVENTS = 5
POOLED = "other"
#: Below this many responders (or non-responders) per coefficient the estimate is flagged unstable.
EVENTS_PER_PARAMETER = 10

_COVARIATES = ("condition", "baseline", "age", "sex", "site")
#: PostgreSQL's ``parallel_tuple_cost`` for the route patterns' statement (see route_patterns).
PATTERNS_PARALLEL_TUPLE_COST = "0.01"


def route_patterns(
    engine: Engine, definition: OutcomeDefinition, cohort: CohortFilter, a: str, b: str
) -> tuple[OutcomeDefinition, pd.DataFrame]:
    """Patients and responders per covariate pattern of the two routes' denominators (SQL)."""
    read = ("route", *_COVARIATES, "eligible", "with_followup", "responder")
    definition, rows = cohort_query(engine, definition, cohort, columns=read)
    r = rows.subquery("cohort")
    counted = r.c.eligible if definition.missing == "itt" else r.c.with_followup
    keys = [r.c.route, *(r.c[name] for name in _COVARIATES)]
    query = (
        select(*keys, func.count().label("n"), func.coalesce(func.sum(r.c.responder), 0).label("responders"))
        .where(r.c.route.in_((a, b)), is_set(counted))
        .group_by(*keys)
    )
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Local to this read's transaction: PostgreSQL's default price of a row passed from a
            # parallel worker (0.1) kept the scans of the facts in one process; at 0.01 they run
            # in parallel: `compare --cutoff` at 10M sessions 1.86–1.88 → 1.48–1.52 s, the default
            # view 0.98 → 0.81–0.84 s. Set for this statement only: `summary --timepoint 180` is
            # slower with it, 1.57–1.69 → 1.90 s (docs/performance.md, "make bench, twelfth
            # session"). The dashboard's server runs no parallel workers, so it changes nothing there.
            connection.execute(
                select(func.set_config("parallel_tuple_cost", PATTERNS_PARALLEL_TUPLE_COST, True))
            )
        # Not through SQLAlchemy's Rows (docs/comparisons.md): see analysis.db.frames.
        frame = read_frame(connection, query, text=("route", "condition", "sex", "site"))
    # In the order of the patterns, not of the plan: a parallel plan hands the groups back in an
    # order that varies from run to run, and the fit's sums (so the last digits of its numbers)
    # follow the order of the rows.
    frame = frame.sort_values(["route", *_COVARIATES], na_position="last", kind="stable", ignore_index=True)
    return definition, frame.astype({"n": "int64", "responders": "int64"})


@dataclass(frozen=True)
class Adjusted:
    """The adjusted comparison, or the sentence that says why there is none."""

    n: int
    excluded_missing: int
    odds_ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p: float | None = None
    risk_difference: float | None = None
    rd_ci_low: float | None = None
    rd_ci_high: float | None = None
    rd_method: str | None = None
    risk_a: float | None = None
    risk_b: float | None = None
    events_per_parameter: float | None = None
    not_fitted: str | None = None  # the reason, when no number is given
    caution: str | None = None
    excluded_reasons: dict[str, int] | None = None
    pooled: dict[str, list[str]] | None = None  # covariate → small levels pooled into "other"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RouteComparison:
    """Route A against route B: the crude comparison and the case-mix adjusted one."""

    definition: OutcomeDefinition
    a: str
    b: str
    crude: stats.TwoGroupComparison
    adjusted: Adjusted

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``compare`` (docs/comparisons.md); numbers at full precision."""
        d, c = self.definition, self.crude
        return {
            "definition": d.to_json("timepoint_days", "window_days", "threshold", "missing", "cutoff"),
            "a": self.a,
            "b": self.b,
            "crude": {
                "responders_a": c.count1,
                "n_a": c.nobs1,
                "responders_b": c.count2,
                "n_b": c.nobs2,
                "risk_difference": c.risk_difference,
                "rd_ci_low": c.rd_low,
                "rd_ci_high": c.rd_high,
                "odds_ratio": _finite(c.odds_ratio),
                "or_ci_low": _finite(c.or_low),
                "or_ci_high": _finite(c.or_high),
                "fisher_p": c.fisher_p,
            },
            "adjusted": self.adjusted.to_dict(),
        }


def _finite(value: float | None) -> float | None:
    """JSON has no infinity: an unbounded odds ratio (a zero cell) is written as null."""
    return None if value is None or value == float("inf") else value


def pool_small_levels(
    frame: pd.DataFrame, names: tuple[str, ...]
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Pool the thin levels of each categorical covariate; which levels were pooled.

    A level with fewer than :data:`MIN_LEVEL_EVENTS` responders or non-responders would
    separate the model (or a bootstrap resample of it): such levels become "other"; when
    "other" is still that thin, it joins the covariate's most common level instead
    (docs/comparisons.md).
    """
    pooled: dict[str, list[str]] = {}
    frame = frame.copy()
    for name in names:
        frame[name] = frame[name].astype(str)
        sizes = frame.groupby(name)[["n", "responders"]].sum()
        thin = (sizes["responders"] < MIN_LEVEL_EVENTS) | (
            sizes["n"] - sizes["responders"] < MIN_LEVEL_EVENTS
        )
        small = sorted(str(level) for level in sizes.index[thin])
        if not small or len(small) == len(sizes):
            continue
        pooled[name] = small
        target = POOLED
        other = sizes.loc[small].sum()
        if min(other["responders"], other["n"] - other["responders"]) < MIN_LEVEL_EVENTS:
            target = str(sizes.loc[~thin, "n"].idxmax())
        frame.loc[frame[name].isin(small), name] = target
    return frame, pooled


def _adjusted(frame: pd.DataFrame, a: str, b: str, *, alpha: float, bootstrap: int, seed: int) -> Adjusted:
    missing = frame["age"].isna()
    excluded = int(frame.loc[missing, "n"].sum())
    reasons = {"age not recorded": excluded} if excluded else {}
    model = frame[~missing].assign(route=lambda f: (f["route"] == a).astype(float))
    n = int(model["n"].sum())
    base: dict[str, Any] = {"n": n, "excluded_missing": excluded, "excluded_reasons": reasons}
    per_route = model.groupby("route")["n"].sum()
    for flag, name in ((1.0, a), (0.0, b)):
        if per_route.get(flag, 0) < MIN_PER_ROUTE:
            return Adjusted(
                **base,
                not_fitted=f"{display_name(name)} has {int(per_route.get(flag, 0))} patients with every "
                f"characteristic recorded; the adjusted comparison needs at least {MIN_PER_ROUTE} per route.",
            )
    events = int(model["responders"].sum())
    if min(events, n - events) < MIN_EVENTS:
        few = "responders" if events < n - events else "non-responders"
        return Adjusted(
            **base,
            not_fitted=f"Only {min(events, n - events)} {few} among the {n} patients: the adjusted "
            f"comparison needs at least {MIN_EVENTS} responders and {MIN_EVENTS} non-responders.",
        )
    model, pooled = pool_small_levels(model, ("condition", "sex", "site"))
    base["pooled"] = pooled
    d = logistic.design(
        model.rename(columns={"baseline": "baseline_pain"}),
        categorical={"condition": None, "sex": None, "site": None},
        continuous=["route", "baseline_pain", "age"],
    )
    try:
        f = logistic.fit(d)
        ratio = logistic.odds_ratio(f, "route", alpha)
        if bootstrap > 0:
            rd = logistic.bootstrap_difference(d, "route", replicates=bootstrap, seed=seed, alpha=alpha)
        else:
            rd = logistic.standardised_difference(f, d, "route", alpha)
    except logistic.FitFailure as exc:
        return Adjusted(**base, not_fitted=f"The adjusted comparison cannot be made: {exc}.")
    epp = min(events, n - events) / (len(d.names) - 1)
    caution = (
        f"Only {epp:.1f} responders (or non-responders) per model coefficient: the adjusted estimate "
        f"is unstable (at least {EVENTS_PER_PARAMETER} is the usual rule)."
        if epp < EVENTS_PER_PARAMETER
        else None
    )
    return Adjusted(
        **base,
        odds_ratio=ratio.odds_ratio,
        ci_low=ratio.ci_low,
        ci_high=ratio.ci_high,
        p=ratio.p,
        risk_difference=rd.difference,
        rd_ci_low=rd.ci_low,
        rd_ci_high=rd.ci_high,
        rd_method=rd.method,
        risk_a=rd.risk_a,
        risk_b=rd.risk_b,
        events_per_parameter=epp,
        caution=caution,
    )


def compare_routes(
    engine: Engine,
    definition: OutcomeDefinition,
    cohort: CohortFilter,
    a: str,
    b: str,
    *,
    bootstrap: int = 0,
    seed: int = 20261128,
) -> RouteComparison:
    """Route ``a`` against route ``b`` (reference), crude and adjusted (docs/comparisons.md)."""
    if a == b:
        raise ValueError("choose two different routes")
    definition, frame = route_patterns(engine, definition, cohort, a, b)
    on_a, on_b = frame[frame["route"] == a], frame[frame["route"] == b]
    crude = stats.compare_proportions(
        int(on_a["responders"].sum()),
        int(on_a["n"].sum()),
        int(on_b["responders"].sum()),
        int(on_b["n"].sum()),
        alpha=definition.alpha,
    )
    adjusted = _adjusted(frame, a, b, alpha=definition.alpha, bootstrap=bootstrap, seed=seed)
    return RouteComparison(definition, a, b, crude, adjusted)


def compare_cohort_routes(
    engine: Engine, definition: OutcomeDefinition, cohort: CohortFilter, a: str, b: str
) -> RouteComparison:
    """:func:`compare_routes` with the pages' argument order (engine, definition, cohort, *extra)."""
    return compare_routes(engine, definition, cohort, a, b)
