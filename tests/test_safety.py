"""Safety: adverse events per session, dissociation against four hours, events at follow-up."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.db import schema
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.domain.vocabulary import ADVERSE_EVENTS
from analysis.present import findings
from analysis.present.figures import safety as charts
from analysis.queries import safety
from tests.clinic import add_patient, day

ROOT = Path(__file__).resolve().parent.parent


def _sessions(*events: str | None, **extra) -> list[dict]:
    """One session a day from day 0, with the given adverse-event strings."""
    return [{"day": i, "adverse_events": e, **extra} for i, e in enumerate(events)]


def _by_event(frame, route: str = "all") -> dict[str, int]:
    rows = frame[frame["route"] == route]
    return dict(zip(rows["event"], rows["with_event"], strict=True))


# --- adverse events per session -----------------------------------------------------------


def test_codes_match_only_whole_codes_between_delimiters(engine):
    add_patient(
        engine,
        "P1",
        sessions=_sessions(
            "other",  # must not count as nausea
            "nausea",
            "dissociation;nausea",
            None,
            "nausea_severe",  # not a code: must not count as nausea
            "visualxdisturbance",  # '_' must not act as a LIKE wildcard
            "anxiety;visual_disturbance",
        ),
    )
    summary = safety.session_summary(engine)
    assert (summary.sessions, summary.sessions_with_any_ae, summary.sessions_with_dissociation) == (7, 6, 1)
    assert summary.patients == 1
    assert summary.any_ae.rate == pytest.approx(6 / 7)
    counts = _by_event(safety.events_by_type(engine, by=None))
    assert counts["nausea"] == 2
    assert counts["other"] == 1
    assert counts["visual_disturbance"] == 1
    assert counts["anxiety"] == 1
    assert counts["vomiting"] == 0


def test_unknown_code_is_refused():
    with pytest.raises(ValueError, match="unknown adverse event"):
        safety.has_event(schema.sessions.c.adverse_events, "nause%")


def test_rates_by_route_use_the_route_of_each_session(engine):
    add_patient(
        engine,
        "P1",
        sessions=[
            {"day": 0, "route": "intranasal", "adverse_events": "nausea"},
            {"day": 1, "route": "intranasal", "adverse_events": None},
            {"day": 2, "route": "intramuscular", "adverse_events": "hypertension;nausea"},
        ],
    )
    frame = safety.events_by_type(engine, by="route")
    assert sorted(set(frame["route"])) == ["intramuscular", "intranasal"]
    assert len(frame) == 2 * len(ADVERSE_EVENTS)
    nasal = frame[(frame["route"] == "intranasal") & (frame["event"] == "nausea")].iloc[0]
    assert (nasal["sessions"], nasal["with_event"], nasal["rate"]) == (2, 1, 0.5)
    assert nasal["ci_low"] < 0.5 < nasal["ci_high"]
    assert bool(nasal["small_n"])
    assert _by_event(frame, "intramuscular")["hypertension"] == 1
    with pytest.raises(ValueError, match="broken down"):
        safety.events_by_type(engine, by="condition")  # type: ignore[arg-type]


def test_cohort_filter_is_respected(engine):
    add_patient(engine, "N1", site="north", sessions=_sessions("nausea", "nausea"))
    add_patient(engine, "S1", site="south", sessions=_sessions(None, None, "dissociation"))
    add_patient(
        engine,
        "S2",
        site="south",
        sessions=[
            {"day": 0, "route": "oral", "adverse_events": "hypertension"},
            {"day": 1, "route": "oral"},
            {"day": 2, "route": "intranasal", "adverse_events": "hypertension"},
        ],
    )
    north = safety.session_summary(engine, cohort=CohortFilter(sites=("north",)))
    assert (north.patients, north.sessions, north.sessions_with_any_ae) == (1, 2, 2)
    # The patient's route is outcomes' plurality route: S2 is an oral patient, S1 and N1 intranasal.
    oral = safety.session_summary(engine, cohort=CohortFilter(routes=("oral",)))
    assert (oral.patients, oral.sessions, oral.sessions_with_any_ae) == (1, 3, 2)
    assert safety.blood_pressure_sessions(engine, cohort=CohortFilter(sites=("north",))).total == 0
    assert safety.blood_pressure_sessions(engine, cohort=CohortFilter(sites=("south",))).total == 2
    # A filter that keeps everyone gives what no filter gives (the unfiltered shortcut is the same cohort).
    everyone = CohortFilter(sites=("north", "south"))
    assert safety.session_summary(engine, cohort=everyone) == safety.session_summary(engine)
    assert safety.events_by_type(engine, cohort=everyone).equals(safety.events_by_type(engine))


def test_a_cohort_without_sessions_has_no_rate(engine):
    add_patient(engine, "P1", sessions=_sessions("nausea"))
    nobody = CohortFilter(sites=("elsewhere",))
    summary = safety.session_summary(engine, cohort=nobody)
    assert (summary.sessions, summary.any_ae.rate, summary.any_ae.low) == (0, None, None)
    assert safety.events_by_type(engine, cohort=nobody).empty
    assert findings.dissociation_finding(safety.dissociation_durations(engine, cohort=nobody)).startswith(
        "Not measurable yet"
    )


def test_sessions_after_the_cutoff_are_ignored(engine):
    add_patient(engine, "P1", sessions=_sessions("nausea", "dissociation", "hypertension"))
    as_of_day_1 = OutcomeDefinition(cutoff=day(1))
    summary = safety.session_summary(engine, as_of_day_1)
    assert (summary.sessions, summary.sessions_with_dissociation, summary.cutoff) == (2, 1, day(1))
    assert safety.blood_pressure_sessions(engine, as_of_day_1).total == 0
    assert safety.session_summary(engine).sessions == 3  # default cut-off: the latest date


# --- dissociation against four hours ------------------------------------------------------


def test_exactly_240_minutes_is_within_four_hours(engine):
    add_patient(
        engine,
        "P1",
        sessions=[
            {"day": 0, "adverse_events": "dissociation", "ae_duration_min": 30},
            {"day": 1, "adverse_events": "dissociation", "ae_duration_min": 240},
            {"day": 2, "adverse_events": "dissociation", "ae_duration_min": 240.5},
            {"day": 3, "adverse_events": "dissociation;nausea", "ae_duration_min": 300},
            {"day": 4, "adverse_events": "dissociation", "ae_duration_min": 301},
            {"day": 5, "adverse_events": "dissociation", "ae_duration_min": None},
            {"day": 6, "adverse_events": "nausea", "ae_duration_min": 500},  # not dissociation
        ],
    )
    result = safety.dissociation_durations(engine)
    assert (result.episodes, result.with_duration) == (6, 5)
    assert (result.within_limit, result.over_limit, result.with_other_events) == (2, 3, 1)
    assert result.within.count == 2 and result.within.nobs == 5
    assert result.median_min == 240.5
    assert result.longest_min == 301
    assert {b.label: b.episodes for b in result.bins if b.episodes} == {
        "0–30": 1,
        "210–240": 1,
        "240–270": 1,
        "270–300": 1,
        ">300": 1,
    }
    assert sum(b.episodes for b in result.bins) == result.with_duration
    assert "40.0% of dissociation episodes" in findings.dissociation_finding(result)
    assert "3 lasted longer (the longest 301 min)" in findings.dissociation_finding(result)


def test_median_of_an_even_number_of_durations_is_the_mean_of_the_middle_two(engine):
    add_patient(
        engine,
        "P1",
        sessions=[
            {"day": i, "adverse_events": "dissociation", "ae_duration_min": m}
            for i, m in enumerate((90, 10, 60, 20))
        ],
    )
    result = safety.dissociation_durations(engine)
    assert result.median_min == 40
    assert result.over_limit == 0
    assert "none lasted longer" in findings.dissociation_finding(result)


# --- adverse events at follow-up ----------------------------------------------------------


def test_followup_events_by_period_and_the_long_term_claim(engine):
    add_patient(
        engine,
        "P1",
        sessions=_sessions(None),
        followups=[
            {"day": 30, "pain": 5, "adverse_events": "headache"},
            {"day": 59, "pain": 5, "adverse_events": "other"},
            {"day": 60, "pain": 5, "adverse_events": "nausea;vomiting"},  # first day of the window
            {"day": 120, "pain": 5},
            {"day": 121, "pain": 5, "adverse_events": "headache"},
        ],
    )
    add_patient(engine, "P2", sessions=_sessions(None), followups=[{"day": 90, "pain": 4}])
    frame = safety.followup_events(engine)
    before, window, after = safety.followup_periods(OutcomeDefinition())
    assert (before, window, after) == ("Before day 60", "Day 60–120 (window)", "After day 120")
    anything = frame[frame["event"] == "any"].set_index("period")
    assert anything.loc[before, ["followups", "with_event"]].tolist() == [2, 2]
    assert anything.loc[window, ["followups", "with_event"]].tolist() == [3, 1]
    assert anything.loc[after, ["followups", "with_event"]].tolist() == [1, 1]
    vomiting = frame[(frame["event"] == "vomiting") & (frame["period"] == window)].iloc[0]
    assert vomiting["with_event"] == 1
    assert vomiting["rate"] == pytest.approx(1 / 3)

    long_term = safety.long_term_events(engine)
    assert long_term.from_day == 60
    assert (long_term.followups, long_term.followups_with_ae) == (4, 2)
    assert (long_term.patients, long_term.patients_with_ae) == (2, 1)
    assert dict(long_term.by_event)["headache"] == 1  # the day-30 headache is not long term
    assert long_term.by_event[0][1] == 1
    assert "2 of 4 follow-ups from day 60 on (50.0%" in findings.long_term_finding(long_term)
    assert "in 1 of 2 patients" in findings.long_term_finding(long_term)


def test_followups_of_patients_outside_the_cohort_or_after_the_cutoff_are_left_out(engine):
    add_patient(engine, "N1", site="north", followups=[{"day": 90, "pain": 5, "adverse_events": "other"}])
    add_patient(engine, "S1", site="south", followups=[{"day": 90, "pain": 5}, {"day": 200, "pain": 5}])
    south = safety.long_term_events(engine, cohort=CohortFilter(sites=("south",)))
    assert (south.followups, south.followups_with_ae) == (2, 0)
    assert findings.long_term_finding(south).startswith(
        "No adverse event was reported at any of the 2 follow-ups"
    )
    as_of_day_100 = safety.long_term_events(engine, OutcomeDefinition(cutoff=day(100)))
    assert (as_of_day_100.followups, as_of_day_100.followups_with_ae) == (2, 1)


# --- blood pressure -----------------------------------------------------------------------


def test_blood_pressure_sessions_latest_first_and_limited(engine):
    add_patient(
        engine,
        "P1",
        sessions=[
            {"day": 0, "adverse_events": "hypertension", "dose_mg": 60, "weight_kg": 80},
            {"day": 5, "adverse_events": "dissociation;hypertension", "ae_duration_min": 45},
            {"day": 6, "adverse_events": "nausea"},
        ],
    )
    add_patient(engine, "P2", sessions=[{"day": 5, "adverse_events": "hypertension"}])
    result = safety.blood_pressure_sessions(engine, limit=2)
    assert result.total == 3
    assert result.truncated
    assert list(result.sessions.columns) == list(safety.BP_COLUMNS)
    assert result.sessions["patient_id"].tolist() == ["P1", "P2"]  # day 5 for both, then by id
    assert result.sessions["session_date"].tolist() == [day(5), day(5)]
    everything = safety.blood_pressure_sessions(engine).sessions
    assert not safety.blood_pressure_sessions(engine).truncated
    assert everything["dose_mg_per_kg"].iloc[-1] == pytest.approx(0.75)
    assert everything["session_date"].iloc[-1] == date(2025, 1, 6)


# --- figures ------------------------------------------------------------------------------


def test_figures_have_percent_axes_error_bars_and_the_four_hour_line(sqlite_engine):
    add_patient(
        sqlite_engine,
        "P1",
        sessions=[
            {"day": 0, "route": "intranasal", "adverse_events": "dissociation", "ae_duration_min": 250},
            {"day": 1, "route": "intramuscular", "adverse_events": "nausea", "ae_duration_min": 20},
            {"day": 2, "route": "intramuscular", "adverse_events": "dissociation", "ae_duration_min": 60},
        ],
        followups=[{"day": 90, "pain": 4, "adverse_events": "headache"}],
    )
    frame = safety.events_by_type(sqlite_engine)
    events = charts.events_by_type_chart(frame)
    assert events.layout.yaxis.tickformat == ".0%"
    assert "%" in events.layout.yaxis.title.text and events.layout.xaxis.title.text
    assert len(events.data) == 2  # one series per route
    assert events.data[0].x[0] == "Dissociation"  # most frequent event first
    assert events.data[0].error_y.arrayminus is not None
    assert "Intramuscular (2 sessions): dissociation 50.0%, nausea 50.0%" in charts.events_alt_text(frame)

    durations = safety.dissociation_durations(sqlite_engine)
    histogram = charts.dissociation_histogram(durations)
    line = histogram.layout.shapes[0]
    assert line.x0 == line.x1 == 240
    assert histogram.layout.annotations[0].text.startswith("4 hours")
    assert sum(sum(trace.y) for trace in histogram.data) == 2
    assert histogram.data[1].name == "> 4 hours (1)" and list(histogram.data[1].y).count(1) == 1
    assert "minutes" in histogram.layout.xaxis.title.text
    assert "1 ended within 4 hours and 1 lasted longer" in charts.dissociation_alt_text(durations)

    followups = safety.followup_events(sqlite_engine)
    chart = charts.followup_events_chart(followups)
    assert [trace.name for trace in chart.data] == ["Any event", "Headache"]
    assert "days" in chart.layout.xaxis.title.text and "%" in chart.layout.yaxis.title.text
    assert "1 of 1 follow-ups (100.0%)" in charts.followup_alt_text(followups)


# --- the page -----------------------------------------------------------------------------


@pytest.fixture
def safety_page(monkeypatch):
    """The Safety page of the app on a given database URL."""

    def run(url: str) -> AppTest:
        monkeypatch.setenv("DATABASE_URL", url)
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
        at.run()
        at.switch_page("pages/safety.py").run()
        return at

    return run


def test_safety_page_shows_what_the_analysis_computes(safety_page, sqlite_engine):
    for i in range(12):
        add_patient(
            sqlite_engine,
            f"P{i:02d}",
            sessions=[
                {"day": 0, "adverse_events": "dissociation", "ae_duration_min": 300 if i == 0 else 60},
                {"day": 1, "adverse_events": "hypertension" if i < 3 else None},
            ],
            followups=[{"day": 90, "pain": 4, "adverse_events": "headache" if i == 5 else None}],
        )
    summary = safety.session_summary(sqlite_engine)
    durations = safety.dissociation_durations(sqlite_engine)
    at = safety_page(sqlite_engine.url.render_as_string(hide_password=False))
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Sessions"] == f"{summary.sessions:,}" == "24"
    assert metrics["AE rate per session"] == f"{100 * summary.any_ae.rate:.1f}%" == "62.5%"
    assert metrics["Dissociation per session"] == "50.0%"
    assert metrics["Dissociation > 4 hours"] == str(durations.over_limit) == "1"
    text = " ".join(md.value for md in at.markdown)
    assert findings.dissociation_finding(durations) in text
    assert "91.7% of dissociation episodes" in text
    assert "1 of 12 follow-ups from day 60 on" in text
    charts_shown = at.get("plotly_chart")
    assert len(charts_shown) == 3
    histogram = json.loads(charts_shown[1].proto.spec)
    assert histogram["layout"]["shapes"][0]["x0"] == 240
    assert "Sessions with a blood-pressure event (3)" in at.expander[0].label
    assert at.dataframe[0].value["Patient"].tolist() == ["P00", "P01", "P02"]


def test_safety_page_on_an_empty_database_says_what_to_do(safety_page, sqlite_engine):
    at = safety_page(sqlite_engine.url.render_as_string(hide_password=False))
    assert not at.exception
    assert "No patients yet" in at.info[0].value
    assert not at.get("plotly_chart")
    assert not at.metric


def test_blood_pressure_sessions_show_a_dash_where_nothing_is_recorded_never_none(safety_page, sqlite_engine):
    """Issue #14 item 19: a session without a weight or a duration reads "—", not "None"."""
    add_patient(
        sqlite_engine,
        "BP1",
        sessions=[
            {
                "day": 0,
                "adverse_events": "hypertension",
                "dose_mg": 50,
                "weight_kg": 80,
                "ae_duration_min": 20,
            },
            {"day": 1, "adverse_events": "hypertension;nausea", "dose_mg": 60, "weight_kg": None},
        ],
    )
    at = safety_page(sqlite_engine.url.render_as_string(hide_password=False))
    assert not at.exception
    table = at.dataframe[0].value
    assert sorted(table["Dose per kg"].tolist()) == ["0.62 mg/kg", "—"]  # 50 mg / 80 kg; no weight
    assert sorted(table["Longest event"].tolist()) == ["20 min", "—"]
    assert "hypertension, nausea" in table["All events of the session"].tolist()
    cells = {str(value) for value in table.to_numpy().ravel()}
    assert not cells & {"None", "nan", "NaN", "NaT", "<NA>"}
