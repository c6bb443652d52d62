"""Validation of one table against the import contract (:mod:`analysis.domain.contract`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from analysis.domain import vocabulary
from analysis.domain.contract import AGE_CAP, FIELDS, NATURAL_KEYS, PATIENT_ID_PATTERN, Field
from analysis.ingest import limits
from analysis.ingest.cells import _as_text, _cells, _is_text
from analysis.ingest.identifiers import (
    _CANDIDATE,
    _screen_cells,
    identifier_reason,
    identifying_kind,
    looks_like_a_person,
)
from analysis.ingest.readers import _Sheet
from analysis.ingest.report import _display, _Problems

# --------------------------------------------------------------------------- the contract

# C0/C1 control characters, the Unicode bidi marks (ALM, LRM, RLM), embeddings, overrides and
# isolates, and the invisible zero-width characters (text that displays differently from what
# it is, or not at all): never part of a site name.
_CONTROL = (
    "[\\x00-\\x1f\\x7f-\\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)  # RE2 and re alike
_ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


def _normalise_header(header: str) -> str:
    return re.sub(r"[\s.\-]+", "_", header.strip().casefold())


def _vocabulary_hint(lookup: Mapping[str, tuple[str, ...]]) -> str:
    return ", ".join(lookup)


_CONDITION_RULE = (
    f"unknown condition; use one of {_vocabulary_hint(vocabulary.CONDITION_LABELS)} "
    "(or a label such as CRPS, PHN, migraines)"
)
_ROUTE_RULE = (
    f"unknown route; use one of {_vocabulary_hint(vocabulary.ROUTE_LABELS)} (or IN, IM, IV, PO, SL, SC)"
)
_SEX_RULE = f"sex must be one of {', '.join(vocabulary.SEXES)}"
END_REASON_NEEDS_DATE = "an end reason needs the day the patient left care: add end_date"
_END_REASON_RULE = (
    f"unknown end reason; use one of {_vocabulary_hint(vocabulary.END_REASON_LABELS)} "
    "(or a label such as died, ineffective, side effects)"
)


def _events(label: str) -> tuple[str | None, str | None]:
    """(canonical codes or None, problem or None) for one ``;``-separated adverse-event cell."""
    codes = [re.sub(r"[\s\-]+", "_", c.strip().casefold()) for c in label.split(";")]
    codes = [c for c in codes if c]
    unknown = [c for c in codes if c not in vocabulary.ADVERSE_EVENT_LOOKUP]
    if unknown:
        if identifying_kind(label):  # never echo an identifier, not even inside a reason
            named = "(value hidden)"
        else:
            named = ", ".join(repr(_display(c)) for c in unknown[:5])
            named += f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        return None, (
            f"unknown adverse event {named}; use codes separated by ';' "
            f"from: {', '.join(vocabulary.ADVERSE_EVENTS)}"
        )
    canonical = sorted({vocabulary.ADVERSE_EVENT_LOOKUP[c] for c in codes})
    return (";".join(canonical) or None), None


def _by_unique(cells: pd.Series, parse: Callable[[str], Any]) -> pd.Series:
    """Apply ``parse`` once per distinct value (vocabularies repeat heavily)."""
    codes, distinct = pd.factorize(cells)  # missing cells get code -1
    parsed = np.empty(len(distinct) + 1, dtype=object)
    for i, value in enumerate(distinct):
        parsed[i] = parse(value)
    parsed[-1] = np.nan
    return pd.Series(parsed[codes], index=cells.index, dtype=object)


# Long on purpose: one short branch per field kind of the contract; together they are the parser.
def _parse_field(
    table: str, spec: Field, raw_cells: pd.Series, rows: np.ndarray, today: date, problems: _Problems
) -> pd.Series:
    """Typed values of one column; a cell with a problem becomes missing (and is reported)."""
    name = spec.name
    present = raw_cells.notna().to_numpy()
    if spec.required:
        problems.cells(table, name, ~present, rows, None, f"{name} is required")

    if spec.kind in ("number", "integer"):
        numeric = raw_cells
        if not pd.api.types.is_float_dtype(numeric.dtype):
            numeric = pd.to_numeric(_as_text(raw_cells), errors="coerce").astype("float64")
        values = numeric.to_numpy(dtype="float64")
        not_number = present & np.isnan(values)
        problems.cells(table, name, not_number, rows, raw_cells, f"not a number; {spec.rule}")
        with np.errstate(invalid="ignore"):
            low_ok = (
                True
                if spec.low is None
                else (values > spec.low if spec.low_exclusive else values >= spec.low)
            )
            high_ok = True if spec.high is None else values <= spec.high
            in_range = low_ok & high_ok & np.isfinite(values)
            if spec.kind == "integer":
                in_range &= np.mod(values, 1) == 0
        bad = present & ~not_number & ~in_range
        problems.cells(table, name, bad, rows, raw_cells, spec.rule)
        cleaned = pd.Series(np.where(bad, np.nan, values), dtype="float64")
        if spec.kind == "integer":
            if name == "age":  # docs/contract.md: stored capped at 90 ("90+", HIPAA Safe Harbor)
                cleaned = cleaned.clip(upper=AGE_CAP)
            return cleaned.astype("Int64")
        return cleaned

    if spec.kind == "date":
        if pd.api.types.is_datetime64_any_dtype(raw_cells.dtype):
            parsed = raw_cells.astype("datetime64[us]")
        else:
            text = _as_text(raw_cells)
            iso = text.str.fullmatch(_ISO_DATE).to_numpy(dtype=bool)
            problems.cells(
                table, name, present & ~iso, rows, raw_cells, f"{name} must be a date written YYYY-MM-DD"
            )
            parsed = pd.to_datetime(text.where(iso), format="%Y-%m-%d", errors="coerce").astype(
                "datetime64[us]"
            )
            problems.cells(
                table, name, iso & parsed.isna().to_numpy(), rows, raw_cells, "not a real date (no such day)"
            )
        too_early = (parsed < pd.Timestamp(limits.EARLIEST_DATE)).to_numpy()
        problems.cells(table, name, too_early, rows, raw_cells, "the date is before 1970; check the year")
        future = (parsed > pd.Timestamp(today)).to_numpy()
        problems.cells(
            table,
            name,
            future,
            rows,
            raw_cells,
            f"the date is after the day of the import ({today.isoformat()})",
        )
        return parsed.mask(too_early | future)

    text = _as_text(raw_cells)
    if spec.kind == "patient_id":
        ok = text.str.fullmatch(PATIENT_ID_PATTERN).to_numpy(dtype=bool)
        problems.cells(
            table,
            name,
            present & ~ok,
            rows,
            raw_cells,
            "patient_id must be 1 to 64 letters, digits, '_', '.' or '-' (a pseudonym)",
        )
        return text.where(ok).astype(object)
    if spec.kind == "site":
        long = (text.str.len() > 64).to_numpy(dtype=bool)
        problems.cells(table, name, long, rows, raw_cells, "site must be at most 64 characters")
        control = text.str.contains(_CONTROL).to_numpy(dtype=bool) & ~long
        problems.cells(
            table,
            name,
            control,
            rows,
            None,
            "site contains a control or text-direction character (value hidden); retype the site name",
        )
        distinct = text.dropna().unique()
        people = {v for v in distinct if looks_like_a_person(v)}
        person = text.isin(people).to_numpy(dtype=bool) & ~long & ~control
        problems.cells(
            table,
            name,
            person,
            rows,
            None,
            "site looks like a person's name (value hidden: it would identify a person); "
            "use the clinic's or location's name",
        )
        problems.hide(table, name, person, rows)
        return text.mask(long | control | person).fillna("main").astype(object)
    if spec.kind == "events":
        parsed = _by_unique(text, _events)
        codes = parsed.map(lambda p: p[0], na_action="ignore")
        errors = parsed.map(lambda p: p[1], na_action="ignore")
        problems.cells(table, name, errors.notna().to_numpy(), rows, raw_cells, errors)
        return codes.where(errors.isna()).astype(object)
    lookups: dict[str, tuple[Callable[[str], str | None], str]] = {
        "condition": (vocabulary.canonical_condition, _CONDITION_RULE),
        "route": (vocabulary.canonical_route, _ROUTE_RULE),
        "sex": (lambda v: vocabulary.SEX_LOOKUP.get(v.casefold()), _SEX_RULE),
        "end_reason": (vocabulary.canonical_end_reason, _END_REASON_RULE),
    }
    canonical, rule = lookups[spec.kind]
    codes = _by_unique(text, canonical)
    problems.cells(table, name, present & codes.isna().to_numpy(), rows, raw_cells, rule)
    return codes


# --------------------------------------------------------------------------- one table


@dataclass
class _Checked:
    """A validated table: typed contract columns present in the input, plus ``_row``."""

    table: str
    data: pd.DataFrame
    supplied: tuple[str, ...]


_LISTED_COLUMNS = 20  # unknown columns named in the warning; the rest are counted


# Long on purpose: the order of the checks is the order in which problems are reported.
def _check_sheet(sheet: _Sheet, today: date, problems: _Problems, warnings: list[str]) -> _Checked:
    table, fields = sheet.table, {f.name: f for f in FIELDS[sheet.table]}
    contract: dict[str, int] = {}
    unknown: list[str] = []
    screened: list[int] = []
    for position, header in enumerate(sheet.headers):
        if header and identifying_kind(header):
            problems.file(table, "a column name looks identifying (name hidden); remove the column")
            continue
        key = _normalise_header(header)
        if key in fields:
            if key in contract:
                problems.file(table, f"two columns are named {key}; keep one", column=_display(header))
                continue
            contract[key] = position
            screened.append(position)
        elif not header:
            screened.append(position)
        elif (why := identifier_reason(header)) is not None:
            problems.file(
                table,
                f"the column name looks like a direct identifier ({why}); remove the column: "
                "identifiers must not be imported",
                column=_display(header),
            )
        else:
            unknown.append(header)
            screened.append(position)

    # Contract columns are parsed one by one; every other screened column (unknown or without
    # a header) only needs its missing cells and the identifier screen, so those are stacked
    # into one long column and done in one pass, however wide the file.
    in_contract = set(contract.values())
    cells = {position: _cells(sheet.frame[position]) for position in screened if position in in_contract}
    extra = [position for position in screened if position not in in_contract]
    missing = [c.isna().to_numpy() for c in cells.values()]
    n_rows = len(sheet.frame)
    if extra:
        block = sheet.frame.iloc[:, extra].to_numpy(dtype=object).ravel(order="F")
        stacked = _cells(pd.Series(block, dtype=object))
        missing.extend(stacked.isna().to_numpy().reshape(len(extra), n_rows))
    # A row whose cells are all missing is an empty spreadsheet row: skipped, numbering kept.
    empty = np.logical_and.reduce(missing) if missing else np.ones(n_rows, dtype=bool)
    keep = ~empty
    rows = sheet.rows[keep]
    n_kept = len(rows)
    cells = {p: c[keep].reset_index(drop=True) for p, c in cells.items()}
    extra_cells: dict[int, pd.Series] = {}
    if extra:
        stacked = stacked[np.tile(keep, len(extra))].reset_index(drop=True)
        present = stacked.notna().to_numpy().reshape(len(extra), n_kept)
        if _is_text(stacked):
            candidate = stacked.str.contains(_CANDIDATE).fillna(False).to_numpy(dtype=bool)
            flagged = candidate.reshape(len(extra), n_kept).any(axis=1)
        else:
            flagged = np.zeros(len(extra), dtype=bool)
        for i, position in enumerate(extra):
            if not sheet.headers[position] and present[i].any():
                warnings.append(f"{table}: column {_letter(position)} has no header and was dropped")
            if flagged[i]:
                extra_cells[position] = stacked.iloc[i * n_kept : (i + 1) * n_kept].reset_index(drop=True)

    for position in screened:
        series = cells.get(position, extra_cells.get(position))
        if series is not None:
            label = _display(sheet.headers[position]) or f"column {_letter(position)}"
            _screen_cells(table, label, series, rows, problems)
    if unknown:
        listed = ", ".join(repr(_display(h)) for h in unknown[:_LISTED_COLUMNS])
        if len(unknown) > _LISTED_COLUMNS:
            listed += f" and {len(unknown) - _LISTED_COLUMNS:,} more"
        warnings.append(
            f"{table}: column(s) {listed} are not part of the import and were dropped (not stored)"
        )

    for name, spec in fields.items():
        if spec.required and name not in contract:
            problems.file(table, f"the required column {name} is missing", column=name)

    data = pd.DataFrame({"_row": rows})
    for name, position in contract.items():
        parsed = _parse_field(table, fields[name], cells[position], rows, today, problems)
        data[name] = parsed.set_axis(data.index)
    if "end_reason" in contract and "end_date" in contract:
        # An end reason needs an end date in the same row (an invalid date is reported already);
        # with no end_date column the stored date counts (analysis.ingest.end_of_care).
        no_date = cells[contract["end_date"]].isna().to_numpy() & data["end_reason"].notna().to_numpy()
        problems.cells(table, "end_reason", no_date, rows, data["end_reason"], END_REASON_NEEDS_DATE)
    supplied = tuple(n for n in fields if n in contract)
    return _Checked(table, data, supplied)


def _letter(position: int) -> str:
    """Spreadsheet column letter(s) for a 0-based position: 0 → A, 26 → AA."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _check_duplicates(checked: Mapping[str, _Checked], problems: _Problems) -> None:
    """Two rows with the same natural key in one import: report every row of the pair/group."""
    for table, keys in NATURAL_KEYS.items():
        c = checked.get(table)
        if c is None or not set(keys) <= set(c.data.columns):
            continue
        key_frame = c.data[list(keys)]
        twice = (key_frame.notna().all(axis=1) & key_frame.duplicated(keep=False)).to_numpy()
        if not twice.any():
            continue
        dup = c.data.loc[twice, [*keys, "_row"]]
        together = dup.groupby(list(keys), sort=False)["_row"].transform(lambda r: ", ".join(map(str, r)))
        shown = dup[list(keys)].astype(object).map(_display).agg(", ".join, axis=1)
        what = {"patients": "patient", "sessions": "session", "followups": "follow-up"}[table]
        reason = (
            f"the same {' and '.join(keys)} appear in rows " + together + f"; each {what} must appear once"
        )
        problems.cells(table, ", ".join(keys), np.ones(len(dup), bool), dup["_row"].to_numpy(), shown, reason)
