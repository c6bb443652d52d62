"""The Conditions and Patients pages through ``AppTest``: they show what ``analysis`` computes.

After ``switch_page`` AppTest runs the page script on its own: with a ``pages/`` folder beside
the entry point, AppTest resets Streamlit's ``PagesManager.uses_pages_directory`` before every
run, so the switched run takes the legacy multipage path and ``dashboard.py`` (which draws the
sidebar filters) does not run. The real server runs the entry point every time. The tests
therefore set a sidebar filter through its session-state key, which is what the pages read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.domain.definition import OutcomeDefinition
from analysis.present import format as fmt
from analysis.queries.response import summarize
from tests.clinic import add_patient

ROOT = Path(__file__).resolve().parent.parent
CONDITIONS, PATIENTS = "pages/conditions.py", "pages/patients.py"


@pytest.fixture
def open_page(monkeypatch):
    """Run the app on a database URL (the app reads DATABASE_URL) and switch to a page."""

    def run(url: str, page: str) -> AppTest:
        monkeypatch.setenv("DATABASE_URL", url)
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
        at.run()
        at.switch_page(page).run()
        assert not at.exception, at.exception
        return at

    return run


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def small_clinic(engine) -> None:
    """CRPS 9/12 respond, fibromyalgia 3/12, migraine 2/5 (a small group); pain levels differ."""
    for i in range(12):
        route = "intravenous" if i < 4 else "intranasal"
        add_patient(
            engine,
            f"C{i:02d}",
            condition="crps",
            baseline_pain=8,
            sessions=[
                {"day": 0, "pre_pain": 8, "post_pain": 4, "route": route},
                {"day": 4, "pre_pain": 6, "post_pain": 3, "route": route, "adverse_events": "nausea"},
            ],
            followups=[{"day": 30, "pain": 5}, {"day": 90, "pain": 3 if i < 9 else 7}],
        )
    for i in range(12):
        add_patient(
            engine,
            f"F{i:02d}",
            condition="fibromyalgia",
            baseline_pain=6,
            sessions=[{"day": 0, "pre_pain": 6}, {"day": 5, "pre_pain": 5}],
            followups=[{"day": 90, "pain": 3 if i < 3 else 6}],
        )
    for i in range(5):
        add_patient(
            engine,
            f"M{i:02d}",
            condition="migraine",
            baseline_pain=9,
            sessions=[{"day": 0, "pre_pain": 9}],
            followups=[{"day": 90, "pain": 2 if i < 2 else 9}],
        )


def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


# --- Conditions ---------------------------------------------------------------------------


def test_forest_plot_has_one_point_per_condition_with_the_engines_rates(open_page, sqlite_engine):
    small_clinic(sqlite_engine)
    expected = summarize(sqlite_engine, OutcomeDefinition(), by=("condition",)).groups
    at = open_page(url_of(sqlite_engine), CONDITIONS)
    forest = charts(at)[0]
    points = forest["data"][0]
    assert points["y"] == ["CRPS", "Fibromyalgia", "Migraine (small n)"]
    assert points["x"] == pytest.approx([g.rate for g in expected])
    assert [g.rate for g in expected] == pytest.approx([9 / 12, 3 / 12, 2 / 5])
    assert points["error_x"]["arrayminus"] == pytest.approx([g.rate - g.ci_low for g in expected])
    assert points["marker"]["symbol"] == ["circle", "circle", "circle-open"]
    assert forest["layout"]["shapes"][0]["layer"] == "below"  # the band behind the rates


def test_table_shows_the_same_numbers_as_the_forest_plot(open_page, sqlite_engine):
    small_clinic(sqlite_engine)
    expected = summarize(sqlite_engine, OutcomeDefinition(), by=("condition",)).groups
    at = open_page(url_of(sqlite_engine), CONDITIONS)
    table = at.dataframe[0].value
    assert table.columns.tolist()[4:] == ["Rate", "≥50% rate", "95% CI", "p > 30%", "p > 40%", "Verdict"]
    assert table["Condition"].tolist() == ["CRPS", "Fibromyalgia", "Migraine"]
    assert table["Patients"].tolist() == [12, 12, 5]
    assert table["Responders"].tolist() == [9, 3, 2]
    assert table["Rate"].tolist() == [fmt.percent(g.rate) for g in expected] == ["75.0%", "25.0%", "40.0%"]
    assert table["95% CI"].tolist() == [fmt.interval(g.ci_low, g.ci_high) for g in expected]
    assert table["p > 40%"].tolist() == [fmt.p_value(g.p_gt_upper_holm) for g in expected]
    assert table["≥50% rate"].tolist() == [fmt.percent(g.substantial / g.n) for g in expected]
    assert table["Verdict"].tolist()[0] == "Above band" and expected[0].verdict == "above"
    assert table["Verdict"].tolist()[2].endswith("(small n)")


def test_extreme_p_values_read_below_0_001_and_above_0_999_never_0_000(open_page, sqlite_engine):
    """Issue #14 item 19: 30 of 30 above a 30% band is p < 0.001; 0 of 30 is p > 0.999."""
    for i in range(30):
        add_patient(
            sqlite_engine, f"A{i:02d}", condition="crps", baseline_pain=10, followups=[{"day": 90, "pain": 1}]
        )
        add_patient(
            sqlite_engine,
            f"B{i:02d}",
            condition="migraine",
            baseline_pain=10,
            followups=[{"day": 90, "pain": 9}],
        )
    at = open_page(url_of(sqlite_engine), CONDITIONS)
    table = at.dataframe[0].value.set_index("Condition")
    assert table.loc["CRPS", "p > 30%"] == "< 0.001"
    assert table.loc["Migraine", "p > 30%"] == "> 0.999"


def test_choosing_a_condition_changes_its_trajectory_and_route_split(open_page, sqlite_engine):
    small_clinic(sqlite_engine)
    at = open_page(url_of(sqlite_engine), CONDITIONS)
    assert at.selectbox(key="trajectory_condition").value == "crps"
    _, trajectory, routes = charts(at)
    mean = trajectory["data"][-1]
    assert mean["x"] == ["Session 1", "Session 2", "1 month", "3 months"]
    assert mean["y"] == pytest.approx([8, 6, 5, (9 * 3 + 3 * 7) / 12])
    assert routes["data"][0]["y"] == ["Intranasal (small n)", "Intravenous (small n)"]

    at.selectbox(key="trajectory_condition").select("fibromyalgia").run()
    assert not at.exception
    _, trajectory, routes = charts(at)
    mean = trajectory["data"][-1]
    assert mean["x"] == ["Session 1", "Session 2", "3 months"]
    assert mean["y"] == pytest.approx([6, 5, (3 * 3 + 9 * 6) / 12])
    assert routes["data"][0]["y"] == ["Intranasal"]
    assert routes["data"][0]["x"] == pytest.approx([3 / 12])


def test_conditions_page_follows_the_sidebar_filter(open_page, sqlite_engine):
    small_clinic(sqlite_engine)
    at = open_page(url_of(sqlite_engine), CONDITIONS)
    at.session_state["condition"] = ["fibromyalgia", "migraine"]  # the sidebar's filter
    at.run()
    assert not at.exception
    assert charts(at)[0]["data"][0]["y"] == ["Fibromyalgia", "Migraine (small n)"]
    assert at.selectbox(key="trajectory_condition").value == "fibromyalgia"


# --- Patients -----------------------------------------------------------------------------


def test_picking_a_patient_shows_their_timeline(open_page, sqlite_engine):
    small_clinic(sqlite_engine)
    at = open_page(url_of(sqlite_engine), PATIENTS)
    assert at.selectbox(key="patient").value == "C00"  # the first by ID
    at.selectbox(key="patient").select("C10").run()
    assert not at.exception
    traces = {trace.get("name"): trace for trace in charts(at)[0]["data"]}
    assert traces["Pain before session"]["x"] == [0, 4] and traces["Pain before session"]["y"] == [8, 6]
    assert traces["Pain after session"]["y"] == [4, 3]
    assert traces["Follow-up pain"]["x"] == [30, 90] and traces["Follow-up pain"]["y"] == [5, 7]
    assert "Non-responder" in at.markdown[0].value  # 8 → 7 is 12.5 %
    assert "day 90" in at.caption[1].value
    events = at.dataframe[0].value
    assert events["Event"].tolist() == ["Session 1", "Session 2", "Follow-up", "Follow-up (counted)"]
    assert events["Adverse events"].tolist()[1] == "nausea"


def test_patient_tables_show_a_dash_where_nothing_is_recorded_never_none(open_page, sqlite_engine):
    """Issue #14 item 19: a follow-up has no dose and a session no follow-up pain: "—", not "None"."""
    small_clinic(sqlite_engine)
    add_patient(sqlite_engine, "Z-LOST", baseline_pain=7, sessions=[{"day": 0, "dose_mg": 35.5}])
    at = open_page(url_of(sqlite_engine), PATIENTS)
    at.selectbox(key="patient").select("C10").run()
    events = at.dataframe[0].value
    assert events["Dose"].tolist()[2:] == ["—", "—"]  # the follow-ups
    assert events["Follow-up pain"].tolist()[:2] == ["—", "—"]  # the sessions
    cohort = at.dataframe[1].value
    lost = cohort[cohort["Patient"] == "Z-LOST"].iloc[0]
    assert (lost["FU day"], lost["FU pain"], lost["Reduction"]) == ("—", "—", "—")
    for frame in (events, cohort):
        cells = {str(value) for value in frame.to_numpy().ravel()}
        assert not cells & {"None", "nan", "NaN", "NaT", "<NA>"}


def test_search_placeholder_shows_the_start_of_an_id_the_clinic_has(open_page, sqlite_engine):
    small_clinic(sqlite_engine)
    at = open_page(url_of(sqlite_engine), PATIENTS)
    placeholder = at.text_input(key="patient_search").proto.placeholder
    assert placeholder == "Start of a patient ID, e.g. C00"
    example = placeholder.rsplit(" ", 1)[1]
    at.text_input(key="patient_search").input(example).run()
    assert at.selectbox(key="patient").options  # the example finds patients


def test_cohort_list_shows_each_patients_status(open_page, sqlite_engine):
    small_clinic(sqlite_engine)
    at = open_page(url_of(sqlite_engine), PATIENTS)
    cohort = at.dataframe[1].value
    assert len(cohort) == 29
    status = dict(zip(cohort["Patient"], cohort["Status"], strict=True))
    assert status["C00"] == "responder" and status["C11"] == "non-responder"
    assert sum(s == "responder" for s in status.values()) == 9 + 3 + 2
    assert any("29 patients" in caption.value for caption in at.caption)


def test_search_narrows_the_patients_to_pick_from(open_page, sqlite_engine):
    small_clinic(sqlite_engine)
    at = open_page(url_of(sqlite_engine), PATIENTS)
    at.text_input(key="patient_search").input("m0").run()
    assert not at.exception
    assert at.selectbox(key="patient").options == [f"M{i:02d}" for i in range(5)]
    assert at.selectbox(key="patient").value == "M00"
    at.text_input(key="patient_search").input("nobody").run()
    assert not at.exception
    assert "No patient matches" in at.info[0].value


def test_patient_picker_falls_back_when_the_filter_excludes_the_choice(open_page, sqlite_engine):
    small_clinic(sqlite_engine)
    at = open_page(url_of(sqlite_engine), PATIENTS)
    at.selectbox(key="patient").select("C05").run()
    at.session_state["condition"] = ["fibromyalgia"]  # the sidebar's filter
    at.run()
    assert not at.exception
    assert at.selectbox(key="patient").value == "F00"
    assert at.get("plotly_chart")[0].proto.spec  # the fallback patient's timeline is drawn
    assert at.dataframe[1].value["Patient"].tolist() == [f"F{i:02d}" for i in range(12)]


# --- empty database -----------------------------------------------------------------------


@pytest.mark.parametrize("page", [CONDITIONS, PATIENTS])
def test_empty_database_shows_the_empty_state(open_page, sqlite_engine, page):
    at = open_page(url_of(sqlite_engine), page)
    assert "No patients yet" in at.info[0].value
    assert not at.get("plotly_chart")
    assert not at.dataframe
