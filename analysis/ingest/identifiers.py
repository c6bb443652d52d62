"""The identifier screen: column names and cell texts that look like direct identifiers."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis.ingest.cells import _is_text
from analysis.ingest.report import _Problems

# --------------------------------------------------------------------------- identifiers

#: Words that make a column name a direct identifier (HIPAA Safe Harbor list and kin).
#: Matched against the name's words, so that ``condition`` does not match ``ip``.
IDENTIFIER_WORDS = frozenset(
    {
        "name", "names", "initials", "email", "emails", "mail", "phone", "phones", "telephone", "tel",
        "mobile", "cellphone", "fax", "ssn", "sin", "mrn", "address", "addresses", "street", "city",
        "county", "zip", "zipcode", "postcode", "postal", "dob", "birth", "birthdate", "birthday", "ip",
        "account", "acct", "licence", "license", "serial", "url", "uri", "website", "beneficiary",
        "certificate", "vehicle", "plate", "photo", "photos", "photograph", "picture", "biometric",
        "biometrics", "fingerprint", "passport", "nhs", "medicare", "medicaid",
    }
)  # fmt: skip
#: Word sequences that are identifiers although each word alone is not.
IDENTIFIER_PHRASES: tuple[tuple[str, ...], ...] = (
    ("e", "mail"), ("social", "security"), ("medical", "record"), ("record", "number"),
    ("chart", "number"), ("health", "plan"), ("device", "id"), ("cell", "phone"), ("cell", "number"),
    ("post", "code"), ("national", "id"), ("member", "id"), ("subscriber", "id"), ("policy", "number"),
    ("insurance", "number"),
)  # fmt: skip
#: Fragments that identify inside a longer word (``PatientEmail``, ``homephone``, ``dateofbirth``).
_IDENTIFIER_FRAGMENTS = (
    "email", "phone", "address", "surname", "firstname", "lastname", "fullname", "dateofbirth",
    "birthdate", "zipcode", "postcode", "postalcode", "socialsecurity", "medicalrecord", "ipaddress",
    "healthplan", "serialnumber", "beneficiary", "certificate", "biometric", "fingerprint", "licence",
    "license", "passport",
)  # fmt: skip


def identifier_reason(header: str) -> str | None:
    """Why a column name looks like a direct identifier, or None when it does not."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", header)
    words = [w for w in re.split(r"[^a-z0-9]+", spaced.casefold()) if w]
    for i, word in enumerate(words):
        if word in IDENTIFIER_WORDS:
            return f"'{word}'"
        for phrase in IDENTIFIER_PHRASES:
            if tuple(words[i : i + len(phrase)]) == phrase:
                return f"'{' '.join(phrase)}'"
        if word.endswith("name"):
            return f"'{word}'"
        for fragment in _IDENTIFIER_FRAGMENTS:
            if fragment in word:
                return f"'{fragment}'"
    return None


# Bounded repeats (RFC 5321 lengths): an unbounded local part made a 1 MB cell like
# "aaaa…@b" take quadratic time (hours) in re.search; bounded, it stays linear.
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,63}"
)
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])", re.ASCII)
# Separators must repeat (555-123-4567, 555.123.4567, 555 123 4567) so that ISO dates and
# decimal numbers, which have at most one dot, never match.
_PHONES = (
    re.compile(r"(?<![\d.])(?:\+?1[\s.-]?)?\(\d{3}\)[\s.-]?\d{3}[\s.-]?\d{4}(?![.,]?\d)", re.ASCII),
    re.compile(r"(?<![\d.])(?:\+?1[\s.-]?)?\d{3}(?P<sep>[\s.-])\d{3}(?P=sep)\d{4}(?![.,]?\d)", re.ASCII),
    re.compile(r"(?<![\w+])\+(?:\d[\s.()-]{0,2}){8,15}(?!\d)", re.ASCII),
)


# Plain ASCII classes keep this on pyarrow's RE2 engine (pandas falls back to Python's re
# for \d, \s and lookarounds); the detailed patterns are ASCII-only to match it.
_CANDIDATE = r"@|[0-9 \t\r\n\f\v().+\-]{9,}"


def identifying_kind(text: str) -> str | None:
    """'an e-mail address', 'an SSN' or 'a phone number' when ``text`` contains one."""
    if "@" in text and _EMAIL.search(text):
        return "an e-mail address"
    if _SSN.search(text):
        return "an SSN"
    if any(p.search(text) for p in _PHONES):
        return "a phone number"
    return None


def _screen_cells(table: str, header: str, cells: pd.Series, rows: np.ndarray, problems: _Problems) -> None:
    """Refuse text cells that look identifying, hiding their values."""
    if not _is_text(cells):
        return
    present = cells.dropna()
    if present.empty:
        return
    # Only cells with an '@' or a run of 9+ digits and separators can match (one linear-time
    # regex over the column); the detailed regexes then run once per distinct candidate.
    candidates = present[present.str.contains(_CANDIDATE)]
    if candidates.empty:
        return
    kinds = {v: identifying_kind(v) for v in pd.unique(candidates.to_numpy(dtype=object))}
    found = cells.map({v: k for v, k in kinds.items() if k}).astype(object)
    mask = found.notna().to_numpy()
    reason = found.map(
        lambda kind: f"looks like {kind} (value hidden: it would identify a person); remove it from the file",
        na_action="ignore",
    )
    problems.cells(table, header, mask, rows, None, reason)
    problems.hide(table, header, mask, rows)
