"""Cell parsing shared by the field parsers: trimming, missing markers, text and dates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from analysis.ingest import limits

# --------------------------------------------------------------------------- cell parsing


def _is_text(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.StringDtype)


def _cell_text(value: Any) -> str:
    """One typed cell (from a workbook or a frame) as text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):  # includes pandas Timestamp; a time of day is ignored
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _cells(raw: pd.Series) -> pd.Series:
    """Cells as stripped text with missing → NaN, unless the column is already typed.

    Typed numbers stay float64 and typed dates become datetime64; everything else is text.
    """
    dtype = raw.dtype
    if pd.api.types.is_bool_dtype(dtype):
        raw = raw.astype(object)
    elif pd.api.types.is_numeric_dtype(dtype):
        return raw.astype("float64")
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        return _naive_days(raw)
    kind = pd.api.types.infer_dtype(raw, skipna=True)
    if kind in ("date", "datetime", "datetime64"):
        converted = pd.to_datetime(raw, errors="coerce")
        if converted.notna().sum() == raw.notna().sum():
            return _naive_days(converted)
    if kind in ("integer", "floating", "mixed-integer-float", "decimal"):
        return pd.to_numeric(raw, errors="coerce").astype("float64")
    if kind in ("string", "empty"):
        text = raw.astype("str")
    else:  # mixed types: the slow, per-cell path (workbooks and hand-made frames only)
        text = raw.map(_cell_text, na_action="ignore").astype("str")
    text = text.str.strip()
    return text.mask((text == "") | text.str.lower().isin(limits.MISSING_MARKERS))


def _naive_days(values: pd.Series) -> pd.Series:
    if getattr(values.dt, "tz", None) is not None:
        values = values.dt.tz_localize(None)
    return values.dt.normalize()


def _as_text(cells: pd.Series) -> pd.Series:
    """Typed cells as text, for columns that hold codes or identifiers."""
    if _is_text(cells):
        return cells
    if pd.api.types.is_datetime64_any_dtype(cells.dtype):
        return cells.dt.strftime("%Y-%m-%d").astype("str")
    return cells.astype(object).map(_cell_text, na_action="ignore").astype("str")
