"""Controlled vocabularies (docs/contract.md): conditions, routes, adverse events, sexes, end reasons.

Each canonical code maps from the labels a clinic may write (case-insensitive, surrounding
spaces ignored); the code itself is always accepted.
"""

from __future__ import annotations

import re

CONDITION_LABELS: dict[str, tuple[str, ...]] = {
    "crps": ("CRPS", "complex regional pain syndrome"),
    "cancer_pain": ("cancer pain",),
    "phantom_limb": ("phantom limb pain",),
    "crohns": ("Crohn's disease", "crohns"),
    "fibromyalgia": (),
    "lyme": ("Lyme disease",),
    "postherpetic_neuralgia": ("PHN", "shingles", "post-herpetic neuralgia"),
    "migraine": ("migraines",),
    "other_neuropathic": ("other nerve pain", "neuropathic pain"),
}

CONDITION_NAMES: dict[str, str] = {
    "crps": "CRPS",
    "cancer_pain": "Cancer pain",
    "phantom_limb": "Phantom limb pain",
    "crohns": "Crohn's disease",
    "fibromyalgia": "Fibromyalgia",
    "lyme": "Lyme disease",
    "postherpetic_neuralgia": "Post-herpetic neuralgia",
    "migraine": "Migraine",
    "other_neuropathic": "Other neuropathic pain",
}

ROUTE_LABELS: dict[str, tuple[str, ...]] = {
    "intranasal": ("IN",),
    "intramuscular": ("IM",),
    "intravenous": ("IV",),
    "oral": ("PO",),
    "sublingual": ("SL",),
    "subcutaneous": ("SC",),
}

#: A patient whose sessions tie for the most-used route (docs/methods.md).
MIXED_ROUTE = "mixed"
#: A patient with no session yet, hence no route.
NO_ROUTE = "none"

ADVERSE_EVENTS: tuple[str, ...] = (
    "dissociation",
    "nausea",
    "vomiting",
    "hypertension",
    "dizziness",
    "headache",
    "sedation",
    "anxiety",
    "visual_disturbance",
    "other",
)

SEXES: tuple[str, ...] = ("F", "M", "X", "unknown")

#: Why a patient left care (``patients.end_reason``), with the labels a clinic may write.
END_REASON_LABELS: dict[str, tuple[str, ...]] = {
    "completed": (),
    "lack_of_effect": ("ineffective",),
    "adverse_event": ("AE", "side effects"),
    "patient_choice": (),
    "cost": (),
    "moved": (),
    "lost_to_follow_up": (),
    "death": ("died", "deceased"),
    "hospice": (),
    "other": (),
}

#: End reasons that are competing events, never a loss of response (docs/methods.md).
COMPETING_END_REASONS: tuple[str, ...] = ("death", "hospice")


def _lookup(labels: dict[str, tuple[str, ...]]) -> dict[str, str]:
    table: dict[str, str] = {}
    for code, synonyms in labels.items():
        for label in (code, *synonyms):
            table[label.strip().casefold()] = code
    return table


CONDITION_LOOKUP: dict[str, str] = _lookup(CONDITION_LABELS)
ROUTE_LOOKUP: dict[str, str] = _lookup(ROUTE_LABELS)
SEX_LOOKUP: dict[str, str] = {s.casefold(): s for s in SEXES}
ADVERSE_EVENT_LOOKUP: dict[str, str] = {code: code for code in ADVERSE_EVENTS}
END_REASON_LOOKUP: dict[str, str] = _lookup(END_REASON_LABELS)


def canonical_condition(label: str) -> str | None:
    """Return the condition code for ``label``, or ``None`` when it is not recognised."""
    return CONDITION_LOOKUP.get(label.strip().casefold())


def canonical_route(label: str) -> str | None:
    """Return the route code for ``label``, or ``None`` when it is not recognised."""
    return ROUTE_LOOKUP.get(label.strip().casefold())


def canonical_end_reason(label: str) -> str | None:
    """Return the end-reason code for ``label`` (spaces and hyphens count as underscores)."""
    text = label.strip().casefold()
    return END_REASON_LOOKUP.get(text) or END_REASON_LOOKUP.get(re.sub(r"[\s\-]+", "_", text))


def display_name(code: str) -> str:
    """A readable name for a condition, route or other code (``other_neuropathic`` → its name)."""
    if code in CONDITION_NAMES:
        return CONDITION_NAMES[code]
    return code if code.isupper() else code.replace("_", " ").capitalize()
