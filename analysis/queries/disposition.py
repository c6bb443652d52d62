"""Why patients stop: where each patient's path through care ended, and the recorded reason.

A disposition table in the manner of a trial's flow diagram (CONSORT; STROBE for cohorts):
each patient is counted once, at the last step of the patient funnel they reached
(:class:`analysis.queries.response.Funnel`), with the ``end_reason`` of their end of care —
or "still in care" when no ``end_date`` falls on or before the data cut-off. One SQL pass
counts patients per (condition, step, reason); everything else is sums of those few rows.

Deaths and hospice are competing events (docs/methods.md, "Why patients stop"): the outcome
rows by condition show them apart from non-response, while the ITT rate itself (§4's rule)
still counts an eligible patient without a follow-up as a non-responder.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Date, Engine, and_, case, func, literal, select

from analysis.db.cohorts import cohort_query
from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.domain.vocabulary import COMPETING_END_REASONS, END_REASON_LABELS

#: The steps at which a patient's path can stop, in funnel order, with how a table names them.
STEPS: tuple[tuple[str, str], ...] = (
    ("not_treated", "Registered, never treated"),
    ("not_evaluable", "Treated, no baseline pain score"),
    ("window_not_reached", "Evaluable, follow-up window not reached"),
    ("no_followup", "Reached the window, no follow-up in it"),
    ("not_responder", "Followed up, not a responder"),
    ("responder", "Responder"),
)
#: Reasons in table order: still in care first, then the vocabulary, then an end without reason.
IN_CARE = "in_care"
UNKNOWN_REASON = "not_recorded"
REASONS: tuple[str, ...] = (IN_CARE, *END_REASON_LABELS, UNKNOWN_REASON)
REASON_LABELS: dict[str, str] = {
    IN_CARE: "Still in care",
    "completed": "Completed",
    "lack_of_effect": "Lack of effect",
    "adverse_event": "Adverse event",
    "patient_choice": "Patient choice",
    "cost": "Cost",
    "moved": "Moved",
    "lost_to_follow_up": "Lost to follow-up",
    "death": "Death",
    "hospice": "Hospice",
    "other": "Other",
    UNKNOWN_REASON: "Ended, reason not recorded",
}


@dataclass(frozen=True)
class Disposition:
    """Patients per (condition, step, outcome, reason); the tables are views of these counts.

    ``outcome`` is the §4 response outcome whatever the funnel step: ``responder``,
    ``non_responder`` (eligible, ITT) or ``not_eligible``.
    """

    counts: Mapping[tuple[str, str, str, str], int] = field(default_factory=dict)

    def by_step(self) -> list[tuple[str, dict[str, int]]]:
        """(step label, {reason: patients}) for each step, reasons in :data:`REASONS` order."""
        totals: dict[str, dict[str, int]] = {step: defaultdict(int) for step, _ in STEPS}
        for (_, step, _, reason), n in self.counts.items():
            totals[step][reason] += n
        return [(label, {r: totals[step].get(r, 0) for r in REASONS}) for step, label in STEPS]

    def reasons_present(self) -> list[str]:
        """The reasons that occur at all (still in care always), in table order."""
        seen = {reason for (_, _, _, reason), n in self.counts.items() if n}
        return [r for r in REASONS if r == IN_CARE or r in seen]

    def left_care(self) -> int:
        """Patients whose end of care falls on or before the cut-off."""
        return sum(n for (_, _, _, reason), n in self.counts.items() if reason != IN_CARE)

    def outcomes_by_condition(self) -> list[dict[str, object]]:
        """Per condition: eligible patients, responders, and the non-responders split into
        those who died or entered hospice and the others (competing events shown apart).

        The eligible patients and responders are those of the ITT response table.
        """
        rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for (condition, _, outcome, reason), n in self.counts.items():
            if outcome == "not_eligible":
                continue
            row = rows[condition]
            row["eligible"] += n
            if outcome == "responder":
                row["responders"] += n
            elif reason in COMPETING_END_REASONS:
                row["death_or_hospice"] += n
            else:
                row["other_non_responders"] += n
        keys = ("eligible", "responders", "other_non_responders", "death_or_hospice")
        return [{"condition": c, **{k: rows[c].get(k, 0) for k in keys}} for c in sorted(rows)]


def disposition(
    engine: Engine, definition: OutcomeDefinition = OutcomeDefinition(), cohort: CohortFilter = CohortFilter()
) -> Disposition:
    """Patients per condition, last funnel step reached, outcome and end reason, counted in SQL."""
    read = (
        "condition",
        "n_sessions",
        "evaluable",
        "eligible",
        "with_followup",
        "responder",
        "end_date",
        "end_reason",
    )
    definition, rows_query = cohort_query(engine, definition, cohort, columns=read)
    rows = rows_query.subquery("cohort_rows")
    # The steps of the Overview's funnel (queries.response.Funnel), whose last three are the
    # headline's numbers: each patient is counted once, at the last step reached.
    step = case(
        (rows.c.n_sessions == 0, "not_treated"),
        (rows.c.evaluable == 0, "not_evaluable"),
        (rows.c.eligible == 0, "window_not_reached"),
        (rows.c.with_followup == 0, "no_followup"),
        (rows.c.responder == 0, "not_responder"),
        else_="responder",
    ).label("step")
    outcome = case(
        (rows.c.eligible == 0, "not_eligible"), (rows.c.responder == 1, "responder"), else_="non_responder"
    ).label("outcome")
    # The stored end of care, kept with the facts (docs/performance.md, "End of care in the
    # facts"): no join to the patients.
    ended = and_(rows.c.end_date.is_not(None), rows.c.end_date <= literal(definition.cutoff, Date))
    reason = case(
        (~ended, IN_CARE), (rows.c.end_reason.is_(None), UNKNOWN_REASON), else_=rows.c.end_reason
    ).label("reason")
    query = select(rows.c.condition, step, outcome, reason, func.count().label("patients")).group_by(
        rows.c.condition, step, outcome, reason
    )
    with engine.connect() as connection:
        counted = {(str(c), str(s), str(o), str(r)): int(n) for c, s, o, r, n in connection.execute(query)}
    return Disposition(counted)
