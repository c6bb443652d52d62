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
# An SSN written with spaces or dots (3-2-4, one separator throughout) is one too; nine digits
# in a row are one only after a word that says so ("SSN 123456789", "SS#123456789"), since a
# pseudonym may well be nine digits (docs/import.md, "Identifiers").
_SSN_OTHER = (
    re.compile(r"(?<![\d.])\d{3}(?P<sep>[ .])\d{2}(?P=sep)\d{4}(?![.,]?\d)", re.ASCII),
    re.compile(
        r"(?<![a-z])(?:ssn|ss\s?#|ss\s?no|soc\.?\s?sec\.?|social\s?security(?:\s?(?:number|no))?)"
        r"[\s:#.=_-]{0,3}\d{3}[\s.-]?\d{2}[\s.-]?\d{4}(?!\d)",
        re.ASCII | re.IGNORECASE,
    ),
)
# Separators must repeat (555-123-4567, 555.123.4567, 555 123 4567) so that ISO dates and
# decimal numbers, which have at most one dot, never match.
_PHONES = (
    re.compile(r"(?<![\d.])(?:\+?1[\s.-]?)?\(\d{3}\)[\s.-]?\d{3}[\s.-]?\d{4}(?![.,]?\d)", re.ASCII),
    re.compile(r"(?<![\d.])(?:\+?1[\s.-]?)?\d{3}(?P<sep>[\s.-])\d{3}(?P=sep)\d{4}(?![.,]?\d)", re.ASCII),
    re.compile(r"(?<![\w+])\+(?:\d[\s.()-]{0,2}){8,15}(?!\d)", re.ASCII),
    # Mixed separators: 555 123-4567, 555/123-4567, 555.123-4567.
    re.compile(r"(?<![\d.])\d{3}[\s./-]\d{3}[\s.-]\d{4}(?![.,]?\d)", re.ASCII),
    # Any 7 to 15 digits after a word that says phone: "tel 5551234567", "mobile:07700900123".
    re.compile(
        r"(?<![a-z])(?:tel|telephone|phone|ph|mobile|mob|cell|fax)[\s:#.=_-]{0,3}"
        r"\+?\d(?:[\s().-]{0,2}\d){6,14}(?!\d)",
        re.ASCII | re.IGNORECASE,
    ),
)
# National numbers with a trunk 0 in groups separated by spaces (020 7946 0958, 07700 900123):
# a phone number when the groups hold 10 or 11 digits in all.
_TRUNK_PHONE = re.compile(r"(?<![\d.])0\d{2,4}(?: \d{3,6}){1,2}(?![.,]?\d)", re.ASCII)
# A person's name where a site or a file name is expected: "Smith, John" (the order records
# and lists use) or a title before a name ("Mrs Smith"). Case matters: "MS clinic" is not a title.
_PERSON = (
    re.compile(r"^\s*[A-Z][a-z'’-]+,\s*[A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’-]*\.?)?\s*$"),
    re.compile(r"^\s*[A-Z][A-Z'’-]+,\s*[A-Z][A-Z'’-]{2,}(?:\s+[A-Z]\.?)?\s*$"),
    re.compile(r"(?<![A-Za-z])(?:Mr|Mrs|Ms|Miss|Mx)\.?\s+[A-Z][a-z]+"),
)


# Plain ASCII classes keep this on pyarrow's RE2 engine (pandas falls back to Python's re
# for \d, \s and lookarounds); the detailed patterns are ASCII-only to match it.
_CANDIDATE = r"@|[0-9 \t\r\n\f\v().+/\-]{9,}"


def identifying_kind(text: str) -> str | None:
    """'an e-mail address', 'an SSN' or 'a phone number' when ``text`` contains one."""
    if "@" in text and _EMAIL.search(text):
        return "an e-mail address"
    if _SSN.search(text) or any(p.search(text) for p in _SSN_OTHER):
        return "an SSN"
    if any(p.search(text) for p in _PHONES):
        return "a phone number"
    if any(10 <= sum(c.isdigit() for c in m.group()) <= 11 for m in _TRUNK_PHONE.finditer(text)):
        return "a phone number"
    return None


def looks_like_a_person(text: str) -> bool:
    """True when ``text`` reads as a person's name ("Smith, John", "Mrs Smith")."""
    return any(p.search(text) for p in _PERSON)


def name_identifier_kind(name: str) -> str | None:
    """What identifying a file or sheet name holds, or None (the cell screen plus names of people).

    File names go to the import log, which is kept for ever; a name that identifies a person
    is refused and never stored.
    """
    stem = name.rsplit(".", 1)[0] if name.casefold().endswith((".csv", ".xlsx")) else name
    kind = identifying_kind(name) or identifying_kind(stem.replace("_", " "))
    if kind:
        return kind
    if looks_like_a_person(stem) or looks_like_a_person(stem.replace("_", " ")):
        return "a person's name"
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
