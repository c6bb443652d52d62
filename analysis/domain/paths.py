"""Where the app's files are: a source checkout, or an installed package (README, "Install").

From a checkout (``make run``, ``python -m analysis``, ``pip install -e .``) the project root is
the checkout: the embedded SQLite file is ``data/outcomes.db`` and the access file
``access.toml`` there. An installed package (``pip install .``, the Docker image) has no project
folder of its own, so the root is the folder the command runs in, as for any command-line tool.
"""

from __future__ import annotations

import sysconfig
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "ketamine-outcomes"
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _checkout() -> Path | None:
    root = PACKAGE_DIR.parent
    markers = ("pyproject.toml", "dashboard.py")
    return root if all((root / name).is_file() for name in markers) else None


#: The source checkout this package runs from, or ``None`` when it is installed.
CHECKOUT = _checkout()


def project_root() -> Path:
    """The checkout, else the current folder (an installed package)."""
    return CHECKOUT or Path.cwd()


def version() -> str:
    """The version: the checkout's ``pyproject.toml``, else the installed distribution's."""
    if CHECKOUT is not None:
        import tomllib

        with open(CHECKOUT / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # copied without installing: say so rather than guess
        return "unknown"


def app_folder() -> Path | None:
    """The folder holding ``dashboard.py`` and ``pages/``, or ``None`` when none is found.

    A checkout's own files come first; an installed package's are under
    ``<prefix>/share/ketamine-outcomes/app`` (``[tool.setuptools.data-files]`` in
    ``pyproject.toml``), for a virtual environment, the system, or a ``--user`` install.
    """
    candidates = [CHECKOUT] if CHECKOUT is not None else []
    schemes = [sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")]
    for scheme in dict.fromkeys(schemes):
        candidates.append(Path(sysconfig.get_path("data", scheme)) / "share" / DISTRIBUTION / "app")
    return next((folder for folder in candidates if (folder / "dashboard.py").is_file()), None)
