"""What leaves the product for the measures beyond pain: the ``secondary`` command (JSON, CSV,
table, help, bad settings), the ≥ 50 % rate in the summary exports and the board report, and
the page "Beyond pain" through ``AppTest``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.domain.measures import CHANGE_MEASURES, RATE_MEASURES
from analysis.present.board_report import overview_html
from analysis.queries.response import summarize
from analysis.queries.secondary import secondary_table
from tests.clinic import add_patient
from tests.test_cli import cli

ROOT = Path(__file__).resolve().parent.parent
RATE_KEYS = {"n", "count", "rate", "ci_low", "ci_high", "small_n"}
CHANGE_KEYS = {"n", "mean", "ci_low", "ci_high", "median"}


def clinic(engine) -> None:
    """12 CRPS patients on opioids with PHQ-9 (8 substantial responders), 3 migraine patients."""
    for i in range(12):
        add_patient(
            engine,
            f"C{i:02d}",
            condition="crps",
            baseline_mme=60.0,
            baseline_phq9=15,
            followups=[
                {
                    "day": 90,
                    "pain": 2 if i < 8 else 7,
                    "pgic": 2 if i < 7 else 4,
                    "mme": 0.0 if i < 3 else 60.0,
                    "phq9": 4 if i < 6 else 14,
                }
            ],
        )
    for i in range(3):
        add_patient(
            engine,
            f"M{i}",
            condition="migraine",
            baseline_headache_days=10,
            followups=[{"day": 90, "pain": 8, "headache_days": 4}],
        )


def url_of(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_secondary_json_has_the_documented_shape(sqlite_engine):
    clinic(sqlite_engine)
    result = cli("secondary", "--db", url_of(sqlite_engine), "--by", "condition", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"definition", "overall", "groups"}
    assert document["definition"]["timepoint_days"] == 90
    assert document["definition"]["phq9_baseline"] == 10
    overall = document["overall"]
    for key in RATE_MEASURES:
        assert set(overall[key]) == RATE_KEYS, key
    for key in CHANGE_MEASURES:
        assert set(overall[key]) == CHANGE_KEYS, key
    assert set(overall["pgic_agreement"]) == {"n", "both", "pgic_only", "nrs_only", "neither"}
    assert [g["condition"] for g in document["groups"]] == ["crps", "migraine"]
    crps = document["groups"][0]
    assert (crps["substantial"]["count"], crps["substantial"]["n"]) == (8, 12)
    assert crps["mme_stopped"]["rate"] == 3 / 12  # full precision
    migraine = document["groups"][1]
    assert migraine["phq9_response"] == {
        "n": 0, "count": 0, "rate": None, "ci_low": None, "ci_high": None, "small_n": True
    }  # fmt: skip
    assert migraine["bpi_change"]["mean"] is None


def test_secondary_csv_and_table_suppress_small_groups(sqlite_engine):
    clinic(sqlite_engine)
    url = url_of(sqlite_engine)
    lines = cli("secondary", "--db", url, "--by", "condition", "--format", "csv").stdout.splitlines()
    assert lines[0].startswith("condition,measure,n,count,rate,")
    assert any(line.startswith("crps,substantial,12,8,") for line in lines)
    assert any(line.startswith("migraine,headache_response,<11,<11,") for line in lines)
    table = cli("secondary", "--db", url, "--by", "condition").stdout
    assert table.startswith("Outcomes beyond pain at day 90")
    assert "66.7% (8)" in table
    assert "None" not in table and "nan" not in table
    flags = ("--by", "condition", "--format", "csv", "--no-suppress")
    unsuppressed = cli("secondary", "--db", url, *flags).stdout
    assert "<11" not in unsuppressed


def test_secondary_help_explains_every_flag():
    result = cli("secondary", "--help")
    assert result.returncode == 0
    for flag in ("--db", "--by", "--timepoint", "--missing", "--ci", "--cutoff", "--format", "--no-suppress",
                 "--substantial", "--pgic-improved", "--mme-reduction", "--phq9-baseline", "--phq9-response",
                 "--phq9-remission", "--bpi-points", "--headache-reduction"):  # fmt: skip
        assert any(line.strip().startswith(flag) for line in result.stdout.splitlines()), flag


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--pgic-improved", "9"], "PGIC"), (["--phq9-response", "1.5"], "phq9 response")],
)
def test_bad_measure_settings_are_refused_with_exit_code_2(sqlite_engine, flags, message):
    result = cli("secondary", "--db", url_of(sqlite_engine), *flags)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_summary_exports_carry_the_substantial_rate_beside_the_response_rate(sqlite_engine):
    clinic(sqlite_engine)
    url = url_of(sqlite_engine)
    shown = cli("summary", "--db", url, "--by", "condition", "--format", "csv", "--no-suppress")
    lines = shown.stdout.splitlines()
    header = lines[0].split(",")
    crps = dict(zip(header, lines[1].split(","), strict=True))
    assert (crps["substantial"], float(crps["substantial_rate"])) == ("8", pytest.approx(8 / 12))
    assert header.index("substantial_rate") == header.index("rate") + 1
    lines = cli("summary", "--db", url, "--by", "condition", "--format", "csv").stdout.splitlines()
    migraine = dict(zip(header, lines[2].split(",")[: len(header)], strict=True))
    assert (migraine["substantial"], migraine["substantial_rate"]) == ("<11", "<11")
    table = cli("summary", "--db", url_of(sqlite_engine), "--by", "condition").stdout
    assert "≥50%" in table.splitlines()[1]


def test_board_report_has_the_substantial_rate_and_every_domain(sqlite_engine):
    clinic(sqlite_engine)
    html = overview_html(sqlite_engine)
    assert "≥50% rate" in html
    assert "<h2>Outcomes beyond pain</h2>" in html
    section = html[html.index("<h2>Outcomes beyond pain</h2>") :]
    for words in ("PGIC much or very much improved", "Opioids stopped", "PHQ-9 remission", "BPI interference",
                  "Headache days", "Change in MME/day"):  # fmt: skip
        assert words in section, words
    assert "46.7% (7)" in section  # PGIC improved: 7 of 15 eligible patients
    assert "&lt;11" in section  # headache days: 3 patients qualify


def test_the_overall_substantial_rate_agrees_between_summary_and_secondary(engine):
    clinic(engine)
    summary = summarize(engine).overall
    substantial = secondary_table(engine).overall.rates["substantial"]
    assert (summary.substantial, summary.n) == (substantial.count, substantial.n) == (8, 15)


# --- the page ------------------------------------------------------------------------------


@pytest.fixture
def beyond_pain_page(monkeypatch, sqlite_engine):
    def run() -> AppTest:
        monkeypatch.setenv("DATABASE_URL", url_of(sqlite_engine))
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
        at.run()
        at.switch_page("pages/beyond_pain.py").run()
        assert not at.exception, at.exception
        return at

    return run


def test_page_shows_each_domain_with_who_qualifies_and_honest_empty_states(beyond_pain_page, sqlite_engine):
    clinic(sqlite_engine)
    at = beyond_pain_page()
    headers = [h.value for h in at.subheader]
    for title in ("Pain", "Patient's global impression (PGIC)", "Opioids", "Depression (PHQ-9)",
                  "Function (BPI interference)", "Headache days"):  # fmt: skip
        assert title in headers
    captions = " ".join(c.value for c in at.caption)
    assert "12 patients qualify" in captions  # opioids and PHQ-9: the 12 CRPS patients
    infos = " ".join(i.value for i in at.info)
    assert "add the column `baseline_bpi_interference` to patients" in infos
    forests = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    pgic = next(f for f in forests if f["layout"]["title"]["text"].startswith("PGIC"))
    points = pgic["data"][0]
    assert points["y"] == ["All patients", "CRPS", "Migraine (small n)"]
    assert points["x"] == pytest.approx([7 / 15, 7 / 12, 0.0])
    agreement = at.dataframe[0].value
    assert list(agreement.iloc[0, 1:]) == ["7", "0", "7"]  # PGIC improved: all 7 responders
    assert list(agreement.iloc[2, 1:]) == ["8", "4", "12"]  # the migraine patients have no PGIC


def test_page_breaks_down_by_route_on_request(beyond_pain_page, sqlite_engine):
    clinic(sqlite_engine)
    at = beyond_pain_page()
    at.session_state["bp_by"] = "route"
    at.run()
    forests = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert forests[0]["data"][0]["y"] == ["All patients", "Intranasal"]
