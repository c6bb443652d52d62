"""Who may see what: roles and sites from a small access file (pure Python, no UI).

A logged-in user (claims from the clinic's OpenID Connect provider) is matched against the
access file: first by e-mail, then by the groups in the ``groups`` claim. The file is TOML::

    [users."director@clinic.org"]
    role = "director"                   # sees every site

    [users."nurse@clinic.org"]
    role = "clinician"
    sites = ["main", "north"]

    [groups.pain-analysts]
    role = "analyst"

Rules (documented in docs/security.md):

- an e-mail entry wins over group entries; e-mails and group names are compared ignoring case;
- several matching groups: the most privileged role (director > analyst > clinician) wins, and
  the sites are the union of those groups' sites of that role;
- ``sites`` absent or ``["*"]`` means every site; a clinician must be given sites explicitly
  (a clinician entry without sites sees no patient);
- no match → no access (a polite page, nothing else).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Role = Literal["director", "analyst", "clinician"]
ROLES: tuple[Role, ...] = ("director", "analyst", "clinician")  # most privileged first
ALL_SITES = "*"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ACCESS_FILE = PROJECT_ROOT / "access.toml"

#: What each role may do; pages and exports ask these, never the role name.
PERMISSIONS: dict[Role, frozenset[str]] = {
    "director": frozenset(
        {"aggregates", "patients", "import", "audit", "quality", "export_unsuppressed", "comparators"}
    ),
    "analyst": frozenset({"aggregates"}),
    "clinician": frozenset({"aggregates", "patients", "quality"}),
}


class AccessConfigError(Exception):
    """The access file cannot be read; the message says what to fix."""


@dataclass(frozen=True)
class Access:
    """What one user may see: a role and the sites (``None`` = every site)."""

    user: str
    role: Role | None
    sites: frozenset[str] | None = None

    @property
    def granted(self) -> bool:
        return self.role is not None

    def can(self, permission: str) -> bool:
        """True when the user's role carries ``permission`` (see :data:`PERMISSIONS`)."""
        return self.role is not None and permission in PERMISSIONS[self.role]

    def scope_sites(self, selected: tuple[str, ...]) -> tuple[str, ...]:
        """The sites a query may read: the selection limited to the allowed sites.

        An empty selection means "all I may see". A selection outside the allowed sites
        yields a site name that matches nothing, so the query returns no patient.
        """
        if self.sites is None:
            return selected
        chosen = [site for site in (selected or sorted(self.sites)) if site in self.sites]
        return tuple(chosen) or ("\x00no-permitted-site",)


#: The open demo: no login configured, everyone may do everything (the app says so).
OPEN_ACCESS = Access(user="(no login configured)", role="director", sites=None)


def _normalised_sites(value: Any, where: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(site, str) for site in value):
        raise AccessConfigError(f"{where}: 'sites' must be a list of site names, e.g. [\"main\"]")
    if ALL_SITES in value:
        return None
    return frozenset(site.strip() for site in value)


def _entry(raw: Any, where: str) -> tuple[Role, frozenset[str] | None]:
    if not isinstance(raw, Mapping):
        raise AccessConfigError(f"{where}: expected a table with 'role' (and optional 'sites')")
    role = raw.get("role")
    if role not in ROLES:
        raise AccessConfigError(f"{where}: role must be one of {', '.join(ROLES)}, not {role!r}")
    sites = _normalised_sites(raw.get("sites"), where)
    if role == "clinician" and sites is None and "sites" not in raw:
        sites = frozenset()  # clinicians see only the sites they are given
    return role, sites


@dataclass(frozen=True)
class AccessPolicy:
    """The parsed access file."""

    users: Mapping[str, tuple[Role, frozenset[str] | None]]
    groups: Mapping[str, tuple[Role, frozenset[str] | None]]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> AccessPolicy:
        """Build a policy from parsed TOML (or ``st.secrets["access"]``)."""
        users = {
            str(email).strip().casefold(): _entry(raw, f"users.{email}")
            for email, raw in dict(data.get("users", {})).items()
        }
        groups = {
            str(name).strip().casefold(): _entry(raw, f"groups.{name}")
            for name, raw in dict(data.get("groups", {})).items()
        }
        unknown = set(data) - {"users", "groups"}
        if unknown:
            raise AccessConfigError(f"unknown section(s) in the access file: {', '.join(sorted(unknown))}")
        return cls(users=users, groups=groups)

    def resolve(self, claims: Mapping[str, Any]) -> Access:
        """The access of a logged-in user, from their ID-token claims."""
        email = str(claims.get("email") or "").strip()
        key = email.casefold()
        if key and key in self.users:
            role, sites = self.users[key]
            return Access(user=email, role=role, sites=sites)
        raw_groups = claims.get("groups") or []
        if isinstance(raw_groups, str):
            raw_groups = [raw_groups]
        names = [g.casefold() for g in raw_groups if isinstance(g, str)]
        matches = [self.groups[name] for name in names if name in self.groups]
        if not matches:
            return Access(user=email or str(claims.get("sub") or "unknown"), role=None, sites=frozenset())
        best = min(matches, key=lambda match: ROLES.index(match[0]))[0]
        chosen = [sites for role, sites in matches if role == best]
        sites = None if any(s is None for s in chosen) else frozenset().union(*chosen)
        return Access(user=email, role=best, sites=sites)


def access_file() -> Path:
    """The access file: ``KETAMINE_ACCESS_FILE``, else ``access.toml`` at the project root."""
    return Path(os.environ.get("KETAMINE_ACCESS_FILE") or DEFAULT_ACCESS_FILE)


def load_policy(path: Path | None = None) -> AccessPolicy:
    """Read and check the access file; a missing file grants no one anything."""
    path = path or access_file()
    if not path.exists():
        return AccessPolicy(users={}, groups={})
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AccessConfigError(f"the access file {path} is not valid TOML: {exc}") from exc
    return AccessPolicy.from_mapping(data)
