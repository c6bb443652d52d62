"""The synthetic demo clinic (docs/methods.md): reproducible, inside the import contract, realistic."""

from __future__ import annotations

import re
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.survfunc import SurvfuncRight

from analysis import demo
from analysis.db.schema import CONTRACT_COLUMNS
from analysis.demo import parameters
from analysis.domain.vocabulary import (
    ADVERSE_EVENTS,
    COMPETING_END_REASONS,
    CONDITION_LABELS,
    END_REASON_LABELS,
    ROUTE_LABELS,
    SEXES,
)

TODAY = date(2026, 11, 25)
PATIENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@pytest.fixture(scope="module")
def clinic() -> dict[str, pd.DataFrame]:
    """The default demo clinic, as of a fixed day."""
    return demo.generate(today=TODAY)


def _baselines(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per patient: condition, index date and the docs/methods.md baseline (column, else first pre_pain)."""
    sessions = frames["sessions"].sort_values(["patient_id", "session_date"])
    first = sessions.groupby("patient_id").agg(
        index_date=("session_date", "first"), first_pre=("pre_pain", "first")
    )
    patients = frames["patients"].set_index("patient_id").join(first)
    patients["baseline"] = patients["baseline_pain"].where(
        patients["baseline_pain"].notna(), patients["first_pre"]
    )
    return patients


def _responders_near(frames: dict[str, pd.DataFrame], timepoint: int, window: int = 30) -> pd.DataFrame:
    """Crude ≥ 30 % responders among evaluable patients with a follow-up in the window."""
    patients = _baselines(frames)
    patients = patients[patients["baseline"] > 0]
    followups = frames["followups"].join(
        patients[["index_date", "baseline", "condition"]], on="patient_id", how="inner"
    )
    followups["day"] = [
        (f - i).days for f, i in zip(followups["followup_date"], followups["index_date"], strict=True)
    ]
    followups = followups[(followups["day"] - timepoint).abs() <= window].copy()
    followups["distance"] = (followups["day"] - timepoint).abs()
    nearest = followups.sort_values(["patient_id", "distance", "day"]).groupby("patient_id").first()
    reduction = (nearest["baseline"] - nearest["pain"]) / nearest["baseline"]
    nearest["responder"] = reduction >= 0.30 - 1e-9
    return nearest


def _rate(nearest: pd.DataFrame, condition: str) -> float:
    return float(nearest.loc[nearest["condition"] == condition, "responder"].mean())


def _session_days(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Sessions with their day since the patient's first session, in date order."""
    sessions = frames["sessions"].sort_values(["patient_id", "session_date"]).copy()
    first = sessions.groupby("patient_id")["session_date"].transform("min")
    sessions["day"] = [(s - f).days for s, f in zip(sessions["session_date"], first, strict=True)]
    return sessions


def _kappa(a: pd.Series, b: pd.Series) -> float:
    """Cohen's kappa of two yes/no ratings."""
    observed = (a == b).mean()
    expected = a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())
    return float((observed - expected) / (1 - expected))


def _durability(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per patient with an onset by day 120: days to the first loss of ≥ 30 % relief, or censoring.

    Measurements are follow-up pain and session pre_pain on day ≥ 1 up to the end of care, one a
    day (a follow-up wins), as docs/methods.md sets durability out.
    """
    patients = _baselines(frames)
    patients = patients[patients["baseline"] > 0]
    sessions = _session_days(frames)
    sessions = sessions[sessions["day"] >= 1].rename(columns={"pre_pain": "pain"})
    followups = frames["followups"].join(patients["index_date"], on="patient_id", how="inner")
    followups["day"] = [
        (f - i).days for f, i in zip(followups["followup_date"], followups["index_date"], strict=True)
    ]
    both = pd.concat(
        [
            followups[["patient_id", "day", "pain"]].assign(kind=0),
            sessions[["patient_id", "day", "pain"]].assign(kind=1),
        ]
    )
    both = (
        both.dropna(subset=["pain"])
        .sort_values(["patient_id", "day", "kind"])
        .drop_duplicates(["patient_id", "day"])
    )
    both = both.join(patients[["baseline", "index_date", "end_date"]], on="patient_id", how="inner")
    end_day = [
        (e - i).days if isinstance(e, date) else 10**6
        for e, i in zip(both["end_date"], both["index_date"], strict=True)
    ]
    both = both[both["day"] <= np.array(end_day)]
    both["relief"] = (both["baseline"] - both["pain"]) / both["baseline"] >= 0.30 - 1e-9
    rows = []
    for patient_id, measured in both.groupby("patient_id", sort=False):
        relief, day = measured["relief"].to_numpy(), measured["day"].to_numpy()
        onsets = np.flatnonzero(relief & (day <= 120))
        if not len(onsets):
            continue
        onset = onsets[0]
        losses = np.flatnonzero(~relief[onset + 1 :])
        if len(losses):
            rows.append((patient_id, day[onset + 1 + losses[0]] - day[onset], 1))
        else:
            rows.append((patient_id, day[-1] - day[onset], 0))
    return pd.DataFrame(rows, columns=["patient_id", "time", "event"])


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_gives_identical_frames(clinic):
    again = demo.generate(today=TODAY)
    for table, frame in clinic.items():
        pd.testing.assert_frame_equal(frame, again[table])


def test_different_seed_gives_a_different_clinic(clinic):
    other = demo.generate(seed=parameters.DEFAULT_SEED + 1, today=TODAY)
    assert not other["patients"].equals(clinic["patients"])
    assert not other["sessions"].equals(clinic["sessions"])
    assert not other["followups"].equals(clinic["followups"])


def test_patient_count_is_as_asked():
    assert len(demo.generate(123, seed=7, today=TODAY)["patients"]) == 123
    empty = demo.generate(0, today=TODAY)
    assert all(len(frame) == 0 for frame in empty.values())
    assert list(empty["sessions"].columns) == list(CONTRACT_COLUMNS["sessions"])


# --------------------------------------------------------------------------- the import contract


def test_columns_are_exactly_the_import_contract(clinic):
    assert set(clinic) == {"patients", "sessions", "followups"}
    for table, frame in clinic.items():
        assert list(frame.columns) == list(CONTRACT_COLUMNS[table])


def test_patient_ids_are_unique_pseudonyms(clinic):
    ids = clinic["patients"]["patient_id"]
    assert ids.is_unique
    assert all(PATIENT_ID.fullmatch(value) and value.startswith("KO-") for value in ids)
    known = set(ids)
    assert set(clinic["sessions"]["patient_id"]) <= known
    assert set(clinic["followups"]["patient_id"]) <= known


def test_natural_keys_are_unique(clinic):
    assert not clinic["sessions"].duplicated(["patient_id", "session_date"]).any()
    assert not clinic["followups"].duplicated(["patient_id", "followup_date"]).any()


def test_dates_are_real_dates(clinic):
    for table, column in (("sessions", "session_date"), ("followups", "followup_date")):
        values = clinic[table][column]
        assert values.notna().all()
        assert all(type(value) is date for value in values)


def test_patient_values_are_within_the_contract(clinic):
    patients = clinic["patients"]
    assert set(patients["condition"]) <= set(CONDITION_LABELS)
    assert patients["site"].notna().all()
    assert pd.api.types.is_integer_dtype(patients["age"])
    assert patients["age"].between(18, 120).all()
    assert set(patients["sex"].dropna()) <= set(SEXES)
    assert patients["baseline_pain"].dropna().between(0, 10).all()
    assert (patients["baseline_mme"].dropna() >= 0).all()
    for column, high in (("baseline_phq9", 27), ("baseline_headache_days", 31)):
        values = patients[column].dropna()
        assert len(values) and values.between(0, high).all() and (values % 1 == 0).all()
    assert patients["baseline_bpi_interference"].dropna().between(0, 10).all()
    assert set(patients["end_reason"].dropna()) <= set(END_REASON_LABELS)
    assert patients.loc[patients["end_reason"].notna(), "end_date"].notna().all()
    assert all(type(value) is date for value in patients["end_date"].dropna())


def test_session_values_are_within_the_contract(clinic):
    sessions = clinic["sessions"]
    assert set(sessions["route"]) <= set(ROUTE_LABELS)
    assert ((sessions["dose_mg"] > 0) & (sessions["dose_mg"] <= 1000)).all()
    assert sessions["weight_kg"].dropna().between(30, 300).all()
    for column in ("pre_pain", "post_pain"):
        assert sessions[column].dropna().between(0, 10).all()
    assert (sessions["ae_duration_min"].dropna() >= 0).all()
    codes = sessions["adverse_events"].dropna().str.split(";").explode()
    assert set(codes) <= set(ADVERSE_EVENTS)


def test_ae_duration_is_given_only_with_an_adverse_event(clinic):
    sessions = clinic["sessions"]
    assert (sessions["ae_duration_min"].notna() == sessions["adverse_events"].notna()).all()


def test_follow_up_values_are_within_the_contract(clinic):
    followups = clinic["followups"]
    assert followups["pain"].between(0, 10).all()
    pgic = followups["pgic"].dropna()
    assert pgic.between(1, 7).all() and (pgic % 1 == 0).all()
    assert followups["bpi_interference"].dropna().between(0, 10).all()
    phq9 = followups["phq9"].dropna()
    assert phq9.between(0, 27).all() and (phq9 % 1 == 0).all()
    assert (followups["mme"].dropna() >= 0).all()
    headache_days = followups["headache_days"].dropna()
    assert len(headache_days) and headache_days.between(0, 31).all() and (headache_days % 1 == 0).all()
    codes = followups["adverse_events"].dropna().str.split(";").explode()
    assert set(codes) <= set(ADVERSE_EVENTS)


def test_no_date_after_today(clinic):
    assert max(clinic["sessions"]["session_date"]) <= TODAY
    assert max(clinic["followups"]["followup_date"]) <= TODAY


def test_no_date_after_today_by_default():
    frames = demo.generate(300, seed=11)
    today = date.today()
    assert max(frames["sessions"]["session_date"]) <= today
    assert max(frames["followups"]["followup_date"]) <= today


def test_history_spans_several_years_up_to_today(clinic):
    dates = clinic["sessions"]["session_date"]
    assert min(dates) <= TODAY - timedelta(days=3 * 365)
    assert max(dates) >= TODAY - timedelta(days=14)


def test_follow_ups_are_not_before_the_first_session(clinic):
    patients = _baselines(clinic)
    followups = clinic["followups"].join(patients["index_date"], on="patient_id")
    assert (followups["followup_date"] > followups["index_date"]).all()


# --------------------------------------------------------------------------- realism


def test_every_condition_and_route_appears(clinic):
    assert set(clinic["patients"]["condition"]) == set(CONDITION_LABELS)
    assert set(clinic["sessions"]["route"]) == set(ROUTE_LABELS)


@pytest.mark.parametrize("seed", range(5))
def test_every_condition_and_route_appears_even_in_a_small_clinic(seed):
    frames = demo.generate(40, seed=seed, today=TODAY)
    assert set(frames["patients"]["condition"]) == set(CONDITION_LABELS)
    assert set(frames["sessions"]["route"]) == set(ROUTE_LABELS)


def test_every_adverse_event_of_the_vocabulary_has_a_rate_and_a_duration():
    assert set(parameters.AE_ROUTE_RATES) == set(ADVERSE_EVENTS) == set(parameters.AE_DURATION)
    assert all(len(rates) == len(ROUTE_LABELS) for rates in parameters.AE_ROUTE_RATES.values())


def test_intranasal_and_intramuscular_are_the_bulk_and_sites_differ(clinic):
    sessions = clinic["sessions"].join(clinic["patients"].set_index("patient_id")["site"], on="patient_id")
    shares = sessions["route"].value_counts(normalize=True)
    assert shares["intranasal"] + shares["intramuscular"] > 0.6
    assert shares["sublingual"] < 0.05 and shares["subcutaneous"] < 0.05
    by_site = pd.crosstab(sessions["site"], sessions["route"], normalize="index")
    assert len(by_site) >= 3
    assert by_site.loc["main", "intravenous"] < by_site["intravenous"].max() - 0.1


def test_adults_only_with_a_few_aged_90_or_more(clinic):
    ages = clinic["patients"]["age"]
    assert ages.min() >= 18
    assert 0 < (ages >= 90).sum() < 0.02 * len(ages)
    assert ages.between(25, 75).mean() > 0.8


def test_baseline_pain_is_like_okapi(clinic):
    baseline = clinic["patients"]["baseline_pain"]
    recorded = baseline[baseline > 0]
    assert recorded.mean() == pytest.approx(6.8, abs=0.15)
    assert recorded.std() == pytest.approx(1.8, abs=0.15)
    assert ((recorded * 2) % 1 == 0).all()  # whole or half points
    assert 0.03 <= baseline.isna().mean() <= 0.07


def test_a_few_patients_are_not_evaluable(clinic):
    patients = _baselines(clinic)
    not_evaluable = patients["baseline"].isna() | (patients["baseline"] <= 0)
    assert 1 <= not_evaluable.sum() <= 0.01 * len(patients)


def test_about_a_fifth_stop_after_the_first_session(clinic):
    per_patient = clinic["sessions"].groupby("patient_id").size()
    assert 0.15 <= (per_patient == 1).mean() <= 0.25


def test_induction_is_at_most_eight_sessions_within_about_four_weeks(clinic):
    sessions = clinic["sessions"].sort_values(["patient_id", "session_date"])
    days = pd.to_datetime(sessions["session_date"])
    gaps = days.groupby(sessions["patient_id"]).diff().dt.days
    # Induction = the sessions before the first gap of two weeks or more.
    maintenance_started = (gaps >= 14).groupby(sessions["patient_id"]).cummax()
    induction = sessions[~maintenance_started]
    per_patient = induction.groupby("patient_id")["session_date"].agg(["size", "min", "max"])
    assert per_patient["size"].max() <= 8
    spans = [(last - first).days for first, last in zip(per_patient["min"], per_patient["max"], strict=True)]
    assert np.percentile(spans, 90) <= 25 and max(spans) <= 35  # about 2–3 weeks
    completed = per_patient["size"] >= 4
    assert 0.3 <= completed.mean() <= 0.7  # ORKA-2: about half do not complete the series


def test_some_responders_have_maintenance_sessions(clinic):
    per_patient = clinic["sessions"].groupby("patient_id").size()
    assert 0.05 <= (per_patient > 8).mean() <= 0.4


def test_some_patients_tie_between_routes(clinic):
    counts = clinic["sessions"].groupby(["patient_id", "route"]).size().unstack(fill_value=0)
    top = counts.max(axis=1)
    ties = counts.eq(top, axis=0).sum(axis=1) > 1
    assert 0 < ties.sum() < 0.05 * len(counts)
    assert (counts.gt(0).sum(axis=1) == 1).mean() > 0.9  # most keep one route


def test_follow_ups_thin_out_from_one_to_three_to_six_months(clinic):
    closed = TODAY - timedelta(days=200)
    patients = _baselines(clinic)
    old = set(patients.index[patients["index_date"].notna() & (patients["index_date"] <= closed)])
    counts = [len(_responders_near(clinic, t, window=20).index.intersection(old)) for t in (30, 90, 180)]
    assert counts[0] > counts[1] > counts[2] > 0.3 * len(old)


def test_about_a_quarter_of_sessions_record_an_adverse_event(clinic):
    # Pickering 2020: 20 % of patients per 0.5 mg/kg infusion; OKAPI (Corriger 2022): 50 % of
    # patients with an AE by one week. Not the ~70 % per session of the first demo.
    sessions = clinic["sessions"]
    assert 0.15 <= sessions["adverse_events"].notna().mean() <= 0.40
    days = _session_days(clinic)
    first_week = (
        days[days["day"] <= 7].groupby("patient_id")["adverse_events"].apply(lambda e: e.notna().any())
    )
    assert 0.35 <= first_week.mean() <= 0.65


def test_dissociation_in_a_minority_of_sessions_and_mostly_within_four_hours(clinic):
    sessions = clinic["sessions"]
    dissociation = sessions["adverse_events"].fillna("").str.contains("dissociation")
    assert 0.06 <= dissociation.mean() <= 0.20
    minutes = sessions.loc[dissociation, "ae_duration_min"]
    assert minutes.notna().all()
    assert (minutes <= 240).mean() >= 0.95
    assert (minutes > 240).any()  # a small tail, so that the 4-hour claim is really tested
    assert minutes.median() < 90


def test_dissociation_lasts_longer_with_an_iv_infusion_than_with_a_bolus(clinic):
    sessions = clinic["sessions"]
    dissociated = sessions[sessions["adverse_events"].fillna("").str.contains("dissociation")]
    median = dissociated.groupby("route")["ae_duration_min"].median()
    assert median["intravenous"] >= 2 * median["intranasal"]
    assert median["intravenous"] > median["intramuscular"] > median["intranasal"]


def test_dissociation_is_commonest_with_iv_and_rare_with_oral_dosing(clinic):
    sessions = clinic["sessions"]
    rate = (
        sessions["adverse_events"].fillna("").str.contains("dissociation").groupby(sessions["route"]).mean()
    )
    assert rate["intravenous"] > rate["intranasal"] > rate["oral"]
    assert rate["oral"] < 0.05


@pytest.mark.parametrize(
    ("code", "low", "high"),
    [
        ("nausea", 0.03, 0.09),
        ("vomiting", 0.01, 0.04),
        ("hypertension", 0.015, 0.06),
        ("headache", 0.01, 0.05),
    ],
)
def test_other_adverse_events_at_plausible_session_rates(clinic, code, low, high):
    share = clinic["sessions"]["adverse_events"].fillna("").str.contains(code).mean()
    assert low <= share <= high


def test_adverse_events_at_follow_up_are_rare(clinic):
    assert clinic["followups"]["adverse_events"].notna().mean() < 0.05


def test_intranasal_doses_are_higher_in_mg_than_intramuscular(clinic):
    dose = clinic["sessions"].groupby("route")["dose_mg"].mean()
    assert dose["intranasal"] > dose["intramuscular"]
    assert 30 <= dose["intramuscular"] <= 80
    assert 50 <= dose["intranasal"] <= 150


def test_session_pain_drops_after_the_dose(clinic):
    sessions = clinic["sessions"].dropna(subset=["pre_pain", "post_pain"])
    assert (sessions["post_pain"] <= sessions["pre_pain"]).all()
    assert (sessions["pre_pain"] - sessions["post_pain"]).mean() > 1


def test_home_dosing_is_reviewed_at_visits_with_the_daily_dose(clinic):
    sessions = clinic["sessions"]
    home = sessions["route"].isin(["oral", "sublingual"])
    assert sessions.loc[home, "post_pain"].isna().all()  # no dose is given at a review visit
    oral = sessions.loc[sessions["route"] == "oral", "dose_mg"]
    assert 150 <= oral.mean() <= 240  # Al Mukhaizeem 2023: mean 194 mg a day
    visits = sessions.groupby("patient_id").agg(route=("route", "first"), visits=("route", "size"))
    per_route = visits.groupby("route")["visits"].mean()
    assert per_route["oral"] < per_route["intranasal"] and per_route["oral"] < per_route["intramuscular"]


def test_subcutaneous_cancer_pain_is_a_continuous_infusion_on_consecutive_days(clinic):
    sessions = _session_days(clinic).join(
        clinic["patients"].set_index("patient_id")["condition"], on="patient_id"
    )
    infusion = sessions[(sessions["route"] == "subcutaneous") & (sessions["condition"] == "cancer_pain")]
    assert len(infusion) and set(infusion["dose_mg"]) <= {100.0, 300.0, 500.0}  # Hardy 2012, mg per 24 h
    gaps = infusion.groupby("patient_id")["day"].diff().dropna()
    assert (gaps == 1).all()
    assert infusion.groupby("patient_id").size().max() <= 5


def test_responder_rates_at_90_days_differ_by_condition_as_published(clinic):
    at_90 = _responders_near(clinic, 90)
    crps, cancer, migraine = (_rate(at_90, c) for c in ("crps", "cancer_pain", "migraine"))
    assert crps > cancer
    assert migraine > cancer
    assert 0.5 <= crps <= 0.7  # Sigtermans 2009; Patil & Anitescu 2012
    assert 0.2 <= cancer <= 0.4  # Hardy 2012: 31 %, near placebo


def test_fibromyalgia_relief_is_short_lived(clinic):
    at_30, at_90 = _responders_near(clinic, 30), _responders_near(clinic, 90)
    assert _rate(at_90, "fibromyalgia") < _rate(at_30, "fibromyalgia")
    assert _rate(at_90, "fibromyalgia") <= 0.25  # Noppers 2011: 2/12 by week 8


def test_pgic_agrees_with_the_nrs_responder_only_moderately(clinic):
    # PGIC and the NRS measure different things (Farrar 2001 anchors 30 % on PGIC, but real-world
    # agreement is moderate: PMC9299931): kappa about 0.4–0.6, never the near-perfect first demo.
    at_90 = _responders_near(clinic, 90).dropna(subset=["pgic"])
    improved, responder = at_90["pgic"] <= 2, at_90["responder"]
    kappa = _kappa(improved, responder)
    assert 0.35 <= kappa <= 0.65
    assert (improved == responder).mean() <= 0.85
    assert improved[responder].mean() > 0.6 and improved[~responder].mean() < 0.3


def test_opioid_users_are_a_realistic_share_at_cdc_doses(clinic):
    mme = clinic["patients"]["baseline_mme"]
    users = mme[mme > 0]
    assert 0.30 <= (mme > 0).mean() <= 0.50  # pain clinics: 63 % before the 2016 guideline
    assert 20 <= users.median() <= 60
    assert 0.05 <= (users >= 90).mean() <= 0.25  # CDC: avoid ≥ 90 MME/day
    possible = {round(dose * factor, 1) for factor, doses in parameters.OPIOIDS.values() for dose in doses}
    assert set(users.round(1)) <= possible  # a usual daily dose × its CDC 2022 factor


def test_some_opioid_users_reduce_or_stop_but_most_do_not(clinic):
    at_90 = _responders_near(clinic, 90).join(clinic["patients"].set_index("patient_id")["baseline_mme"])
    users = at_90[(at_90["baseline_mme"] > 0) & at_90["mme"].notna()]
    halved = users["mme"] <= 0.5 * users["baseline_mme"] + 1e-9
    stopped = users["mme"] <= 1e-9
    unchanged = (users["mme"] - users["baseline_mme"]).abs() < 1e-9
    assert halved[users["responder"]].mean() > halved[~users["responder"]].mean()
    assert 0.08 <= halved[users["responder"]].mean() <= 0.35
    assert 0 < stopped.mean() <= 0.10
    assert unchanged.mean() > 0.6


def test_baseline_phq9_is_typical_of_a_pain_clinic(clinic):
    phq9 = clinic["patients"]["baseline_phq9"].dropna()
    assert 8.5 <= phq9.mean() <= 11.5
    assert 0.40 <= (phq9 >= 10).mean() <= 0.60  # PMC6044157: 40.5 %; Bair 2003: ~52 %
    sites = clinic["patients"].groupby("site")["baseline_phq9"].apply(lambda v: v.notna().mean())
    assert sites.max() - sites.min() > 0.3  # some sites collect it, others mostly do not


def test_baseline_interference_follows_pain_loosely(clinic):
    patients = clinic["patients"].dropna(subset=["baseline_pain", "baseline_bpi_interference"])
    assert 5 <= patients["baseline_bpi_interference"].mean() <= 7
    assert 0.4 <= patients["baseline_pain"].corr(patients["baseline_bpi_interference"]) <= 0.8


def test_mood_and_function_move_with_pain_but_not_in_lockstep(clinic):
    at_90 = _responders_near(clinic, 90).join(
        clinic["patients"].set_index("patient_id")[["baseline_phq9", "baseline_bpi_interference"]]
    )
    bpi = at_90.dropna(subset=["bpi_interference", "baseline_bpi_interference"])
    improved = bpi["baseline_bpi_interference"] - bpi["bpi_interference"]
    reduction = (bpi["baseline"] - bpi["pain"]) / bpi["baseline"]
    assert 0.35 <= reduction.corr(improved) <= 0.8
    assert (improved[bpi["responder"]] >= 1).mean() > (improved[~bpi["responder"]] >= 1).mean() + 0.2
    phq9 = at_90[(at_90["baseline_phq9"] >= 10) & at_90["phq9"].notna()]
    response = phq9["phq9"] <= 0.5 * phq9["baseline_phq9"]
    assert 0.10 <= response.mean() <= 0.40  # below ORKA-1's 53.6 % with depression dosing
    assert 0.03 <= (phq9["phq9"] < 5).mean() <= 0.25  # ORKA-1 remission 28.9 %
    assert response[phq9["responder"]].mean() > response[~phq9["responder"]].mean()


def test_migraine_is_judged_by_headache_days(clinic):
    patients = clinic["patients"]
    recorded = patients["baseline_headache_days"].notna()
    assert set(patients.loc[recorded, "condition"]) == {"migraine"}
    assert recorded[patients["condition"] == "migraine"].mean() > 0.8
    days = patients.loc[recorded, "baseline_headache_days"]
    assert (days >= 15).mean() >= 0.7 and days.min() >= 8  # mostly chronic migraine (≥ 15 a month)
    at_90 = _responders_near(clinic, 90).join(patients.set_index("patient_id")["baseline_headache_days"])
    migraine = at_90.dropna(subset=["headache_days", "baseline_headache_days"])
    halved = migraine["headache_days"] <= 0.5 * migraine["baseline_headache_days"]
    assert 0.25 <= halved.mean() <= 0.50  # erenumab 35 % (Neurology 2019); Yuan 2023 49 %
    assert (halved != migraine["responder"]).any()  # related to the NRS, not a copy of it


def test_end_reasons_cover_the_vocabulary_and_death_is_mostly_cancer_pain(clinic):
    patients = clinic["patients"]
    reasons = set(patients["end_reason"].dropna())
    assert reasons >= set(END_REASON_LABELS) - {"other"}
    competing = patients[patients["end_reason"].isin(COMPETING_END_REASONS)]
    assert (competing["condition"] == "cancer_pain").mean() >= 0.8
    cancer = patients[patients["condition"] == "cancer_pain"]
    assert 0.15 <= cancer["end_reason"].isin(COMPETING_END_REASONS).mean() <= 0.6
    ended = patients.dropna(subset=["end_reason"])
    assert ended["end_reason"].value_counts().idxmax() == "lack_of_effect"


def test_no_data_after_the_end_of_care_and_no_end_before_the_first_session(clinic):
    ends = clinic["patients"].set_index("patient_id")["end_date"].dropna()
    assert len(ends) and max(ends) <= TODAY
    sessions = clinic["sessions"].join(ends, on="patient_id", how="inner")
    followups = clinic["followups"].join(ends, on="patient_id", how="inner")
    assert (sessions["session_date"] <= sessions["end_date"]).all()
    assert (followups["followup_date"] <= followups["end_date"]).all()
    first = clinic["sessions"].groupby("patient_id")["session_date"].min()
    assert (ends.index.isin(first.index)).all()  # never-treated patients have no end of care
    assert (ends >= first.reindex(ends.index)).all()


def test_recent_patients_have_not_left_care(clinic):
    last = (
        pd.concat(
            [
                clinic["sessions"].groupby("patient_id")["session_date"].max(),
                clinic["followups"].groupby("patient_id")["followup_date"].max(),
            ]
        )
        .groupby(level=0)
        .max()
    )
    patients = clinic["patients"].set_index("patient_id")
    recent = last[last > TODAY - timedelta(days=30)].index
    left = patients.loc[recent, "end_reason"].dropna()
    assert set(left) <= set(COMPETING_END_REASONS)


def test_relief_lasts_weeks_after_onset_as_a_durability_analysis_finds(clinic):
    # ORKA-1: ~80 % still responding at 4 weeks, ~60 % at 8 (depression); Patil & Anitescu 2012:
    # about 3 weeks; Sigtermans 2009: benefit lost by week 12. Several weeks, not days or years.
    durations = _durability(clinic)
    survival = SurvfuncRight(durations["time"].to_numpy(float), durations["event"].to_numpy())
    assert 28 <= survival.quantile(0.5) <= 120
    at_28 = survival.surv_prob[np.searchsorted(survival.surv_times, 28, side="right") - 1]
    assert 0.65 <= at_28 <= 0.95


def test_boosters_come_every_three_to_eight_weeks(clinic):
    days = _session_days(clinic)
    maintenance = days[days["day"] > 28]
    gaps = maintenance.groupby("patient_id")["day"].apply(
        lambda d: np.median(np.diff(d.to_numpy())) if len(d) >= 2 else np.nan
    )
    assert 21 <= gaps.median() <= 56


def test_recent_patients_are_still_pending(clinic):
    patients = _baselines(clinic)
    recent = patients["index_date"].notna() & (patients["index_date"] > TODAY - timedelta(days=120))
    assert 0.03 <= recent.mean() <= 0.25


def test_a_hundred_thousand_patients_are_feasible():
    frames = demo.generate(100_000, seed=5, today=TODAY)
    assert len(frames["patients"]) == 100_000
    assert np.isclose(frames["patients"]["baseline_pain"].mean(), 6.8, atol=0.1)


# --------------------------------------------------------------------------- through the importer


def test_load_demo_goes_through_the_real_importer(sqlite_engine):
    from analysis.db.store import table_counts

    frames = demo.generate(300, seed=9, today=TODAY)
    report = demo.load_demo(sqlite_engine, 300, seed=9, today=TODAY)
    assert report.ok, [str(problem) for problem in report.problems]
    assert report.inserted["patients"] == 300
    assert not report.warnings
    assert table_counts(sqlite_engine) == {table: len(frame) for table, frame in frames.items()}


@pytest.mark.parametrize("seed", [3, 4])
def test_every_generated_clinic_imports_with_zero_problems(engine, seed):
    report = demo.load_demo(engine, 250, seed=seed, today=TODAY)
    assert report.ok, [str(problem) for problem in report.problems]
    assert not report.warnings


def test_loading_the_same_demo_twice_changes_nothing(sqlite_engine):
    from analysis.db.store import table_counts

    demo.load_demo(sqlite_engine, 300, seed=9, today=TODAY)
    before = table_counts(sqlite_engine)
    again = demo.load_demo(sqlite_engine, 300, seed=9, today=TODAY)
    assert again.ok
    assert sum(again.inserted.values()) == 0 and sum(again.updated.values()) == 0
    assert table_counts(sqlite_engine) == before
