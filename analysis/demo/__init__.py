"""The synthetic demo clinic: realistic, de-identified, reproducible from a seed (docs/methods.md).

:func:`generate` returns the three import-contract tables (docs/contract.md) as pandas frames;
:func:`load_demo` writes them through the real importer (:func:`analysis.ingest.import_frames`),
so the demo is proven to satisfy the contract. Everything is drawn with one
``numpy.random.Generator`` and vectorised: 3,000 patients take about a tenth of a second,
100,000 a few seconds. The same ``(n_patients, seed, today)`` always gives the same frames.

Where the numbers come from (sources as in ``research/domain.md`` §2, §3 and §6; figures marked
*design* are assumptions chosen to be clinically plausible, not published values):

Clinic and case mix
    Four sites (``main``, ``north``, ``east``, ``riverside``) opening in turn over about four
    years of history ending at ``today``, with intake growing over time, so the most recent
    patients' 90-day windows are still open (*pending* in the outcome engine). The reference
    clinic (``main``) gives intranasal and intramuscular ketamine (docs/methods.md); the others add
    intravenous infusions and oral dosing; sublingual and subcutaneous are rare (*design*).
    Migraine patients lean to intranasal (Yuan 2023, IN), CRPS to intravenous (Sigtermans
    2009; Schwartzman 2009; ASRA/AAPM/ASA guideline, Cohen 2018), cancer pain to subcutaneous
    and oral (Hardy 2012, SC). Condition mix: CRPS, fibromyalgia, other neuropathic and
    migraine common, as in mixed real-world series (Patil & Anitescu 2012: CRPS 37 %;
    OKAPI, Corriger 2022); phantom limb, Crohn's and Lyme rare (*design*). Age and sex by
    condition follow each condition's usual epidemiology (CRPS, fibromyalgia and migraine
    mostly women, phantom limb mostly men, PHN and cancer pain older; *design*); adults only,
    with a few patients aged 90 or more to exercise the "90+" cap.

Baseline pain
    NRS ~ N(6.8, 1.8) clipped to [1, 10] (OKAPI, Corriger 2022: 6.8 ± 1.8, n = 240),
    recorded in whole or half points; about 5 % have no ``baseline_pain`` so the first
    session's ``pre_pain`` is the baseline (docs/methods.md), and a handful are not evaluable
    (baseline recorded as 0, or missing with no ``pre_pain``), plus a few registered patients
    never treated.

Opioids (``baseline_mme``, follow-up ``mme``)
    About 40 % take an opioid (most in cancer pain, fewest in migraine; *design*: below the
    63 % of new referrals to a tertiary pain clinic before the 2016 CDC guideline,
    Mailis-Gagnon 2011, PMID 21402957). Each user has one drug at one of its usual daily doses,
    converted with the CDC 2022 factors (codeine 0.15, tramadol 0.2, tapentadol 0.4,
    hydrocodone 1, morphine 1, oxycodone 1.5, methadone 4.7, hydromorphone 5, fentanyl patch
    2.4 per mcg/h), so every MME is a dose a prescriber writes; lower doses are commoner and
    cancer pain takes more: median about 30 MME/day, about one user in eight at ≥ 90 (the
    CDC's "avoid"). Most keep their dose: by the end of follow-up about 12 % of 90-day
    responders stop and 35 % taper to 25–75 % of it, against 3 % and 10 % of the others, and
    some (more among non-responders) go up (*design*; ketamine's opioid-sparing evidence is
    uncontrolled). The change happens on one day between weeks 2 and 17.

Mood, function, headache days (baseline and follow-ups)
    PHQ-9 ~ N(9 + condition shift + 0.4 × (pain − 6.8), 5.5), 0–27: about half score ≥ 10
    (a tertiary pain clinic: 40.5 % ≥ 10, 71 % ≥ 5, PMC6044157; major depression in about half
    of pain-clinic patients, Bair 2003), fibromyalgia highest. Recorded where the site
    collects it (85 % of patients at ``main``, 35 % at ``east``; *design*). At follow-up it
    falls by half the relative pain reduction plus ketamine's own effect on mood
    (per patient ~ N(15 %, 15 %); *design*, below ORKA-1's 53.6 % response and 28.9 %
    remission with depression dosing), so PHQ-9 response (≥ 50 % fall) comes out near a
    quarter and remission (< 5) near a tenth among those ≥ 10. BPI interference = 0.75 ×
    baseline pain + N(1, 1.8) (mean about 6, correlation with pain about 0.6; *design*); at
    follow-up it falls by a per-patient share (~ N(0.8, 0.5)) of the relative pain change, plus
    noise, so function follows pain loosely (correlation about 0.6), and a 1-point gain
    (IMMPACT, Dworkin 2008) is far commoner among NRS responders. Migraine patients have
    ``baseline_headache_days``: 80 % chronic migraine (≥ 15 headache days a month, ICHD-3;
    mean 20), the rest high-frequency episodic (8–14); headache days fall by the pain
    reduction + N(5 %, 20 %), so about 35 % have ≥ 50 % fewer days at three months, the
    responder of migraine-prevention trials (erenumab 35–36 % vs placebo 18 % in chronic
    migraine with medication overuse, Neurology 2019;92:e2309; Yuan 2023: 49.1 % "very
    effective" with IN ketamine), related to but not the same patients as the NRS responders.

PGIC
    The patient's own sense of change is the relative pain reduction plus a per-patient bias
    (SD 0.22) and a per-visit noise (SD 0.24), cut into the 7 categories; "much" or "very much
    improved" sits near a 33 % reduction (Farrar 2001 anchored 30 % on it). Agreement with the
    NRS responder is moderate, Cohen's kappa about 0.5 (*design*: real-world PGIC and NRS
    change agree only moderately, PMC9299931, 1,661 patients), never the near-perfect copy of
    the first demo.

Sessions
    Bolus and IV routes: 4–8 induction sessions over about 2–3 weeks (outpatient series of six
    infusions; Patil & Anitescu 2012: 369 infusions in 49 patients), then, for those who go on
    (85 % of 90-day responders, 60 % of 30-day-only responders, 8 % of others; *design*),
    maintenance boosters every 3–8 weeks for as long as the response lasts. About a fifth stop
    after the first session and about half do not finish the series (ORKA-2, Osmind). A few
    switch between IN and IM, so some tie (→ ``mixed``). Doses: intramuscular 0.4–0.9 mg/kg
    (~30–80 mg); intranasal 50–150 mg in 10-mg sprays (Yuan 2023: 10 mg a spray) — higher in
    mg than IM because intranasal bioavailability is 25–50 % as usually quoted, and only
    11–17 % when measured (PMC9118341), against 93 % for IM (``BIOAVAILABILITY``); intravenous
    0.3–0.5 mg/kg/h for 1–4 h (~30–150 mg; Cohen 2018: 0.35 mg/kg/h over 4 h; Orhurhu 2019);
    subcutaneous bolus 0.2–0.5 mg/kg outside cancer pain. Doses are titrated up a little over
    the induction series.
    Oral and sublingual ketamine is taken at home daily, so its sessions are clinic review
    visits: the start, a titration review after about two weeks, then reviews every 4–8 weeks
    while it helps; ``dose_mg`` is the daily dose (oral 50–300 mg/day, mean about 190:
    Al Mukhaizeem 2023, mean 194 mg/day for 22.6 months; sublingual 25–150 mg/day; *design*),
    and no ``post_pain`` is recorded (no dose is given at the visit).
    Subcutaneous ketamine in cancer pain is a continuous infusion: one session per day for
    3–5 consecutive days, weekends included, ``dose_mg`` the day's 24-hour dose escalated
    100 → 300 → 500 mg (Hardy 2012), never a 500-mg clinic "session".
    Session pain drops transiently after the dose (Carr 2004: relief within 10 min, lasting up
    to 60 min).

Response (≥ 30 % reduction, IMMPACT; Farrar 2001) — observed at the 90-day follow-up
    CRPS ~60 % (highest; Sigtermans 2009: NRS 2.7 vs 5.5 at week 1, benefit over 12 weeks;
    Patil & Anitescu 2012: CRPS drop 7.2 vs 5.1 for other conditions); migraine ~50 %, best
    intranasal (Yuan 2023: 49.1 % "very effective" with IN); phantom limb, PHN and other
    neuropathic ~35–45 % (Eichenberger 2008; Pickering 2020; guideline evidence weak); cancer
    pain ~30 %, close to placebo (Hardy 2012: 31 % vs 27 %); fibromyalgia short-lived — decent
    at one month, ~15–20 % by three months (Noppers 2011: 2/12 = 17 % at weeks 1 and 8, equal
    to placebo by week 8); Crohn's and Lyme low-confidence priors near 30 % (no controlled
    data; domain.md §3b). Route effect modest: IV and IM slightly better than intranasal and
    oral for a like dose (bioavailability; *design*). Responders' relief is mostly ≥ 50 %
    and non-responders' mostly < 15 % (bimodal relief, Moore 2013). Response fades over six
    months outside CRPS (guideline: no long-term evidence outside CRPS). Mean follow-up pain
    is about 5 at three and six months (OKAPI: 6.8 → 5.7 at twelve months).

Durability and boosters
    Relief after a dose fades towards a floor: the pain before a session carries the relief of
    the patient's trajectory × (0.3 + 0.7 × exp(−days since the last dose / τ)), τ per patient
    lognormal (σ 0.5) around 40 days in CRPS, 12 in fibromyalgia, 15 in cancer pain and 24
    otherwise (*design*), and a session's pre-dose pain is on the side of the 30 % line that
    faded relief is on (home dosing is steady). So relief is often lost just before a booster
    and regained after it, and a durability analysis (loss of ≥ 30 % relief after onset,
    docs/methods.md) finds a median of about eight to nine weeks, with about 80 % still
    responding at 4 weeks and a little over half at 8 (ORKA-1, depression: ~80 % and ~60 %,
    an assumption for pain; Patil & Anitescu 2012: about 3 weeks; Sigtermans 2009: benefit
    lost by week 12). Boosters: a median gap of about five weeks.

Follow-ups
    At about 30, 90 and 180 days after the first session, ± up to two weeks, with loss to
    follow-up rising over time (chronic-pain studies lose up to half; Cai 2020) and higher
    among non-responders and one-session patients (informative drop-out; Kim 2011), so the
    ITT rate is below the completers' rate. Adverse events at follow-up are very rare (no
    long-term effects expected at 3 months, docs/methods.md).

Adverse events per session
    About 30 % of sessions record one and about half of patients have one in their first week
    (Pickering 2020: 20 % of patients per 0.5 mg/kg infusion; OKAPI: 50 % of patients at one
    week), not the ~70 % per session of the first demo. Dissociation in about one session in
    nine: IV ~20 %, IM ~14 %, IN ~9 %, SC ~12 %, oral ~3 % (Sigtermans 2009: psychomimetic 76 %
    over a 4-day IV infusion; rarely dissociative by mouth), more with a higher dose within a
    route. It lasts with the exposure: a bolus for half an hour to an hour (lognormal, median
    IN 30, IM 45 min), an IV infusion for most of its hours plus about half an hour, so the
    4-hour claim is tested by a small tail of long infusions; capped at 300 min. Nausea ~5 %,
    vomiting ~2 % (Orhurhu 2019: more nausea; AAN 2021: nausea 15.5 % of IN patients),
    transient hypertension ~3 % (Carr 2004: transient BP rise in 2/20), visual disturbance
    more with IN (AAN 2021: diplopia/blurred vision 20.8 % of patients), sedation the commonest
    with home dosing (Al Mukhaizeem 2023: drowsiness), dizziness, headache, anxiety at lower
    rates (*design*). ``ae_duration_min`` is the duration of the longest AE of the session,
    present only when there is one.

End of care (``end_date``, ``end_reason``)
    Cancer pain: half advanced disease (death or hospice after a mean of ~10 months), half
    survivors with chronic pain after treatment (mean ~11 years), 40 % of these exits hospice
    (*design*); over the history about half of cancer-pain patients die or enter hospice,
    and their sessions and follow-ups stop there. A small mortality at 75 and over. Others
    have left care when they have had no contact for 90 days; the clinic records 85 % of them
    (*design*), on the last contact (60 %) or up to 45 days later, with a reason that fits the
    course (IMMPACT disposition domain; ORKA-2 drop-out; *design*): after one session mostly
    adverse event, patient choice, cost or lost to follow-up; after a partial series also lack
    of effect; non-responders mostly lack of effect; responders mostly completed, then cost
    and patient choice (ketamine is rarely covered). 5 % give a date without a reason. Every
    end date is on or after the patient's last session or follow-up, after the first session,
    and not after ``today``.

Pseudonyms are ``KO-000123``, numbered in order of first session; no identifier-like content.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.db.schema import CONTRACT_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy import Engine

    from analysis.ingest import ImportReport


from analysis.demo.beyond_pain import draw_baselines, followup_measures
from analysis.demo.draws import _followups, _patients, _sessions
from analysis.demo.end_of_care import draw_end_of_care
from analysis.demo.parameters import DEFAULT_PATIENTS, DEFAULT_SEED, HISTORY_DAYS


def generate(
    n_patients: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED, *, today: date | None = None
) -> dict[str, pd.DataFrame]:
    """A synthetic clinic as the import contract's three tables (docs/contract.md).

    Returns ``{"patients", "sessions", "followups"}`` with exactly the contract columns of
    :data:`analysis.db.schema.CONTRACT_COLUMNS`: dates as :class:`datetime.date`, numbers as
    numbers, NaN/None for missing, ``adverse_events`` as ``;``-joined codes or None. No date
    is after ``today`` (default: the current date). Deterministic for ``(n_patients, seed,
    today)``. Ages are the real ages (the importer caps them at 90).
    """
    if n_patients < 0:
        raise ValueError("the number of patients must be 0 or more")
    today = today or date.today()
    rng = np.random.default_rng(seed)
    end = np.datetime64(today, "D")
    start = end - np.timedelta64(HISTORY_DAYS, "D")

    cohort = _patients(rng, n_patients, start)
    beyond = draw_baselines(rng, cohort)
    sessions, first_session, last_session = _sessions(rng, cohort, end)
    followups, rows = _followups(rng, cohort, first_session, end)
    for column, values in followup_measures(rng, cohort, beyond, rows).items():
        followups[column] = values
    last_followup = np.full(cohort.n, np.datetime64("NaT"), dtype="datetime64[D]")
    np.fmax.at(last_followup, rows["patient"], rows["date"])
    draw_end_of_care(rng, cohort, first_session, np.fmax(last_session, last_followup), end)
    patients = cohort.frame
    # Every contract column, in the contract's order; a column the demo does not draw is empty.
    return {
        "patients": patients.reindex(columns=list(CONTRACT_COLUMNS["patients"])),
        "sessions": sessions.reindex(columns=list(CONTRACT_COLUMNS["sessions"])),
        "followups": followups.reindex(columns=list(CONTRACT_COLUMNS["followups"])),
    }


def load_demo(
    engine: Engine,
    n_patients: int = DEFAULT_PATIENTS,
    seed: int = DEFAULT_SEED,
    *,
    today: date | None = None,
    user: str | None = None,
) -> ImportReport:
    """Generate the demo clinic and write it through the real importer (one transaction)."""
    from analysis.ingest import import_frames

    today = today or date.today()
    frames: Mapping[str, pd.DataFrame] = generate(n_patients, seed, today=today)
    return import_frames(engine, frames, today=today, user=user, source="demo")
