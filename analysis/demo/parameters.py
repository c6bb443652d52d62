"""The demo clinic's parameters, each with its source in :mod:`analysis.demo`'s docstring."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from analysis.domain.vocabulary import ADVERSE_EVENTS, CONDITION_LABELS, ROUTE_LABELS

if TYPE_CHECKING:
    pass


DEFAULT_PATIENTS = 3000
DEFAULT_SEED = 20261125

#: Days of clinic history before ``today`` (about four years).
HISTORY_DAYS = 4 * 365 + 1
#: Intake grows over the history: density at the end is ``1 + INTAKE_GROWTH`` times the start.
INTAKE_GROWTH = 1.5

CONDITIONS: tuple[str, ...] = tuple(CONDITION_LABELS)
ROUTES: tuple[str, ...] = tuple(ROUTE_LABELS)
SITES: tuple[str, ...] = ("main", "north", "east", "riverside")

#: Share of patients per site, and the day (since the start of the history) each site opened.
SITE_SHARE = np.array([0.38, 0.26, 0.21, 0.15])
SITE_OPENS = np.array([0, 180, 540, 900])

#: Route mix per site (rows: SITES; columns: ROUTES = IN, IM, IV, PO, SL, SC).
SITE_ROUTE_MIX = np.array(
    [
        [0.52, 0.42, 0.00, 0.02, 0.02, 0.02],  # main: the reference clinic, IN and IM
        [0.42, 0.36, 0.12, 0.06, 0.02, 0.02],  # north
        [0.26, 0.26, 0.30, 0.14, 0.02, 0.02],  # east: infusion suite
        [0.32, 0.22, 0.14, 0.27, 0.03, 0.02],  # riverside: oral programme
    ]
)

#: Per condition: (share of patients, age mean, age sd, share female, share on opioids,
#: median baseline MME/day of those on opioids).
CONDITION_TABLE: dict[str, tuple[float, float, float, float, float, float]] = {
    "crps": (0.180, 42, 12, 0.75, 0.45, 45),
    "cancer_pain": (0.100, 62, 11, 0.50, 0.80, 80),
    "phantom_limb": (0.035, 56, 14, 0.28, 0.45, 45),
    "crohns": (0.030, 40, 13, 0.52, 0.40, 40),
    "fibromyalgia": (0.170, 48, 11, 0.88, 0.30, 35),
    "lyme": (0.030, 45, 13, 0.55, 0.25, 35),
    "postherpetic_neuralgia": (0.085, 66, 11, 0.60, 0.35, 40),
    "migraine": (0.170, 40, 11, 0.80, 0.15, 30),
    "other_neuropathic": (0.200, 54, 13, 0.52, 0.45, 45),
}

#: Route affinity per condition (multiplies the site's route mix before normalising).
CONDITION_ROUTE_AFFINITY: dict[str, tuple[float, ...]] = {
    "crps": (1.0, 1.0, 2.0, 1.0, 1.0, 1.0),  # infusion protocols (Sigtermans, Schwartzman)
    "cancer_pain": (0.8, 1.0, 1.0, 2.0, 1.5, 6.0),  # SC (Hardy 2012), oral
    "migraine": (2.0, 0.8, 0.6, 0.8, 1.0, 0.5),  # intranasal (Yuan 2023)
}

#: Probability of ≥ 30 % reduction at 30, 90 and 180 days for a patient who completes the
#: induction series on an average route (calibrated so the observed rates among patients with a
#: follow-up land on the published figures in the module docstring).
RESPONSE: dict[str, tuple[float, float, float]] = {
    "crps": (0.70, 0.62, 0.54),
    "cancer_pain": (0.33, 0.28, 0.25),
    "phantom_limb": (0.46, 0.40, 0.33),
    "crohns": (0.36, 0.30, 0.26),
    "fibromyalgia": (0.42, 0.16, 0.13),
    "lyme": (0.36, 0.29, 0.25),
    "postherpetic_neuralgia": (0.45, 0.39, 0.33),
    "migraine": (0.56, 0.48, 0.42),
    "other_neuropathic": (0.44, 0.37, 0.31),
}
FOLLOWUP_DAYS = (30, 90, 180)

#: Commonly quoted bioavailability per route (IN measured lower, 0.11–0.17; PMC9118341).
BIOAVAILABILITY: dict[str, float] = {
    "intranasal": 0.35,
    "intramuscular": 0.93,
    "intravenous": 1.00,
    "oral": 0.18,
    "sublingual": 0.30,
    "subcutaneous": 0.90,
}
#: Route effect on response for a like dose, modest and rising with bioavailability: IV/IM
#: about 10 % (relative) better than intranasal and oral (*design*).
ROUTE_RESPONSE = np.array([0.92 + 0.16 * BIOAVAILABILITY[route] for route in ROUTE_LABELS])
#: Intranasal ketamine in refractory migraine (Yuan 2023) does better than the route average.
MIGRAINE_INTRANASAL_BONUS = 1.10

#: Share of patients who stop after one session, planned series lengths, partial series.
ONE_SESSION_SHARE = 0.19  # ORKA-2: 20 % drop out after the first
INDUCTION_SIZES = np.array([4, 5, 6, 7, 8])
INDUCTION_WEIGHTS = np.array([0.12, 0.15, 0.45, 0.13, 0.15])
PARTIAL_SERIES_SHARE = 0.37  # of the rest: ORKA-2, ~50 % do not complete the series
NEVER_TREATED_SHARE = 0.002
ROUTE_SWITCH_SHARE = 0.06

#: Follow-up attendance at 30/90/180 days for patients who continued past one session.
ATTENDANCE = np.array([0.88, 0.80, 0.60])
ONE_SESSION_ATTENDANCE = 0.45  # multiplier for one-session patients
RESPONDER_ATTENDANCE = (1.10, 0.88)  # multipliers for responders, non-responders

#: Per-session adverse events: rate per route (ROUTES order: IN, IM, IV, PO, SL, SC), so that
#: about a quarter of sessions record one (Pickering 2020: 20 % per 0.5 mg/kg infusion; OKAPI:
#: 50 % of patients by one week). Oral and sublingual rows are what a review visit records of
#: the weeks of home dosing (Al Mukhaizeem 2023: drowsiness the most common). Codes are listed
#: alphabetically, as the store sorts them.
AE_ROUTE_RATES: dict[str, tuple[float, ...]] = {
    "anxiety": (0.015, 0.02, 0.02, 0.01, 0.01, 0.01),
    "dissociation": (0.09, 0.14, 0.20, 0.025, 0.04, 0.10),
    "dizziness": (0.03, 0.03, 0.03, 0.05, 0.04, 0.04),
    "headache": (0.025, 0.02, 0.02, 0.02, 0.02, 0.02),
    "hypertension": (0.02, 0.035, 0.04, 0.01, 0.015, 0.02),
    "nausea": (0.05, 0.05, 0.06, 0.06, 0.05, 0.05),
    "other": (0.01, 0.01, 0.01, 0.01, 0.01, 0.01),
    "sedation": (0.015, 0.025, 0.03, 0.09, 0.06, 0.07),
    "visual_disturbance": (0.035, 0.015, 0.015, 0.005, 0.01, 0.01),
    "vomiting": (0.02, 0.015, 0.02, 0.02, 0.015, 0.015),
}
#: Lognormal duration of each adverse event (median minutes, sigma) for a bolus route.
AE_DURATION: dict[str, tuple[float, float]] = {
    "anxiety": (20, 0.7),
    "dissociation": (35, 0.6),
    "dizziness": (30, 0.7),
    "headache": (60, 0.6),
    "hypertension": (20, 0.6),
    "nausea": (30, 0.8),
    "other": (30, 0.8),
    "sedation": (60, 0.6),
    "visual_disturbance": (40, 0.7),
    "vomiting": (15, 0.6),
}
#: Dissociation lasts with the exposure: median minutes per route for a bolus (IN ~30, IM ~45,
#: oral and sublingual ~40 when it happens at all); an IV infusion dissociates for most of its
#: hours plus about half an hour; a continuous SC infusion for an hour or two of the day.
DISSOCIATION_MEDIAN_MIN = np.array([30.0, 45.0, 30.0, 40.0, 35.0, 90.0])
AE_DURATION_CAP_MIN = 300.0
#: Adverse events noted at a follow-up visit (long-term effects are not expected).
FOLLOWUP_AE_RATES = {"headache": 0.010, "other": 0.008}


#: Share of patients whose PHQ-9 and BPI interference a site records (patient level).
PHQ9_SHARE = np.array([0.85, 0.60, 0.35, 0.55])
BPI_SHARE = np.array([0.90, 0.70, 0.60, 0.70])
#: Of patients with a recorded baseline, the share of follow-ups that record the measure again.
REPEAT_SHARE = 0.85

#: PHQ-9 at baseline: mean, plus a shift per condition (fibromyalgia higher), SD; about half
#: score ≥ 10 (pain clinics: 40.5 % ≥ 10 in PMC6044157; major depression ~52 %, Bair 2003).
PHQ9_MEAN, PHQ9_SD = 9.0, 5.5
PHQ9_CONDITION_SHIFT = {"fibromyalgia": 3.0, "cancer_pain": 1.0, "crps": 1.0, "lyme": 1.5}
#: Ketamine's own effect on mood, beyond pain (ORKA-1 is the depression-dose ceiling):
#: a relative PHQ-9 fall per patient ~ N(mean, sd), and the share that follows the pain change.
PHQ9_OWN_EFFECT = (0.15, 0.15)
PHQ9_PAIN_SHARE = 0.50
#: BPI interference at baseline = slope × baseline pain + N(offset, sd) (*design*).
BPI_SLOPE, BPI_OFFSET, BPI_SD = 0.75, 1.0, 1.8
#: How much of the pain change function follows, per patient ~ N(mean, sd) (*design*).
BPI_FOLLOWS_PAIN = (0.8, 0.5)

#: Migraine: share chronic (≥ 15 headache days a month, ICHD-3), their mean/SD days, and the
#: high-frequency episodic rest (8–14 days); share with headache days recorded.
CHRONIC_MIGRAINE_SHARE = 0.80
CHRONIC_HEADACHE_DAYS = (20.0, 5.0)
HEADACHE_RECORDED = 0.92
#: Headache-day reduction = pain reduction + N(shift, sd): related, not identical (*design*).
HEADACHE_FOLLOWS_PAIN = (0.05, 0.20)

#: PGIC: perceived change = pain reduction + patient bias + visit noise; cut-points of the
#: 7 categories on that scale (1 very much improved … 7 very much worse). Moderate agreement
#: with the NRS responder (Cohen's kappa about 0.5; *design*, see the module docstring).
PGIC_BIAS_SD, PGIC_NOISE_SD = 0.22, 0.24
PGIC_CUTS = np.array([0.60, 0.33, 0.12, -0.05, -0.20, -0.40])

#: Opioids (CDC 2022 MME factors, per mg/day; fentanyl patch per mcg/h) and usual daily doses.
OPIOIDS: dict[str, tuple[float, tuple[float, ...]]] = {
    "tramadol": (0.2, (100, 150, 200, 300, 400)),
    "codeine": (0.15, (60, 120, 180, 240)),
    "tapentadol": (0.4, (100, 150, 200, 300, 400)),
    "hydrocodone": (1.0, (10, 15, 20, 30, 40, 60)),
    "oxycodone": (1.5, (10, 15, 20, 30, 40, 60, 80, 120)),
    "morphine": (1.0, (20, 30, 45, 60, 90, 120, 180)),
    "hydromorphone": (5.0, (4, 8, 12, 16, 24)),
    "methadone": (4.7, (10, 15, 20, 30, 40)),
    "fentanyl_patch": (2.4, (12, 25, 37, 50, 75, 100)),
}
#: Which opioid (OPIOIDS order): outpatient chronic pain vs cancer pain (*design*).
OPIOID_MIX = np.array([0.24, 0.05, 0.08, 0.20, 0.23, 0.09, 0.04, 0.03, 0.04])
OPIOID_MIX_CANCER = np.array([0.04, 0.02, 0.05, 0.08, 0.30, 0.24, 0.12, 0.03, 0.12])
#: Within a drug's doses, lower doses are commoner (geometric weights with this ratio).
OPIOID_DOSE_RATIO = 0.75
#: Opioid change by the end of follow-up: (stop, reduce, increase) for responders and others;
#: the rest keep their dose. A reduction keeps 25–75 % of the dose, on a day 2–17 weeks after the
#: first session (*design*).
OPIOID_CHANGE = {True: (0.12, 0.35, 0.04), False: (0.03, 0.10, 0.12)}

#: Relief after a ketamine dose fades towards a floor: relative reduction × (floor + (1 − floor)
#: × exp(−days since the dose / τ)), τ per patient lognormal around a median per condition
#: (days; *design*, see docstring).
RELIEF_FLOOR = 0.30
RELIEF_TAU_DAYS: dict[str, float] = {"crps": 40, "fibromyalgia": 12, "cancer_pain": 15}
RELIEF_TAU_DEFAULT = 24.0
RELIEF_TAU_SIGMA = 0.5

#: Oral and sublingual: clinic review visits are the sessions (the dose is the daily dose);
#: the titration review about two weeks after the start, then reviews every 4–8 weeks.
REVIEW_TITRATION_DAYS = (10, 18)
REVIEW_INTERVAL_DAYS = (28, 57)
#: Subcutaneous in cancer pain: a continuous 24-hour infusion over 3–5 days, one session per
#: day, 100 → 300 → 500 mg per 24 h (Hardy 2012).
SC_INFUSION_DAYS = np.array([3, 4, 5])
SC_INFUSION_STEPS = np.array([100.0, 300.0, 500.0])

#: End of care. Cancer pain: death or hospice (competing events), exponential from the first
#: session with this mean (days) for advanced disease and for survivors with chronic pain after
#: treatment (half each); hospice's share of them. Older patients: a small mortality.
CANCER_EXIT_MEAN_DAYS = (300.0, 4000.0)
ADVANCED_CANCER_SHARE = 0.5
HOSPICE_SHARE = 0.40
ELDERLY_AGE, ELDERLY_EXIT_MEAN_DAYS = 75, 9000.0
#: A patient with no contact for this many days has left care; the clinic records the end for
#: this share of them, on the last contact or up to REPORT_DELAY_DAYS later.
LEFT_AFTER_DAYS = 90
END_RECORDED_SHARE = 0.85
END_ON_LAST_CONTACT = 0.6
REPORT_DELAY_DAYS = 45
END_REASON_MISSING = 0.05
#: End reasons of those who left (order: END_REASONS) by course (*design*; ORKA-2 drop-out).
END_REASONS: tuple[str, ...] = (
    "completed", "lack_of_effect", "adverse_event", "patient_choice", "cost", "moved",
    "lost_to_follow_up", "other",
)  # fmt: skip
END_REASON_MIX = {
    "one_session": np.array([0.00, 0.10, 0.25, 0.22, 0.15, 0.03, 0.22, 0.03]),
    "partial": np.array([0.00, 0.30, 0.18, 0.15, 0.15, 0.03, 0.17, 0.02]),
    "non_responder": np.array([0.00, 0.62, 0.05, 0.08, 0.08, 0.03, 0.12, 0.02]),
    "responder": np.array([0.42, 0.15, 0.02, 0.10, 0.13, 0.05, 0.12, 0.01]),
}

_AE_CODES = tuple(sorted(ADVERSE_EVENTS))

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
_SATURDAY_MOVES = np.array([-3, -2, -1, 2, 3])  # Wednesday … Tuesday
_SUNDAY_MOVES = np.array([-3, -2, 1, 2, 3])  # Thursday … Wednesday
