"""Who responds: baseline characteristics associated with response (docs/comparisons.md).

Association, never a rule to refuse a patient. The database counts the patients of each
pattern of condition × route × baseline pain × age × sex × baseline MME > 0 × baseline
PHQ-9 ≥ 10 among the patients in the denominator (at the default view, kept counted by every
import: :mod:`analysis.db.profile_cells`); the logistic model is fitted to those
counts (:mod:`analysis.stats.logistic`), cross-validated by folds of patients, and its
discrimination (AUC, DeLong interval) and calibration are measured on the held-out folds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Select
from sqlalchemy.sql.expression import ColumnElement

from analysis.db import cohorts, profile_cells, secondary_cells
from analysis.db.cohorts import cohort_query
from analysis.db.derivation import at_default_timepoint
from analysis.db.frames import read_frame, release_unused
from analysis.db.sqlfunctions import coded_keys
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.domain.vocabulary import (
    CONDITION_LABELS,
    MIXED_ROUTE,
    NO_ROUTE,
    ROUTE_LABELS,
    SEXES,
    display_name,
)
from analysis.queries.comparisons import pool_small_levels
from analysis.stats import discrimination, logistic

#: Folds of the cross-validation and the seed of the split (docs/comparisons.md).
FOLDS = 5
SEED = 20261128
#: Fewer patients, responders or non-responders than this: no profile.
MIN_PATIENTS = 50
MIN_EVENTS = 10

#: The text characteristics of a pattern and the values they take (docs/contract.md): the
#: conditions, the routes with a patient's "mixed" and "none" (docs/methods.md), the sexes.
_TEXT_KEYS: dict[str, tuple[str, ...]] = {
    "condition": tuple(CONDITION_LABELS),
    "route": (*ROUTE_LABELS, MIXED_ROUTE, NO_ROUTE),
    "sex": SEXES,
}

#: Characteristic → its words on a page.
LABELS: dict[str, str] = {
    "baseline_pain": "Baseline pain (per point, 0–10)",
    "age": "Age (per 10 years)",
    "mme_positive": "On opioids at baseline (MME > 0)",
    "phq9_high": "Depressive symptoms at baseline (PHQ-9 ≥ 10)",
}


def profile_patterns(
    engine: Engine, definition: OutcomeDefinition, cohort: CohortFilter
) -> tuple[OutcomeDefinition, pd.DataFrame]:
    """Patients and responders per pattern of baseline characteristics, in the order of the
    characteristics' values (the folds' split depends on the order of the patterns, so the
    profile is the same whichever database, or the kept patterns, gave them).

    At the default view the patterns kept at import are read (:mod:`analysis.db.profile_cells`);
    otherwise the database counts them from the cohort's per-patient rows.
    """
    definition, rows = cohort_query(engine, definition, cohort, columns=profile_cells.ROW_COLUMNS)
    assert definition.cutoff is not None
    with engine.connect() as connection:
        frame = None
        if _kept_view(definition, cohort):
            counted_at = secondary_cells.counted_at(connection)
            frame = profile_cells.kept_patterns(connection, definition.cutoff, counted_at)
        if frame is None:
            frame = _counted(connection, rows)
    n = "eligible" if definition.missing == "itt" else "with_followup"
    frame = frame.rename(columns={n: "n"})[[*profile_cells.KEYS, "n", "responders"]]
    frame = frame[frame["n"] > 0].astype({"n": "int64", "responders": "int64"})
    return definition, frame.sort_values(list(profile_cells.KEYS), na_position="last", ignore_index=True)


def _kept_view(definition: OutcomeDefinition, cohort: CohortFilter) -> bool:
    """Whether the kept patterns count this view (besides its cut-off, which
    :func:`analysis.db.profile_cells.kept_patterns` checks): the facts' time point and window,
    the default threshold, no cohort filter."""
    return (
        cohorts.READ_FACTS
        and at_default_timepoint(definition)
        and definition.threshold == secondary_cells.DEFAULT_VIEW.threshold
        and cohort.is_empty
    )


def _counted(connection: Connection, rows: Select[Any]) -> pd.DataFrame:
    """The patterns counted from the cohort's rows (:func:`profile_cells.pattern_counts`)."""
    # SQLite sorts to group, and sorts integers faster than text: the text keys go as codes
    # there (coded_keys). PostgreSQL hashes text as fast, and the codes' CASE only cost it time
    # (10M sessions: 3.0 s with the text, 4.3 s with the codes; docs/performance.md, "Coded keys").
    coded = connection.dialect.name == "sqlite"

    def keys(r: Any) -> list[ColumnElement[Any]]:
        plain = profile_cells.characteristic_keys(r)
        return [part for column in plain for part in _coded(column)] if coded else plain

    query = profile_cells.pattern_counts(rows, keys)
    frame = read_frame(connection, query, text=[*_TEXT_KEYS, *(f"{name}_other" for name in _TEXT_KEYS)])
    if coded:
        for name, values in _TEXT_KEYS.items():
            frame[name] = _decoded(frame.pop(f"{name}_code"), frame.pop(f"{name}_other"), values)
    return frame


def _coded(column: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    """A text characteristic as :func:`coded_keys`' two columns; any other as it is."""
    values = _TEXT_KEYS.get(column.name)
    return [column] if values is None else coded_keys(column, values, column.name)


def _decoded(codes: pd.Series, others: pd.Series, values: tuple[str, ...]) -> pd.Series:
    """The text of :func:`coded_keys`' two columns: the code's value, else the text beside it."""
    known = codes.notna()
    text = np.asarray(values, dtype=object)[codes.where(known, 0).astype("int64").to_numpy()]
    return pd.Series(text, index=codes.index).where(known, others)


@dataclass(frozen=True)
class Association:
    """One characteristic's odds ratio (adjusted for the others) with its interval."""

    characteristic: str
    label: str
    odds_ratio: float
    ci_low: float
    ci_high: float
    p: float


@dataclass(frozen=True)
class Profile:
    """The response profile: odds ratios, cross-validated AUC, calibration — or why there is none."""

    definition: OutcomeDefinition
    n: int
    excluded: dict[str, int]
    left_out: list[str]  # characteristics recorded for no patient: not in the model
    pooled: dict[str, list[str]]
    references: dict[str, str]
    associations: list[Association] = field(default_factory=list)
    auc: discrimination.AUC | None = None
    calibration: list[discrimination.CalibrationGroup] = field(default_factory=list)
    folds: int = FOLDS
    seed: int = SEED
    not_fitted: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = self.definition
        values = asdict(self)
        values["definition"] = d.to_json("timepoint_days", "window_days", "threshold", "missing", "cutoff")
        return values


def _label(name: str) -> str:
    if "[" in name:
        covariate, level = name[:-1].split("[", 1)
        return f"{covariate.capitalize()}: {display_name(level)}"
    return LABELS.get(name, name)


def _model_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int], list[str]]:
    excluded: dict[str, int] = {}
    left_out: list[str] = []
    keep = pd.Series(True, index=frame.index)
    for name, words in (("mme_positive", "baseline MME"), ("phq9_high", "baseline PHQ-9")):
        missing = frame[name].isna()
        if missing[keep].all():  # of the patterns still kept, as each exclusion follows the last
            left_out.append(name)
        elif (missing & keep).any():
            excluded[f"{words} not recorded"] = int(frame.loc[missing & keep, "n"].sum())
            keep &= ~missing
    missing_age = frame["age"].isna() & keep
    if missing_age.any():
        excluded["age not recorded"] = int(frame.loc[missing_age, "n"].sum())
        keep &= ~missing_age
    # One copy of the kept patterns (at 10M sessions 347,322 of them), not one per exclusion.
    model = frame.loc[keep, [c for c in frame.columns if c not in left_out]]
    model["age"] = model["age"] / 10
    return model, excluded, left_out


def _fold_prediction(d: logistic.Design, held_events: np.ndarray, held_nonevents: np.ndarray) -> np.ndarray:
    """Every pattern's predicted probability from the model fitted without one fold's patients:
    the design with the fold's patients taken from each pattern's counts (a pattern left with
    none counts for nothing), not a copy of its rows (docs/performance.md, "Profile patterns kept")."""
    train_events = d.events - held_events
    train_trials = d.trials - held_events - held_nonevents
    train = logistic.Design(d.names, d.X, train_events, train_trials, d.references)
    return logistic.fit(train).predict(d.X)


# Long on purpose: the profile's steps in order — data, refusals, the fit, the folds, the measures.
def response_profile(
    engine: Engine,
    definition: OutcomeDefinition = OutcomeDefinition(),
    cohort: CohortFilter = CohortFilter(),
    *,
    folds: int = FOLDS,
    seed: int = SEED,
) -> Profile:
    """Odds ratios of baseline characteristics, cross-validated AUC and calibration."""
    definition, frame = profile_patterns(engine, definition, cohort)
    model, excluded, left_out = _model_frame(frame)
    del frame  # the patterns as read: the model frame is what the fits need (memory at 10M)
    release_unused()
    n, events = int(model["n"].sum()), int(model["responders"].sum())
    base: dict[str, Any] = {
        "definition": definition,
        "n": n,
        "excluded": excluded,
        "left_out": left_out,
        "pooled": {},
        "references": {},
        "folds": folds,
        "seed": seed,
    }
    if n < MIN_PATIENTS or min(events, n - events) < MIN_EVENTS:
        return Profile(
            **base,
            not_fitted=f"{n} patients with every characteristic recorded, {events} of them responders: "
            f"the profile needs at least {MIN_PATIENTS} patients, with {MIN_EVENTS} responders and "
            f"{MIN_EVENTS} non-responders.",
        )
    model, pooled = pool_small_levels(model, ("condition", "route", "sex"))
    base["pooled"] = pooled
    continuous = ["baseline", "age"] + [c for c in ("mme_positive", "phq9_high") if c in model]
    d = logistic.design(
        model.rename(columns={"baseline": "baseline_pain"}),
        categorical={"condition": None, "route": None, "sex": None},
        continuous=[("baseline_pain" if c == "baseline" else c) for c in continuous],
    )
    del model  # the design holds what the fits need: the patterns' frames are freed before them
    release_unused()
    base["references"] = dict(d.references)
    try:
        fitted = logistic.fit(d)
    except logistic.FitFailure as exc:
        return Profile(**base, not_fitted=f"The profile cannot be fitted: {exc}.")
    alpha = definition.alpha
    associations = [
        Association(o.name, _label(o.name), o.odds_ratio, o.ci_low, o.ci_high, o.p)
        for o in logistic.odds_ratios(fitted, alpha)
    ]
    fold_events, fold_nonevents = discrimination.fold_counts(d.events, d.trials - d.events, folds, seed)
    predicted = np.zeros((folds, len(d.events)))
    for k in range(folds):
        try:
            predicted[k] = _fold_prediction(d, fold_events[k], fold_nonevents[k])
        except logistic.FitFailure as exc:
            return Profile(
                **base,
                associations=associations,
                not_fitted=f"The odds ratios are shown, but the cross-validation failed in fold {k + 1}: "
                f"{exc}.",
            )
    del d, fitted  # the design's 347,322 rows at 10M: freed before the AUC sorts its copies
    scores = predicted.ravel()
    positives, negatives = fold_events.ravel(), fold_nonevents.ravel()
    auc = discrimination.auc_delong(scores, positives, negatives, alpha)
    groups = discrimination.calibration(scores, positives, positives + negatives)
    return Profile(**base, associations=associations, auc=auc, calibration=groups)
