"""Who responds (docs/comparisons.md): AUC with DeLong's interval, calibration, folds, the profile.

References
----------
- The AUC is the Mann–Whitney U statistic over the number of pairs: checked against
  ``scipy.stats.mannwhitneyu`` (documented: U of the first sample, ties counted one half).
- DeLong's variance (DeLong et al. 1988, Biometrics 44:837, eq. for V10, V01, S10, S01) is
  checked against its per-patient definition written out here on the expanded data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import mannwhitneyu
from sqlalchemy import String, func, literal, select, union_all

from analysis.db import profile_cells, schema
from analysis.db.cohorts import patient_outcomes
from analysis.db.sqlfunctions import coded_keys
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.queries import profile
from analysis.stats import discrimination
from tests.clinic import add_patient

SCORES = np.array([0.1, 0.2, 0.2, 0.35, 0.5, 0.7, 0.9])
POS = np.array([0, 1, 2, 1, 3, 2, 4])
NEG = np.array([5, 3, 1, 2, 1, 1, 0])


def _expanded() -> tuple[np.ndarray, np.ndarray]:
    return np.repeat(SCORES, POS), np.repeat(SCORES, NEG)


def test_the_auc_is_the_mann_whitney_statistic_over_the_pairs() -> None:
    pos, neg = _expanded()
    u = mannwhitneyu(pos, neg, alternative="two-sided").statistic
    assert discrimination.auc_delong(SCORES, POS, NEG).auc == pytest.approx(u / (len(pos) * len(neg)))


def test_scores_no_patient_has_change_nothing() -> None:
    """Cross-validation scores every pattern in every fold, most with no patient held out: those
    scores (here interleaved, one equal to a real score) leave the AUC and its interval as they are."""
    scores = np.concatenate([SCORES, [0.05, 0.2, 0.95]])
    pos, neg = np.concatenate([POS, [0, 0, 0]]), np.concatenate([NEG, [0, 0, 0]])
    assert discrimination.auc_delong(scores, pos, neg) == discrimination.auc_delong(SCORES, POS, NEG)


def test_delongs_variance_matches_its_per_patient_definition() -> None:
    pos, neg = _expanded()
    m, n = len(pos), len(neg)

    def psi(x: float, y: float) -> float:
        return 1.0 if x > y else 0.5 if x == y else 0.0

    v10 = np.array([np.mean([psi(x, y) for y in neg]) for x in pos])
    v01 = np.array([np.mean([psi(x, y) for x in pos]) for y in neg])
    se = np.sqrt(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)
    result = discrimination.auc_delong(SCORES, POS, NEG)
    assert result.se == pytest.approx(se, rel=1e-12)
    assert result.ci_low == pytest.approx(max(0, result.auc - 1.959964 * se), abs=1e-6)


def test_calibration_groups_follow_predicted_risk_and_keep_every_patient() -> None:
    groups = discrimination.calibration(SCORES, POS, POS + NEG, groups=3)
    assert sum(g.patients for g in groups) == int((POS + NEG).sum())
    assert [g.predicted for g in groups] == sorted(g.predicted for g in groups)


def test_folds_share_out_every_patient_once_and_repeat_with_the_seed() -> None:
    events, nonevents = np.array([3, 0, 7]), np.array([2, 5, 1])
    first = discrimination.fold_counts(events, nonevents, 5, seed=3)
    again = discrimination.fold_counts(events, nonevents, 5, seed=3)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert np.array_equal(first[0].sum(axis=0), events) and np.array_equal(first[1].sum(axis=0), nonevents)


def test_the_folds_are_one_multinomial_draw_per_pattern_in_order() -> None:
    """The split a seed gives: each pattern's responders, then each one's non-responders, drawn
    one pattern at a time (numpy's ``Generator.multinomial`` over an array of counts draws the
    same)."""
    events, nonevents = np.array([3, 0, 7, 12]), np.array([2, 5, 1, 0])
    rng = np.random.default_rng(11)
    share = np.full(4, 0.25)
    expected_events = np.array([rng.multinomial(k, share) for k in events]).T
    expected_nonevents = np.array([rng.multinomial(k, share) for k in nonevents]).T
    fold_events, fold_nonevents = discrimination.fold_counts(events, nonevents, 4, seed=11)
    assert np.array_equal(fold_events, expected_events)
    assert np.array_equal(fold_nonevents, expected_nonevents)


def _clinic(engine, patients: int = 120) -> None:
    for i in range(patients):
        condition = ("crps", "fibromyalgia", "migraine")[i % 3]
        responds = (i * 53 % 100) < (70 if condition == "crps" else 25)
        add_patient(
            engine,
            f"P{i:04d}",
            condition=condition,
            age=25 + i % 50,
            sex="F" if i % 4 else "M",
            baseline_pain=5.0 + i % 5,
            baseline_mme=0.0 if i % 2 else 30.0,
            sessions=[{"day": 0, "route": "intranasal" if i % 5 else "intramuscular"}],
            followups=[{"day": 90, "pain": 1.0 if responds else 9.5}],
        )


def test_the_profile_gives_odds_ratios_auc_and_calibration(engine) -> None:
    _clinic(engine)
    result = profile.response_profile(engine, OutcomeDefinition(), CohortFilter())
    assert result.not_fitted is None, result.not_fitted
    assert result.n == 120 and result.left_out == ["phq9_high"]  # PHQ-9 recorded for no one
    crps = next(a for a in result.associations if a.characteristic == "condition[fibromyalgia]")
    assert crps.odds_ratio < 1 and crps.ci_low < crps.odds_ratio < crps.ci_high
    assert result.auc is not None and 0.5 < result.auc.auc <= 1
    assert sum(g.patients for g in result.calibration) == 120
    assert result.to_dict()["auc"]["auc"] == result.auc.auc


def test_too_few_patients_give_a_sentence(engine) -> None:
    _clinic(engine, patients=20)
    result = profile.response_profile(engine, OutcomeDefinition(), CohortFilter())
    assert result.associations == [] and "needs at least 50 patients" in result.not_fitted


@pytest.mark.parametrize("kept", [True, False], ids=["kept", "counted"])
def test_the_patterns_are_the_patients_counted_by_characteristic(engine, monkeypatch, kept) -> None:
    """The patterns — kept at import (analysis.db.profile_cells), or counted with the text keys
    grouped as codes on SQLite — against a plain pandas count of the per-patient rows: mixed and
    "none" routes, a sex not recorded, age, MME and PHQ-9 missing for some."""
    _clinic(engine, patients=60)
    add_patient(
        engine,
        "MIXED",
        baseline_phq9=12,
        sessions=[{"day": 0, "route": "intranasal"}, {"day": 7, "route": "intravenous"}],
        followups=[{"day": 90, "pain": 2.0}],
    )
    add_patient(engine, "NO-SESSION", sessions=[], age=40, sex="X")
    add_patient(engine, "NO-AGE", followups=[{"day": 85, "pain": 3.0}])
    add_patient(engine, "NO-AGE-2", baseline_mme=0.0, followups=[{"day": 95, "pain": 7.0}])
    read: list[bool] = []
    real = profile_cells.kept_patterns
    monkeypatch.setattr(profile_cells, "kept_patterns", lambda *a: read.append(True) or real(*a))
    if not kept:
        monkeypatch.setattr(profile, "_kept_view", lambda *a: False)
    _, patterns = profile.profile_patterns(engine, OutcomeDefinition(), CohortFilter())
    assert read == ([True] if kept else [])
    rows = patient_outcomes(engine)
    with engine.connect() as connection:
        baselines = pd.read_sql(
            select(
                schema.patients.c.patient_id, schema.patients.c.baseline_mme, schema.patients.c.baseline_phq9
            ),
            connection,
        )
    rows = rows.merge(baselines, on="patient_id")
    mme, phq9 = rows["baseline_mme"], rows["baseline_phq9"]
    rows = rows.assign(
        mme_positive=(mme > 0).astype(float).where(mme.notna()),
        phq9_high=(phq9 >= 10).astype(float).where(phq9.notna()),
    )[lambda r: r["eligible"] == 1]
    keys = ["condition", "route", "baseline", "age", "sex", "mme_positive", "phq9_high"]
    expected = rows.groupby(keys, dropna=False).agg(n=("responder", "size"), responders=("responder", "sum"))
    got = patterns.astype({"mme_positive": float, "phq9_high": float}).set_index(keys)[["n", "responders"]]
    assert "mixed" in set(patterns["route"]) and patterns["age"].isna().sum() == 3
    pd.testing.assert_frame_equal(got.sort_index(), expected.sort_index(), check_dtype=False)
    # In the order of their characteristics, whichever way they were found (the folds' split).
    assert patterns.equals(patterns.sort_values(keys, na_position="last", ignore_index=True))


def test_coded_keys_keep_every_value_apart_and_decode_to_its_text(engine) -> None:
    """Values of the vocabulary become codes; any other text, and NULL, keep groups of their own."""
    rows = union_all(
        *[select(literal(v, String).label("v")) for v in ("a", "b", "zz", None, "a", "zz")]
    ).subquery()
    keys = coded_keys(rows.c.v, ("a", "b"), "v")
    with engine.connect() as connection:
        grouped = pd.DataFrame(
            connection.execute(select(*keys, func.count().label("n")).group_by(*keys)).all(),
            columns=["v_code", "v_other", "n"],
        )
    text = profile._decoded(grouped["v_code"], grouped["v_other"], ("a", "b"))
    counts = dict(zip(text.fillna("NULL"), grouped["n"], strict=True))
    assert counts == {"a": 2, "b": 1, "zz": 2, "NULL": 1}
