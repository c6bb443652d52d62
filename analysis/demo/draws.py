"""The demo clinic's draws: patients, sessions, follow-ups, all vectorised on one generator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    pass

from analysis.demo.parameters import (
    _AE_CODES,
    _EPOCH_WEEKDAY,
    _SATURDAY_MOVES,
    _SUNDAY_MOVES,
    AE_DURATION,
    AE_DURATION_CAP_MIN,
    AE_ROUTE_RATES,
    ATTENDANCE,
    CONDITION_ROUTE_AFFINITY,
    CONDITION_TABLE,
    CONDITIONS,
    FOLLOWUP_AE_RATES,
    FOLLOWUP_DAYS,
    HISTORY_DAYS,
    INDUCTION_SIZES,
    INDUCTION_WEIGHTS,
    INTAKE_GROWTH,
    MIGRAINE_INTRANASAL_BONUS,
    NEVER_TREATED_SHARE,
    ONE_SESSION_ATTENDANCE,
    ONE_SESSION_SHARE,
    PARTIAL_SERIES_SHARE,
    PHQ9_SHARE,
    RESPONDER_ATTENDANCE,
    RESPONSE,
    ROUTE_RESPONSE,
    ROUTE_SWITCH_SHARE,
    ROUTES,
    SITE_OPENS,
    SITE_ROUTE_MIX,
    SITE_SHARE,
    SITES,
)

# --------------------------------------------------------------------------- patients


@dataclass
class _Cohort:
    """Per-patient arrays, hidden truth and recorded values, shared by the three tables."""

    frame: pd.DataFrame  # the patients table
    patient_id: np.ndarray
    condition: np.ndarray  # index into CONDITIONS
    site: np.ndarray  # index into SITES
    route: np.ndarray  # the patient's own route, index into ROUTES
    index_date: np.ndarray  # planned first session (datetime64[D])
    weight: np.ndarray  # true body weight, kg
    baseline: np.ndarray  # the baseline the outcome engine will see (NRS, whole or half points)
    no_baseline_column: np.ndarray  # baseline only as the first session's pre_pain
    no_baseline_at_all: np.ndarray  # not evaluable: neither baseline nor first pre_pain
    baseline_mme: np.ndarray
    n_induction: np.ndarray  # induction sessions actually attended (0 = never treated)
    one_session: np.ndarray
    responder: np.ndarray  # (n, 3): ≥ 30 % reduction at 30/90/180 days
    reduction: np.ndarray  # (n, 3): relative pain reduction at 30/90/180 days

    @property
    def n(self) -> int:
        return len(self.condition)


# Long on purpose: draws in a fixed order from one seeded generator; the order is the clinic.
def _patients(rng: np.random.Generator, n: int, start: np.datetime64) -> _Cohort:
    table = np.array([CONDITION_TABLE[c] for c in CONDITIONS], dtype=float)
    share, age_mean, age_sd, female, opioid, mme_median = table.T

    # Sites open in turn; within its open years a site's intake grows linearly.
    site = rng.choice(len(SITES), size=n, p=SITE_SHARE / SITE_SHARE.sum())
    opens = SITE_OPENS[site].astype(float)
    index_day = _growing_day(rng.random(n), opens, float(HISTORY_DAYS))
    end = start + np.timedelta64(HISTORY_DAYS, "D")
    index_date = _weekday(rng, start + index_day.astype("timedelta64[D]"), until=end)
    order = np.lexsort((rng.random(n), index_date))  # numbered in order of first session
    site, index_date = site[order], index_date[order]

    condition = rng.choice(len(CONDITIONS), size=n, p=share / share.sum())
    _ensure_each(rng, condition, len(CONDITIONS))

    # Age by condition, adults only; a few aged 90+ to exercise the cap.
    age = rng.normal(age_mean[condition], age_sd[condition])
    young = age < 18
    age[young] = rng.uniform(18, 26, young.sum())
    age = np.minimum(age, 99)
    very_old = rng.random(n) < 0.003
    age[very_old] = rng.uniform(90, 98, very_old.sum())
    age = np.floor(age).astype(np.int64)

    draw = rng.random(n)
    is_female = draw < female[condition]
    sex = np.where(is_female, "F", "M").astype(object)
    other_sex = rng.random(n)
    sex[other_sex < 0.008] = "X"
    sex[(other_sex >= 0.008) & (other_sex < 0.023)] = "unknown"

    weight = np.where(is_female, rng.normal(74, 16, n), rng.normal(88, 17, n))
    weight = np.clip(weight, 40, 190)

    # Baseline pain (OKAPI 6.8 ± 1.8), recorded in whole or half points.
    true_baseline = np.clip(rng.normal(6.8, 1.8, n), 1, 10)
    half_points = rng.random(n) < 0.25
    baseline = np.where(half_points, np.round(true_baseline * 2) / 2, np.round(true_baseline))
    baseline = np.clip(baseline, 1, 10)
    missing_rule = rng.random(n)
    no_baseline_column = missing_rule < 0.05  # first pre_pain is the baseline
    zero_baseline = (missing_rule >= 0.05) & (missing_rule < 0.0515)  # not evaluable
    no_baseline_at_all = (missing_rule >= 0.0515) & (missing_rule < 0.053)  # not evaluable
    baseline_column = baseline.copy()
    baseline_column[no_baseline_column | no_baseline_at_all] = np.nan
    baseline_column[zero_baseline] = 0.0

    # Opioid use: baseline MME/day, skewed (lognormal), rounded to 5.
    on_opioids = rng.random(n) < opioid[condition]
    mme = np.clip(mme_median[condition] * np.exp(rng.normal(0, 0.75, n)), 5, 300)
    mme = np.maximum(5, np.round(mme / 5) * 5)
    baseline_mme = np.where(on_opioids, mme, 0.0)
    baseline_mme[rng.random(n) < np.where(on_opioids, 0.04, 0.15)] = np.nan

    # Primary route: site mix × condition affinity.
    affinity = np.ones((len(CONDITIONS), len(ROUTES)))
    for code, row in CONDITION_ROUTE_AFFINITY.items():
        affinity[CONDITIONS.index(code)] = row
    weights = SITE_ROUTE_MIX[site] * affinity[condition]
    weights = weights / weights.sum(axis=1, keepdims=True)
    route = _choose_rows(rng, weights)
    never_treated = rng.random(n) < NEVER_TREATED_SHARE
    _ensure_each(rng, route, len(ROUTES), weights, eligible=~never_treated)

    # Responsiveness: one latent rank per patient (lower = better), shared by every time point,
    # so that trajectories are consistent (a 90-day responder was a 30-day responder when the
    # condition's rate falls over time).
    rank = rng.random(n)
    one_session = ~never_treated & (rng.random(n) < ONE_SESSION_SHARE * (0.45 + 1.1 * rank))
    planned = rng.choice(INDUCTION_SIZES, size=n, p=INDUCTION_WEIGHTS / INDUCTION_WEIGHTS.sum())
    partial = ~one_session & (rng.random(n) < PARTIAL_SERIES_SHARE * (0.6 + 0.8 * rank))
    n_induction = np.where(partial, rng.integers(2, planned), planned)
    n_induction = np.where(one_session, 1, np.where(never_treated, 0, n_induction))

    response = np.array([RESPONSE[c] for c in CONDITIONS])[condition]  # (n, 3)
    route_effect = ROUTE_RESPONSE[route]
    migraine_in = (condition == CONDITIONS.index("migraine")) & (route == ROUTES.index("intranasal"))
    route_effect = np.where(migraine_in, route_effect * MIGRAINE_INTRANASAL_BONUS, route_effect)
    exposure = np.where(one_session, 0.35, np.where(partial, 0.8, 1.0))
    p_response = np.clip(response * (route_effect * exposure)[:, None], 0.01, 0.97)
    responder = rank[:, None] < p_response  # (n, 3) at 30/90/180 days
    # Relative reduction at each time point: responders mostly ≥ 50 %, others mostly < 15 %.
    above = np.clip((p_response - rank[:, None]) / p_response, 0, 1)
    below = np.clip((rank[:, None] - p_response) / (1 - p_response), 0, 1)
    reduction = np.where(responder, 0.30 + 0.55 * above, 0.29 - 0.42 * below**0.7)
    reduction = reduction + rng.normal(0, 0.04, reduction.shape)

    patient_id = _pseudonyms(n)
    frame = pd.DataFrame(
        {
            "patient_id": patient_id,
            "condition": np.asarray(CONDITIONS, dtype=object)[condition],
            "site": np.asarray(SITES, dtype=object)[site],
            "age": age,
            "sex": sex,
            "baseline_pain": baseline_column,
            "baseline_mme": baseline_mme,
        }
    )
    return _Cohort(
        frame=frame,
        patient_id=patient_id,
        condition=condition,
        site=site,
        route=route,
        index_date=index_date,
        weight=weight,
        baseline=baseline,
        no_baseline_column=no_baseline_column,
        no_baseline_at_all=no_baseline_at_all,
        baseline_mme=baseline_mme,
        n_induction=n_induction,
        one_session=one_session,
        responder=responder,
        reduction=reduction,
    )


# --------------------------------------------------------------------------- sessions


# Long on purpose: draws in a fixed order from one seeded generator; the order is the clinic.
def _sessions(rng: np.random.Generator, c: _Cohort, end: np.datetime64) -> tuple[pd.DataFrame, np.ndarray]:
    n = c.n
    # Maintenance every 3–8 weeks for most responders, for as long as the response lasts.
    interval = rng.integers(21, 57, n)
    resp30, resp90, resp180 = c.responder.T
    maintained = (c.n_induction >= 2) & (rng.random(n) < np.where(resp30, 0.75, 0.08))
    lasts = np.where(
        resp180,
        180 + rng.exponential(300, n),
        np.where(resp90, 90 + rng.uniform(0, 90, n), 30 + rng.uniform(0, 60, n)),
    )
    span = rng.uniform(12, 21, n)  # induction over about 2–3 weeks
    mean_gap = np.maximum(2.0, span / np.maximum(c.n_induction - 1, 1))
    n_maintenance = np.where(maintained, np.maximum(0, (lasts - span) // interval).astype(np.int64), 0)
    n_maintenance = np.minimum(n_maintenance, 40)
    counts = c.n_induction + n_maintenance

    patient = np.repeat(np.arange(n), counts)
    first_row = np.cumsum(counts) - counts
    k = np.arange(len(patient)) - np.repeat(first_row, counts)  # 0-based session number
    induction = k < c.n_induction[patient]
    gap = np.where(
        induction,
        np.maximum(2, np.round(mean_gap[patient] + rng.uniform(-1.5, 1.5, len(patient)))),
        np.maximum(14, interval[patient] + rng.integers(-5, 6, len(patient))),
    ).astype(np.int64)
    # Session by session (vectorised over patients): a weekend date moves to a weekday after
    # the previous session, and the later sessions move with it.
    session_date = np.empty(len(patient), dtype="datetime64[D]")
    session_date[first_row[counts > 0]] = c.index_date[counts > 0]
    for position in range(1, int(counts.max(initial=0))):
        rows = first_row[counts > position] + position
        previous = session_date[rows - 1]
        session_date[rows] = _weekday(rng, previous + gap[rows].astype("timedelta64[D]"), after=previous)
    kept = session_date <= end
    patient, k, induction = patient[kept], k[kept], induction[kept]
    session_date = session_date[kept]
    day = (session_date - c.index_date[patient]).astype(np.int64)
    m = len(patient)

    # Route: the patient's own, except after a switch for a few patients.
    route = c.route[patient].copy()
    realised = np.bincount(patient, minlength=n)
    switches = (rng.random(n) < ROUTE_SWITCH_SHARE) & (realised >= 2)
    switch_at = np.floor(rng.random(n) * (realised - 1)).astype(np.int64) + 1
    alternative = np.where(
        c.route == ROUTES.index("intranasal"),
        ROUTES.index("intramuscular"),
        np.where(
            c.route == ROUTES.index("intramuscular"),
            ROUTES.index("intranasal"),
            ROUTES.index("intramuscular"),
        ),
    )
    switched = switches[patient] & (k >= switch_at[patient])
    route[switched] = alternative[patient][switched]

    dose = _doses(rng, c, patient, route, k, induction)

    weight = np.round(c.weight[patient] + rng.normal(0, 0.8, m), 1)
    no_weight = (rng.random(n) < 0.05)[patient] | (rng.random(m) < 0.05)
    weight[no_weight] = np.nan

    # Pain before the session follows the patient's trajectory; after it, a transient drop.
    level = _pain_level(c, patient, day)
    pre = level + rng.normal(0, 0.5, m)
    first = k == 0
    pre[first] = c.baseline[patient[first]] + rng.normal(0, 0.4, first.sum())
    pre = _nrs(rng, pre)
    pre_from_baseline = first & c.no_baseline_column[patient]
    pre[pre_from_baseline] = c.baseline[patient[pre_from_baseline]]
    pre[first & c.no_baseline_at_all[patient]] = np.nan
    pre[~first & (rng.random(m) < 0.03)] = np.nan
    oral_like = np.isin(route, [ROUTES.index("oral"), ROUTES.index("sublingual")])
    relief = np.clip(rng.normal(0.30 + 0.12 * c.responder[patient, 0], 0.14, m), 0, 0.9)
    relief = np.where(oral_like, relief * 0.6, relief)
    post = np.fmin(pre, np.round(np.where(np.isnan(pre), level, pre) * (1 - relief)))
    post[rng.random(m) < 0.08] = np.nan

    adverse_events, ae_minutes = _session_adverse_events(rng, c, patient, route, dose)

    frame = pd.DataFrame(
        {
            "patient_id": c.patient_id[patient],
            "session_date": session_date.astype(object),
            "route": np.asarray(ROUTES, dtype=object)[route],
            "dose_mg": dose,
            "weight_kg": weight,
            "pre_pain": pre,
            "post_pain": post,
            "adverse_events": adverse_events,
            "ae_duration_min": ae_minutes,
        }
    )
    first_session = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    first_session[patient[first]] = session_date[first]
    return frame, first_session


def _doses(
    rng: np.random.Generator,
    c: _Cohort,
    patient: np.ndarray,
    route: np.ndarray,
    k: np.ndarray,
    induction: np.ndarray,
) -> np.ndarray:
    """Dose in mg per session for its route, titrated up a little over the induction series."""
    level = rng.random(c.n)[patient]  # each patient's place in the usual dose range
    weight = c.weight[patient]
    hours = rng.choice([1.0, 1.5, 2.0, 3.0, 4.0], size=c.n, p=[0.30, 0.30, 0.20, 0.10, 0.10])[patient]
    cancer = c.condition[patient] == CONDITIONS.index("cancer_pain")
    hardy = rng.choice([100.0, 300.0, 500.0], size=c.n, p=[0.5, 0.35, 0.15])[patient]
    titration = 1 + 0.04 * np.minimum(k, 5)
    titration = np.where(induction, titration, 1.2)
    r = {name: route == ROUTES.index(name) for name in ROUTES}
    dose = np.select(
        [r["intranasal"], r["intramuscular"], r["intravenous"], r["oral"], r["sublingual"]],
        [
            10 * np.round((5 + 8 * level) * titration),  # 50–150 mg in 10-mg sprays
            5 * np.round(weight * (0.4 + 0.5 * level) * titration / 5),  # 0.4–0.9 mg/kg
            np.round(weight * (0.3 + 0.2 * level) * hours * titration),  # 0.3–0.5 mg/kg/h
            25 * np.round((2 + 6 * level) * titration),  # 50–200 mg
            25 * np.round((1 + 3 * level) * titration),  # 25–100 mg
        ],
        default=np.where(cancer, hardy, 5 * np.round(weight * (0.2 + 0.3 * level) / 5)),
    )
    return np.clip(dose, 5, 1000).astype(float)


def _session_adverse_events(
    rng: np.random.Generator, c: _Cohort, patient: np.ndarray, route: np.ndarray, dose: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    m = len(patient)
    # Dissociation depends on the patient and, within a route, on the dose.
    susceptibility = np.exp(rng.normal(-0.5 * 0.35**2, 0.35, c.n))[patient]
    median_dose = np.ones(len(ROUTES))
    for j in range(len(ROUTES)):
        on_route = dose[route == j]
        median_dose[j] = np.median(on_route) if len(on_route) else 1.0
    dose_effect = np.sqrt(dose / median_dose[route])
    codes = np.zeros(m, dtype=np.int64)
    minutes = np.zeros(m)
    for bit, name in enumerate(_AE_CODES):
        p = np.asarray(AE_ROUTE_RATES[name])[route]
        if name == "dissociation":
            p = p * susceptibility * dose_effect
        present = np.flatnonzero(rng.random(m) < np.clip(p, 0, 0.97))
        codes[present] |= 1 << bit
        median, sigma = AE_DURATION[name]
        lasted = np.minimum(median * np.exp(rng.normal(0, sigma, len(present))), AE_DURATION_CAP_MIN)
        minutes[present] = np.maximum(minutes[present], lasted)
    minutes = np.maximum(5, np.round(minutes / 5) * 5)
    minutes[codes == 0] = np.nan
    return _code_strings(codes), minutes


# --------------------------------------------------------------------------- follow-ups


def _followups(
    rng: np.random.Generator, c: _Cohort, first_session: np.ndarray, end: np.datetime64
) -> pd.DataFrame:
    n = c.n
    treated = ~np.isnat(first_session)
    # Baseline the outcome engine will use (docs/methods.md); follow-up pain is written against it.
    baseline = c.baseline
    attend = ATTENDANCE[None, :] * np.where(c.responder, RESPONDER_ATTENDANCE[0], RESPONDER_ATTENDANCE[1])
    attend = attend * np.where(c.one_session, ONE_SESSION_ATTENDANCE, 1.0)[:, None]
    seen = treated[:, None] & (rng.random((n, 3)) < np.clip(attend, 0, 0.97))
    jitter = np.clip(np.round(rng.normal(0, 6, (n, 3))), -14, 14).astype(np.int64)
    day = np.asarray(FOLLOWUP_DAYS)[None, :] + jitter

    patient, point = np.nonzero(seen)
    followup_date = _weekday(rng, first_session[patient] + day[patient, point].astype("timedelta64[D]"))
    kept = followup_date <= end
    patient, point, followup_date = patient[kept], point[kept], followup_date[kept]
    m = len(patient)

    # Pain: integer NRS on the planned side of the 30 % line, so that status is as drawn.
    base = baseline[patient]
    responder = c.responder[patient, point]
    target = np.round(base * (1 - c.reduction[patient, point]))
    line = np.floor(0.7 * base + 1e-9)  # highest pain that is still a ≥ 30 % reduction
    pain = np.where(responder, np.minimum(target, line), np.maximum(target, line + 1))
    pain = np.clip(pain, 0, 10)
    achieved = (base - pain) / base

    # PGIC follows the change (Farrar 2001: "much improved" ≈ 30 % reduction), with some scatter.
    pgic = np.select(
        [achieved >= 0.7, achieved >= 0.3, achieved >= 0.1, achieved > -0.1, achieved > -0.3],
        [1, 2, 3, 4, 5],
        default=6,
    ).astype(float)
    pgic = pgic + rng.choice([-1.0, 0.0, 1.0], size=m, p=[0.1, 0.8, 0.1])
    pgic = np.clip(pgic, 1, 7)
    pgic = np.where(achieved >= 0.5, np.minimum(pgic, 2), pgic)
    pgic = np.where(achieved >= 0.3, np.minimum(pgic, 3), pgic)
    pgic = np.where(achieved < 0.1, np.maximum(pgic, 3), pgic)
    pgic[rng.random(m) < 0.08] = np.nan

    interference0 = np.clip(0.85 * baseline + rng.normal(0, 1.2, n), 0.5, 10)[patient]
    bpi = np.clip(interference0 * (1 - 0.85 * achieved) + rng.normal(0, 0.7, m), 0, 10)
    bpi = np.round(bpi, 1)
    bpi[rng.random(m) < 0.15] = np.nan

    fibro = c.condition == CONDITIONS.index("fibromyalgia")
    phq0 = np.clip(rng.normal(11 + 2 * fibro, 6, n), 0, 27)[patient]
    phq9 = np.clip(np.round(phq0 * (1 - 0.5 * achieved) + rng.normal(0, 2, m)), 0, 27)
    phq9[rng.random(m) >= PHQ9_SHARE[c.site[patient]]] = np.nan

    mme0 = c.baseline_mme[patient]
    months = np.asarray(FOLLOWUP_DAYS)[point] / 180
    cut = np.where(
        responder,
        rng.uniform(0.05, 0.35, m) * np.sqrt(months),
        rng.normal(0.02, 0.06, m),
    )
    mme = np.maximum(0, np.round(mme0 * (1 - np.clip(cut, -0.2, 0.6)) / 5) * 5)
    mme[rng.random(m) < 0.10] = np.nan

    codes = np.zeros(m, dtype=np.int64)
    for name, rate in FOLLOWUP_AE_RATES.items():
        codes[rng.random(m) < rate] |= 1 << _AE_CODES.index(name)

    return pd.DataFrame(
        {
            "patient_id": c.patient_id[patient],
            "followup_date": followup_date.astype(object),
            "pain": pain.astype(float),
            "pgic": pgic,
            "bpi_interference": bpi,
            "phq9": phq9,
            "mme": mme,
            "adverse_events": _code_strings(codes),
        }
    )


# --------------------------------------------------------------------------- helpers


def _pain_level(c: _Cohort, patient: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The patient's usual pain on ``day``: reduction interpolated between follow-up points."""
    anchors = np.array((0, *FOLLOWUP_DAYS), dtype=float)
    reductions = np.column_stack([np.zeros(c.n), c.reduction])[patient]
    position = np.clip(np.searchsorted(anchors, day, side="right") - 1, 0, len(anchors) - 2)
    lo, hi = anchors[position], anchors[position + 1]
    weight = np.clip((day - lo) / (hi - lo), 0, 1)
    rows = np.arange(len(patient))
    r = reductions[rows, position] * (1 - weight) + reductions[rows, position + 1] * weight
    return np.clip(c.baseline[patient] * (1 - r), 0, 10)


def _nrs(rng: np.random.Generator, value: np.ndarray) -> np.ndarray:
    """Pain as recorded: whole points mostly, half points sometimes, within 0–10."""
    half = rng.random(len(value)) < 0.15
    return np.clip(np.where(half, np.round(value * 2) / 2, np.round(value)), 0, 10)


def _growing_day(u: np.ndarray, start: np.ndarray, stop: float) -> np.ndarray:
    """Inverse CDF of a density rising linearly (× 1 + INTAKE_GROWTH) from day 0 to ``stop``."""
    a = INTAKE_GROWTH / (2 * stop)
    mass_start = start + a * start**2
    mass = mass_start + u * ((stop + a * stop**2) - mass_start)
    return np.floor((-1 + np.sqrt(1 + 4 * a * mass)) / (2 * a)).astype(np.int64)


def _weekday(
    rng: np.random.Generator,
    dates: np.ndarray,
    *,
    after: np.ndarray | None = None,
    until: np.datetime64 | None = None,
) -> np.ndarray:
    """Clinics work Monday to Friday: a weekend date moves to a weekday within three days.

    Each of the five weekdays is equally likely (so weekend visits do not pile onto Mondays),
    among those later than ``after`` and not later than ``until``.
    """
    weekday = (dates.astype(np.int64) + _EPOCH_WEEKDAY) % 7
    weekend = np.flatnonzero(weekday >= 5)
    if not len(weekend):
        return dates
    offsets = np.where((weekday[weekend] == 5)[:, None], _SATURDAY_MOVES, _SUNDAY_MOVES)
    candidates = dates[weekend][:, None] + offsets.astype("timedelta64[D]")
    allowed = np.ones(offsets.shape, dtype=bool)
    if after is not None:
        allowed &= candidates > after[weekend][:, None]
    if until is not None:
        allowed &= candidates <= until
    choice = np.argmax(rng.random(offsets.shape) * allowed, axis=1)
    moved = dates.copy()
    moved[weekend] = candidates[np.arange(len(weekend)), choice]
    return moved


def _choose_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One draw per row of a (rows × options) probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    draw = rng.random(len(probabilities))[:, None]
    return np.minimum((draw > cumulative).sum(axis=1), probabilities.shape[1] - 1)


def _ensure_each(
    rng: np.random.Generator,
    values: np.ndarray,
    options: int,
    likely: np.ndarray | None = None,
    *,
    eligible: np.ndarray | None = None,
) -> None:
    """Give each option to at least one element (in place), when there are enough elements.

    The element is taken from an option that has more than one; preferably an ``eligible`` one
    for which the option is possible under ``likely`` (rows × options probabilities).
    """
    if len(values) < options:
        return
    for option in range(options):
        count = np.bincount(values, minlength=options)
        if count[option]:
            continue
        candidates = count[values] > 1
        for preference in (eligible, None if likely is None else likely[:, option] > 0):
            if preference is not None and (candidates & preference).any():
                candidates &= preference
        values[rng.choice(np.flatnonzero(candidates))] = option


def _pseudonyms(n: int) -> np.ndarray:
    width = max(6, len(str(n)))
    return np.array([f"KO-{number:0{width}d}" for number in range(1, n + 1)], dtype=object)


def _code_strings(codes: np.ndarray) -> np.ndarray:
    """Bit masks of adverse events → ``;``-joined codes (alphabetical), None when empty."""
    unique, inverse = np.unique(codes, return_inverse=True)
    labels = np.array(
        [";".join(name for bit, name in enumerate(_AE_CODES) if mask >> bit & 1) or None for mask in unique],
        dtype=object,
    )
    return labels[inverse.reshape(-1)]
