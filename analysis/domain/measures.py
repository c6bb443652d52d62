"""The outcomes beyond pain (docs/methods.md, "Outcomes beyond pain"): their settings, frozen.

IMMPACT's core domains besides pain intensity (Dworkin et al. 2008): the patient's global
impression (PGIC), opioid use, mood (PHQ-9), function (BPI interference) and, for migraine,
headache days. Each success rule has a documented default that the user can change in the app
and on the command line (``python -m analysis secondary --help``). The time point, window,
cut-off, missing-data policy and interval come from :class:`~analysis.domain.definition.OutcomeDefinition`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The rates of the secondary table, in the order they are shown (docs/methods.md).
RATE_MEASURES: tuple[str, ...] = (
    "substantial",
    "pgic_improved",
    "mme_reduced_50",
    "mme_stopped",
    "phq9_response",
    "phq9_remission",
    "bpi_improved",
    "headache_response",
)
#: The mean changes (follow-up − baseline), in the order they are shown.
CHANGE_MEASURES: tuple[str, ...] = ("mme_change", "phq9_change", "bpi_change", "headache_days_change")

#: Domain of each measure: (title, the one sentence that says who qualifies).
DOMAINS: dict[str, tuple[str, str]] = {
    "pain": ("Pain", "Every eligible patient (a baseline pain above 0, and the follow-up window reached)."),
    "pgic": ("Patient's global impression (PGIC)", "Every eligible patient."),
    "opioids": ("Opioids", "Eligible patients who took opioids at baseline (baseline MME above 0)."),
    "mood": (
        "Depression (PHQ-9)",
        "Eligible patients with at least moderate depression at baseline (baseline PHQ-9 of 10 or more).",
    ),
    "function": (
        "Function (BPI interference)",
        "Eligible patients with a baseline BPI pain interference score recorded.",
    ),
    "headache": ("Headache days", "Eligible patients with headache days at baseline (more than 0)."),
}
#: Which domain each measure belongs to.
MEASURE_DOMAIN: dict[str, str] = {
    "substantial": "pain",
    "pgic_improved": "pgic",
    "mme_reduced_50": "opioids",
    "mme_stopped": "opioids",
    "mme_change": "opioids",
    "phq9_response": "mood",
    "phq9_remission": "mood",
    "phq9_change": "mood",
    "bpi_improved": "function",
    "bpi_change": "function",
    "headache_response": "headache",
    "headache_days_change": "headache",
}


@dataclass(frozen=True)
class MeasureSettings:
    """The success rules of the measures beyond pain; defaults are docs/methods.md's.

    - ``substantial``: pain reduction that is "substantial" (IMMPACT: 50 %).
    - ``pgic_improved``: a PGIC at or below this is "improved" (2 = much improved).
    - ``mme_reduction``: opioid dose reduction from baseline that counts as success (50 %).
    - ``phq9_baseline``: baseline PHQ-9 from which a patient qualifies (10, moderate depression).
    - ``phq9_response``: PHQ-9 reduction from baseline that is a response (50 %).
    - ``phq9_remission``: a follow-up PHQ-9 below this is remission (5).
    - ``bpi_points``: drop in BPI interference (0–10) that is an improvement (1 point).
    - ``headache_reduction``: reduction in headache days that is a response (50 %).
    - ``mme_levels``: daily doses of concern in the opioid picture (CDC: 50 and 90 MME/day).
    """

    substantial: float = 0.50
    pgic_improved: int = 2
    mme_reduction: float = 0.50
    phq9_baseline: int = 10
    phq9_response: float = 0.50
    phq9_remission: int = 5
    bpi_points: float = 1.0
    headache_reduction: float = 0.50
    mme_levels: tuple[float, float] = (50.0, 90.0)

    def __post_init__(self) -> None:
        problems = []
        for name in ("substantial", "mme_reduction", "phq9_response", "headache_reduction"):
            if not 0 < getattr(self, name) <= 1:
                problems.append(f"{name.replace('_', ' ')} must be above 0 and at most 1 (e.g. 0.50)")
        if not 1 <= self.pgic_improved <= 7:
            problems.append("the PGIC cut-off must be between 1 and 7")
        if not 0 <= self.phq9_baseline <= 27:
            problems.append("the PHQ-9 baseline cut-off must be between 0 and 27")
        if not 0 < self.phq9_remission <= 27:
            problems.append("the PHQ-9 remission cut-off must be above 0 and at most 27")
        if not 0 < self.bpi_points <= 10:
            problems.append("the BPI improvement must be above 0 and at most 10 points")
        low, high = self.mme_levels
        if not 0 < low <= high:
            problems.append("the MME levels must satisfy 0 < lower ≤ higher")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON values (the ``definition`` block of ``secondary``)."""
        values = asdict(self)
        values["mme_levels"] = list(self.mme_levels)
        return values
