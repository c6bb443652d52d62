"""The import contract: every column the importer accepts, as one table (docs/contract.md).

This table is the one home of the contract. The importer's checks (:mod:`analysis.ingest.validate`),
the stored tables' CHECK constraints (:mod:`analysis.db.schema`), the column order of the demo
clinic and ``docs/contract.md`` all come from it; ``tests/test_contract.py`` fails when the
generated document or the database constraints drift from it.

``python -m analysis.domain.contract`` prints ``docs/contract.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from analysis.domain import vocabulary

Kind = Literal[
    "patient_id", "site", "condition", "route", "sex", "date", "number", "integer", "events", "end_reason"
]

#: The contract's tables, in the order an import reads and writes them.
TABLES: tuple[str, ...] = ("patients", "sessions", "followups")

#: Natural key of each table: a row whose key is stored is updated in place, never duplicated.
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id",),
    "sessions": ("patient_id", "session_date"),
    "followups": ("patient_id", "followup_date"),
}

#: A pseudonymous patient id: 1–64 letters, digits, ``_``, ``.`` or ``-``.
PATIENT_ID_PATTERN = r"[A-Za-z0-9_.\-]{1,64}"
#: Ages at or above this are stored as this (HIPAA Safe Harbor: ages over 89 are shown "90+").
AGE_CAP = 90


@dataclass(frozen=True)
class Field:
    """One contract column: its type, whether it is required, and the values allowed.

    ``low``/``high`` bound what an import accepts; ``stored_high`` (when set) is the largest
    value stored, the importer capping larger ones to it (age). ``check`` names the database
    CHECK constraint that keeps the range in the stored table.
    """

    name: str
    kind: Kind
    required: bool = False
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False
    rule: str = ""
    meaning: str = ""
    check: str | None = None
    stored_high: float | None = None

    def check_sql(self) -> str | None:
        """The CHECK constraint's condition over the stored column, or None for no range."""
        if self.low is None and self.high is None:
            return None
        high = self.stored_high if self.stored_high is not None else self.high
        parts = []
        if self.low is not None:
            parts.append(f"{self.name} {'>' if self.low_exclusive else '>='} {self.low:g}")
        if high is not None:
            parts.append(f"{self.name} <= {high:g}")
        condition = " AND ".join(parts)
        if self.required:
            return condition
        return (
            f"{self.name} IS NULL OR ({condition})"
            if len(parts) > 1
            else f"{self.name} IS NULL OR {condition}"
        )

    @property
    def check_name(self) -> str:
        return self.check or f"{self.name}_range"


def _pain(name: str, label: str, meaning: str, required: bool = False) -> Field:
    return Field(name, "number", required, 0, 10, rule=f"{label} must be from 0 to 10 (NRS)", meaning=meaning)


FIELDS: dict[str, tuple[Field, ...]] = {
    "patients": (
        Field("patient_id", "patient_id", True, meaning="pseudonym, unique, 1–64 of A–Z a–z 0–9 _ . -"),
        Field("condition", "condition", True, meaning="pain condition (vocabulary below)"),
        Field("site", "site", meaning="clinic site, at most 64 characters; missing → main"),
        Field("age", "integer", low=18, high=120, rule="age must be a whole number of years from 18 to 120",
              meaning="years at the first session; stored capped at 90 (shown 90+)", stored_high=AGE_CAP),
        Field("sex", "sex", meaning="F, M, X or unknown"),
        _pain("baseline_pain", "baseline pain", "NRS before treatment; else the first session's pre_pain"),
        Field("baseline_mme", "number", low=0, rule="baseline MME must be 0 or more (mg/day)",
              meaning="oral morphine milligram equivalents per day before treatment"),
        Field("baseline_phq9", "integer", low=0, high=27,
              rule="baseline PHQ-9 must be a whole number from 0 to 27",
              meaning="PHQ-9 depression score before treatment"),
        Field("baseline_bpi_interference", "number", low=0, high=10, check="baseline_bpi_range",
              rule="baseline BPI interference must be from 0 to 10",
              meaning="Brief Pain Inventory interference before treatment, 0–10"),
        Field("baseline_headache_days", "integer", low=0, high=31, check="baseline_headache_days_range",
              rule="baseline headache days must be a whole number from 0 to 31",
              meaning="headache days in the 30 days before day 0"),
        Field("end_date", "date", meaning="the day the patient left care; not before the first session"),
        Field("end_reason", "end_reason",
              meaning="why the patient left care (vocabulary below); needs end_date"),
    ),
    "sessions": (
        Field("patient_id", "patient_id", True, meaning="must exist in patients (stored or imported)"),
        Field("session_date", "date", True, meaning="YYYY-MM-DD, not after the import day"),
        Field("route", "route", True, meaning="route of administration (vocabulary below)"),
        Field("dose_mg", "number", True, 0, 1000, low_exclusive=True, check="dose_range",
              rule="dose must be above 0 and at most 1000 mg", meaning="ketamine dose of the session, mg"),
        Field("weight_kg", "number", low=30, high=300, check="weight_range",
              rule="weight must be from 30 to 300 kg", meaning="body weight, kg"),
        _pain("pre_pain", "pre-session pain", "NRS before the dose"),
        _pain("post_pain", "post-session pain", "NRS after the dose"),
        Field("adverse_events", "events", meaning="codes from the vocabulary below, separated by ;"),
        Field("ae_duration_min", "number", low=0, check="ae_duration_range",
              rule="adverse-event duration must be 0 minutes or more",
              meaning="duration of the session's longest adverse event, minutes"),
    ),
    "followups": (
        Field("patient_id", "patient_id", True, meaning="must exist in patients (stored or imported)"),
        Field("followup_date", "date", True, meaning="YYYY-MM-DD, not after the import day"),
        _pain("pain", "pain", "NRS at the follow-up", required=True),
        Field("pgic", "integer", low=1, high=7, rule="PGIC must be a whole number from 1 to 7",
              meaning="Patient Global Impression of Change: 1 very much improved … 7 very much worse"),
        Field("bpi_interference", "number", low=0, high=10, check="bpi_range",
              rule="BPI interference must be from 0 to 10 (NRS)",
              meaning="Brief Pain Inventory interference, mean of 7 items, 0–10"),
        Field("phq9", "integer", low=0, high=27, rule="PHQ-9 must be a whole number from 0 to 27",
              meaning="Patient Health Questionnaire-9 depression score"),
        Field("mme", "number", low=0, rule="MME must be 0 or more (mg/day)",
              meaning="opioid dose at the follow-up, oral morphine milligram equivalents per day"),
        Field("adverse_events", "events", meaning="codes from the vocabulary below, separated by ;"),
        Field("headache_days", "integer", low=0, high=31,
              rule="headache days must be a whole number from 0 to 31",
              meaning="headache days in the 30 days before the follow-up"),
    ),
}  # fmt: skip

#: Contract columns per table, in the order the contract lists them.
COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(f.name for f in fields) for table, fields in FIELDS.items()
}

_KIND_TEXT: dict[str, str] = {
    "patient_id": "text (pseudonym)",
    "site": "text",
    "condition": "vocabulary",
    "route": "vocabulary",
    "sex": "vocabulary",
    "date": "date",
    "number": "number",
    "integer": "whole number",
    "events": "vocabulary list",
    "end_reason": "vocabulary",
}


def _range_text(field: Field) -> str:
    if field.low is None and field.high is None:
        return ""
    low = "" if field.low is None else f"{'>' if field.low_exclusive else '≥'} {field.low:g}"
    high = "" if field.high is None else f"≤ {field.high:g}"
    return " and ".join(part for part in (low, high) if part)


def _labels(labels: dict[str, tuple[str, ...]]) -> list[str]:
    return [f"| `{code}` | {', '.join(accepted) or '—'} |" for code, accepted in labels.items()]


def render_markdown() -> str:
    """``docs/contract.md``: the contract table as a maintainer and a clinic's IT read it."""
    lines = [
        "# The import contract",
        "",
        "<!-- Generated from analysis/domain/contract.py by `python -m analysis.domain.contract`;",
        "     tests/test_contract.py fails when this file and the table differ. Do not edit by hand. -->",
        "",
        "A clinic imports three tables, as CSV files named after them (UTF-8, header row) or as one",
        ".xlsx workbook with sheets of the same names. Column names are case-insensitive; spaces,",
        "hyphens and dots count as underscores. Unknown columns are dropped with a warning; a column",
        "whose name looks like a direct identifier refuses the whole import. The rules decided for",
        "the importer (all or nothing, idempotence, identifiers, dates, sizes) are in",
        "[import.md](import.md).",
        "",
    ]
    for table, fields in FIELDS.items():
        key = ", ".join(f"`{c}`" for c in NATURAL_KEYS[table])
        lines += [f"## `{table}`", "", f"Natural key: {key}.", ""]
        lines += ["| column | required | type | allowed | meaning |", "|---|---|---|---|---|"]
        for f in fields:
            lines.append(
                f"| `{f.name}` | {'yes' if f.required else 'no'} | {_KIND_TEXT[f.kind]} | "
                f"{_range_text(f)} | {f.meaning} |"
            )
        lines.append("")
    lines += [
        "## Vocabularies",
        "",
        "Codes are case-insensitive; each accepts its code and the labels listed.",
        "",
    ]
    lines += [
        "### Conditions",
        "",
        "| code | also accepted |",
        "|---|---|",
        *_labels(vocabulary.CONDITION_LABELS),
        "",
    ]
    lines += [
        "### Routes",
        "",
        "| code | also accepted |",
        "|---|---|",
        *_labels(vocabulary.ROUTE_LABELS),
        "",
    ]
    lines += ["### Sex", "", ", ".join(f"`{s}`" for s in vocabulary.SEXES), ""]
    lines += ["### Adverse events", "", ", ".join(f"`{e}`" for e in vocabulary.ADVERSE_EVENTS), ""]
    lines += ["### End reasons", "", "Spaces and hyphens count as underscores (`lost to follow-up`).", ""]
    lines += ["| code | also accepted |", "|---|---|", *_labels(vocabulary.END_REASON_LABELS), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
