"""Packaging: the locks agree with the pins, the project's dependencies allow them, the console
command has a version and a ``serve`` command, and the app's files are found installed or not.

The lock check is offline: it reads the files. ``make lock-check`` compiles the locks afresh
against the package index and diffs them (README, "Dependencies").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from analysis.cli import serve
from analysis.db import store
from analysis.domain import access, paths

ROOT = Path(__file__).resolve().parent.parent
LOCK_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def pins(path: Path) -> dict[str, str]:
    """``name -> version`` of every ``name==version`` line, following ``-r`` includes."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {line!r} is not pinned with =="
        found[canonicalize_name(requirement.name)] = specifier.version
    return found


def locked(path: Path) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in LOCK_ENTRY.findall(path.read_text())}


def lock_entries(path: Path) -> list[str]:
    """The lock's entries, one text block per package."""
    text = path.read_text(encoding="utf-8")
    starts = [match.start() for match in LOCK_ENTRY.finditer(text)]
    return [text[start:end] for start, end in zip(starts, [*starts[1:], len(text)], strict=True)]


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_every_pinned_requirement_is_locked_at_the_same_version(requirements, lock):
    wanted, have = pins(ROOT / requirements), locked(ROOT / lock)
    disagree = {name: (pin, have.get(name)) for name, pin in wanted.items() if have.get(name) != pin}
    assert not disagree, f"{lock} disagrees with {requirements} (pin, locked); run `make lock`: {disagree}"


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_locked_package_carries_its_hashes(lock):
    entries = lock_entries(ROOT / lock)
    assert len(entries) > 20
    unhashed = [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry]
    assert not unhashed


def test_development_lock_keeps_every_application_version():
    app, dev = locked(ROOT / "requirements.lock"), locked(ROOT / "requirements-dev.lock")
    assert {name: dev.get(name) for name in app} == app


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [("requirements.txt", "requirements.lock"), ("requirements-dev.txt", "requirements-dev.lock")],
)
def test_no_lock_entry_outlives_its_requirement(requirements, lock):
    """A package the lock says comes from the requirements file must still be named there."""
    wanted = pins(ROOT / requirements)
    direct = [
        canonicalize_name(entry.split("==", 1)[0])
        for entry in lock_entries(ROOT / lock)
        if re.search(r"#\s+(via )?-r requirements(-dev)?\.txt", entry)
    ]
    assert direct and not [name for name in direct if name not in wanted]


def test_project_dependencies_allow_exactly_the_pinned_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {canonicalize_name(Requirement(d).name): Requirement(d) for d in project["dependencies"]}
    app_pins = pins(ROOT / "requirements.txt")
    assert set(declared) == set(app_pins)
    outside = {name: version for name, version in app_pins.items() if version not in declared[name].specifier}
    assert not outside, f"requirements.txt pins outside pyproject.toml's ranges: {outside}"
    extras = {
        canonicalize_name(Requirement(line).name): Requirement(line).extras
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {name: r.extras for name, r in declared.items()} == extras


def test_make_installs_from_the_locks_with_hashes():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\$\(VENV\)/\.installed-app: requirements\.lock$", makefile, re.MULTILINE)
    assert re.search(r"^\$\(VENV\)/\.installed-dev: .*requirements-dev\.lock$", makefile, re.MULTILINE)
    assert "pip install --quiet --require-hashes -r requirements.lock" in makefile
    assert "pip install --quiet --require-hashes -r requirements-dev.lock" in makefile
    assert "$(VENV)/bin/mypy" in makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]


def test_console_command_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"ketamine-outcomes": "analysis.cli:console"}


def test_version_flag_prints_the_projects_version():
    result = subprocess.run(
        [sys.executable, "-m", "analysis", "--version"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert result.returncode == 0
    assert result.stdout.strip() == f"python -m analysis {version}"


def test_version_of_an_installed_package_comes_from_its_metadata(monkeypatch):
    monkeypatch.setattr(paths, "CHECKOUT", None)
    monkeypatch.setattr(paths.metadata, "version", lambda name: {"ketamine-outcomes": "9.8.7"}[name])
    assert paths.version() == "9.8.7"


def test_version_of_an_uninstalled_copy_says_unknown(monkeypatch):
    def not_installed(name: str) -> str:
        raise paths.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(paths, "CHECKOUT", None)
    monkeypatch.setattr(paths.metadata, "version", not_installed)
    assert paths.version() == "unknown"


def test_defaults_live_at_the_root_of_a_checkout():
    assert paths.CHECKOUT == ROOT
    assert access.DEFAULT_ACCESS_FILE == ROOT / "access.toml"
    assert store.DEFAULT_SQLITE_PATH == ROOT / "data" / "outcomes.db"


def test_an_installed_package_works_in_the_current_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "CHECKOUT", None)
    monkeypatch.chdir(tmp_path)
    assert paths.project_root() == tmp_path


def test_an_installed_package_finds_its_app_under_share(monkeypatch, tmp_path):
    app = tmp_path / "share" / "ketamine-outcomes" / "app"
    (app / "pages").mkdir(parents=True)
    (app / "dashboard.py").write_text("")
    monkeypatch.setattr(paths, "CHECKOUT", None)
    monkeypatch.setattr(paths.sysconfig, "get_path", lambda name, scheme=None: str(tmp_path))
    assert paths.app_folder() == app


def test_an_installation_without_its_app_is_refused_with_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setattr(paths, "CHECKOUT", None)
    monkeypatch.setattr(paths.sysconfig, "get_path", lambda name, scheme=None: str(tmp_path))
    with pytest.raises(serve.SettingError, match="dashboard's files"):
        serve.streamlit_command(argparse.Namespace(port=None, address=None))


def test_pyproject_ships_every_file_the_app_reads():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    shipped = {pattern for patterns in tool["data-files"].values() for pattern in patterns}
    files = {path for pattern in shipped for path in ROOT.glob(pattern)}
    assert ROOT / "dashboard.py" in files
    assert set((ROOT / "pages").glob("*.py")) <= files
    assert ROOT / "docs" / "methods.md" in files  # the Methods page shows it
    assert ROOT / ".streamlit" / "config.toml" in files
    assert "script.py.mako" in tool["package-data"]["analysis.db.migrations"]


def test_serve_runs_streamlit_on_the_checkouts_dashboard():
    command = serve.streamlit_command(argparse.Namespace(port=8642, address="0.0.0.0"))
    assert command[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert command[4] == str(ROOT / "dashboard.py")
    assert command[5:] == ["--server.port", "8642", "--server.address", "0.0.0.0"]


def test_serve_leaves_unset_flags_to_streamlits_settings():
    command = serve.streamlit_command(argparse.Namespace(port=None, address=None))
    assert not [part for part in command if part.startswith("--server.")]


@pytest.mark.parametrize("port", [0, 70000])
def test_serve_refuses_a_port_out_of_range(port):
    with pytest.raises(serve.SettingError, match="--port must be between 1 and 65535"):
        serve.streamlit_command(argparse.Namespace(port=port, address=None))


def test_serve_refuses_an_unreachable_database_before_starting(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "analysis", "serve", "--db", "postgresql://nobody@127.0.0.1:1/clinic"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3
    assert "cannot be reached" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Serving" not in result.stdout


def test_wheel_ships_the_app_the_migrations_and_the_command(tmp_path):
    """Build the wheel as `pip install .` does and install it (without dependencies) into a folder.

    The source is what deploy/Dockerfile copies, in a folder of its own (a build leaves
    ``build/`` and ``*.egg-info`` behind, which must not land in the checkout).
    """
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md", "LICENSE", "dashboard.py", ".streamlit/config.toml"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for name in ("analysis", "pages", "docs"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(tmp_path / "wheel")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if build.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the wheel did not build: {build.stderr[-2000:]}")
        pytest.skip("wheel test: building needs setuptools from the package index, which is unreachable")
    (wheel,) = (tmp_path / "wheel").glob("ketamine_outcomes-*.whl")
    target = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    app = target / "share" / "ketamine-outcomes" / "app"
    assert (app / "dashboard.py").is_file() and (app / ".streamlit" / "config.toml").is_file()
    assert {p.name for p in (app / "pages").glob("*.py")} == {p.name for p in (ROOT / "pages").glob("*.py")}
    migrations = target / "analysis" / "db" / "migrations"
    assert (migrations / "script.py.mako").is_file()
    assert {p.name for p in (migrations / "versions").glob("*.py")} == {
        p.name for p in (ROOT / "analysis" / "db" / "migrations" / "versions").glob("*.py")
    }
    assert (target / "bin" / "ketamine-outcomes").is_file()
    version = subprocess.run(
        [sys.executable, "-m", "analysis", "--version"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=True,
    )
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert version.stdout.strip() == f"python -m analysis {project['version']}"  # from the installed metadata
    assert not (target / "tests").exists() and not (target / "benchmarks").exists()
