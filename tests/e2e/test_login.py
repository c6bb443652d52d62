"""Login through a real OpenID Connect provider on loopback (oidc-provider-mock), in Chromium.

A director and a clinician log in; each sees what their role allows (docs/security.md).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ROOT, AppServer, free_port, screenshot, wait_for_app_run

ACCESS = """
[users."director@example.org"]
role = "director"

[groups.north-clinicians]
role = "clinician"
sites = ["north"]
"""
USERS = {
    "director@example.org": {
        "email": "director@example.org",
        "email_verified": True,
        "groups": ["management"],
    },
    "nurse@example.org": {
        "email": "nurse@example.org",
        "email_verified": True,
        "groups": ["north-clinicians"],
    },
    "stranger@example.org": {"email": "stranger@example.org", "email_verified": True, "groups": []},
    # Another account at the provider that claims the director's address without it being verified.
    "impostor": {"email": "director@example.org", "email_verified": False, "groups": []},
}


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[str]:
    import oidc_provider_mock

    users = [oidc_provider_mock.User(sub=sub, claims=claims) for sub, claims in USERS.items()]
    with oidc_provider_mock.run_server_in_thread(port=free_port(), user_claims=users) as server:
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def secured_app(demo_database, identity_provider, tmp_path_factory) -> Iterator[AppServer]:
    folder = tmp_path_factory.mktemp("secured")
    port = free_port()
    (folder / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "http://localhost:{port}/oauth2callback"\n'
        'cookie_secret = "test-cookie-secret-0123456789abcdef0123456789abcdef"\n'
        'client_id = "ketamine-outcomes-test"\n'
        'client_secret = "any-secret"\n'
        f'server_metadata_url = "{identity_provider}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    (folder / "access.toml").write_text(ACCESS, encoding="utf-8")
    server = AppServer(
        demo_database,
        port=port,
        extra_args=("--secrets.files", str(folder / "secrets.toml")),
        env={"KETAMINE_ACCESS_FILE": str(folder / "access.toml")},
    )
    yield server
    server.stop()


def log_in(page, app: AppServer, identity_provider: str, user: str) -> None:
    page.goto(app.url)
    wait_for_app_run(page)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile("^" + re.escape(identity_provider) + "/oauth2/authorize"))
    page.get_by_role("button", name=user, exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(app.url)))
    wait_for_app_run(page)


def nav_titles(page) -> list[str]:
    # Each link's text is its icon's name, then its title.
    return [
        t.strip().splitlines()[-1].strip() for t in page.get_by_test_id("stSidebarNavLink").all_inner_texts()
    ]


def patients_treated(page) -> str:
    card = page.get_by_test_id("stMetric").filter(has_text="Patients treated")
    return card.get_by_test_id("stMetricValue").inner_text().strip()


def test_a_visitor_sees_only_the_login_screen(secured_app, page):
    page.goto(secured_app.url)
    wait_for_app_run(page)
    # Waits: the first request after a start may run the gate twice (the entry-point rerun of
    # pages/common.page_guard), and "not running" can be seen between the two runs.
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert page.get_by_test_id("stMetric").count() == 0
    assert page.get_by_test_id("stSidebarNav").count() == 0
    page.goto(f"{secured_app.url}/patients")  # a deep link does not get past the gate either
    wait_for_app_run(page)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert page.get_by_test_id("stDataFrame").count() == 0


def test_a_director_sees_every_site_and_the_data_page(secured_app, identity_provider, demo_database, page):
    log_in(page, secured_app, identity_provider, "director@example.org")
    assert page.get_by_text("director@example.org · director · all sites").is_visible()
    assert {"Overview", "Patients", "Data"} <= set(nav_titles(page))
    everyone = json.loads(
        subprocess.run(
            [sys.executable, "-m", "analysis", "summary", "--db", demo_database, "--format", "json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["overall"]["patients"]
    page.get_by_test_id("stMetric").first.wait_for()
    assert int(patients_treated(page).replace(",", "")) <= everyone
    page.get_by_test_id("stSidebarNav").get_by_text("Data", exact=True).click()
    wait_for_app_run(page)
    assert page.get_by_role("button", name="Import").count() == 1
    screenshot(page, "login-director-data")


def test_a_clinician_sees_only_their_site_and_cannot_import(
    secured_app, identity_provider, demo_database, page
):
    log_in(page, secured_app, identity_provider, "nurse@example.org")
    assert page.get_by_text("nurse@example.org · clinician · north").is_visible()
    north = json.loads(
        subprocess.run(
            [
                sys.executable,
                "-m",
                "analysis",
                "summary",
                "--db",
                demo_database,
                "--by",
                "site",
                "--format",
                "json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    north_rate = next(g["rate"] for g in north["groups"] if g["site"] == "north")
    page.get_by_test_id("stMetric").first.wait_for()
    rate = page.get_by_test_id("stMetric").filter(has_text="Response rate (ITT)")
    assert rate.get_by_test_id("stMetricValue").inner_text().strip() == f"{100 * north_rate:.1f}%"
    assert "Patients" in nav_titles(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Data", exact=True).click()
    wait_for_app_run(page)
    assert page.get_by_role("button", name="Import").count() == 0
    screenshot(page, "login-clinician-data")


def test_a_stranger_gets_a_polite_no_access_page(secured_app, identity_provider, page):
    log_in(page, secured_app, identity_provider, "stranger@example.org")
    assert page.get_by_text("has not been given access").is_visible()
    assert page.get_by_test_id("stMetric").count() == 0


def test_an_unverified_email_is_refused_and_told_why(secured_app, identity_provider, page):
    log_in(page, secured_app, identity_provider, "impostor")
    expect(page.get_by_text("not marked as verified")).to_be_visible()
    assert page.get_by_test_id("stMetric").count() == 0
    assert page.get_by_test_id("stSidebarNav").count() == 0
    screenshot(page, "login-unverified-email")
