"""deploy/ checked without a container engine: the compose file read as Docker Compose reads it,
the Dockerfile's inputs, Streamlit's production settings, and the entry point's refusals.

The start-up path itself runs in tests/e2e/test_deployment.py against PostgreSQL.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"

# deploy/entrypoint.py is a script copied into the image, not a package: load it by path.
_spec = importlib.util.spec_from_file_location("deploy_entrypoint", DEPLOY / "entrypoint.py")
assert _spec is not None and _spec.loader is not None
entrypoint = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(entrypoint)

OIDC_ENV = {
    "KETAMINE_OIDC_REDIRECT_URI": "https://outcomes.clinic.example/oauth2callback",
    "KETAMINE_OIDC_COOKIE_SECRET": "c" * 64,
    "KETAMINE_OIDC_CLIENT_ID": "ketamine-outcomes",
    "KETAMINE_OIDC_CLIENT_SECRET": 'se"cr\\et\x7f',
    "KETAMINE_OIDC_SERVER_METADATA_URL": "https://login.clinic.example/.well-known/openid-configuration",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def test_compose_runs_the_app_postgresql_and_an_https_proxy(compose):
    services = compose["services"]
    assert set(services) == {"app", "db", "proxy"}
    assert services["db"]["image"].startswith("postgres:")
    assert services["proxy"]["image"].startswith("caddy:")
    assert services["proxy"]["ports"] == ["80:80", "443:443"]
    assert "ports" not in services["app"] and "ports" not in services["db"]  # only the proxy is exposed


def test_every_service_has_a_health_check_and_starts_after_what_it_needs(compose):
    services = compose["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
        assert service["restart"] == "unless-stopped", name
    assert "/_stcore/health" in " ".join(services["app"]["healthcheck"]["test"])
    assert services["app"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["proxy"]["depends_on"] == {"app": {"condition": "service_healthy"}}


def test_app_reads_the_database_access_file_and_login_from_the_environment(compose):
    app = compose["services"]["app"]
    env = app["environment"]
    assert env["DATABASE_URL"].startswith("postgresql://outcomes:${POSTGRES_PASSWORD:?")
    assert env["DATABASE_URL"].endswith("@db:5432/outcomes")
    assert env["KETAMINE_ACCESS_FILE"] == "/config/access.toml"
    assert "./access.toml:/config/access.toml:ro" in app["volumes"]
    assert set(entrypoint.OIDC.values()) <= set(env)
    assert app["env_file"] == ["streamlit.env"]


def test_every_file_compose_names_exists(compose):
    app = compose["services"]["app"]
    context = (DEPLOY / app["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / app["build"]["dockerfile"]).is_file()
    for name in app["env_file"]:
        assert (DEPLOY / name).is_file()
    assert (DEPLOY / "Caddyfile").is_file()
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith("."):
                assert source in declared, source


def test_every_variable_compose_needs_is_explained_in_env_example(compose):
    text = (DEPLOY / "compose.yaml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    documented = set(env_file(DEPLOY / "env.example"))
    assert used <= documented, used - documented


def test_production_settings_are_real_streamlit_options():
    from streamlit import config

    settings = env_file(DEPLOY / "streamlit.env")
    known = {option.env_var: key for key, option in config._config_options_template.items()}
    assert set(settings) <= set(known), set(settings) - set(known)
    assert settings["STREAMLIT_CLIENT_SHOW_ERROR_DETAILS"] == "none"
    assert settings["STREAMLIT_SERVER_HEADLESS"] == "true"
    assert settings["STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION"] == "true"
    assert settings["STREAMLIT_SERVER_PORT"] == "8501"


def test_image_installs_the_locked_dependencies_and_runs_unprivileged():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    assert re.search(r"^USER outcomes$", dockerfile, re.MULTILINE)
    assert "/_stcore/health" in dockerfile.split("HEALTHCHECK", 1)[1]
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile, re.MULTILINE):
        for name in source.split():
            assert (ROOT / name).exists(), name


def test_proxy_serves_https_for_the_clinics_host_and_forwards_to_the_app():
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert caddyfile.startswith("#") and "{$KETAMINE_HOST} {" in caddyfile
    assert "reverse_proxy app:8501" in caddyfile
    assert "Strict-Transport-Security" in caddyfile


def test_oidc_variables_become_streamlits_auth_secrets():
    written = entrypoint.auth_secrets({**OIDC_ENV, "KETAMINE_OIDC_SCOPE": "openid email groups"})
    section = tomllib.loads(written)
    expected = {key: OIDC_ENV[var] for key, var in entrypoint.OIDC.items()}
    assert section == {"auth": {**expected, "client_kwargs": {"scope": "openid email groups"}}}


def test_no_oidc_variable_means_no_login_section():
    assert entrypoint.auth_secrets({"KETAMINE_OIDC_REDIRECT_URI": "https://x/oauth2callback"}) is None


def test_half_configured_login_is_refused_by_name():
    env = {k: v for k, v in OIDC_ENV.items() if k != "KETAMINE_OIDC_CLIENT_SECRET"}
    with pytest.raises(entrypoint.SettingProblem, match="KETAMINE_OIDC_CLIENT_SECRET"):
        entrypoint.auth_secrets(env)


def test_a_deployment_without_login_does_not_start_unless_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(entrypoint.SettingProblem, match="no login is configured"):
        entrypoint.prepare({}, tmp_path)
    assert entrypoint.prepare({"KETAMINE_OPEN_DEMO": "1"}, tmp_path) == {"KETAMINE_OPEN_DEMO": "1"}


def test_login_without_an_access_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(entrypoint.tempfile, "tempdir", None)
    (tmp_path / "access.toml").mkdir()  # what Docker mounts when the file is missing on the host
    env = {**OIDC_ENV, "KETAMINE_ACCESS_FILE": str(tmp_path / "access.toml")}
    with pytest.raises(entrypoint.SettingProblem, match="is missing"):
        entrypoint.prepare(env, tmp_path)


def test_an_unreadable_access_file_is_refused_with_its_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(entrypoint.tempfile, "tempdir", str(tmp_path))
    (tmp_path / "access.toml").write_text('[users."a@b.org"]\nrole = "owner"\n')
    env = {**OIDC_ENV, "KETAMINE_ACCESS_FILE": str(tmp_path / "access.toml")}
    with pytest.raises(entrypoint.SettingProblem, match="role must be one of"):
        entrypoint.prepare(env, tmp_path)


def test_a_mounted_secrets_file_with_login_is_used_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('[auth]\nclient_id = "x"\n')
    (tmp_path / "access.toml").write_text('[users."a@b.org"]\nrole = "director"\n')
    env = entrypoint.prepare({}, tmp_path)
    assert "STREAMLIT_SECRETS_FILES" not in env


def test_the_entry_point_refuses_with_exit_code_2_and_one_line(tmp_path):
    import subprocess

    result = subprocess.run(
        [sys.executable, str(DEPLOY / "entrypoint.py")],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: no login is configured")
    assert len(result.stderr.strip().splitlines()) == 1


def recipe_flags(script: str, tool: str) -> list[str]:
    """The flags ``deploy/<script>`` passes to ``tool`` (joined over line continuations)."""
    text = (DEPLOY / script).read_text().replace("\\\n", " ")
    commands = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    line = next(line for line in commands if f" {tool} " in line)
    words = line.split(f" {tool} ", 1)[1].split()
    words = words[: next((i for i, w in enumerate(words) if w[0] in "<>"), len(words))]
    flags: list[str] = []
    while words:  # the container's user and database give way to the test database's
        word = words.pop(0)
        if word in ("--username", "--dbname"):
            words.pop(0)
        else:
            flags.append(word)
    return flags


def test_backup_and_restore_recipe_round_trips_a_clinic(postgres_engine, tmp_path):
    """deploy/backup.sh's pg_dump and deploy/restore.sh's pg_restore, on one schema of the test database."""
    import shutil
    import subprocess

    from sqlalchemy import func, select, text

    from analysis import demo
    from analysis.db import schema
    from tests.conftest import POSTGRES_URL

    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("backup test: pg_dump and pg_restore are not installed")
    demo.load_demo(postgres_engine, n_patients=40, user="test")
    tables = (schema.patients, schema.sessions, schema.followups, schema.imports)

    def counts() -> list[int]:
        with postgres_engine.connect() as connection:
            return [connection.execute(select(func.count()).select_from(t)).scalar_one() for t in tables]

    before = counts()
    with postgres_engine.connect() as connection:
        name = connection.execute(text("SELECT current_schema()")).scalar_one()
    dump = tmp_path / "outcomes.dump"
    backup = ["pg_dump", "--dbname", POSTGRES_URL, "--schema", name, *recipe_flags("backup.sh", "pg_dump")]
    with open(dump, "wb") as out:
        subprocess.run(backup, stdout=out, check=True, timeout=120)
    postgres_engine.dispose()
    with postgres_engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    restore = ["pg_restore", "--dbname", POSTGRES_URL, *recipe_flags("restore.sh", "pg_restore"), str(dump)]
    subprocess.run(restore, check=True, timeout=120, capture_output=True)
    postgres_engine.dispose()
    assert before[0] == 40 and counts() == before
    with postgres_engine.connect() as connection, pytest.raises(Exception, match="is append-only"):
        connection.execute(text("DELETE FROM imports"))  # the import log's triggers came back too


def test_docker_build_context_leaves_out_secrets_and_data():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "access.toml", ".streamlit/secrets.toml", "deploy/.env", "data/*.db"} <= ignored
    assert {"deploy/access.toml", "deploy/backups", "deploy/certs"} <= ignored
