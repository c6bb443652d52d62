"""The demo clinic's outcomes beyond pain: opioids, mood, function, PGIC and headache days.

Baselines per patient, then each follow-up's values, moving with the patient's pain change but
never in lockstep with it (sources in :mod:`analysis.demo`'s docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.demo.draws import _CANCER, _Cohort
from analysis.demo.helpers import _choose_rows
from analysis.demo.parameters import (
    BPI_FOLLOWS_PAIN,
    BPI_OFFSET,
    BPI_SD,
    BPI_SHARE,
    BPI_SLOPE,
    CHRONIC_HEADACHE_DAYS,
    CHRONIC_MIGRAINE_SHARE,
    CONDITION_TABLE,
    CONDITIONS,
    HEADACHE_FOLLOWS_PAIN,
    HEADACHE_RECORDED,
    OPIOID_CHANGE,
    OPIOID_DOSE_RATIO,
    OPIOID_MIX,
    OPIOID_MIX_CANCER,
    OPIOIDS,
    PGIC_BIAS_SD,
    PGIC_CUTS,
    PGIC_NOISE_SD,
    PHQ9_CONDITION_SHIFT,
    PHQ9_MEAN,
    PHQ9_OWN_EFFECT,
    PHQ9_PAIN_SHARE,
    PHQ9_SD,
    PHQ9_SHARE,
    REPEAT_SHARE,
)

_MIGRAINE = CONDITIONS.index("migraine")


@dataclass
class _Beyond:
    """Per-patient truth behind the measures beyond pain (recorded or not)."""

    mme: np.ndarray  # MME/day before treatment (0 = no opioid)
    mme_factor: np.ndarray  # share of the baseline MME kept once the change is made
    mme_change_day: np.ndarray  # the day the opioid dose changes
    phq9: np.ndarray
    phq9_recorded: np.ndarray
    mood_effect: np.ndarray  # relative PHQ-9 fall beyond what pain explains
    bpi: np.ndarray
    bpi_recorded: np.ndarray
    bpi_follows: np.ndarray  # how much of the pain change function follows
    headache_days: np.ndarray  # NaN for patients without migraine
    headache_recorded: np.ndarray
    pgic_bias: np.ndarray  # how much better (or worse) a patient says they are than the NRS


def draw_baselines(rng: np.random.Generator, c: _Cohort) -> _Beyond:
    """Draw the baselines beyond pain and write the recorded ones into ``c.frame``."""
    n = c.n
    table = np.array([CONDITION_TABLE[name] for name in CONDITIONS], dtype=float)
    on_opioids = rng.random(n) < table[:, 4][c.condition]
    mme = np.where(on_opioids, _opioid_mme(rng, c.condition == _CANCER), 0.0)
    recorded_mme = mme.copy()
    recorded_mme[rng.random(n) < np.where(on_opioids, 0.04, 0.15)] = np.nan

    # Opioid change by the end of follow-up: most keep their dose (see OPIOID_CHANGE).
    responding = c.responder[:, 1]
    stop, reduce, increase = (
        np.where(responding, OPIOID_CHANGE[True][j], OPIOID_CHANGE[False][j]) for j in range(3)
    )
    u = rng.random(n)
    factor = np.where(
        u < stop,
        0.0,
        np.where(
            u < stop + reduce,
            rng.uniform(0.25, 0.75, n),
            np.where(u < stop + reduce + increase, rng.uniform(1.2, 1.5, n), 1.0),
        ),
    )
    change_day = rng.uniform(14, 120, n)

    shift = np.array([PHQ9_CONDITION_SHIFT.get(name, 0.0) for name in CONDITIONS])[c.condition]
    phq9 = np.clip(np.round(rng.normal(PHQ9_MEAN + shift + 0.4 * (c.baseline - 6.8), PHQ9_SD)), 0, 27)
    phq9_recorded = rng.random(n) < PHQ9_SHARE[c.site]
    bpi = np.clip(np.round(BPI_SLOPE * c.baseline + rng.normal(BPI_OFFSET, BPI_SD, n), 1), 0, 10)
    bpi_recorded = rng.random(n) < BPI_SHARE[c.site]

    migraine = c.condition == _MIGRAINE
    chronic = rng.random(n) < CHRONIC_MIGRAINE_SHARE
    days = np.where(
        chronic,
        np.clip(np.round(rng.normal(*CHRONIC_HEADACHE_DAYS, n)), 15, 30),
        rng.integers(8, 15, n),
    )
    headache_days = np.where(migraine, days, np.nan)
    headache_recorded = migraine & (rng.random(n) < HEADACHE_RECORDED)

    beyond = _Beyond(
        mme=mme,
        mme_factor=factor,
        mme_change_day=change_day,
        phq9=phq9,
        phq9_recorded=phq9_recorded,
        mood_effect=rng.normal(*PHQ9_OWN_EFFECT, n),
        bpi=bpi,
        bpi_recorded=bpi_recorded,
        bpi_follows=rng.normal(*BPI_FOLLOWS_PAIN, n),
        headache_days=headache_days,
        headache_recorded=headache_recorded,
        pgic_bias=rng.normal(0, PGIC_BIAS_SD, n),
    )
    c.frame["baseline_mme"] = recorded_mme
    c.frame["baseline_phq9"] = np.where(phq9_recorded, phq9, np.nan)
    c.frame["baseline_bpi_interference"] = np.where(bpi_recorded, bpi, np.nan)
    c.frame["baseline_headache_days"] = np.where(headache_recorded, headache_days, np.nan)
    return beyond


def _opioid_mme(rng: np.random.Generator, cancer: np.ndarray) -> np.ndarray:
    """MME/day of each patient's opioid: a drug, one of its usual daily doses × its CDC factor."""
    n = len(cancer)
    mix = np.where(cancer[:, None], OPIOID_MIX_CANCER, OPIOID_MIX)
    drug = _choose_rows(rng, mix / mix.sum(axis=1, keepdims=True))
    u = rng.random(n) ** np.where(cancer, 0.6, 1.0)  # cancer pain: higher doses
    mme = np.zeros(n)
    for j, (factor, doses) in enumerate(OPIOIDS.values()):
        weights = OPIOID_DOSE_RATIO ** np.arange(len(doses))
        which = drug == j
        step = np.searchsorted(np.cumsum(weights) / weights.sum(), u[which])
        mme[which] = np.asarray(doses)[np.minimum(step, len(doses) - 1)] * factor
    return np.round(mme, 1)


def followup_measures(
    rng: np.random.Generator, c: _Cohort, b: _Beyond, rows: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """PGIC, BPI interference, PHQ-9, MME and headache days of each follow-up row."""
    patient, day, achieved = rows["patient"], rows["day"], rows["achieved"]
    m = len(patient)

    # PGIC: the patient's own sense of change, related to the NRS change, not a copy of it.
    perceived = achieved + b.pgic_bias[patient] + rng.normal(0, PGIC_NOISE_SD, m)
    pgic = 1.0 + (perceived[:, None] < PGIC_CUTS[None, :]).sum(axis=1)
    pgic[rng.random(m) < 0.08] = np.nan

    bpi = b.bpi[patient] * (1 - b.bpi_follows[patient] * achieved) + rng.normal(0, 1.0, m)
    bpi = np.round(np.clip(bpi, 0, 10), 1)
    bpi[~(b.bpi_recorded[patient] & (rng.random(m) < REPEAT_SHARE))] = np.nan

    fall = PHQ9_PAIN_SHARE * np.clip(achieved, -0.5, 1) + b.mood_effect[patient]
    phq9 = np.clip(np.round(b.phq9[patient] * (1 - fall) + rng.normal(0, 2, m)), 0, 27)
    phq9[~(b.phq9_recorded[patient] & (rng.random(m) < REPEAT_SHARE))] = np.nan

    changed = day >= b.mme_change_day[patient]
    mme = np.round(b.mme[patient] * np.where(changed, b.mme_factor[patient], 1.0), 1)
    mme[rng.random(m) < 0.10] = np.nan

    fewer = np.clip(achieved + rng.normal(*HEADACHE_FOLLOWS_PAIN, m), -0.5, 1)
    headache = np.clip(np.round(b.headache_days[patient] * (1 - fewer)), 0, 30)
    headache[~(b.headache_recorded[patient] & (rng.random(m) < 0.9))] = np.nan
    return {"pgic": pgic, "bpi_interference": bpi, "phq9": phq9, "mme": mme, "headache_days": headache}
