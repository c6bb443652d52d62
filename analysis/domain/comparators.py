"""Per-condition comparators: published response rates to read a condition's rate against.

docs/comparisons.md, "Comparators". The 30–40 % band stays the headline; beside it each
condition has the drug, placebo and ketamine arms published for it, at the responder threshold
(0.3 or 0.5) the study used. The shipped table is ``comparators.csv`` beside this module: only
figures read in their source, indirect ones marked. A clinic may replace it (in the app, stored
in the database; or for one run with ``--comparators FILE``); every file goes through
:func:`parse_comparators`, which refuses the whole file with every problem's row and reason.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from analysis.domain.errors import SettingError
from analysis.domain.vocabulary import CONDITION_LABELS, canonical_condition

SHIPPED_FILE = Path(__file__).resolve().parent / "comparators.csv"

#: The columns of a comparators file, in order (docs/comparisons.md).
COLUMNS: tuple[str, ...] = (
    "condition",
    "label",
    "kind",
    "threshold",
    "rate",
    "n",
    "timepoint_days",
    "citation",
    "doi_or_pmid",
    "indirect",
)
#: Columns a file must have; ``n``, ``timepoint_days``, ``doi_or_pmid`` and ``indirect`` may be absent.
REQUIRED: tuple[str, ...] = ("condition", "label", "kind", "threshold", "rate", "citation")
KINDS: tuple[str, ...] = ("conventional", "placebo", "ketamine")
#: The responder thresholds a comparator can have (IMMPACT: moderate and substantial relief).
THRESHOLDS: tuple[float, ...] = (0.3, 0.5)
#: Longest text accepted in a cell, and most rows in a file (a table of comparators, not data).
MAX_TEXT = 500
MAX_ROWS = 500
_FORMULA_LEADERS = ("=", "+", "-", "@", "\t", "\r")
_YES = {"yes", "true", "1", "y"}
_NO = {"no", "false", "0", "n", ""}


@dataclass(frozen=True)
class Comparator:
    """One published arm: a condition's comparator at one responder threshold."""

    condition: str
    label: str
    kind: str
    threshold: float
    rate: float
    n: int | None
    timepoint_days: int | None
    citation: str
    doi_or_pmid: str | None
    indirect: bool

    def as_row(self) -> dict[str, object]:
        """The comparator as a row of a comparators file (``indirect`` as yes/no)."""
        row = asdict(self)
        row["indirect"] = "yes" if self.indirect else "no"
        return row


@dataclass(frozen=True)
class Problem:
    """Why one row (as a spreadsheet numbers it: the header is row 1) was refused."""

    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        shown = f" ({self.value!r})" if self.value else ""
        return f"{where}{shown}: {self.reason}"


class ComparatorFileError(SettingError):
    """A comparators file refused as a whole; nothing was changed. ``problems`` lists every one."""

    def __init__(self, problems: Sequence[Problem], source: str = "the comparators file") -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = f"\n  … and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(
            f"{source} was refused, nothing was changed ({len(self.problems)} problem"
            f"{'' if len(self.problems) == 1 else 's'}):\n{lines}{more}"
        )


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# Long on purpose: one check per column, in the order of the file, each with its reason.
def _parse_row(number: int, raw: dict[str, str]) -> tuple[Comparator | None, list[Problem]]:
    problems: list[Problem] = []

    def problem(column: str, reason: str) -> None:
        problems.append(Problem(number, column, raw.get(column, "") or "", reason))

    cells = {column: (raw.get(column) or "").strip() for column in COLUMNS}
    for column, text in cells.items():
        is_number = column in ("threshold", "rate", "n", "timepoint_days") and _number(text) is not None
        if text.startswith(_FORMULA_LEADERS) and not is_number:
            problem(column, "looks like a spreadsheet formula; write the plain value")
        elif len(text) > MAX_TEXT:
            problem(column, f"is longer than {MAX_TEXT} characters")
    if problems:
        return None, problems
    condition = canonical_condition(cells["condition"]) if cells["condition"] else None
    if condition is None:
        problem("condition", f"unknown condition; use one of {', '.join(CONDITION_LABELS)}")
    if not cells["label"]:
        problem("label", "is empty; say which arm this is (drug, placebo, study)")
    kind = cells["kind"].casefold()
    if kind not in KINDS:
        problem("kind", f"must be one of {', '.join(KINDS)}")
    threshold = _number(cells["threshold"])
    if threshold is None or not any(math.isclose(threshold, t) for t in THRESHOLDS):
        problem("threshold", "must be 0.3 (≥ 30 % relief) or 0.5 (≥ 50 % relief)")
    rate = _number(cells["rate"])
    if rate is None or not 0 <= rate <= 1:
        problem("rate", "must be a proportion between 0 and 1 (e.g. 0.34 for 34 %)")
    n: int | None = None
    if cells["n"]:
        value = _number(cells["n"])
        if value is None or value < 1 or value != int(value):
            problem("n", "must be a whole number of patients, 1 or more (or left empty)")
        else:
            n = int(value)
    timepoint: int | None = None
    if cells["timepoint_days"]:
        value = _number(cells["timepoint_days"])
        if value is None or value < 0 or value != int(value):
            problem("timepoint_days", "must be a whole number of days, 0 or more (or left empty)")
        else:
            timepoint = int(value)
    if not cells["citation"]:
        problem("citation", "is empty; every comparator needs its source")
    indirect_text = cells["indirect"].casefold()
    if indirect_text not in _YES | _NO:
        problem("indirect", "must be yes or no (or left empty for no)")
    if problems:
        return None, problems
    assert condition is not None and threshold is not None and rate is not None
    comparator = Comparator(
        condition=condition,
        label=cells["label"],
        kind=kind,
        threshold=0.3 if math.isclose(threshold, 0.3) else 0.5,
        rate=rate,
        n=n,
        timepoint_days=timepoint,
        citation=cells["citation"],
        doi_or_pmid=cells["doi_or_pmid"] or None,
        indirect=indirect_text in _YES,
    )
    return comparator, []


def parse_comparators(text: str, source: str = "the comparators file") -> list[Comparator]:
    """Every comparator of a CSV text, or :class:`ComparatorFileError` with every problem.

    Column names are matched ignoring case and surrounding spaces; unknown columns are
    refused (a misspelt column would otherwise be silently empty).
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().casefold() for name in (reader.fieldnames or [])]
    problems: list[Problem] = []
    missing = [column for column in REQUIRED if column not in header]
    if missing:
        problems.append(Problem(1, "", "", f"missing column(s): {', '.join(missing)}"))
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        problems.append(Problem(1, "", "", f"unknown column(s): {', '.join(unknown)}"))
    if problems:
        raise ComparatorFileError(problems, source)
    reader.fieldnames = header
    comparators: list[Comparator] = []
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            problems.append(Problem(number, "", "", f"more than {MAX_ROWS} rows"))
            break
        if None in raw:
            problems.append(Problem(number, "", "", "has more cells than the header has columns"))
            continue
        if not any((value or "").strip() for value in raw.values()):
            continue  # a blank line
        comparator, row_problems = _parse_row(number, raw)
        problems.extend(row_problems)
        if comparator is not None:
            comparators.append(comparator)
    if problems:
        raise ComparatorFileError(problems, source)
    return comparators


def read_comparators_file(path: Path) -> list[Comparator]:
    """The comparators of a CSV file on disk (``--comparators FILE``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingError(f"The comparators file {path} does not exist.") from None
    except UnicodeDecodeError:
        raise SettingError(f"The comparators file {path} is not UTF-8 text (save it as CSV UTF-8).") from None
    except OSError as exc:
        raise SettingError(f"The comparators file {path} cannot be read ({exc.strerror}).") from None
    return parse_comparators(text, f"The comparators file {path.name}")


def shipped_comparators() -> list[Comparator]:
    """The shipped, cited table (``analysis/domain/comparators.csv``)."""
    return parse_comparators(SHIPPED_FILE.read_text(encoding="utf-8"), "the shipped comparators table")


def to_csv(comparators: Iterable[Comparator]) -> str:
    """A comparators file (the columns of :data:`COLUMNS`), text cells safe for a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    for comparator in comparators:
        writer.writerow({k: "" if v is None else v for k, v in comparator.as_row().items()})
    return buffer.getvalue()


def for_condition(comparators: Iterable[Comparator], condition: str, threshold: float) -> list[Comparator]:
    """The comparators of one condition at the current responder threshold (others do not apply)."""
    return [c for c in comparators if c.condition == condition and math.isclose(c.threshold, threshold)]
