"""Logistic regression on covariate patterns, odds ratios and standardised risk differences.

docs/comparisons.md, "Adjusted route comparison" and "Who responds". The database counts the
patients of each covariate pattern (one row per distinct combination of the covariates, with
its patients and responders); the model is fitted to those counts — never to one row per
patient in Python. Each pattern is one row with its responders out of its patients (grouped
binomial data), which gives exactly the maximum-likelihood estimates and standard errors of the
per-patient model [1]_ at one row per pattern however many patients share it.

The fit is Newton–Raphson (for the logistic link the same as Fisher scoring, i.e. IRLS) written
in numpy, held to statsmodels' ``GLM`` with a ``Binomial`` family in tests/test_logistic.py. The
measured reason it is not statsmodels: importing ``statsmodels.genmod.generalized_linear_model``
costs ≈ 1.3 s of CPU and ≈ 55 MB in a cold process on the 2-core machine (``import
analysis.cli`` 2.1 s / 173 MB; with statsmodels' GLM on top 3.4 s / 230 MB), while ``compare``
and ``profile`` must answer within 1 s beyond start-up on a 1M-session clinic
(docs/comparisons.md, "Speed and memory"). On that clinic's 49,000 ``profile`` patterns one
numpy fit takes ≈ 0.08 s of CPU; statsmodels' took ≈ 0.37 s with the ``gc.collect()`` its
results objects needed.

From β = 0: β ← β + (Xᵀ W X)⁻¹ Xᵀ (y − n p) with W = diag(n p (1 − p)); a step that does not
lower the deviance is halved; the fit has converged when the deviance changes by less than 1e-8
of itself within 100 iterations (R's ``glm.control`` criterion; statsmodels applies the same
1e-8 to the absolute change); the covariance is (Xᵀ W X)⁻¹ at the estimate [1]_.

What cannot be fitted is refused with a sentence (:class:`FitFailure`), never a number: no
patient, no responder or no non-responder; a covariate that coincides with another (a rank-
deficient design); (quasi-)complete separation, seen as a linear predictor beyond ±15 for some
pattern (a fitted probability within 3·10⁻⁷ of 0 or 1) or a fit that did not converge.

References
----------
.. [1] Agresti A (2013). Categorical Data Analysis, 3rd ed. Wiley. §4.2, §5.2 (logistic
   regression for grouped and ungrouped data), §6.5 (separation).
.. [2] Robins J (1986). A new approach to causal inference in mortality studies with a sustained
   exposure period. Math Model 7:1393–1512 (the g-formula: standardisation over a model).
.. [3] Dobson AJ, Barnett AG (2008). An Introduction to Generalized Linear Models, 3rd ed. CRC.
   §7.3 (Bliss's beetle mortality data, the worked example of the tests).
.. [4] Demmel J, Grigori L, Hoemmen M, Langou J (2012). Communication-optimal parallel and
   sequential QR and LU factorizations. SIAM J Sci Comput 34:A206–A239 (QR by blocks of rows:
   the R factors of the blocks, stacked and factored again, give the R of the whole).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri, xlogy
from threadpoolctl import ThreadpoolController

#: A pattern whose linear predictor lies beyond this is (quasi-)separated: p within 3e-7 of 0 or 1.
SEPARATION_ETA = 15.0


class FitFailure(Exception):
    """The model cannot be fitted to these patients; the message says why, in plain words."""


@dataclass(frozen=True)
class Design:
    """A design matrix over covariate patterns, with each pattern's patients and responders.

    A pattern with no patient (``trials`` 0) adds nothing to the likelihood, its gradient or its
    information, and is left out of the rank and separation checks: a cross-validation fold is
    the whole design with the held-out patients' counts taken away, not a copy of its rows
    (docs/performance.md, "Profile patterns kept").
    """

    names: tuple[str, ...]
    X: np.ndarray
    events: np.ndarray
    trials: np.ndarray
    references: Mapping[str, str]  # categorical covariate → its reference level

    @property
    def patients(self) -> int:
        return int(self.trials.sum())

    def column(self, name: str) -> int:
        return self.names.index(name)


def _reference(values: pd.Series, trials: pd.Series, chosen: str | None) -> str:
    if chosen is not None:
        return chosen
    # The most common level (by patients) is the reference: the most stable contrasts; ties → first.
    totals = trials.groupby(values, sort=True).sum()
    return str(totals.idxmax())


def design(
    patterns: pd.DataFrame,
    *,
    categorical: Mapping[str, str | None],
    continuous: Sequence[str],
    events: str = "responders",
    trials: str = "n",
) -> Design:
    """The design matrix of ``patterns``: an intercept, one indicator per non-reference level of
    each categorical covariate (reference = the given level, else the most common one), and each
    continuous covariate as it is. Patterns with no patient are dropped."""
    frame = patterns[patterns[trials] > 0].reset_index(drop=True)
    names = ["intercept"]
    references: dict[str, str] = {}
    indicators: list[tuple[pd.Series, str]] = []  # (the covariate's values, the level)
    for name, chosen in categorical.items():
        values = frame[name].astype(str)
        # Not a copy of the frame with the text values: at 10M sessions one per covariate.
        reference = _reference(values, frame[trials], chosen)
        references[name] = reference
        # unique() first: iterating an Arrow string column element by element cost 0.3 s at
        # the 1M-session clinic's 49,000 patterns.
        for level in sorted(set(values.unique()) - {reference}):
            indicators.append((values, level))
            names.append(f"{name}[{level}]")
    names.extend(continuous)
    # Filled column by column, not stacked from a list of columns: the list and the stack were
    # two copies of X at once, 2 × 32 MB at the 10M-session clinic (docs/performance.md,
    # "Profile at 10M").
    X = np.empty((len(frame), len(names)))
    X[:, 0] = 1.0
    for j, (values, level) in enumerate(indicators, start=1):
        X[:, j] = (values == level).to_numpy(dtype=float)
    for j, name in enumerate(continuous, start=1 + len(indicators)):
        X[:, j] = frame[name].to_numpy(dtype=float)
    return Design(
        names=tuple(names),
        X=X,
        events=frame[events].to_numpy(dtype=float),
        trials=frame[trials].to_numpy(dtype=float),
        references=references,
    )


@dataclass(frozen=True)
class LogisticFit:
    """A fitted logistic model: coefficients (log-odds), their covariance, and the data's size."""

    names: tuple[str, ...]
    params: np.ndarray
    cov: np.ndarray
    patients: int
    events: int

    def se(self, name: str) -> float:
        i = self.names.index(name)
        return float(math.sqrt(self.cov[i, i]))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted probabilities for the rows of ``X`` (columns as :attr:`names`)."""
        return expit(X @ self.params)


def _label(name: str) -> str:
    return name.replace("[", " = ").replace("]", "").replace("_", " ")


def fit(d: Design) -> LogisticFit:
    """Maximum-likelihood logistic regression on the patterns of ``d`` (see the module notes).

    BLAS runs on one thread here: the matrices are small, and on a busy machine OpenBLAS's
    threads made each fit about 40 times slower (docs/performance.md).
    """
    with _blas_controller().limit(limits=1, user_api="blas"):
        return _fit(d)


@functools.cache
def _blas_controller() -> ThreadpoolController:
    """One scan of the loaded libraries per process: ``threadpool_limits`` scans them on every
    call, 4–20 ms, six times per profile (docs/performance.md, "Profile at 10M")."""
    return ThreadpoolController()


#: Newton–Raphson stops when the deviance changes by less than this fraction of itself.
TOLERANCE = 1e-8
MAX_ITERATIONS = 100
#: A step that raises the deviance is halved at most this many times (2⁻³⁰ of a Newton step).
MAX_HALVINGS = 30


def _deviance(eta: np.ndarray, events: np.ndarray, trials: np.ndarray, saturated: float) -> float:
    """−2 × (log-likelihood at ``eta`` − the saturated model's), the log-likelihood
    Σ y η − n log(1 + e^η) written with ``logaddexp`` so that no |η| overflows."""
    loglik = float(events @ eta - trials @ np.logaddexp(0.0, eta))
    return 2.0 * (saturated - loglik)


def _newton(d: Design) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood coefficients and their covariance by Newton–Raphson (module notes).

    Raises :class:`FitFailure` when the iterations do not converge or the information matrix
    becomes singular, which is what (quasi-)separation does: fitted probabilities run to 0 or 1.
    """
    X, y, n = d.X, d.events, d.trials
    share = y / np.where(n > 0, n, 1.0)
    saturated = float((xlogy(y, share) + xlogy(n - y, 1.0 - share)).sum())
    beta = np.zeros(X.shape[1])
    eta = X @ beta
    deviance = _deviance(eta, y, n, saturated)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for _ in range(MAX_ITERATIONS):
            p = expit(eta)
            w = n * p * (1.0 - p)
            try:
                step = np.linalg.solve(_weighted_gram(X, w), X.T @ (y - n * p))
            except np.linalg.LinAlgError as exc:
                raise FitFailure(_separated(d, beta)) from exc
            tolerance = TOLERANCE * (abs(deviance) + 0.1)
            for _ in range(MAX_HALVINGS):
                candidate = beta + step
                new_eta = X @ candidate
                new_deviance = _deviance(new_eta, y, n, saturated)
                # Within the tolerance counts as no worse: at the optimum rounding decides the sign.
                if np.isfinite(new_deviance) and new_deviance <= deviance + tolerance:
                    break
                step = step / 2
            else:
                raise FitFailure(_separated(d, None))
            change = abs(new_deviance - deviance)
            beta, eta, deviance = candidate, new_eta, new_deviance
            if change <= tolerance:
                break
        else:
            raise FitFailure(_separated(d, None))
        if not np.all(np.isfinite(beta)):
            raise FitFailure(_separated(d, None))
        p = expit(eta)
        try:
            cov = np.linalg.inv(_weighted_gram(X, n * p * (1.0 - p)))
        except np.linalg.LinAlgError as exc:
            raise FitFailure(_separated(d, beta)) from exc
    return beta, cov


def _fit(d: Design) -> LogisticFit:
    events, nonevents = d.events, d.trials - d.events
    if d.patients == 0:
        raise FitFailure("no patient has every characteristic the model needs recorded")
    if events.sum() == 0 or nonevents.sum() == 0:
        who = "no patient responded" if events.sum() == 0 else "every patient responded"
        raise FitFailure(f"{who}, so there is nothing to model")
    counted = d.trials > 0
    if _rank(d.X, counted) < d.X.shape[1]:
        raise FitFailure(_collinear(d))
    params, cov = _newton(d)
    if np.max(np.abs(d.X @ params)[counted]) > SEPARATION_ETA:
        raise FitFailure(_separated(d, params))
    return LogisticFit(
        names=d.names,
        params=params,
        cov=cov,
        patients=d.patients,
        events=int(events.sum()),
    )


#: Rows of the design handled at a time by :func:`_weighted_gram` and :func:`_rank` (2.9 MB of a
#: 22-column design).
CHUNK_ROWS = 16_384


def _weighted_gram(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Xᵀ diag(w) X, summed over blocks of rows: ``(X.T * w) @ X`` made a weighted copy of the
    whole design at every step (61 MB for 347,322 patterns × 22 columns at 10M sessions;
    docs/performance.md, "Profile patterns kept")."""
    gram = np.zeros((X.shape[1], X.shape[1]))
    for start in range(0, len(X), CHUNK_ROWS):
        block = X[start : start + CHUNK_ROWS]
        gram += (block.T * w[start : start + CHUNK_ROWS]) @ block
    return gram


def _rank(X: np.ndarray, rows: np.ndarray) -> int:
    """The rank of ``X[rows]``, as ``np.linalg.matrix_rank`` finds it (singular values above
    σ_max · max(m, n) · ε), from the triangular factor of a QR decomposition made block by block
    (each block's R stacked and factored again [4]_): R has X's singular values,
    and no copy of the whole design is made (``matrix_rank``'s SVD copied it)."""
    factors = [
        np.linalg.qr(block, mode="r")
        for start in range(0, len(X), CHUNK_ROWS)
        if len(block := X[start : start + CHUNK_ROWS][rows[start : start + CHUNK_ROWS]])
    ]
    if not factors:
        return 0
    singular = np.linalg.svd(np.linalg.qr(np.vstack(factors), mode="r"), compute_uv=False)
    tolerance = singular.max() * max(int(rows.sum()), X.shape[1]) * np.finfo(X.dtype).eps
    return int((singular > tolerance).sum())


def _collinear(d: Design) -> str:
    """Name a covariate that the others determine (the first column whose removal keeps the rank)."""
    X = d.X[d.trials > 0]  # a copy, on the way to a refusal only
    full = np.linalg.matrix_rank(X)
    for i, name in enumerate(d.names[1:], start=1):
        if np.linalg.matrix_rank(np.delete(X, i, axis=1)) == full:
            return (
                f"“{_label(name)}” is the same for all these patients or follows from their other "
                "characteristics (for example one site treats with one route only), so its effect "
                "cannot be told apart"
            )
    return "some characteristics coincide in these patients, so their effects cannot be told apart"


def _separated(d: Design, params: np.ndarray | None) -> str:
    """A sentence for (quasi-)complete separation, naming the covariate with the largest effect."""
    if params is not None and np.all(np.isfinite(params)) and len(params) > 1:
        name = d.names[1 + int(np.argmax(np.abs(params[1:])))]
        return (
            f"the patients with “{_label(name)}” all responded or all did not (perfect separation), "
            "so no finite odds ratio fits them"
        )
    return "some group of patients all responded or all did not (perfect separation)"


@dataclass(frozen=True)
class OddsRatio:
    """One coefficient as an odds ratio with its Wald interval and two-sided p-value."""

    name: str
    odds_ratio: float
    ci_low: float
    ci_high: float
    p: float


def odds_ratio(f: LogisticFit, name: str, alpha: float = 0.05) -> OddsRatio:
    """exp(β) of ``name`` with the Wald interval exp(β ± z·SE) and the Wald test's p-value."""
    from scipy.special import ndtr

    i = f.names.index(name)
    beta, se = float(f.params[i]), f.se(name)
    z = -float(ndtri(alpha / 2))
    p = float(2 * ndtr(-abs(beta) / se))
    return OddsRatio(name, math.exp(beta), math.exp(beta - z * se), math.exp(beta + z * se), min(1.0, p))


def odds_ratios(f: LogisticFit, alpha: float = 0.05) -> list[OddsRatio]:
    """Every coefficient but the intercept as an odds ratio (:func:`odds_ratio`)."""
    return [odds_ratio(f, name, alpha) for name in f.names if name != "intercept"]


@dataclass(frozen=True)
class StandardisedDifference:
    """g-computation: mean predicted response with everyone on A, minus with everyone on B."""

    risk_a: float
    risk_b: float
    difference: float
    ci_low: float
    ci_high: float
    method: str  # "delta" or "bootstrap"
    replicates: int = 0  # bootstrap replicates that could be fitted
    failed: int = 0  # bootstrap replicates that could not (separation in the resample)


def _risks(f: LogisticFit, d: Design, column: int) -> tuple[float, float, np.ndarray]:
    """Standardised risks on A (column = 1) and B (column = 0) over the patterns' patients, and
    the gradient of their difference with respect to the coefficients."""
    on_a, on_b = d.X.copy(), d.X.copy()
    on_a[:, column], on_b[:, column] = 1.0, 0.0
    p_a, p_b = f.predict(on_a), f.predict(on_b)
    w = d.trials / d.trials.sum()
    gradient = (w * p_a * (1 - p_a)) @ on_a - (w * p_b * (1 - p_b)) @ on_b
    return float(w @ p_a), float(w @ p_b), gradient


def standardised_difference(
    f: LogisticFit, d: Design, column: str, alpha: float = 0.05
) -> StandardisedDifference:
    """Risk difference by standardisation [2]_ over the model's patients, delta-method interval.

    With p_i(A) the model's probability for pattern i with the indicator ``column`` set to 1
    (everyone on A) and p_i(B) with it set to 0, each weighted by the pattern's patients n_i:
    RD = Σ n_i p_i(A) / N − Σ n_i p_i(B) / N. Its variance is gᵀ V g with V the coefficients'
    covariance and g = Σ (n_i/N) [p_i(A)(1 − p_i(A)) x_i(A) − p_i(B)(1 − p_i(B)) x_i(B)].
    """
    risk_a, risk_b, gradient = _risks(f, d, d.column(column))
    difference = risk_a - risk_b
    se = math.sqrt(max(float(gradient @ f.cov @ gradient), 0.0))
    z = -float(ndtri(alpha / 2))
    return StandardisedDifference(
        risk_a, risk_b, difference, max(-1.0, difference - z * se), min(1.0, difference + z * se), "delta"
    )


def bootstrap_difference(
    d: Design, column: str, *, replicates: int, seed: int, alpha: float = 0.05
) -> StandardisedDifference:
    """The standardised risk difference with a seeded percentile bootstrap over patients.

    Patients are resampled with replacement by drawing the counts of every (pattern, outcome)
    cell from one multinomial distribution (the same as resampling patients one by one), the
    model is refitted and the difference recomputed over the resample. Replicates the model
    cannot fit (separation in the resample) are left out and counted; more than 10 % of them
    left out refuses the interval.
    """
    estimate = standardised_difference(fit(d), d, column, alpha)
    rng = np.random.default_rng(seed)
    cells = np.concatenate([d.events, d.trials - d.events])
    total = int(cells.sum())
    k = len(d.events)
    values: list[float] = []
    failed = 0
    for _ in range(replicates):
        counts = rng.multinomial(total, cells / total).astype(float)
        events, nonevents = counts[:k], counts[k:]
        sample = Design(d.names, d.X, events, events + nonevents, d.references)
        sample = Design(
            d.names,
            d.X[sample.trials > 0],
            events[sample.trials > 0],
            sample.trials[sample.trials > 0],
            d.references,
        )
        try:
            values.append(standardised_difference(fit(sample), sample, column, alpha).difference)
        except FitFailure:
            failed += 1
    if failed > 0.10 * replicates:
        raise FitFailure(
            f"the model could not be fitted in {failed} of {replicates} bootstrap resamples "
            "(separation): use the delta-method interval"
        )
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    return StandardisedDifference(
        estimate.risk_a,
        estimate.risk_b,
        estimate.difference,
        float(low),
        float(high),
        "bootstrap",
        len(values),
        failed,
    )
