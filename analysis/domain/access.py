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
- an e-mail counts only when the ID token says the provider verified it (``email_verified``
  true): otherwise anyone who can set an address on an account at the provider could claim a
  colleague's entry. An unverified e-mail falls back to the groups; with no group, no access,
  and the "no access" page says why;
- several matching groups: the most privileged role (director > analyst > clinician) wins, and
  the sites are the union of those groups' sites of that role;
- ``sites`` absent or ``["*"]`` means every site; a clinician must be given sites explicitly
  (a clinician entry without sites sees no patient);
- no match → no access (a polite page, nothing else).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from analysis.domain import paths

Role = Literal["director", "analyst", "clinician"]
ROLES: tuple[Role, ...] = ("director", "analyst", "clinician")  # most privileged first
ALL_SITES = "*"

PROJECT_ROOT = paths.project_root()  # the checkout, or the current folder when installed
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
    #: Why access was refused when it was not for want of an entry (see :data:`EMAIL_NOT_VERIFIED`).
    refused_because: str = ""

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


#: ``Access.refused_because`` when the e-mail has an entry but the provider did not verify it.
EMAIL_NOT_VERIFIED = "email_not_verified"


def email_verified(claims: Mapping[str, Any]) -> bool:
    """True when the ID token says the provider verified the e-mail (some send the string "true")."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.strip().casefold() == "true")


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
        unverified_entry = bool(key) and key in self.users and not email_verified(claims)
        if key and key in self.users and not unverified_entry:
            role, sites = self.users[key]
            return Access(user=email, role=role, sites=sites)
        raw_groups = claims.get("groups") or []
        if isinstance(raw_groups, str):
            raw_groups = [raw_groups]
        names = [g.casefold() for g in raw_groups if isinstance(g, str)]
        matches = [self.groups[name] for name in names if name in self.groups]
        if not matches:
            return Access(
                user=email or str(claims.get("sub") or "unknown"),
                role=None,
                sites=frozenset(),
                refused_because=EMAIL_NOT_VERIFIED if unverified_entry else "",
            )
        best = min(matches, key=lambda match: ROLES.index(match[0]))[0]
        chosen = [sites for role, sites in matches if role == best]
        sites = None if any(s is None for s in chosen) else frozenset[str]().union(*filter(None, chosen))
        return Access(user=email, role=best, sites=sites)


#: Set to 1 to run the open demo on purpose on an address other machines can reach.
OPEN_DEMO_VARIABLE = "KETAMINE_OPEN_DEMO"


def is_loopback(address: str) -> bool:
    """True when a server bound to ``address`` is reachable from this computer only.

    An empty address (Streamlit's default) binds every interface, so it is not loopback.
    """
    host = address.strip().strip("[]")
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_mode_refusal(address: str, access_file_present: bool, open_demo: bool) -> str | None:
    """Why the app must not run open (no login configured), or None when the open demo may run.

    The app fails closed: an access file means staff and real data are meant to be here, and an
    address other machines can reach means anyone on the network would see everything. Only
    the second can be overridden, on purpose, with ``KETAMINE_OPEN_DEMO=1`` (a demo in a
    container); an access file never can.
    """
    if access_file_present:
        return (
            "An access file is present, so this dashboard is meant for staff with real data, but no "
            "login is configured. Add the `[auth]` section to `.streamlit/secrets.toml` (docs/security.md, "
            '"Configuring it"). To run the demo instead, move the access file away.'
        )
    if not is_loopback(address) and not open_demo:
        shown = address or "every network interface"
        return (
            f"No login is configured and the dashboard listens on {shown}, so anyone on the network "
            "would see everything. Add the `[auth]` section to `.streamlit/secrets.toml` (docs/security.md, "
            '"Configuring it"), or run the demo on this computer only: '
            "`streamlit run dashboard.py --server.address 127.0.0.1` "
            f"(or set `{OPEN_DEMO_VARIABLE}=1` to run the open demo on this address on purpose)."
        )
    return None


def open_demo_requested() -> bool:
    """True when ``KETAMINE_OPEN_DEMO`` asks for the open demo on a reachable address."""
    return os.environ.get(OPEN_DEMO_VARIABLE, "").strip() == "1"


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
