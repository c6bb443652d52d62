"""How numbers read, everywhere: pages, CSV exports, the CLI's table and the board report.

One home for percentages, intervals, p-values, counts, the interval method's name and the
verdict sentences, so that two places showing one number show it the same way. Missing values
read as an em dash, never "None" or "nan"; p-values never read "0.000" or "1.000".
"""

from __future__ import annotations

import math

from analysis.domain.definition import CI_METHODS

#: What a missing value reads as.
MISSING = "—"


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def percent(value: float | None, digits: int = 1) -> str:
    """A proportion as a percentage: ``0.2883`` → ``28.8%``."""
    return MISSING if _missing(value) else f"{100 * value:.{digits}f}%"


def interval(low: float | None, high: float | None, digits: int = 1) -> str:
    """An interval of proportions: ``(0.25, 0.33)`` → ``25.0–33.0%``."""
    if _missing(low) or _missing(high):
        return MISSING
    return f"{100 * low:.{digits}f}–{100 * high:.{digits}f}%"


def band(edges: tuple[float, float]) -> str:
    """The benchmark band: ``(0.3, 0.4)`` → ``30–40%``."""
    return f"{100 * edges[0]:.0f}–{100 * edges[1]:.0f}%"


def p_value(value: float | None) -> str:
    """A p-value with three decimals; ``< 0.001`` and ``> 0.999`` at the ends."""
    if _missing(value):
        return MISSING
    if value < 0.001:
        return "< 0.001"
    if value > 0.999:
        return "> 0.999"
    return f"{value:.3f}"


def count(value: int | None) -> str:
    """A count with thousands separators: ``12345`` → ``12,345``."""
    return MISSING if value is None else f"{int(value):,}"


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


# --- durability (docs/methods.md, "Durability") ---------------------------------------------


def weeks(days: float | None) -> str:
    """Days as whole weeks, the unit clinicians speak in: ``77`` → ``11``."""
    return MISSING if _missing(days) else f"{days / 7:.0f}"


def days(value: float | None) -> str:
    """A number of days: ``25.0`` → ``25 days``, ``24.5`` → ``24.5 days``."""
    if _missing(value):
        return MISSING
    return f"{value:.0f} days" if float(value).is_integer() else f"{value:.1f} days"


def p_clause(value: float | None) -> str:
    """A p-value in a sentence: ``p = 0.012``, ``p < 0.001``; ``p not computable`` when missing."""
    text = p_value(value)
    if text == MISSING:
        return "p not computable"
    return f"p {text}" if text[0] in "<>" else f"p = {text}"
