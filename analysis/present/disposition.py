"""Why patients stop, as tables: the disposition by funnel step and the outcomes by condition.

Small cells (docs/methods.md, "Why patients stop"): where asked (the board report), a count of
1–10 reads "<11"; when a row holds exactly one such cell, the next smallest non-zero count of
that row is hidden too, so that the row's total (which the funnel shows) cannot give it back.
A row whose total is under 11 shows no count at all. Zeros stay visible.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from analysis.domain.definition import SMALL_CELL
from analysis.domain.vocabulary import display_name
from analysis.present import format as fmt
from analysis.queries.disposition import REASON_LABELS, Disposition

SUPPRESSED = "<11"


def suppressed_row(total: int, cells: list[int]) -> tuple[str, list[str]]:
    """The total and the cells of one row as text, with primary and secondary suppression."""
    if 0 < total < SMALL_CELL:
        return SUPPRESSED, [SUPPRESSED if c else "0" for c in cells]
    hidden = [0 < c < SMALL_CELL for c in cells]
    if sum(hidden) == 1:
        shown = [(c, i) for i, c in enumerate(cells) if c and not hidden[i]]
        if shown:
            hidden[min(shown)[1]] = True
    return fmt.count(total), [SUPPRESSED if h else fmt.count(c) for c, h in zip(cells, hidden, strict=True)]


def disposition_frame(result: Disposition, *, suppress: bool = False) -> pd.DataFrame:
    """One row per funnel step: patients whose path stopped there, by end-of-care reason."""
    reasons = result.reasons_present()
    rows = []
    for label, by_reason in result.by_step():
        cells = [by_reason[r] for r in reasons]
        total = sum(by_reason.values())
        if suppress:
            total_text, texts = suppressed_row(total, cells)
        else:
            total_text, texts = fmt.count(total), [fmt.count(c) for c in cells]
        rows.append(
            {"Stopped at": label, "Patients": total_text, **dict(zip(_labels(reasons), texts, strict=True))}
        )
    return pd.DataFrame(rows)


def outcomes_frame(result: Disposition, *, suppress: bool = False) -> pd.DataFrame:
    """Per condition: eligible, responders, and non-responders with deaths and hospice apart."""
    rows = []
    for row in result.outcomes_by_condition():
        counts: dict[str, Any] = dict(row)
        cells = [int(counts[k]) for k in ("responders", "other_non_responders", "death_or_hospice")]
        total = int(counts["eligible"])
        if suppress:
            total_text, texts = suppressed_row(total, cells)
        else:
            total_text, texts = fmt.count(total), [fmt.count(c) for c in cells]
        rows.append(
            {
                "Condition": display_name(str(row["condition"])),
                "Eligible (ITT)": total_text,
                "Responders": texts[0],
                "Not responding": texts[1],
                "Died or entered hospice, no response": texts[2],
            }
        )
    return pd.DataFrame(rows)


def _labels(reasons: list[str]) -> list[str]:
    return [REASON_LABELS.get(r, display_name(r)) for r in reasons]


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in record) + "</tr>"
        for record in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CAPTION = (
    "Each patient is counted once, at the last step of the funnel they reached, with the reason "
    "recorded when they left care (still in care: no end of care on or before the data cut-off). "
    "Deaths and hospice are competing events: in the durability curves they censor follow-up, "
    "never count as a loss of response; in the table by condition they are shown apart from "
    "other non-responders, although the ITT rate still counts them as non-responders. The table "
    "by condition counts as the response table does (every eligible patient, whatever the number "
    "of sessions), so its responders can outnumber the funnel's, which asks for a completed induction."
)


def disposition_html(result: Disposition, *, suppress: bool) -> list[str]:
    """The board report's section "Why patients stop" (HTML parts)."""
    note = " Counts of 1–10 read <11, with one more count hidden where needed." if suppress else ""
    return [
        "<h2>Why patients stop</h2>",
        _html_table(disposition_frame(result, suppress=suppress)),
        _html_table(outcomes_frame(result, suppress=suppress)),
        f'<p class="caption">{html.escape(CAPTION + note)}</p>',
    ]
