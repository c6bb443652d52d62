"""The synthetic demo clinic: realistic, de-identified, reproducible from a seed (docs/methods.md).

:func:`generate` returns the three import-contract tables (docs/contract.md) as pandas frames;
:func:`load_demo` writes them through the real importer (:func:`analysis.ingest.import_frames`),
so the demo is proven to satisfy the contract. Everything is drawn with one
``numpy.random.Generator`` and vectorised: 3,000 patients take a few hundredths of a second,
100,000 about a second. The same ``(n_patients, seed, today)`` always gives the same frames.

Where the numbers come from (sources as in ``research/domain.md`` §3; figures marked *design*
are assumptions chosen to be clinically plausible, not published values):

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

Baseline
    Pain NRS ~ N(6.8, 1.8) clipped to [1, 10] (OKAPI, Corriger 2022: 6.8 ± 1.8, n = 240),
    recorded in whole or half points; about 5 % have no ``baseline_pain`` so the first
    session's ``pre_pain`` is the baseline (docs/methods.md), and a handful are not evaluable (baseline
    recorded as 0, or missing with no ``pre_pain``), plus a few registered patients never
    treated. Opioid use (``baseline_mme``, skewed, mostly 10–200 MME/day; CDC 2022 factors)
    in about 40 % of patients, most among cancer pain (*design*).

Sessions
    4–8 induction sessions over about 2–3 weeks (outpatient series of six infusions;
    Patil & Anitescu 2012: 369 infusions in 49 patients), then maintenance every 3–8 weeks for
    most responders. About a fifth stop after the first session and about half do not finish
    the series (ORKA-2, Osmind). A few patients switch route, so some tie (→ ``mixed``).
    Doses: intramuscular 0.4–0.9 mg/kg (~30–80 mg); intranasal 50–150 mg in 10-mg sprays
    (Yuan 2023: 10 mg a spray) — higher in mg than IM because intranasal bioavailability is
    25–50 % as usually quoted, and only 11–17 % when measured (PMC9118341), against 93 % for
    IM (``BIOAVAILABILITY`` below); intravenous 0.3–0.5 mg/kg/h for 1–4 h (~30–150 mg;
    Cohen 2018: 0.35 mg/kg/h over 4 h; Orhurhu 2019); oral 50–200 mg (Al Mukhaizeem 2023:
    mean 194 mg/day); sublingual 25–100 mg; subcutaneous bolus ~0.2–0.5 mg/kg, or the
    100/300/500 mg 24-hour doses of Hardy 2012 for cancer pain. Doses are titrated up a little
    over the induction series.
    Session pain drops transiently after the dose (Carr 2004: relief within 10 min, lasting
    up to 60 min).

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
    months outside CRPS (guideline: no long-term evidence outside CRPS; ORKA-1 durability
    ~80 % at 4 weeks and ~60 % at 8 weeks, an assumption for pain). Mean follow-up pain is
    about 5 at three and six months (OKAPI: 6.8 → 5.7 at twelve months).

Follow-ups
    At about 30, 90 and 180 days after the first session, ± up to two weeks, with loss to
    follow-up rising over time (chronic-pain studies lose up to half; Cai 2020) and higher
    among non-responders and one-session patients (informative drop-out; Kim 2011), so the
    ITT rate is below the completers' rate. PGIC follows the pain change (Farrar 2001: "much"
    or "very much improved" ≈ 30 % reduction); BPI interference follows pain; PHQ-9 is
    collected at some sites, around the moderate band (ORKA-1; Kroenke 2001); responders who
    take opioids cut their MME a little (Al Mukhaizeem 2023). Adverse events at follow-up are
    very rare (no long-term effects expected at 3 months, docs/methods.md).

Adverse events per session
    Dissociation in about half of sessions (OKAPI: 50 % of patients with an AE at 1 week;
    Sigtermans 2009: psychomimetic 76 % with multi-day IV), more with IV and IM and higher
    doses, rare with oral dosing; it lasts minutes to about four hours (lognormal, median
    45 min, capped at 300 min, so a small tail exceeds the 4-hour claim and the claim is
    really tested). Nausea ~12 %, vomiting ~4 % (Orhurhu 2019: more nausea; AAN 2021: nausea
    15.5 % with IN), transient hypertension ~6 % (Carr 2004: transient BP rise in 2/20),
    visual disturbance more with IN (AAN 2021: diplopia/blurred vision 20.8 %), dizziness,
    headache, sedation, anxiety at lower rates (*design*). ``ae_duration_min`` is the duration
    of the longest AE of the session, present only when there is one.

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


from analysis.demo.draws import _followups, _patients, _sessions
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
    sessions, first_session = _sessions(rng, cohort, end)
    followups = _followups(rng, cohort, first_session, end)
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
