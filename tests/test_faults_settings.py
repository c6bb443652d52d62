"""Bad settings and bad addresses: a plain message and exit code 2, never a traceback (issue #14,
items 13 and 14; docs/methods.md "Settings", README "Command line")."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.db import store
from analysis.domain.definition import OutcomeDefinition, check_chosen_cutoff
from analysis.domain.errors import EXIT_SETTING, SettingError
from tests.clinic import add_patient
from tests.test_cli import cli

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- the limits (item 13)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timepoint_days": 3_000_000}, "time point must be 1 to 3,650 days"),
        ({"timepoint_days": 0}, "time point must be 1 to 3,650 days"),
        ({"window_days": 3_000_000}, "window must be 0 to 365 days"),
        ({"timepoint_days": 14, "window_days": 30}, "must not open before the first session"),
        ({"threshold": float("nan")}, "threshold must be above 0"),
        ({"band": (0.35, 0.35)}, "bottom < top"),
        ({"band": (0.40, 0.30)}, "bottom < top"),
        ({"cutoff": date(1969, 12, 31)}, "1970-01-01 or later"),
    ],
)
def test_a_setting_outside_its_limits_is_a_setting_error_in_plain_words(changes, message):
    with pytest.raises(SettingError, match=message) as raised:
        OutcomeDefinition(**changes)
    assert raised.value.exit_code == EXIT_SETTING


def test_a_chosen_cut_off_after_today_is_refused_but_one_from_the_data_is_not():
    tomorrow = date.today() + timedelta(days=1)
    with pytest.raises(SettingError, match="is after today"):
        check_chosen_cutoff(tomorrow)
    check_chosen_cutoff(date.today())
    OutcomeDefinition(cutoff=tomorrow)  # the data's latest date, on a server whose clock is behind


def test_the_limits_themselves_are_accepted():
    OutcomeDefinition(timepoint_days=3650, window_days=365, cutoff=date(1970, 1, 1))
    OutcomeDefinition(timepoint_days=1, window_days=1, cutoff=date.today())
    OutcomeDefinition(timepoint_days=30, window_days=30, band=(0.0, 1.0))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--timepoint", "3000000"], "time point must be 1 to 3,650 days"),
        (["--window", "3000000"], "window must be 0 to 365 days"),
        (["--cutoff", "0001-01-01"], "1970-01-01 or later"),
        (["--cutoff", "9999-12-31"], "is after today"),
    ],
)
def test_cli_refuses_an_out_of_range_setting_with_exit_2(sqlite_engine, flags, message):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = cli("summary", "--db", url, *flags)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_shared_link_with_a_huge_time_point_shows_a_message_not_a_traceback(monkeypatch, sqlite_engine):
    for i in range(12):
        add_patient(sqlite_engine, f"P{i}", followups=[{"day": 90, "pain": 3}])
    monkeypatch.setenv("DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params["timepoint"] = "3000000"
    at.run()
    assert not at.exception
    # once a page, under the title (pages.common.definition_notice)
    assert sum("time point must be 1 to 3,650 days" in e.value for e in at.error) == 1
    assert any(m.label == "Patients treated" for m in at.metric)  # the page still shows the defaults


# --------------------------------------------------------------------------- addresses (item 14)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///", "names no database file"),
        ("sqlite://", "names no database file"),
        ("postgresql://user:secret@host:abc/db", "is not a valid database URL"),
        ("postgresql://user@host:99999/db", "a port is 1 to 65535"),
        ("mysql://user@host/db", "is not supported"),
        ("not a url", "is not a valid database URL"),
    ],
)
def test_a_malformed_or_unsupported_address_is_a_setting_error(url, message):
    with pytest.raises(SettingError, match=message) as raised:
        store.make_engine(url)
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    "url", ["sqlite:///", "postgresql://user@host:abc/db", "mysql://user@host/db", "not a url"]
)
def test_cli_refuses_a_malformed_address_with_exit_2_and_imports_nothing(url):
    result = cli("import", "--db", url, "data/sample/patients.csv")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Imported" not in result.stdout


def test_an_unreachable_database_stays_exit_3():
    result = cli("summary", "--db", "postgresql://nobody@127.0.0.1:9/none")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr


def test_demo_refuses_a_negative_seed_with_exit_2(tmp_path):
    result = cli("demo", "--db", f"sqlite:///{tmp_path / 'demo.db'}", "--seed", "-1")
    assert result.returncode == 2
    assert "--seed must be a whole number, 0 or more" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_app_on_a_malformed_address_shows_a_message_not_a_traceback(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://user@host:abc/db")
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not at.exception
    assert "not a valid database URL" in at.error[0].value


def test_readme_states_the_exit_codes_the_cli_returns():
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "2 a bad setting or a malformed or unsupported database address" in readme
    assert "3 the database cannot be reached, opened or used" in readme
