"""The case-mix adjusted route comparison (docs/comparisons.md) and its logistic model.

References
----------
- Dobson AJ, Barnett AG (2008). An Introduction to Generalized Linear Models, 3rd ed., §7.3:
  Bliss's (1935) beetle mortality data, logistic model b1 = −60.717 (SE 5.181), b2 = 34.270
  (SE 2.912), as printed by the glmlab manual's worked example (Dunn, "Binomial example": estimates
  −60.717455 (5.180701) and 34.270326 (2.912134)). The glmlab page's data table prints 60 killed at
  dose 1.8610; Dobson's table has 61, and only 61 gives those estimates.
- The g-computation is checked against a hand computation on a design whose stratum odds ratios
  are equal (3 in both strata), so that the main-effects model reproduces every cell exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.db import store
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.queries import comparisons
from analysis.stats import logistic
from tests.clinic import add_patient

ROOT = Path(__file__).resolve().parent.parent

BEETLES = pd.DataFrame(
    {
        "dose": [1.6907, 1.7242, 1.7552, 1.7842, 1.8113, 1.8369, 1.8610, 1.8839],
        "n": [59, 60, 62, 56, 63, 59, 62, 60],
        "responders": [6, 13, 18, 28, 52, 53, 61, 60],
    }
)


def test_the_logistic_fit_reproduces_dobsons_beetle_example() -> None:
    fitted = logistic.fit(logistic.design(BEETLES, categorical={}, continuous=["dose"]))
    assert fitted.params[0] == pytest.approx(-60.717455, abs=1e-4)
    assert fitted.params[1] == pytest.approx(34.270326, abs=1e-4)
    assert fitted.se("intercept") == pytest.approx(5.180701, abs=1e-4)
    assert fitted.se("dose") == pytest.approx(2.912134, abs=1e-4)
    assert fitted.patients == 481 and fitted.events == 291


# Stratum 1: A 2/4 (odds 1), B 1/4 (odds 1/3); stratum 2: A 9/12 (odds 3), B 5/10 (odds 1): OR 3 in both.
HAND = pd.DataFrame(
    {
        "route": [1.0, 0.0, 1.0, 0.0],
        "stratum": ["s1", "s1", "s2", "s2"],
        "n": [4, 4, 12, 10],
        "responders": [2, 1, 9, 5],
    }
)


def _hand_design() -> logistic.Design:
    return logistic.design(HAND, categorical={"stratum": "s1"}, continuous=["route"])


def test_g_computation_matches_the_hand_computation() -> None:
    d = _hand_design()
    fitted = logistic.fit(d)
    assert logistic.odds_ratio(fitted, "route").odds_ratio == pytest.approx(3.0, rel=1e-6)
    rd = logistic.standardised_difference(fitted, d, "route")
    # Everyone on A: (8 × 0.50 + 22 × 0.75) / 30 = 20.5/30; on B: (8 × 0.25 + 22 × 0.50) / 30 = 13/30.
    assert rd.risk_a == pytest.approx(20.5 / 30, abs=1e-7)
    assert rd.risk_b == pytest.approx(13 / 30, abs=1e-7)
    assert rd.difference == pytest.approx(0.25, abs=1e-7)
    assert rd.ci_low < 0.25 < rd.ci_high


def test_the_delta_method_matches_a_numerical_gradient() -> None:
    d = _hand_design()
    fitted = logistic.fit(d)
    column = d.column("route")

    def difference(params: np.ndarray) -> float:
        on_a, on_b = d.X.copy(), d.X.copy()
        on_a[:, column], on_b[:, column] = 1, 0
        w = d.trials / d.trials.sum()
        expit = lambda eta: 1 / (1 + np.exp(-eta))  # noqa: E731
        return float(w @ expit(on_a @ params) - w @ expit(on_b @ params))

    step = 1e-6
    gradient = np.array(
        [
            (difference(fitted.params + step * e) - difference(fitted.params - step * e)) / (2 * step)
            for e in np.eye(len(fitted.params))
        ]
    )
    se = float(np.sqrt(gradient @ fitted.cov @ gradient))
    rd = logistic.standardised_difference(fitted, d, "route")
    assert (rd.ci_high - rd.difference) / 1.959964 == pytest.approx(se, rel=1e-5)


def test_the_bootstrap_interval_is_reproducible_from_its_seed() -> None:
    d = _hand_design()
    first = logistic.bootstrap_difference(d, "route", replicates=40, seed=7)
    again = logistic.bootstrap_difference(d, "route", replicates=40, seed=7)
    assert first == again and first.method == "bootstrap" and first.difference == pytest.approx(0.25)


def test_perfect_separation_is_a_sentence_not_a_number() -> None:
    separated = HAND.assign(responders=[4, 0, 12, 0])  # every A patient responded, no B patient did
    with pytest.raises(logistic.FitFailure, match="separation"):
        logistic.fit(logistic.design(separated, categorical={"stratum": "s1"}, continuous=["route"]))


def test_a_covariate_that_coincides_with_the_route_is_named() -> None:
    coincide = HAND.assign(stratum=["s1", "s2", "s1", "s2"])  # stratum s1 treats with A only
    with pytest.raises(logistic.FitFailure, match="follows from their other characteristics"):
        logistic.fit(logistic.design(coincide, categorical={"stratum": "s1"}, continuous=["route"]))


# --- against a clinic, on both databases ----------------------------------------------------


def _clinic(engine, *, per_route: int = 30, with_b: bool = True, ages: bool = True) -> None:
    """Two routes, two conditions; IV mostly CRPS (responds more), IN mostly fibromyalgia."""
    routes = [("intravenous", "crps", 0.6), ("intranasal", "fibromyalgia", 0.3)]
    for route, main, rate in routes if with_b else routes[:1]:
        for i in range(per_route):
            condition = main if i % 5 else ("fibromyalgia" if main == "crps" else "crps")
            responds = (i * 37 % 100) < 100 * rate
            add_patient(
                engine,
                f"{route[:6]}{i:03d}",
                condition=condition,
                site="main" if i % 2 else "north",
                age=(30 + i % 40) if ages or i % 3 else None,
                sex="F" if i % 3 else "M",
                baseline_pain=6.0 + i % 4,
                sessions=[{"day": 0, "route": route}],
                followups=[{"day": 90, "pain": 2.0 if responds else 7.5}],
            )


def test_compare_gives_crude_and_adjusted_results(engine) -> None:
    _clinic(engine, ages=False)
    result = comparisons.compare_routes(
        engine, OutcomeDefinition(), CohortFilter(), "intravenous", "intranasal"
    )
    assert (result.crude.nobs1, result.crude.nobs2) == (30, 30)
    adjusted = result.adjusted
    assert adjusted.excluded_missing == 20 and adjusted.n == 40  # every third patient has no age
    assert adjusted.excluded_reasons == {"age not recorded": 20}
    assert adjusted.not_fitted is None, adjusted.not_fitted
    assert adjusted.ci_low < adjusted.odds_ratio < adjusted.ci_high
    assert adjusted.rd_ci_low < adjusted.risk_difference < adjusted.rd_ci_high
    assert adjusted.caution  # 40 patients, 7 coefficients: fewer than 10 events per coefficient


def test_the_patterns_come_in_their_own_order_and_the_planner_setting_ends_with_the_read(engine) -> None:
    """The route patterns are sorted by route and covariates, whatever order the plan gave (a
    parallel plan's varies from run to run); on PostgreSQL the statement's own
    ``parallel_tuple_cost`` ends with its read (docs/performance.md, "make bench, twelfth
    session")."""
    _clinic(engine)
    show = "SELECT current_setting('parallel_tuple_cost')"
    postgresql = engine.dialect.name == "postgresql"
    if postgresql:
        with engine.connect() as connection:
            before = connection.exec_driver_sql(show).scalar_one()
    _, frame = comparisons.route_patterns(
        engine, OutcomeDefinition(), CohortFilter(), "intravenous", "intranasal"
    )
    keys = ["route", *comparisons._COVARIATES]
    assert len(frame) > 20
    pd.testing.assert_frame_equal(frame, frame.sort_values(keys, na_position="last", ignore_index=True))
    if postgresql:
        with engine.connect() as connection:
            assert (
                connection.exec_driver_sql(show).scalar_one()
                == before
                != comparisons.PATTERNS_PARALLEL_TUPLE_COST
            )


def test_a_route_with_no_patient_gives_a_sentence(engine) -> None:
    _clinic(engine, with_b=False)
    result = comparisons.compare_routes(
        engine, OutcomeDefinition(), CohortFilter(), "intravenous", "intranasal"
    )
    assert result.adjusted.odds_ratio is None and "Intranasal has 0 patients" in result.adjusted.not_fitted
    assert result.crude.risk_difference is None


def test_compare_on_the_command_line_prints_the_json_shape(db_url) -> None:
    engine = store.make_engine(db_url)
    _clinic(engine)
    engine.dispose()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "analysis",
            "compare",
            "--db",
            db_url,
            "--a",
            "IV",
            "--b",
            "IN",
            "--format",
            "json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert (document["a"], document["b"]) == ("intravenous", "intranasal")
    keys = {"n", "excluded_missing", "odds_ratio", "ci_low", "ci_high", "p", "risk_difference"}
    assert keys | {"rd_ci_low", "rd_ci_high"} <= set(document["adjusted"])
    assert document["adjusted"]["n"] == 60


def test_compare_refuses_the_same_route_twice_with_exit_2(db_url) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "analysis", "compare", "--db", db_url, "--a", "IV", "--b", "intravenous"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2 and "two different routes" in run.stderr
