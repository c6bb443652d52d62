"""The deployment's start-up path without containers (deploy/README.md).

The app starts as the container starts it: ``deploy/entrypoint.py`` with the variables of
``deploy/streamlit.env`` and of ``deploy/compose.yaml`` (database URL, access file, OIDC
settings), in an empty working folder, against a fresh, unmigrated PostgreSQL schema. Only the
address (127.0.0.1, not the container's 0.0.0.0) and the port differ. A real OpenID Connect
provider on loopback stands in for the clinic's. Needs TEST_POSTGRES_URL and Chromium; in CI
(``CI=true``) both must be there.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote
from urllib.request import urlopen

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

from tests.e2e.conftest import ROOT, AppServer, free_port, screenshot, wait_for_app_run

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
DIRECTOR = "director@example.org"
ACCESS = f'[users."{DIRECTOR}"]\nrole = "director"\n'


def env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines, as Docker Compose's ``env_file`` reads them (comments and blanks skipped)."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


class DeployedApp(AppServer):
    """``deploy/entrypoint.py`` (which execs ``ketamine-outcomes serve``) in a working folder."""

    def __init__(self, env: dict[str, str], folder: Path, port: int) -> None:
        self.port = port
        self.url = f"http://localhost:{port}"
        (ROOT / "test-artifacts").mkdir(exist_ok=True)
        self.log = open(ROOT / "test-artifacts" / f"deployment-{port}.log", "w")  # noqa: SIM115
        entry = [sys.executable, str(ROOT / "deploy" / "entrypoint.py")]
        self.process = subprocess.Popen(entry, cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_healthy(timeout=120)


@pytest.fixture(scope="module")
def fresh_schema() -> Iterator[tuple[str, str]]:
    """A new, empty (unmigrated) PostgreSQL schema: (URL, schema name); dropped afterwards."""
    if not POSTGRES_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("the deployment test needs TEST_POSTGRES_URL in CI")
        pytest.skip("deployment test: set TEST_POSTGRES_URL to run it against PostgreSQL")
    name = f"deploy_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={name}')}", name
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[str]:
    import oidc_provider_mock

    claims = {"email": DIRECTOR, "email_verified": True, "groups": []}
    user = oidc_provider_mock.User(sub=DIRECTOR, claims=claims)
    with oidc_provider_mock.run_server_in_thread(port=free_port(), user_claims=[user]) as server:
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def deployment(fresh_schema, identity_provider, tmp_path_factory) -> Iterator[tuple[DeployedApp, dict]]:
    url, _ = fresh_schema
    folder = tmp_path_factory.mktemp("app")  # the container's /app: nothing of the checkout in it
    config = tmp_path_factory.mktemp("config")
    (config / "access.toml").write_text(ACCESS, encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        **env_file(ROOT / "deploy" / "streamlit.env"),
        "STREAMLIT_SERVER_ADDRESS": "127.0.0.1",
        "STREAMLIT_SERVER_PORT": str(port),
        "DATABASE_URL": url,
        "KETAMINE_ACCESS_FILE": str(config / "access.toml"),
        "KETAMINE_OIDC_REDIRECT_URI": f"http://localhost:{port}/oauth2callback",
        "KETAMINE_OIDC_SERVER_METADATA_URL": f"{identity_provider}/.well-known/openid-configuration",
        "KETAMINE_OIDC_CLIENT_ID": "ketamine-outcomes-deploy-test",
        "KETAMINE_OIDC_CLIENT_SECRET": 'a "quoted" secret \\ with a backslash',
        "KETAMINE_OIDC_COOKIE_SECRET": "deploy-test-cookie-secret-0123456789abcdef0123456789",
        "KETAMINE_OPEN_DEMO": "0",
        "PYTHONPATH": str(ROOT),  # stands in for the image's installed package
        "TMPDIR": str(config),
    }
    server = DeployedApp(env, folder, port)
    yield server, env
    server.stop()


def test_deployment_answers_its_health_check(deployment):
    server, _ = deployment
    with urlopen(f"http://127.0.0.1:{server.port}/_stcore/health", timeout=5) as response:
        assert response.read().decode().strip() == "ok"


def test_deployment_migrated_the_empty_database_before_serving(deployment, fresh_schema):
    _, name = fresh_schema
    engine = create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        tables = set(
            connection.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": name}
            ).scalars()
        )
    engine.dispose()
    assert {"alembic_version", "patients", "sessions", "followups", "imports"} <= tables


def test_deployment_keeps_the_oidc_secrets_in_a_private_file(deployment):
    _, env = deployment
    (secrets,) = Path(env["TMPDIR"]).glob("ketamine-outcomes-*/secrets.toml")
    assert secrets.stat().st_mode & 0o777 == 0o600
    import tomllib

    auth = tomllib.loads(secrets.read_text())["auth"]
    assert auth["client_secret"] == env["KETAMINE_OIDC_CLIENT_SECRET"]


def test_deployed_app_asks_for_login_then_shows_the_clinic(deployment, identity_provider, fresh_schema, page):
    server, env = deployment
    url, _ = fresh_schema
    # Data arrive as in a container: a command run through the same entry point.
    demo = [sys.executable, str(ROOT / "deploy" / "entrypoint.py"), "demo", "--patients", "300"]
    subprocess.run(demo, env=env, cwd=env["TMPDIR"], check=True, timeout=300, capture_output=True)
    summary = [sys.executable, "-m", "analysis", "summary", "--db", url, "--format", "json"]
    result = subprocess.run(summary, cwd=ROOT, check=True, capture_output=True, text=True)
    patients = json.loads(result.stdout)["overall"]["patients"]

    page.goto(server.url)
    wait_for_app_run(page)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert page.get_by_test_id("stMetric").count() == 0
    cookies = {cookie["name"] for cookie in page.context.cookies()}
    assert "_streamlit_xsrf" in cookies  # XSRF protection is on
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile("^" + re.escape(identity_provider) + "/oauth2/authorize"))
    page.get_by_role("button", name=DIRECTOR, exact=True).click()
    page.wait_for_url(re.compile("^" + re.escape(server.url)))
    wait_for_app_run(page)
    expect(page.get_by_text(f"{DIRECTOR} · director · all sites")).to_be_visible()
    card = page.get_by_test_id("stMetric").filter(has_text="Patients treated")
    expect(card).to_be_visible()
    treated = int(card.get_by_test_id("stMetricValue").inner_text().strip().replace(",", ""))
    assert 0 < treated <= patients
    assert "Traceback" not in page.inner_text("body")
    screenshot(page, "deployment-overview")
