"""The numpy Newton–Raphson logistic fit (analysis/stats/logistic.py) held to statsmodels.

The reference is statsmodels' ``GLM`` with ``family=Binomial()`` as documented
(https://www.statsmodels.org/stable/generated/statsmodels.genmod.generalized_linear_model.GLM.html:
"Binomial family models accept a 2d array with two columns. If supplied, each observation is
expected to be [success, failure]"; ``GLM.fit`` by IRLS with ``tol`` 1e-8 on the deviance), fitted
to the same grouped design. statsmodels stays installed for the tests (requirements.txt); the
app no longer imports it (docs/comparisons.md, "Speed and memory").
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from analysis.stats import logistic

ROOT = Path(__file__).resolve().parent.parent


def _statsmodels(d: logistic.Design, **fit: Any) -> Any:
    endog = np.column_stack([d.events, d.trials - d.events])
    return GLM(endog, d.X, family=families.Binomial()).fit(maxiter=100, **fit)


def _random_clinic(seed: int) -> pd.DataFrame:
    """Covariate patterns of a made-up clinic: two categorical covariates, two continuous."""
    rng = np.random.default_rng(seed)
    k = 300
    frame = pd.DataFrame(
        {
            "site": rng.choice(["a", "b", "c", "d"], k),
            "sex": rng.choice(["F", "M", "unknown"], k),
            "age": rng.normal(5.0, 1.5, k).round(1),
            "pain": rng.integers(4, 11, k).astype(float),
            "n": rng.integers(1, 60, k),
        }
    )
    eta = (
        -2.0
        + 0.4 * (frame["site"] == "b")
        - 0.7 * (frame["site"] == "c")
        + 0.2 * (frame["sex"] == "M")
        + 0.15 * frame["age"]
        + 0.05 * frame["pain"]
    )
    frame["responders"] = rng.binomial(frame["n"], 1 / (1 + np.exp(-eta)))
    return frame


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fit_equals_statsmodels_glm_binomial_on_a_random_grouped_design(seed: int) -> None:
    d = logistic.design(
        _random_clinic(seed), categorical={"site": None, "sex": None}, continuous=["age", "pain"]
    )
    ours = logistic.fit(d)
    reference = _statsmodels(d)
    assert reference.converged
    np.testing.assert_allclose(ours.params, reference.params, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(ours.cov)), reference.bse, rtol=1e-6)


def test_a_fold_with_emptied_patterns_fits_as_the_design_without_them(monkeypatch) -> None:
    """A pattern with no patient counts for nothing: the design with some patterns' counts set to
    0 fits as statsmodels fits the design without those rows, with the weighted sums and the rank
    made block by block (blocks of 64 rows here, so that several are summed)."""
    monkeypatch.setattr(logistic, "CHUNK_ROWS", 64)
    d = logistic.design(
        _random_clinic(4), categorical={"site": None, "sex": None}, continuous=["age", "pain"]
    )
    held = np.arange(len(d.trials)) % 3 == 0
    emptied = logistic.Design(
        d.names, d.X, np.where(held, 0.0, d.events), np.where(held, 0.0, d.trials), d.references
    )
    kept = logistic.Design(d.names, d.X[~held], d.events[~held], d.trials[~held], d.references)
    ours, reference = logistic.fit(emptied), _statsmodels(kept)
    np.testing.assert_allclose(ours.params, reference.params, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(ours.cov)), reference.bse, rtol=1e-6)


def test_the_rank_by_blocks_is_numpys_matrix_rank(monkeypatch) -> None:
    """``np.linalg.matrix_rank`` (its documented default tolerance, S.max() · max(M, N) · eps) of
    the chosen rows: full, with a column that another determines, and one that only the chosen
    rows make collinear."""
    monkeypatch.setattr(logistic, "CHUNK_ROWS", 50)
    rng = np.random.default_rng(7)
    X = np.column_stack([np.ones(400), rng.normal(size=(400, 3))])
    everyone = np.ones(400, dtype=bool)
    assert logistic._rank(X, everyone) == np.linalg.matrix_rank(X) == 4
    doubled = np.column_stack([X, 2 * X[:, 1]])
    assert logistic._rank(doubled, everyone) == np.linalg.matrix_rank(doubled) == 4
    some = X[:, 1] > 0
    indicator = np.column_stack([X, (X[:, 1] > 0).astype(float)])  # constant among ``some``
    assert logistic._rank(indicator, everyone) == np.linalg.matrix_rank(indicator) == 5
    assert logistic._rank(indicator, some) == np.linalg.matrix_rank(indicator[some]) == 4


NEAR = pd.DataFrame(
    {
        "group": ["a", "a", "b", "b", "c", "c"],
        "route": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        "n": [100, 120, 150, 150, 140, 160],
        "responders": [30, 50, 1, 0, 40, 60],  # group b: 1 responder in 300
    }
)


def test_the_fit_equals_statsmodels_near_separation() -> None:
    """One responder in 300 puts group b's log odds ratio near −5 with a wide SE: still finite.

    statsmodels computes its covariance from the weights of its last IRLS step (at the previous
    iterate), so at its default ``tol`` its SEs here differ from (XᵀWX)⁻¹ at the estimate by
    2·10⁻⁵; with ``tol=1e-12`` the previous iterate is the estimate to machine precision.
    """
    d = logistic.design(NEAR, categorical={"group": "a"}, continuous=["route"])
    ours = logistic.fit(d)
    reference = _statsmodels(d, tol=1e-12)
    assert reference.converged
    assert ours.params[d.column("group[b]")] < -4
    np.testing.assert_allclose(ours.params, reference.params, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(ours.cov)), reference.bse, rtol=1e-6)
    np.testing.assert_allclose(ours.params, _statsmodels(d).params, rtol=1e-6)


SEPARATED = [
    # Quasi-complete: nobody in group b responded.
    (NEAR.assign(responders=[30, 50, 0, 0, 40, 60]), {"group": "a"}, ["route"], "group = b"),
    # Complete: every pattern with x > 3 responded, none below.
    (
        pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6], "n": [10] * 6, "responders": [0, 0, 0, 10, 10, 10]}),
        {},
        ["x"],
        "x",
    ),
]


@pytest.mark.parametrize(("frame", "categorical", "continuous", "named"), SEPARATED)
def test_where_statsmodels_runs_to_separation_the_fit_refuses(
    frame: pd.DataFrame, categorical: dict[str, str | None], continuous: list[str], named: str
) -> None:
    """statsmodels "converges" here only because the deviance stops changing as the coefficient
    runs off: its linear predictor passes ±15 (a fitted probability within 3·10⁻⁷ of 0 or 1)."""
    d = logistic.design(frame, categorical=categorical, continuous=continuous)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        reference = _statsmodels(d)
    assert np.max(np.abs(d.X @ np.asarray(reference.params))) > logistic.SEPARATION_ETA
    with pytest.raises(logistic.FitFailure, match=f"“{named}” all responded or all did not"):
        logistic.fit(d)


def test_a_fit_that_does_not_converge_is_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    d = logistic.design(NEAR, categorical={"group": "a"}, continuous=["route"])
    monkeypatch.setattr(logistic, "MAX_ITERATIONS", 2)
    with pytest.raises(logistic.FitFailure, match="perfect separation"):
        logistic.fit(d)


def test_fitting_and_scoring_do_not_import_statsmodels_or_scipy_stats() -> None:
    """The reason the fit is written out: statsmodels' GLM costs ≈ 1.3 s and 55 MB to import
    (analysis/stats/logistic.py). ``compare`` and ``profile`` fit; neither may load it."""
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from analysis.queries import comparisons, profile\n"
        "from analysis.stats import discrimination, logistic\n"
        "frame = pd.DataFrame({'x': [0.0, 1, 2, 3], 'n': [20] * 4, 'responders': [3, 7, 11, 15]})\n"
        "d = logistic.design(frame, categorical={}, continuous=['x'])\n"
        "f = logistic.fit(d)\n"
        "logistic.odds_ratios(f)\n"
        "discrimination.auc_delong(f.predict(d.X), d.events, d.trials - d.events)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('scipy.stats', 'statsmodels'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_blas_runs_on_one_thread_during_a_fit_and_as_before_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fit limits BLAS to one thread (logistic.fit's docstring) through one controller kept
    per process; the limit holds inside every fit, not only the first, and is lifted after."""
    from threadpoolctl import threadpool_info

    def blas_threads() -> set[int]:
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    before = blas_threads()
    inside: list[set[int]] = []
    fit_itself = logistic._fit

    def recording(d: logistic.Design) -> logistic.LogisticFit:
        inside.append(blas_threads())
        return fit_itself(d)

    monkeypatch.setattr(logistic, "_fit", recording)
    d = logistic.design(_random_clinic(1), categorical={"site": "a", "sex": "F"}, continuous=["age", "pain"])
    for _ in range(2):
        logistic.fit(d)
    assert before, "no BLAS library loaded: nothing to check"
    assert inside == [{1}, {1}]
    assert blas_threads() == before
