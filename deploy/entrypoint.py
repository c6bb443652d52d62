"""The container's entry point: check the deployment's settings, then ``ketamine-outcomes serve``.

    entrypoint.py [COMMAND [ARGS...]]     (default: serve; other commands run as given)

Before ``serve`` it

- turns the ``KETAMINE_OIDC_*`` variables into Streamlit's ``[auth]`` secrets (a private file
  named by ``STREAMLIT_SECRETS_FILES``), or uses a ``.streamlit/secrets.toml`` mounted into the
  working folder; some but not all of the variables is a setting error;
- refuses to start without login unless ``KETAMINE_OPEN_DEMO=1`` (a demo without real data);
- with login, refuses a missing or unreadable access file (``KETAMINE_ACCESS_FILE``), which would
  otherwise let everyone log in to a "no access" page.

Each refusal is one line and exit code 2, as the command line's bad settings (README).
Standard library and ``analysis`` only; deploy/README.md explains the variables.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import tomllib
from pathlib import Path

EXIT_SETTING = 2

#: ``[auth]`` key -> environment variable.
OIDC = {
    "redirect_uri": "KETAMINE_OIDC_REDIRECT_URI",
    "cookie_secret": "KETAMINE_OIDC_COOKIE_SECRET",
    "client_id": "KETAMINE_OIDC_CLIENT_ID",
    "client_secret": "KETAMINE_OIDC_CLIENT_SECRET",
    "server_metadata_url": "KETAMINE_OIDC_SERVER_METADATA_URL",
}
#: Set by compose.yaml from the host name alone; not a sign that login was meant.
DERIVED = {"KETAMINE_OIDC_REDIRECT_URI"}


class SettingProblem(Exception):
    """A deployment setting to fix; the message says which and how."""


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, except for DEL)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def auth_secrets(env: dict[str, str]) -> str | None:
    """The ``[auth]`` section from the environment, or ``None`` when no OIDC variable is set."""
    given = {key: env[var].strip() for key, var in OIDC.items() if env.get(var, "").strip()}
    if not set(given) - {key for key, var in OIDC.items() if var in DERIVED}:
        return None
    missing = [var for key, var in OIDC.items() if key not in given]
    if missing:
        raise SettingProblem(f"login is half configured: set {', '.join(missing)} as well (deploy/README.md)")
    lines = ["[auth]", *(f"{key} = {toml_string(value)}" for key, value in given.items())]
    scope = env.get("KETAMINE_OIDC_SCOPE", "").strip()
    if scope:
        lines += ["", "[auth.client_kwargs]", f"scope = {toml_string(scope)}"]
    return "\n".join(lines) + "\n"


def mounted_login(folder: Path) -> bool:
    """True when a secrets file Streamlit reads by default has an ``[auth]`` section."""
    for path in (folder / ".streamlit" / "secrets.toml", Path.home() / ".streamlit" / "secrets.toml"):
        if path.is_file():
            try:
                if "auth" in tomllib.loads(path.read_text(encoding="utf-8")):
                    return True
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise SettingProblem(f"{path} is not valid TOML: {exc}") from exc
    return False


def check_access_file(env: dict[str, str], folder: Path) -> None:
    from analysis.domain import access

    path = Path(env.get("KETAMINE_ACCESS_FILE") or folder / "access.toml")
    if not path.is_file():
        raise SettingProblem(
            f"the access file {path} is missing (or is a folder): copy access.example.toml to "
            "deploy/access.toml and list the clinic's staff (docs/security.md)"
        )
    try:
        access.load_policy(path)
    except access.AccessConfigError as exc:
        raise SettingProblem(str(exc)) from exc


def prepare(env: dict[str, str], folder: Path) -> dict[str, str]:
    """The environment ``serve`` runs with; :class:`SettingProblem` when it must not start."""
    secrets = auth_secrets(env)
    if secrets is not None:
        private = Path(tempfile.mkdtemp(prefix="ketamine-outcomes-"))
        path = private / "secrets.toml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(secrets)
        env = {**env, "STREAMLIT_SECRETS_FILES": str(path)}
    elif not mounted_login(folder):
        if env.get("KETAMINE_OPEN_DEMO", "").strip() != "1":
            raise SettingProblem(
                "no login is configured: set the KETAMINE_OIDC_* variables in deploy/.env "
                "(docs/security.md), or KETAMINE_OPEN_DEMO=1 for a demo without real data"
            )
        return env
    check_access_file(env, folder)
    return env


def main(argv: list[str]) -> int:
    args = argv or ["serve"]
    env = dict(os.environ)
    if args[0] == "serve":
        try:
            env = prepare(env, Path.cwd())
        except SettingProblem as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_SETTING
    command = [sys.executable, "-m", "analysis", *args]
    os.execve(command[0], command, env)
    return 0  # not reached: the command replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
