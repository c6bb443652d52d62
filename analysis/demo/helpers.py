"""The demo clinic's small helpers: calendars, pseudonyms, event codes, draws per row."""

from __future__ import annotations

import numpy as np

from analysis.demo.parameters import _AE_CODES, _EPOCH_WEEKDAY, _SATURDAY_MOVES, _SUNDAY_MOVES, INTAKE_GROWTH


def _growing_day(u: np.ndarray, start: np.ndarray, stop: float) -> np.ndarray:
    """Inverse CDF of a density rising linearly (× 1 + INTAKE_GROWTH) from day 0 to ``stop``."""
    a = INTAKE_GROWTH / (2 * stop)
    mass_start = start + a * start**2
    mass = mass_start + u * ((stop + a * stop**2) - mass_start)
    return np.floor((-1 + np.sqrt(1 + 4 * a * mass)) / (2 * a)).astype(np.int64)


def _weekday(
    rng: np.random.Generator,
    dates: np.ndarray,
    *,
    after: np.ndarray | None = None,
    until: np.datetime64 | None = None,
) -> np.ndarray:
    """Clinics work Monday to Friday: a weekend date moves to a weekday within three days.

    Each of the five weekdays is equally likely (so weekend visits do not pile onto Mondays),
    among those later than ``after`` and not later than ``until``.
    """
    weekday = (dates.astype(np.int64) + _EPOCH_WEEKDAY) % 7
    weekend = np.flatnonzero(weekday >= 5)
    if not len(weekend):
        return dates
    offsets = np.where((weekday[weekend] == 5)[:, None], _SATURDAY_MOVES, _SUNDAY_MOVES)
    candidates = dates[weekend][:, None] + offsets.astype("timedelta64[D]")
    allowed = np.ones(offsets.shape, dtype=bool)
    if after is not None:
        allowed &= candidates > after[weekend][:, None]
    if until is not None:
        allowed &= candidates <= until
    choice = np.argmax(rng.random(offsets.shape) * allowed, axis=1)
    moved = dates.copy()
    moved[weekend] = candidates[np.arange(len(weekend)), choice]
    return moved


def _choose_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One draw per row of a (rows × options) probability matrix."""
    cumulative = np.cumsum(probabilities, axis=1)
    draw = rng.random(len(probabilities))[:, None]
    return np.minimum((draw > cumulative).sum(axis=1), probabilities.shape[1] - 1)


def _ensure_each(
    rng: np.random.Generator,
    values: np.ndarray,
    options: int,
    likely: np.ndarray | None = None,
    *,
    eligible: np.ndarray | None = None,
) -> None:
    """Give each option to at least one element (in place), when there are enough elements.

    The element is taken from an option that has more than one; preferably an ``eligible`` one
    for which the option is possible under ``likely`` (rows × options probabilities).
    """
    if len(values) < options:
        return
    for option in range(options):
        count = np.bincount(values, minlength=options)
        if count[option]:
            continue
        candidates = count[values] > 1
        for preference in (eligible, None if likely is None else likely[:, option] > 0):
            if preference is not None and (candidates & preference).any():
                candidates &= preference
        values[rng.choice(np.flatnonzero(candidates))] = option


def _pseudonyms(n: int) -> np.ndarray:
    width = max(6, len(str(n)))
    return np.array([f"KO-{number:0{width}d}" for number in range(1, n + 1)], dtype=object)


def _code_strings(codes: np.ndarray) -> np.ndarray:
    """Bit masks of adverse events → ``;``-joined codes (alphabetical), None when empty."""
    unique, inverse = np.unique(codes, return_inverse=True)
    labels = np.array(
        [";".join(name for bit, name in enumerate(_AE_CODES) if mask >> bit & 1) or None for mask in unique],
        dtype=object,
    )
    return labels[inverse.reshape(-1)]
