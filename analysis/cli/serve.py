"""``serve``: start the dashboard (``streamlit run dashboard.py``) on the configured database.

The database is brought to the current schema first, so an unreachable database or a failed
migration is a one-line message and exit code 3 here, not an error page later. Streamlit itself
then replaces this process (its signals, its exit code), which is what a container's main
process should be. Every Streamlit setting can also come from ``STREAMLIT_…`` environment
variables (``deploy/streamlit.env``); ``--port`` and ``--address`` are the two a clinic changes.
"""

from __future__ import annotations

import argparse
import os
import sys

from analysis.cli import options
from analysis.db.store import open_database, resolve_url
from analysis.domain import paths
from analysis.domain.errors import SettingError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "serve",
        help="start the dashboard in the browser (Streamlit)",
        description="Start the dashboard on the database, after bringing its schema up to date. "
        "It listens on 127.0.0.1 (this machine only) unless --address or STREAMLIT_SERVER_ADDRESS "
        "says otherwise; put it behind an HTTPS proxy before others use it (docs/security.md, "
        "deploy/README.md). Other Streamlit settings: STREAMLIT_<SECTION>_<OPTION> variables.",
    )
    options.add_db(parser)
    parser.add_argument("--port", type=int, default=None, help="port to listen on (default 8501)")
    parser.add_argument(
        "--address",
        default=None,
        help="address to listen on (default 127.0.0.1; 0.0.0.0 inside a container behind a proxy)",
    )
    parser.set_defaults(run=run)


def streamlit_command(args: argparse.Namespace) -> list[str]:
    """The ``streamlit run`` command line for ``args`` (only the flags the user gave)."""
    folder = paths.app_folder()
    if folder is None:
        raise SettingError(
            "the dashboard's files (dashboard.py and pages/) were not found next to this installation; "
            "reinstall the package (pip install ketamine-outcomes) or run from a checkout"
        )
    command = [sys.executable, "-m", "streamlit", "run", str(folder / "dashboard.py")]
    if args.port is not None:
        if not 1 <= args.port <= 65535:
            raise SettingError(f"--port must be between 1 and 65535, not {args.port}")
        command += ["--server.port", str(args.port)]
    if args.address:
        command += ["--server.address", args.address]
    return command


def _replace_process(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` in place of this process where the system allows it."""
    if os.name == "posix":
        os.execve(command[0], command, env)
    import subprocess

    return subprocess.call(command, env=env)


def run(args: argparse.Namespace) -> int:
    command = streamlit_command(args)
    url = resolve_url(args.db)
    open_database(url).dispose()  # migrate now: a clear message and exit code 3 if it fails
    env = {**os.environ, "DATABASE_URL": url}
    print(f"Serving the dashboard on {_where(args)} (Ctrl+C stops it).", flush=True)
    return _replace_process(command, env)


def _where(args: argparse.Namespace) -> str:
    address = args.address or os.environ.get("STREAMLIT_SERVER_ADDRESS") or "127.0.0.1"
    port = args.port or os.environ.get("STREAMLIT_SERVER_PORT") or 8501
    return f"http://{address}:{port}"
