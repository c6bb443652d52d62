"""How numbers read, everywhere: pages, CSV exports, the CLI's table and the board report.

One home for percentages, intervals, p-values, counts, the interval method's name and the
verdict sentences, so that two places showing one number show it the same way. Missing values
read as an em dash, never "None" or "nan"; p-values never read "0.000" or "1.000".

And how text from the data reads: :func:`literal` makes a site name, a column header, a file
name or a refused value literal inside Markdown, so that an image link in it is shown as
characters, never fetched by the viewer's browser (docs/security.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, TypeGuard

from analysis.domain.definition import CI_METHODS

#: What a missing value reads as.
MISSING = "—"


def _known(value: float | None) -> TypeGuard[float]:
    """True for a number; False for None and NaN (shown as a dash)."""
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def percent(value: float | None, digits: int = 1) -> str:
    """A proportion as a percentage: ``0.2883`` → ``28.8%``."""
    return f"{100 * value:.{digits}f}%" if _known(value) else MISSING


def interval(low: float | None, high: float | None, digits: int = 1) -> str:
    """An interval of proportions: ``(0.25, 0.33)`` → ``25.0–33.0%``."""
    if not (_known(low) and _known(high)):
        return MISSING
    return f"{100 * low:.{digits}f}–{100 * high:.{digits}f}%"


def band(edges: tuple[float, float]) -> str:
    """The benchmark band: ``(0.3, 0.4)`` → ``30–40%``."""
    return f"{100 * edges[0]:.0f}–{100 * edges[1]:.0f}%"


def p_value(value: float | None) -> str:
    """A p-value with three decimals; ``< 0.001`` and ``> 0.999`` at the ends."""
    if not _known(value):
        return MISSING
    if value < 0.001:
        return "< 0.001"
    if value > 0.999:
        return "> 0.999"
    return f"{value:.3f}"


def count(value: int | None) -> str:
    """A count with thousands separators: ``12345`` → ``12,345``."""
    return f"{int(value):,}" if _known(value) else MISSING


def number(value: float | None, unit: str = "", decimals: int | None = None) -> str:
    """A measured value with its unit: as recorded (``120.0, "mg"`` → ``120 mg``) or to ``decimals``."""
    if not _known(value):
        return MISSING
    if decimals is not None:
        text = f"{value:,.{decimals}f}"
    else:
        text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"
    return f"{text} {unit}".strip()


def date(value: object) -> str:
    """A calendar date as on every page (``29 Nov 2022``); a missing one is an em dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("NaT", "nan"):
        return MISSING
    return f"{value:%d %b %Y}"


def method_label(ci: str) -> str:
    """The interval method's name as a statistician writes it (``wilson`` → ``Wilson score``)."""
    return CI_METHODS.get(ci, ci)


#: Short verdict labels for tables.
VERDICT_LABELS: dict[str, str] = {
    "above": "Above band",
    "overlaps": "Overlaps band",
    "below": "Below band",
    "no_data": "No data",
}

_VERDICT_SENTENCES: dict[str, tuple[str, str]] = {
    "above": ("Above the conventional-therapy band", "the whole {level} interval lies above {top}."),
    "below": ("Below the conventional-therapy band", "the whole {level} interval lies below {bottom}."),
    "overlaps": (
        "Not distinguishable from conventional therapy",
        "the {level} interval overlaps the {bottom}–{top} band.",
    ),
    "no_data": ("Not measurable yet", "no patient has reached the follow-up window."),
}


def verdict_sentence(
    verdict: str, band: tuple[float, float], *, level: str = "95%", markdown: bool = False
) -> str:
    """The verdict against the band as one sentence; the headline in bold with ``markdown``."""
    headline, rest = _VERDICT_SENTENCES[verdict]
    bottom, top = (f"{100 * edge:.0f}%" for edge in band)
    if markdown:
        headline = f"**{headline}**"
    return f"{headline}: {rest.format(level=level, bottom=bottom, top=top)}"


# Every ASCII punctuation character may be backslash-escaped in CommonMark. These start inline
# Markdown, GFM or Streamlit syntax anywhere in a line (links, images, emphasis, code, tables,
# HTML, maths, ``:material/…:`` icons and ``:red[…]`` colours); the block markers (headings,
# lists, quotes, rules) only matter at the start of the text.
_INLINE_SYNTAX = re.compile(r"([\\`*_{}\[\]()<>!|~:$])")
_BLOCK_START = re.compile(r"^(\s*|\s*\d+)((?<=\d)[.)]|(?<!\d)[#>+=-])")


def literal(text: object) -> str:
    """Text from the data, shown as typed inside Markdown (``![x](http://…)`` stays characters).

    Line breaks become spaces: a value is one line of text, never a new block.
    """
    flat = " ".join(str(text).splitlines()) if text is not None else MISSING
    escaped = _INLINE_SYNTAX.sub(r"\\\1", flat)
    return _BLOCK_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", escaped)


# --- outcomes beyond pain: signed changes -------------------------------------------------


def change(value: float | None, digits: int = 1) -> str:
    """A signed change with a true minus sign: ``-2.25`` → ``−2.3``, ``0`` → ``0.0``."""
    if not _known(value):
        return MISSING
    rounded = round(value, digits)
    if rounded == 0:
        return f"{0:.{digits}f}"
    return f"{rounded:+.{digits}f}".replace("-", "−")


def change_interval(low: float | None, high: float | None, digits: int = 1) -> str:
    """An interval of changes: ``(-3.1, -1.5)`` → ``−3.1 to −1.5``."""
    if not (_known(low) and _known(high)):
        return MISSING
    return f"{change(low, digits)} to {change(high, digits)}"


# --- the precision planner (docs/methods.md, "Precision planner") -------------------------

#: What the planner's columns mean, for the help of a table column.
MORE_NEEDED_HELP = (
    "Patients still needed before the interval can clear the band, if the rate stays where it is "
    "(Wilson score interval). — when the rate is inside the band: no number of patients would clear it."
)
EXPECTED_HELP = (
    "The month those patients may be reached at this group's pace: new patients per month over the "
    "last 6 months before the data cut-off."
)


def more_needed(value: int | None) -> str:
    """Patients still needed: a count, "none" when the interval already clears the band, or "—"."""
    if value is None:
        return MISSING
    if value > 100_000:
        return "over 100,000"  # a rate a hair's breadth from the band: the exact figure is in the JSON
    return "none" if value == 0 else count(value)



def expected_month(more_needed: object, pace: object, month: object) -> str:
    """When a group may have the patients it needs, in words for a table cell.

    A ``YYYY-MM`` month as given; "reached" when no more are needed; "no recent patients" at a
    pace of 0; "after 10 years" beyond the planner's horizon; "—" when the rate is inside the
    band or unknown (no number of patients would clear it). ``pace`` may be a suppressed "<11".
    """
    if isinstance(month, str) and month:
        return month
    if not isinstance(more_needed, (int, float)) or not _known(float(more_needed)):
        return MISSING  # none (the rate is inside the band), or suppressed with the counts
    if more_needed == 0:
        return "reached"
    if isinstance(pace, (int, float)) and _known(float(pace)) and pace <= 0:
        return "no recent patients"
    return "after 10 years"


# --- comparators (docs/comparisons.md, "Comparators") -------------------------------------

#: A group's interval against one comparator's rate, as words before that rate.
COMPARATOR_VERDICTS: dict[str, str] = {
    "above": "above",
    "below": "below",
    "overlaps": "not distinguishable from",
    "no_data": "no data yet to compare with",
}


def no_comparator(condition: str, comparators: Sequence[Any], threshold: float) -> str:
    """Why a condition shows no comparator: none published, or none at this threshold."""
    others = sorted({c.threshold for c in comparators if c.condition == condition})
    if not others:
        return "no published comparator (docs/comparisons.md)"
    at = " or ".join(f"≥{100 * t:.0f}%" for t in others)
    return f"no comparator at ≥{100 * threshold:.0f}% relief; published at {at} (change the threshold)"


# --- durability (docs/methods.md, "Durability") ---------------------------------------------


def weeks(days: float | None) -> str:
    """Days as whole weeks, the unit clinicians speak in: ``77`` → ``11``."""
    return f"{days / 7:.0f}" if _known(days) else MISSING


def days(value: float | None) -> str:
    """A number of days: ``25.0`` → ``25 days``, ``24.5`` → ``24.5 days``."""
    if not _known(value):
        return MISSING
    return f"{value:.0f} days" if float(value).is_integer() else f"{value:.1f} days"


def p_clause(value: float | None) -> str:
    """A p-value in a sentence: ``p = 0.012``, ``p < 0.001``; ``p not computable`` when missing."""
    text = p_value(value)
    if text == MISSING:
        return "p not computable"
    return f"p {text}" if text[0] in "<>" else f"p = {text}"
