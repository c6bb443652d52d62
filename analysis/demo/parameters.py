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

#: Per-session adverse events: base rate per route (ROUTES order), and lognormal duration
#: (median minutes, sigma). Codes are listed alphabetically, as the store sorts them.
AE_ROUTE_RATES: dict[str, tuple[float, ...]] = {
    "anxiety": (0.04, 0.05, 0.05, 0.02, 0.03, 0.04),
    "dissociation": (0.48, 0.60, 0.62, 0.15, 0.25, 0.45),
    "dizziness": (0.10, 0.11, 0.10, 0.07, 0.08, 0.10),
    "headache": (0.06, 0.04, 0.04, 0.04, 0.04, 0.04),
    "hypertension": (0.05, 0.08, 0.08, 0.02, 0.03, 0.05),
    "nausea": (0.12, 0.12, 0.14, 0.15, 0.10, 0.12),
    "other": (0.02, 0.02, 0.02, 0.02, 0.02, 0.02),
    "sedation": (0.06, 0.08, 0.08, 0.10, 0.07, 0.08),
    "visual_disturbance": (0.10, 0.05, 0.05, 0.02, 0.03, 0.04),
    "vomiting": (0.04, 0.03, 0.04, 0.04, 0.03, 0.03),
}
AE_DURATION: dict[str, tuple[float, float]] = {
    "anxiety": (20, 0.7),
    "dissociation": (45, 0.75),
    "dizziness": (30, 0.7),
    "headache": (60, 0.6),
    "hypertension": (20, 0.6),
    "nausea": (30, 0.8),
    "other": (30, 0.8),
    "sedation": (60, 0.6),
    "visual_disturbance": (40, 0.7),
    "vomiting": (15, 0.6),
}
AE_DURATION_CAP_MIN = 300.0
#: Adverse events noted at a follow-up visit (long-term effects are not expected).
FOLLOWUP_AE_RATES = {"headache": 0.010, "other": 0.008}

#: Share of follow-ups with a PHQ-9, per site.
PHQ9_SHARE = np.array([0.80, 0.50, 0.30, 0.45])

_AE_CODES = tuple(sorted(ADVERSE_EVENTS))

_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)
_SATURDAY_MOVES = np.array([-3, -2, -1, 2, 3])  # Wednesday … Tuesday
_SUNDAY_MOVES = np.array([-3, -2, 1, 2, 3])  # Thursday … Wednesday
