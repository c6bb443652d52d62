"""Login, roles and sites: the access rules, and what each role sees in the app (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.domain.access import (
    EMAIL_NOT_VERIFIED,
    Access,
    AccessConfigError,
    AccessPolicy,
    is_loopback,
    load_policy,
    open_mode_refusal,
)
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.queries.response import summarize
from tests.clinic import add_patient

ROOT = Path(__file__).resolve().parent.parent
ACCESS_TOML = """
[users."director@example.org"]
role = "director"

[users."nurse@example.org"]
role = "clinician"
sites = ["north"]

[groups.analysts]
role = "analyst"

[groups.clinicians]
role = "clinician"
sites = ["main"]

[groups.east-clinicians]
role = "clinician"
sites = ["east"]
"""
USERS = {
    "director": {"email": "director@example.org", "email_verified": True},
    "analyst": {"email": "ana@example.org", "email_verified": True, "groups": ["Analysts"]},
    "clinician": {"email": "nurse@example.org", "email_verified": True},
    "unknown": {"email": "visitor@example.org", "email_verified": True, "groups": ["patients"]},
    # The director's address, not verified by the provider (anyone may type it on an account).
    "unverified": {"email": "director@example.org", "email_verified": False},
}
PAGES = ["overview", "conditions", "routes", "safety", "patients", "data", "methods"]


@pytest.fixture
def policy() -> AccessPolicy:
    import tomllib

    return AccessPolicy.from_mapping(tomllib.loads(ACCESS_TOML))


def test_email_entry_gives_role_and_sites(policy):
    nurse = policy.resolve({"email": "Nurse@Example.org", "email_verified": True, "groups": ["analysts"]})
    assert (nurse.role, nurse.sites) == ("clinician", frozenset({"north"}))  # e-mail wins over groups


@pytest.mark.parametrize("verified", [False, None, "false", 0])
def test_an_unverified_email_gives_no_access(policy, verified):
    claims = {"email": "director@example.org"} | ({} if verified is None else {"email_verified": verified})
    claimed = policy.resolve(claims)
    assert not claimed.granted
    assert claimed.refused_because == EMAIL_NOT_VERIFIED


def test_an_unverified_email_falls_back_to_the_groups(policy):
    nurse = policy.resolve({"email": "nurse@example.org", "email_verified": False, "groups": ["analysts"]})
    assert (nurse.role, nurse.refused_because) == ("analyst", "")
    assert policy.resolve({"email": "director@example.org", "email_verified": "true"}).role == "director"


def test_groups_give_the_most_privileged_role_and_the_union_of_its_sites(policy):
    both = policy.resolve({"email": "x@example.org", "groups": ["clinicians", "east-clinicians"]})
    assert (both.role, both.sites) == ("clinician", frozenset({"main", "east"}))
    mixed = policy.resolve({"email": "y@example.org", "groups": ["clinicians", "analysts"]})
    assert (mixed.role, mixed.sites) == ("analyst", None)


def test_an_unknown_user_has_no_access(policy):
    visitor = policy.resolve(USERS["unknown"])
    assert not visitor.granted
    assert not visitor.can("aggregates")


def test_a_clinician_without_sites_sees_no_site():
    policy = AccessPolicy.from_mapping({"users": {"c@example.org": {"role": "clinician"}}})
    assert policy.resolve({"email": "c@example.org", "email_verified": True}).sites == frozenset()


def test_permissions_per_role(policy):
    director, analyst, clinician = (policy.resolve(USERS[r]) for r in ("director", "analyst", "clinician"))
    assert director.can("import") and director.can("patients") and director.can("export_unsuppressed")
    assert analyst.can("aggregates") and not analyst.can("patients") and not analyst.can("import")
    assert (
        clinician.can("patients") and not clinician.can("import") and not clinician.can("export_unsuppressed")
    )


def test_site_scope_limits_the_selection_to_allowed_sites():
    nurse = Access(user="n", role="clinician", sites=frozenset({"main", "north"}))
    assert nurse.scope_sites(()) == ("main", "north")
    assert nurse.scope_sites(("north", "east")) == ("north",)
    assert nurse.scope_sites(("east",)) == ("\x00no-permitted-site",)
    assert Access(user="d", role="director").scope_sites(("east",)) == ("east",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[users."a@b.org"]\nrole = "boss"\n', "role must be one of"),
        ('[users."a@b.org"]\nrole = "clinician"\nsites = 3\n', "'sites' must be a list"),
        ("[people]\n", "unknown section"),
        ("users = [", "not valid TOML"),
    ],
)
def test_a_bad_access_file_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "access.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AccessConfigError, match=message):
        load_policy(path)


# --- in the app ---------------------------------------------------------------------------


@pytest.fixture
def clinic(sqlite_engine, tmp_path, monkeypatch):
    for i in range(12):
        add_patient(sqlite_engine, f"M{i}", site="main", followups=[{"day": 90, "pain": 2}])
    for i in range(5):
        add_patient(sqlite_engine, f"N{i}", site="north", followups=[{"day": 90, "pain": 7}])
    access_file = tmp_path / "access.toml"
    access_file.write_text(ACCESS_TOML, encoding="utf-8")
    monkeypatch.setenv("KETAMINE_ACCESS_FILE", str(access_file))
    monkeypatch.setenv("DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    return sqlite_engine


def app_as(user: dict | None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "test-secret",
        "client_id": "x",
        "client_secret": "y",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
    }
    at.user = {"is_logged_in": False} if user is None else {"is_logged_in": True, **user}
    return at.run()


def test_without_login_configured_on_loopback_the_demo_is_open_and_says_so(clinic, monkeypatch):
    monkeypatch.delenv("KETAMINE_ACCESS_FILE")  # the demo: no access file
    monkeypatch.setattr("analysis.domain.access.DEFAULT_ACCESS_FILE", ROOT / "no-such-access.toml")
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not at.exception
    assert any("Open demo" in w.value for w in at.sidebar.warning)
    assert len(at.metric) > 0


def test_without_login_an_access_file_makes_the_app_refuse_to_run_open(clinic):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not at.exception
    assert "will not run without login" in at.error[0].value
    assert "secrets.toml" in at.error[0].value
    assert len(at.metric) == 0 and len(at.sidebar.multiselect) == 0 and len(at.dataframe) == 0


@pytest.fixture
def listening_on():
    """Set Streamlit's server.address for an in-process AppTest, and put it back."""
    from streamlit import config

    before = config.get_option("server.address")
    yield lambda address: config.set_option("server.address", address)
    config.set_option("server.address", before)


@pytest.mark.parametrize("address", ["0.0.0.0", "", "10.0.0.5"])
def test_without_login_a_reachable_address_makes_the_app_refuse_to_run_open(
    clinic, monkeypatch, listening_on, address
):
    monkeypatch.delenv("KETAMINE_ACCESS_FILE")
    monkeypatch.setattr("analysis.domain.access.DEFAULT_ACCESS_FILE", ROOT / "no-such-access.toml")
    listening_on(address)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not at.exception
    assert "anyone on the network" in at.error[0].value and "127.0.0.1" in at.error[0].value
    assert len(at.metric) == 0 and len(at.sidebar.multiselect) == 0


def test_the_open_demo_on_a_reachable_address_needs_an_explicit_setting():
    assert open_mode_refusal("0.0.0.0", access_file_present=False, open_demo=True) is None
    assert open_mode_refusal("127.0.0.1", access_file_present=True, open_demo=True) is not None
    assert [
        is_loopback(a) for a in ("localhost", "127.0.0.1", "::1", "[::1]", "", "0.0.0.0", "example.org")
    ] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]


def test_a_visitor_who_is_not_logged_in_sees_only_the_login_screen(clinic):
    at = app_as(None)
    assert not at.exception
    assert [b.label for b in at.button] == ["Log in"]
    assert len(at.metric) == 0 and len(at.get("plotly_chart")) == 0
    assert len(at.sidebar.multiselect) == 0


def test_a_logged_in_stranger_sees_a_polite_no_access_page(clinic):
    at = app_as(USERS["unknown"])
    assert not at.exception
    assert "has not been given access" in at.warning[0].value
    assert len(at.metric) == 0


def test_an_unverified_email_sees_why_it_has_no_access(clinic):
    at = app_as(USERS["unverified"])
    assert not at.exception
    assert "not marked as verified" in at.warning[0].value
    assert len(at.metric) == 0 and len(at.sidebar.multiselect) == 0


@pytest.mark.parametrize("role", ["director", "analyst", "clinician"])
@pytest.mark.parametrize("name", PAGES)
def test_every_role_on_every_page(clinic, role, name):
    at = app_as(USERS[role])
    if name == "patients" and role == "analyst":
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"pages/{name}.py")  # not in an analyst's navigation at all
        return
    at.switch_page(f"pages/{name}.py").run()
    assert not at.exception
    assert not any("does not give access" in e.value for e in at.error)
    if name == "data":
        labels = {b.label for b in at.button}
        assert ("Import" in labels) == (role == "director")


@pytest.mark.parametrize(("role", "name"), [("analyst", "patients")])
def test_a_page_checks_the_role_again_before_it_draws(clinic, policy, role, name):
    """Even reached directly (a stale link, a crafted request), the page refuses."""
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=60)
    at.session_state["_access"] = policy.resolve(USERS[role])
    at.session_state["_entry_point_ran"] = True
    at.run()
    assert not at.exception
    assert "does not give access" in at.error[0].value
    assert len(at.get("plotly_chart")) == 0 and len(at.dataframe) == 0


def test_a_clinician_sees_only_their_sites_numbers(clinic):
    at = app_as(USERS["clinician"])  # nurse: site north only
    metrics = {m.label: m.value for m in at.metric}
    north = summarize(clinic, OutcomeDefinition(), CohortFilter(sites=("north",))).overall
    assert metrics["Patients treated"] == str(north.patients) == "5"
    assert at.sidebar.multiselect(key="site").options == ["north"]


def test_a_director_sees_every_site(clinic):
    at = app_as(USERS["director"])
    assert {m.label: m.value for m in at.metric}["Patients treated"] == "17"


def test_a_clinician_cannot_open_a_patient_of_another_site(clinic, policy):
    """Even if a patient id of another site reached the page (a crafted session), it is refused."""
    at = AppTest.from_file(str(ROOT / "pages" / "patients.py"), default_timeout=60)
    at.session_state["_access"] = policy.resolve(USERS["clinician"])  # nurse: site north only
    at.session_state["_entry_point_ran"] = True
    at.session_state["patient"] = "M0"  # a main-site patient
    at.run()
    assert not at.exception
    shown = at.selectbox(key="patient").value
    assert shown.startswith("N")  # the picker only offers north patients
    assert not any(s.value == "Patient M0" for s in at.subheader)


def test_an_analyst_sees_no_patient_rows_on_the_safety_page(clinic):
    """The blood-pressure sessions list names patients: aggregates-only roles get its count only."""
    add_patient(clinic, "BP1", site="main", sessions=[{"day": 0, "adverse_events": "hypertension"}])
    analyst = app_as(USERS["analyst"]).switch_page("pages/safety.py").run()
    assert not analyst.exception
    assert len(analyst.dataframe) == 0
    assert not any("BP1" in str(frame.value) for frame in analyst.dataframe)
    assert any("1 session with a blood-pressure event" in c.value for c in analyst.caption)
    director = app_as(USERS["director"]).switch_page("pages/safety.py").run()
    assert any("BP1" in str(frame.value) for frame in director.dataframe)  # the table names the patient


def other_site_only_values(engine) -> None:
    """Main gets a condition (Lyme), a sex (X) and later dates that north has none of."""
    add_patient(
        engine,
        "M-late",
        site="main",
        condition="lyme",
        sex="X",
        sessions=[{"day": 400}],
        followups=[{"day": 500, "pain": 2}],
    )


def test_filter_options_and_cutoff_come_from_the_users_own_sites(engine):
    from analysis.db.store import data_cutoff
    from analysis.queries.response import filter_options
    from tests.clinic import day

    add_patient(engine, "N1", site="north", sessions=[{"day": 0}], followups=[{"day": 90, "pain": 2}])
    other_site_only_values(engine)
    north = filter_options(engine, ("north",))
    assert north["site"] == ["north"]
    assert "lyme" not in north["condition"] and "X" not in north["sex"]
    assert north["quarter"] == ["2025-Q1"]  # north's sessions only: none of main's 2026 quarters
    assert data_cutoff(engine, ("north",)) == day(90)
    assert data_cutoff(engine) == day(500)
    assert "lyme" in filter_options(engine)["condition"] and "2026-Q1" in filter_options(engine)["quarter"]


def test_a_clinician_sees_no_other_sites_values_or_dates(clinic):
    from tests.clinic import day

    other_site_only_values(clinic)
    at = app_as(USERS["clinician"])  # nurse: north only
    assert not at.exception
    assert at.sidebar.multiselect(key="condition").options == ["CRPS"]
    assert "X" not in at.sidebar.multiselect(key="sex").options
    caption = next(c.value for c in at.caption if "data up to" in c.value)
    assert f"data up to {day(90):%d %b %Y}" in caption
    assert f"{day(500):%d %b %Y}" not in " ".join(c.value for c in at.caption)
    director = app_as(USERS["director"])
    assert "Lyme disease" in director.sidebar.multiselect(key="condition").options
