"""The demo clinic's draws: patients, sessions, follow-ups, all vectorised on one generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.demo.helpers import (
    _choose_rows,
    _code_strings,
    _ensure_each,
    _growing_day,
    _pseudonyms,
    _weekday,
)
from analysis.demo.parameters import (
    _AE_CODES,
    ADVANCED_CANCER_SHARE,
    AE_DURATION,
    AE_DURATION_CAP_MIN,
    AE_ROUTE_RATES,
    ATTENDANCE,
    CANCER_EXIT_MEAN_DAYS,
    CONDITION_ROUTE_AFFINITY,
    CONDITION_TABLE,
    CONDITIONS,
    DISSOCIATION_MEDIAN_MIN,
    ELDERLY_AGE,
    ELDERLY_EXIT_MEAN_DAYS,
    FOLLOWUP_AE_RATES,
    FOLLOWUP_DAYS,
    HISTORY_DAYS,
    HOSPICE_SHARE,
    INDUCTION_SIZES,
    INDUCTION_WEIGHTS,
    MIGRAINE_INTRANASAL_BONUS,
    NEVER_TREATED_SHARE,
    ONE_SESSION_ATTENDANCE,
    ONE_SESSION_SHARE,
    PARTIAL_SERIES_SHARE,
    RELIEF_FLOOR,
    RELIEF_TAU_DAYS,
    RELIEF_TAU_DEFAULT,
    RELIEF_TAU_SIGMA,
    RESPONDER_ATTENDANCE,
    RESPONSE,
    REVIEW_INTERVAL_DAYS,
    REVIEW_TITRATION_DAYS,
    ROUTE_RESPONSE,
    ROUTE_SWITCH_SHARE,
    ROUTES,
    SC_INFUSION_DAYS,
    SC_INFUSION_STEPS,
    SITE_OPENS,
    SITE_ROUTE_MIX,
    SITE_SHARE,
    SITES,
)

_IN, _IM, _IV, _PO, _SL, _SC = (ROUTES.index(r) for r in (
    "intranasal", "intramuscular", "intravenous", "oral", "sublingual", "subcutaneous"
))  # fmt: skip
_CANCER = CONDITIONS.index("cancer_pain")
_NO_EXIT = 10**6  # days: a patient who neither dies nor enters hospice

# --------------------------------------------------------------------------- patients


@dataclass
class _Cohort:
    """Per-patient arrays, hidden truth and recorded values, shared by the three tables."""

    frame: pd.DataFrame  # the patients table
    patient_id: np.ndarray
    condition: np.ndarray  # index into CONDITIONS
    site: np.ndarray  # index into SITES
    route: np.ndarray  # the patient's own route, index into ROUTES
    age: np.ndarray
    index_date: np.ndarray  # planned first session (datetime64[D])
    weight: np.ndarray  # true body weight, kg
    baseline: np.ndarray  # the baseline the outcome engine will see (NRS, whole or half points)
    no_baseline_column: np.ndarray  # baseline only as the first session's pre_pain
    no_baseline_at_all: np.ndarray  # not evaluable: neither baseline nor first pre_pain
    n_induction: np.ndarray  # induction sessions actually attended (0 = never treated)
    one_session: np.ndarray
    partial: np.ndarray  # stopped the induction series early (not after one session)
    home_dosing: np.ndarray  # oral or sublingual: sessions are clinic review visits
    sc_infusion: np.ndarray  # cancer pain on SC: a continuous infusion, one session a day
    responder: np.ndarray  # (n, 3): ≥ 30 % reduction at 30/90/180 days
    reduction: np.ndarray  # (n, 3): relative pain reduction at 30/90/180 days
    tau: np.ndarray  # days over which relief after a dose fades (× 1/e)
    exit_day: np.ndarray  # day of death or hospice (_NO_EXIT when neither)
    exit_kind: np.ndarray  # "", "death" or "hospice"

    @property
    def n(self) -> int:
        return len(self.condition)


# Long on purpose: draws in a fixed order from one seeded generator; the order is the clinic.
def _patients(rng: np.random.Generator, n: int, start: np.datetime64) -> _Cohort:
    table = np.array([CONDITION_TABLE[c] for c in CONDITIONS], dtype=float)
    share, age_mean, age_sd, female, _opioid, _mme = table.T

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

    # Primary route: site mix × condition affinity.
    affinity = np.ones((len(CONDITIONS), len(ROUTES)))
    for code, row in CONDITION_ROUTE_AFFINITY.items():
        affinity[CONDITIONS.index(code)] = row
    weights = SITE_ROUTE_MIX[site] * affinity[condition]
    weights = weights / weights.sum(axis=1, keepdims=True)
    route = _choose_rows(rng, weights)
    never_treated = rng.random(n) < NEVER_TREATED_SHARE
    _ensure_each(rng, route, len(ROUTES), weights, eligible=~never_treated)

    patient_id = _pseudonyms(n)
    frame = pd.DataFrame(
        {
            "patient_id": patient_id,
            "condition": np.asarray(CONDITIONS, dtype=object)[condition],
            "site": np.asarray(SITES, dtype=object)[site],
            "age": age,
            "sex": sex,
            "baseline_pain": baseline_column,
        }
    )
    course = _courses(rng, condition, route, age, never_treated)
    return _Cohort(
        frame=frame,
        patient_id=patient_id,
        condition=condition,
        site=site,
        route=route,
        age=age,
        index_date=index_date,
        weight=weight,
        baseline=baseline,
        no_baseline_column=no_baseline_column,
        no_baseline_at_all=no_baseline_at_all,
        **course,
    )


def _courses(
    rng: np.random.Generator,
    condition: np.ndarray,
    route: np.ndarray,
    age: np.ndarray,
    never_treated: np.ndarray,
) -> dict[str, np.ndarray]:
    """Each patient's course: series length, response over time, how relief fades, exit."""
    n = len(condition)
    # Responsiveness: one latent rank per patient (lower = better), shared by every time point,
    # so that trajectories are consistent (a 90-day responder was a 30-day responder when the
    # condition's rate falls over time).
    rank = rng.random(n)
    one_session = ~never_treated & (rng.random(n) < ONE_SESSION_SHARE * (0.45 + 1.1 * rank))
    planned = rng.choice(INDUCTION_SIZES, size=n, p=INDUCTION_WEIGHTS / INDUCTION_WEIGHTS.sum())
    partial = ~one_session & ~never_treated & (rng.random(n) < PARTIAL_SERIES_SHARE * (0.6 + 0.8 * rank))
    n_induction = np.where(partial, rng.integers(2, planned), planned)
    # Home dosing: a start visit and a titration review; SC in cancer pain: 3–5 infusion days.
    home_dosing = np.isin(route, [_PO, _SL])
    sc_infusion = (route == _SC) & (condition == _CANCER)
    n_induction = np.where(home_dosing, 2, n_induction)
    infusion_days = rng.choice(SC_INFUSION_DAYS, size=n)
    n_induction = np.where(sc_infusion, np.where(partial, 2, infusion_days), n_induction)
    n_induction = np.where(one_session, 1, np.where(never_treated, 0, n_induction))

    response = np.array([RESPONSE[c] for c in CONDITIONS])[condition]  # (n, 3)
    route_effect = ROUTE_RESPONSE[route]
    migraine_in = (condition == CONDITIONS.index("migraine")) & (route == _IN)
    route_effect = np.where(migraine_in, route_effect * MIGRAINE_INTRANASAL_BONUS, route_effect)
    exposure = np.where(one_session, 0.35, np.where(partial, 0.8, 1.0))
    p_response = np.clip(response * (route_effect * exposure)[:, None], 0.01, 0.97)
    responder = rank[:, None] < p_response  # (n, 3) at 30/90/180 days
    # Relative reduction at each time point: responders mostly ≥ 50 %, others mostly < 15 %.
    above = np.clip((p_response - rank[:, None]) / p_response, 0, 1)
    below = np.clip((rank[:, None] - p_response) / (1 - p_response), 0, 1)
    reduction = np.where(responder, 0.30 + 0.55 * above, 0.29 - 0.42 * below**0.7)
    reduction = reduction + rng.normal(0, 0.04, reduction.shape)

    tau_median = np.array([RELIEF_TAU_DAYS.get(c, RELIEF_TAU_DEFAULT) for c in CONDITIONS])[condition]
    tau = tau_median * np.exp(rng.normal(0, RELIEF_TAU_SIGMA, n))

    # Death or hospice: advanced cancer mostly; a small mortality among the oldest patients.
    advanced = rng.random(n) < ADVANCED_CANCER_SHARE
    cancer_exit = rng.exponential(np.where(advanced, *CANCER_EXIT_MEAN_DAYS), n)
    elderly_exit = rng.exponential(ELDERLY_EXIT_MEAN_DAYS, n)
    hospice = rng.random(n) < HOSPICE_SHARE
    exit_day = np.where(
        condition == _CANCER, cancer_exit, np.where(age >= ELDERLY_AGE, elderly_exit, float(_NO_EXIT))
    )
    exit_day = np.clip(np.ceil(exit_day), 2, _NO_EXIT).astype(np.int64)
    exit_kind = np.where(
        exit_day >= _NO_EXIT, "", np.where((condition == _CANCER) & hospice, "hospice", "death")
    ).astype(object)
    return {
        "n_induction": n_induction,
        "one_session": one_session,
        "partial": partial,
        "home_dosing": home_dosing,
        "sc_infusion": sc_infusion,
        "responder": responder,
        "reduction": reduction,
        "tau": tau,
        "exit_day": exit_day,
        "exit_kind": exit_kind,
    }


# --------------------------------------------------------------------------- sessions


def _schedule(rng: np.random.Generator, c: _Cohort) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sessions per patient, and each session's patient, number and gap after the previous one.

    Induction over about 2–3 weeks; then, for those who continue, maintenance boosters every
    3–8 weeks (home dosing: review visits every 4–8 weeks) for as long as the response lasts.
    SC infusions in cancer pain are consecutive days.
    """
    n = c.n
    interval = np.where(c.home_dosing, rng.integers(*REVIEW_INTERVAL_DAYS, n), rng.integers(21, 57, n))
    resp30, resp90, resp180 = c.responder.T
    continues = np.where(resp90, 0.85, np.where(resp30, 0.60, 0.08))
    maintained = (c.n_induction >= 2) & ~c.sc_infusion & (rng.random(n) < continues)
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
    titration_review = rng.integers(*REVIEW_TITRATION_DAYS, len(patient))
    gap = np.where(
        induction,
        np.maximum(2, np.round(mean_gap[patient] + rng.uniform(-1.5, 1.5, len(patient)))),
        np.maximum(14, interval[patient] + rng.integers(-5, 6, len(patient))),
    )
    gap = np.where(induction & c.home_dosing[patient], titration_review, gap)
    gap = np.where(induction & c.sc_infusion[patient], 1, gap).astype(np.int64)
    return counts, patient, k, gap


# Long on purpose: draws in a fixed order from one seeded generator; the order is the clinic.
def _sessions(
    rng: np.random.Generator, c: _Cohort, end: np.datetime64
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    n = c.n
    counts, patient, k, gap = _schedule(rng, c)
    first_row = np.cumsum(counts) - counts
    # Session by session (vectorised over patients): a weekend date moves to a weekday after
    # the previous session, and the later sessions move with it. A continuous SC infusion runs
    # through the weekend.
    session_date = np.empty(len(patient), dtype="datetime64[D]")
    session_date[first_row[counts > 0]] = c.index_date[counts > 0]
    continuous = c.sc_infusion[patient] & (k < c.n_induction[patient])
    for position in range(1, int(counts.max(initial=0))):
        rows = first_row[counts > position] + position
        previous = session_date[rows - 1]
        planned = previous + gap[rows].astype("timedelta64[D]")
        moved = _weekday(rng, planned, after=previous)
        session_date[rows] = np.where(continuous[rows], planned, moved)
    day = (session_date - c.index_date[patient]).astype(np.int64)
    kept = (session_date <= end) & (day < c.exit_day[patient])
    patient, k, session_date, day = patient[kept], k[kept], session_date[kept], day[kept]
    induction = k < c.n_induction[patient]
    m = len(patient)

    # Route: the patient's own, except after a switch (IN ↔ IM, or to IM from an infusion).
    route = c.route[patient].copy()
    realised = np.bincount(patient, minlength=n)
    can_switch = ~c.home_dosing & ~c.sc_infusion
    switches = (rng.random(n) < ROUTE_SWITCH_SHARE) & (realised >= 2) & can_switch
    switch_at = np.floor(rng.random(n) * (realised - 1)).astype(np.int64) + 1
    alternative = np.where(c.route == _IN, _IM, np.where(c.route == _IM, _IN, _IM))
    switched = switches[patient] & (k >= switch_at[patient])
    route[switched] = alternative[patient][switched]

    dose, hours = _doses(rng, c, patient, route, k, induction)

    weight = np.round(c.weight[patient] + rng.normal(0, 0.8, m), 1)
    no_weight = (rng.random(n) < 0.05)[patient] | (rng.random(m) < 0.05)
    weight[no_weight] = np.nan

    pre, post = _session_pain(rng, c, patient, k, day, route)
    adverse_events, ae_minutes = _session_adverse_events(rng, c, patient, route, dose, hours)

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
    last_session = first_session.copy()
    first = k == 0
    first_session[patient[first]] = session_date[first]
    last_session[patient] = session_date  # rows are in date order within a patient
    return frame, first_session, last_session


def _session_pain(
    rng: np.random.Generator,
    c: _Cohort,
    patient: np.ndarray,
    k: np.ndarray,
    day: np.ndarray,
    route: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pain before and after each session.

    Before: the patient's trajectory, with the relief of the last dose faded over the days
    since it (relief × exp(−days/τ)), on the side of the 30 % line that the faded relief is
    on, so that a loss of response falls where relief fades, not where rounding noise puts it.
    Home dosing is steady (taken daily). After: a transient drop (Carr 2004); none recorded at a
    review visit of home dosing (no dose is given there).
    """
    m = len(patient)
    base = c.baseline[patient]
    level = _pain_level(c, patient, day)
    since = np.diff(day, prepend=0)
    home = c.home_dosing[patient]
    relief = 1 - level / base
    kept = RELIEF_FLOOR + (1 - RELIEF_FLOOR) * np.exp(-since / c.tau[patient])
    relief = np.where(home, relief, relief * kept)
    responding = relief >= 0.30
    pre = _nrs(rng, base * (1 - relief) + rng.normal(0, 0.4, m))
    line = np.floor(0.7 * base + 1e-9)  # highest pain that is still a ≥ 30 % reduction
    pre = np.where(responding, np.minimum(pre, line), np.maximum(pre, line + 1))
    first = k == 0
    pre[first] = _nrs(rng, base[first] + rng.normal(0, 0.4, first.sum()))
    pre = np.clip(pre, 0, 10)
    pre_from_baseline = first & c.no_baseline_column[patient]
    pre[pre_from_baseline] = base[pre_from_baseline]
    pre[first & c.no_baseline_at_all[patient]] = np.nan
    pre[~first & (rng.random(m) < 0.03)] = np.nan

    drop = np.clip(rng.normal(0.30 + 0.12 * c.responder[patient, 0], 0.14, m), 0, 0.9)
    drop = np.where(route == _SC, drop * 0.8, drop)
    post = np.fmin(pre, np.round(np.where(np.isnan(pre), level, pre) * (1 - drop)))
    post[(rng.random(m) < 0.08) | home] = np.nan
    return pre, post


def _doses(
    rng: np.random.Generator,
    c: _Cohort,
    patient: np.ndarray,
    route: np.ndarray,
    k: np.ndarray,
    induction: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Dose in mg per session for its route (titrated up a little), and IV infusion hours.

    Oral and sublingual: the daily dose taken at home, recorded at the review visit. SC in
    cancer pain: the mg of that day's 24-hour infusion, escalated 100 → 300 → 500 (Hardy 2012).
    """
    level = rng.random(c.n)[patient]  # each patient's place in the usual dose range
    weight = c.weight[patient]
    hours = rng.choice([1.0, 1.5, 2.0, 3.0, 4.0], size=c.n, p=[0.30, 0.30, 0.20, 0.10, 0.10])[patient]
    top_step = rng.choice(3, size=c.n, p=[0.25, 0.35, 0.40])[patient]
    infusion = SC_INFUSION_STEPS[np.minimum(k, top_step)]
    titration = 1 + 0.04 * np.minimum(k, 5)
    titration = np.where(induction, titration, 1.2)
    r = [route == j for j in range(len(ROUTES))]
    dose = np.select(
        [r[_IN], r[_IM], r[_IV], r[_PO], r[_SL]],
        [
            10 * np.round((5 + 8 * level) * titration),  # 50–150 mg in 10-mg sprays
            5 * np.round(weight * (0.4 + 0.5 * level) * titration / 5),  # 0.4–0.9 mg/kg
            np.round(weight * (0.3 + 0.2 * level) * hours * titration),  # 0.3–0.5 mg/kg/h
            25 * np.round((2 + 10 * level) * titration),  # 50–300 mg a day
            25 * np.round((1 + 5 * level) * titration),  # 25–150 mg a day
        ],
        default=np.where(c.sc_infusion[patient], infusion, 5 * np.round(weight * (0.2 + 0.3 * level) / 5)),
    )
    return np.clip(dose, 5, 1000).astype(float), np.where(r[_IV], hours, np.nan)


def _session_adverse_events(
    rng: np.random.Generator,
    c: _Cohort,
    patient: np.ndarray,
    route: np.ndarray,
    dose: np.ndarray,
    hours: np.ndarray,
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
        if name == "dissociation":
            # With the exposure: most of an IV infusion's hours plus the wake-up after it.
            median = DISSOCIATION_MEDIAN_MIN[route[present]]
            infused = np.nan_to_num(hours[present]) * 60 * rng.uniform(0.5, 0.9, len(present))
        else:
            infused = 0.0
        lasted = infused + median * np.exp(rng.normal(0, sigma, len(present)))
        minutes[present] = np.maximum(minutes[present], np.minimum(lasted, AE_DURATION_CAP_MIN))
    minutes = np.maximum(5, np.round(minutes / 5) * 5)
    minutes[codes == 0] = np.nan
    return _code_strings(codes), minutes


# --------------------------------------------------------------------------- follow-ups


def _followups(
    rng: np.random.Generator, c: _Cohort, first_session: np.ndarray, end: np.datetime64
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The follow-ups table, and what the measures beyond pain are drawn from (per row)."""
    n = c.n
    treated = ~np.isnat(first_session)
    attend = ATTENDANCE[None, :] * np.where(c.responder, RESPONDER_ATTENDANCE[0], RESPONDER_ATTENDANCE[1])
    attend = attend * np.where(c.one_session, ONE_SESSION_ATTENDANCE, 1.0)[:, None]
    seen = treated[:, None] & (rng.random((n, 3)) < np.clip(attend, 0, 0.97))
    jitter = np.clip(np.round(rng.normal(0, 6, (n, 3))), -14, 14).astype(np.int64)
    day = np.asarray(FOLLOWUP_DAYS)[None, :] + jitter

    patient, point = np.nonzero(seen)
    followup_date = _weekday(rng, first_session[patient] + day[patient, point].astype("timedelta64[D]"))
    days = (followup_date - first_session[patient]).astype(np.int64)
    kept = (followup_date <= end) & (days < c.exit_day[patient])
    patient, point, followup_date, days = patient[kept], point[kept], followup_date[kept], days[kept]
    m = len(patient)

    # Pain: integer NRS on the planned side of the 30 % line, so that status is as drawn.
    base = c.baseline[patient]
    responder = c.responder[patient, point]
    target = np.round(base * (1 - c.reduction[patient, point]))
    line = np.floor(0.7 * base + 1e-9)  # highest pain that is still a ≥ 30 % reduction
    pain = np.where(responder, np.minimum(target, line), np.maximum(target, line + 1))
    pain = np.clip(pain, 0, 10)

    codes = np.zeros(m, dtype=np.int64)
    for name, rate in FOLLOWUP_AE_RATES.items():
        codes[rng.random(m) < rate] |= 1 << _AE_CODES.index(name)

    frame = pd.DataFrame(
        {
            "patient_id": c.patient_id[patient],
            "followup_date": followup_date.astype(object),
            "pain": pain.astype(float),
            "adverse_events": _code_strings(codes),
        }
    )
    rows = {"patient": patient, "day": days, "achieved": (base - pain) / base, "date": followup_date}
    return frame, rows


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
