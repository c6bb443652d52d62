"""Login, roles and sites: the access rules, and what each role sees in the app (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.domain.access import Access, AccessConfigError, AccessPolicy, load_policy
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
    "director": {"email": "director@example.org"},
    "analyst": {"email": "ana@example.org", "groups": ["Analysts"]},
    "clinician": {"email": "nurse@example.org"},
    "unknown": {"email": "visitor@example.org", "groups": ["patients"]},
}
PAGES = ["overview", "conditions", "routes", "safety", "patients", "data", "methods"]


@pytest.fixture
def policy() -> AccessPolicy:
    import tomllib

    return AccessPolicy.from_mapping(tomllib.loads(ACCESS_TOML))


def test_email_entry_gives_role_and_sites(policy):
    nurse = policy.resolve({"email": "Nurse@Example.org", "groups": ["analysts"]})
    assert (nurse.role, nurse.sites) == ("clinician", frozenset({"north"}))  # e-mail wins over groups


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
    assert policy.resolve({"email": "c@example.org"}).sites == frozenset()


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


def test_without_login_configured_the_app_is_open_and_says_so(clinic):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
    assert not at.exception
    assert any("Open demo" in w.value for w in at.sidebar.warning)


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
