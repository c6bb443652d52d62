"""How well predicted probabilities separate responders from non-responders, and how well they agree.

docs/comparisons.md, "Who responds". Predictions come per covariate pattern, each with its
responders and non-responders, so every function takes weights (counts) rather than one value
per patient.

- :func:`auc_delong`: the area under the ROC curve (the probability that a random responder
  has a higher predicted probability than a random non-responder, ties counting one half), the
  Mann–Whitney statistic divided by the number of pairs, with DeLong's variance [1]_.
- :func:`calibration`: mean predicted probability against the observed rate in groups of about
  equal size, from lowest to highest predicted risk.
- :func:`fold_counts`: a seeded random split of every pattern's patients into k folds for
  cross-validation (the same as assigning each patient to a fold at random).

References
----------
.. [1] DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more
   correlated receiver operating characteristic curves: a nonparametric approach. Biometrics
   44:837–845.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri


@dataclass(frozen=True)
class AUC:
    """The area under the ROC curve with its DeLong standard error and interval."""

    auc: float
    se: float
    ci_low: float
    ci_high: float
    responders: int
    non_responders: int


def auc_delong(scores: np.ndarray, positives: np.ndarray, negatives: np.ndarray, alpha: float = 0.05) -> AUC:
    """AUC of ``scores`` where ``positives``/``negatives`` patients share each score, with DeLong's
    interval AUC ± z·SE (clipped to [0, 1]).

    With the distinct scores s, P(s) responders and N(s) non-responders at s, m and n their totals:
    V10(s) = (Σ_{t<s} N(t) + N(s)/2) / n for a responder at s, V01(s) = (Σ_{t>s} P(t) + P(s)/2) / m
    for a non-responder at s; AUC = Σ P(s) V10(s) / m; Var = S10/m + S01/n with S10, S01 the
    sample variances of V10 over responders and V01 over non-responders [1]_.
    """
    scores, positives, negatives = (np.asarray(a, dtype=float) for a in (scores, positives, negatives))
    # A score no patient has adds nothing; cross-validation gives every pattern a score in every
    # fold, most of them with none of the pattern's patients held out (at 10M sessions 1.7M
    # scores for 0.85M patients), and every array below is as long as what is kept.
    present = (positives + negatives) > 0
    scores, positives, negatives = scores[present], positives[present], negatives[present]
    m, n = positives.sum(), negatives.sum()
    if m < 2 or n < 2:
        raise ValueError("the AUC needs at least two responders and two non-responders")
    order = np.argsort(scores, kind="stable")
    s, p, q = scores[order], positives[order], negatives[order]
    del scores, positives, negatives, order
    # The first of each run of equal scores: np.unique would sort the sorted scores again.
    start = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
    P = np.add.reduceat(p, start)
    N = np.add.reduceat(q, start)
    below_n = np.concatenate([[0.0], np.cumsum(N)[:-1]])
    above_p = P.sum() - np.cumsum(P)
    v10 = (below_n + N / 2) / n
    v01 = (above_p + P / 2) / m
    auc = float((P * v10).sum() / m)
    s10 = float((P * (v10 - auc) ** 2).sum() / (m - 1))
    s01 = float((N * (v01 - auc) ** 2).sum() / (n - 1))
    se = math.sqrt(s10 / m + s01 / n)
    z = -float(ndtri(alpha / 2))
    return AUC(auc, se, max(0.0, auc - z * se), min(1.0, auc + z * se), int(m), int(n))


@dataclass(frozen=True)
class CalibrationGroup:
    """Patients of similar predicted risk: their mean prediction and what happened."""

    predicted: float
    observed: float
    patients: int


def calibration(
    predicted: np.ndarray, events: np.ndarray, trials: np.ndarray, groups: int = 10
) -> list[CalibrationGroup]:
    """Patterns sorted by predicted risk, cut into ``groups`` groups of about equal patients."""
    predicted, events, trials = (np.asarray(a, dtype=float) for a in (predicted, events, trials))
    keep = trials > 0
    predicted, events, trials = predicted[keep], events[keep], trials[keep]
    order = np.argsort(predicted, kind="stable")
    predicted, events, trials = predicted[order], events[order], trials[order]
    cumulative = np.cumsum(trials)
    total = cumulative[-1] if len(cumulative) else 0
    result = []
    edges = np.linspace(0, total, groups + 1)
    # A pattern goes to the group its middle patient falls in (patterns are not split).
    middle = cumulative - trials / 2
    which = np.clip(np.searchsorted(edges, middle, side="right") - 1, 0, groups - 1)
    for g in range(groups):
        chosen = which == g
        patients = trials[chosen].sum()
        if patients == 0:
            continue
        result.append(
            CalibrationGroup(
                predicted=float((predicted[chosen] * trials[chosen]).sum() / patients),
                observed=float(events[chosen].sum() / patients),
                patients=int(patients),
            )
        )
    return result


def fold_counts(
    events: np.ndarray, nonevents: np.ndarray, folds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Responders and non-responders of every pattern in each fold, shape (folds, patterns).

    Each pattern's responders (and non-responders) are shared out among the folds by one
    multinomial draw with equal probabilities: each patient lands in a fold at random.
    """
    if folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    rng = np.random.default_rng(seed)
    share = np.full(folds, 1 / folds)
    # One call per array, not one per pattern: the same draws in the same order (the seed's split
    # is unchanged), 0.03 s instead of 0.6 s of CPU for 89,000 patterns (the 1M-session clinic).
    fold_events = rng.multinomial(np.asarray(events, dtype=np.int64), share).T.astype(float)
    fold_nonevents = rng.multinomial(np.asarray(nonevents, dtype=np.int64), share).T.astype(float)
    return fold_events.reshape(folds, -1), fold_nonevents.reshape(folds, -1)
