"""Each condition's rate read against its published comparators (docs/comparisons.md).

The comparators come from the database (:mod:`analysis.db.comparators`) or a file given for
one run; this module only matches them to a response table's groups — same condition, same
responder threshold — and gives each its verdict (:func:`analysis.stats.comparator_verdict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analysis import stats
from analysis.domain.comparators import Comparator, for_condition
from analysis.queries.response import GroupResult, ResponseTable


@dataclass(frozen=True)
class ComparatorResult:
    """One comparator of a group, with where the group's interval lies against it."""

    comparator: Comparator
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``summary --by condition`` (docs/comparisons.md)."""
        c = self.comparator
        return {
            "label": c.label,
            "kind": c.kind,
            "rate": c.rate,
            "threshold": c.threshold,
            "citation": c.citation,
            "verdict": self.verdict,
            "indirect": c.indirect,
            "doi_or_pmid": c.doi_or_pmid,
        }


def for_group(
    group: GroupResult, comparators: Sequence[Comparator], threshold: float
) -> list[ComparatorResult]:
    """The comparators of a group's condition at ``threshold``, each with its verdict."""
    condition = group.keys.get("condition")
    if condition is None:
        return []
    return [
        ComparatorResult(c, stats.comparator_verdict(group.ci_low, group.ci_high, c.rate))
        for c in for_condition(comparators, condition, threshold)
    ]


def table_document(table: ResponseTable, comparators: Sequence[Comparator]) -> dict[str, Any]:
    """The response table's JSON with ``comparators`` in every group that has a condition."""
    document = table.to_dict()
    if "condition" not in table.by:
        return document
    threshold = table.definition.threshold
    for group, row in zip(table.groups, document["groups"], strict=True):
        row["comparators"] = [r.to_dict() for r in for_group(group, comparators, threshold)]
    return document
