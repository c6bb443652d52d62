"""The demo clinic's end of care: who left, when and why (``end_date``, ``end_reason``).

Death and hospice come from each patient's drawn exit day (their data stop there); the others
left when they have had no contact for :data:`LEFT_AFTER_DAYS`, with a reason that fits their
course. Every end date is on or after the last session or follow-up and never after ``today``
(sources in :mod:`analysis.demo`'s docstring).
"""

from __future__ import annotations

import numpy as np

from analysis.demo.draws import _Cohort
from analysis.demo.helpers import _choose_rows
from analysis.demo.parameters import (
    END_ON_LAST_CONTACT,
    END_REASON_MISSING,
    END_REASON_MIX,
    END_REASONS,
    END_RECORDED_SHARE,
    LEFT_AFTER_DAYS,
    REPORT_DELAY_DAYS,
)


def draw_end_of_care(
    rng: np.random.Generator,
    c: _Cohort,
    first_contact: np.ndarray,
    last_contact: np.ndarray,
    end: np.datetime64,
) -> None:
    """Write ``end_date`` and ``end_reason`` into ``c.frame`` (``last_contact``: datetime64[D])."""
    n = c.n
    treated = ~np.isnat(first_contact)
    exit_date = c.index_date + c.exit_day.astype("timedelta64[D]")  # the first session is day 0
    died = treated & (c.exit_kind != "") & (exit_date <= end)

    silent = np.where(treated, (end - last_contact).astype("timedelta64[D]").astype(np.int64), -1)
    left = treated & ~died & (silent > LEFT_AFTER_DAYS) & (rng.random(n) < END_RECORDED_SHARE)
    delay = np.where(rng.random(n) < END_ON_LAST_CONTACT, 0, rng.integers(1, REPORT_DELAY_DAYS + 1, n))
    left_on = last_contact + np.minimum(delay, np.maximum(silent, 0)).astype("timedelta64[D]")

    course = np.where(
        c.one_session,
        0,
        np.where(c.partial, 1, np.where(c.responder[:, 0], 3, 2)),
    )
    mixes = np.array([END_REASON_MIX[k] for k in ("one_session", "partial", "non_responder", "responder")])
    mix = mixes[course]
    reason = np.asarray(END_REASONS, dtype=object)[_choose_rows(rng, mix / mix.sum(axis=1, keepdims=True))]
    reason[rng.random(n) < END_REASON_MISSING] = None

    end_date = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    end_date[left] = left_on[left]
    end_date[died] = exit_date[died]
    end_reason = np.full(n, None, dtype=object)
    end_reason[left] = reason[left]
    end_reason[died] = c.exit_kind[died]
    dates = end_date.astype(object)
    dates[np.isnat(end_date)] = None
    c.frame["end_date"] = dates
    c.frame["end_reason"] = end_reason
