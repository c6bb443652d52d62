"""What an import reports: every problem located as a spreadsheet shows it, and the counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from analysis.domain.contract import TABLES
from analysis.ingest import limits

# --------------------------------------------------------------------------- public results


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an import, located as a spreadsheet shows it (header = row 1)."""

    table: str
    row: int | None
    column: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = [self.table]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        return f"{', '.join(where)}: {self.reason}"


@dataclass
class ImportReport:
    """What an import did, or why it wrote nothing.

    ``inserted``/``updated``/``unchanged`` are per imported table; an updated row existed and
    had a changed value, an unchanged row existed with the same values and was not written.
    ``problem_count`` counts every problem found, also those beyond the listed
    :data:`MAX_PROBLEMS`.
    """

    ok: bool
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    data_quality: list[Problem] = field(default_factory=list)
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    problem_count: int = 0
    #: The row of the import log (:mod:`analysis.db.audit`) that records this attempt, if any.
    import_id: int | None = None

    def summary_line(self) -> str:
        """One line for the CLI and the upload page."""
        if not self.ok:
            n = self.problem_count or len(self.problems)
            return f"Import refused: {n} problem{'s' if n != 1 else ''} found; nothing was written."
        parts = []
        for table in TABLES:
            if table not in self.inserted:
                continue
            new, upd = self.inserted[table], self.updated.get(table, 0)
            same = self.unchanged.get(table, 0)
            details = [
                f"{k} {label}" for k, label in ((new, "new"), (upd, "updated"), (same, "unchanged")) if k
            ]
            text = f"{new + upd + same} {limits.TABLE_LABELS[table]}"
            parts.append(f"{text} ({', '.join(details)})" if details else text)
        line = f"Imported {', '.join(parts) or 'nothing'}."
        if self.data_quality:
            n = len(self.data_quality)
            line += f" {n} data-quality note{'s' if n != 1 else ''}."
        return line


# --------------------------------------------------------------------------- problems


class _Problems:
    """Problems found so far, gathered as small frames so that large counts stay cheap."""

    def __init__(self) -> None:
        self._chunks: list[pd.DataFrame] = []
        self._hidden: list[pd.DataFrame] = []

    def __bool__(self) -> bool:
        return bool(self._chunks)

    def copy(self) -> _Problems:
        """An independent list holding the problems found so far (one per database attempt)."""
        other = _Problems()
        other._chunks, other._hidden = list(self._chunks), list(self._hidden)
        return other

    def file(self, table: str, reason: str, column: str | None = None) -> None:
        self._chunks.append(
            pd.DataFrame([{"table": table, "row": 0, "column": column, "value": None, "reason": reason}])
        )

    def cells(
        self,
        table: str,
        column: str,
        mask: pd.Series | np.ndarray,
        rows: np.ndarray,
        values: pd.Series | None,
        reason: str | pd.Series,
    ) -> None:
        """A problem for each row where ``mask`` holds, echoing ``values`` (None: hidden)."""
        index = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not len(index):
            return
        shown = [None] * len(index) if values is None else [_display(v) for v in values.iloc[index].tolist()]
        reasons = reason if isinstance(reason, str) else reason.iloc[index].to_numpy(dtype=object)
        chunk = {"table": table, "row": rows[index], "column": column, "value": shown, "reason": reasons}
        self._chunks.append(pd.DataFrame(chunk))

    def hide(self, table: str, column: str, mask: pd.Series | np.ndarray, rows: np.ndarray) -> None:
        """Never echo these cells' values: they look identifying."""
        index = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(index):
            self._hidden.append(pd.DataFrame({"table": table, "row": rows[index], "column": column}))

    def build(self) -> tuple[list[Problem], int]:
        """Problems ordered by table, row, then the order found; capped at :data:`MAX_PROBLEMS`."""
        if not self._chunks:
            return [], 0
        found = pd.concat(self._chunks, ignore_index=True)
        if self._hidden:
            hidden = pd.concat(self._hidden, ignore_index=True)
            keys = ["table", "row", "column"]
            secret = pd.MultiIndex.from_frame(found[keys].astype(object)).isin(
                pd.MultiIndex.from_frame(hidden[keys].astype(object))
            )
            found.loc[secret, "value"] = None
            # A natural-key problem names several columns ("patient_id, session_date").
            multi = np.flatnonzero(found["column"].fillna("").str.contains(", ", regex=False).to_numpy())
            if len(multi):
                cells = set(hidden[keys].itertuples(index=False, name=None))
                for i in multi:
                    table, row, columns = found.loc[i, keys]
                    if any((table, row, column) in cells for column in columns.split(", ")):
                        found.loc[i, "value"] = None
        rank = {t: i for i, t in enumerate(("import", *TABLES))}
        found["_rank"] = found["table"].map(lambda t: rank.get(t, 0))
        found = found.sort_values(["_rank", "row"], kind="stable")
        total = len(found)
        listed = (
            found.head(limits.MAX_PROBLEMS)
            .astype(object)
            .where(found.head(limits.MAX_PROBLEMS).notna(), None)
        )
        result = [
            Problem(r["table"], int(r["row"]) or None, r["column"], r["value"], r["reason"])
            for r in listed.to_dict("records")
        ]
        if total > limits.MAX_PROBLEMS:
            more = total - limits.MAX_PROBLEMS
            result.append(Problem("import", None, None, None, f"and {more} more problems not listed"))
        return result, total


def _display(value: Any) -> str | None:
    """A cell as text for a problem message (long values shortened)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
    if isinstance(value, (pd.Timestamp, datetime)):
        value = value.date()
    text = value.isoformat() if isinstance(value, date) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
