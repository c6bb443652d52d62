"""What leaves the clinic as CSV (analysis.present.exports): small cells, their siblings, formulas.

The rules are in docs/security.md ("Small cells") and docs/methods.md. The complementary rule
is the CMS cell-size suppression policy: no cell of 1–10 may be shown, nor be derivable from
totals or other cells of the same release (CMS, "CMS Cell Size Suppression Policy", 2020).
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

from analysis.domain.definition import CohortFilter, OutcomeDefinition
from analysis.present.exports import (
    COMPLEMENTARY,
    PRIMARY,
    SUPPRESSED,
    neutralise_formula,
    response_frame,
    response_table_csv,
)
from analysis.queries.response import summarize
from tests.clinic import add_patient


def clinic(engine, sizes: dict[tuple[str, str], int]) -> None:
    """``sizes[(condition, route)]`` patients, every other one a responder at day 90."""
    for (condition, route), size in sizes.items():
        for i in range(size):
            add_patient(
                engine,
                f"{condition}-{route}-{i}",
                condition=condition,
                baseline_pain=10,
                sessions=[{"day": 0, "route": route}],
                followups=[{"day": 90, "pain": 3 if i % 2 == 0 else 8}],
            )


def read(csv: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)


def test_a_small_groups_rate_interval_p_values_and_verdict_are_suppressed(engine):
    clinic(
        engine,
        {("crps", "intranasal"): 30, ("fibromyalgia", "intranasal"): 20, ("migraine", "intranasal"): 4},
    )
    table = summarize(engine, OutcomeDefinition(), CohortFilter(), ("condition",))
    rows = read(response_table_csv(table)).set_index("condition")
    migraine = rows.loc["migraine"]
    # With n = 4 the rate (0.5) and the Wilson interval's ends give (n, responders) back exactly.
    for column in (
        "n",
        "responders",
        "rate",
        "ci_low",
        "ci_high",
        "p_gt_lower",
        "p_gt_upper",
        "p_gt_lower_holm",
        "p_gt_upper_holm",
        "verdict",
    ):
        assert migraine[column] == SUPPRESSED, column
    assert migraine["suppression"] == PRIMARY
    assert rows.loc["crps", "n"] == "30" and rows.loc["crps", "suppression"] == ""


def test_a_lone_small_group_cannot_be_recovered_from_the_overall_row(engine):
    clinic(
        engine,
        {("crps", "intranasal"): 30, ("fibromyalgia", "intranasal"): 20, ("migraine", "intranasal"): 4},
    )
    table = summarize(engine, OutcomeDefinition(), CohortFilter(), ("condition",))
    rows = read(response_table_csv(table)).set_index("condition")
    assert rows.loc["fibromyalgia", "suppression"] == COMPLEMENTARY  # the next-smallest sibling
    assert rows.loc["fibromyalgia", "rate"] == SUPPRESSED
    # What a reader can difference out of the release: the overall minus the visible groups.
    visible = rows.drop(index="(all)")
    visible = visible[visible["n"] != SUPPRESSED]
    left_over = int(rows.loc["(all)", "n"]) - sum(int(n) for n in visible["n"])
    assert left_over == 24  # migraine and fibromyalgia together, not migraine's 4


def test_without_suppression_every_figure_is_shown(engine):
    clinic(engine, {("crps", "intranasal"): 30, ("migraine", "intranasal"): 4})
    table = summarize(engine, OutcomeDefinition(), CohortFilter(), ("condition",))
    rows = read(response_table_csv(table, suppress=False)).set_index("condition")
    assert rows.loc["migraine", "n"] == "4" and rows.loc["migraine", "rate"] == "0.5"
    assert "suppression" not in rows.columns


def test_a_two_way_table_protects_a_small_cell_within_its_row_and_its_column(engine):
    """Each condition's and each route's cells add up to a row of the one-way exports."""
    clinic(
        engine,
        {
            ("crps", "intranasal"): 30,
            ("crps", "intravenous"): 25,
            ("crps", "oral"): 3,
            ("migraine", "intranasal"): 20,
            ("migraine", "intravenous"): 15,
            ("migraine", "oral"): 22,
        },
    )
    table = summarize(engine, OutcomeDefinition(), CohortFilter(), ("condition", "route"))
    frame = response_frame(table)
    hidden = {
        (row["condition"], row["route"]): row["suppression"]
        for row in frame.to_dict("records")
        if row["suppression"] and row["condition"] != "(all)"
    }
    assert hidden[("crps", "oral")] == PRIMARY
    # CRPS row: next-smallest is intravenous (25); oral column: next-smallest is migraine (22).
    assert hidden[("crps", "intravenous")] == COMPLEMENTARY
    assert hidden[("migraine", "oral")] == COMPLEMENTARY
    # Now migraine/oral is alone in the migraine row: migraine/intravenous (15) protects it.
    assert hidden[("migraine", "intravenous")] == COMPLEMENTARY
    for dimension in ("condition", "route"):  # no margin has a lone hidden cell
        for _, members in frame[frame["condition"] != "(all)"].groupby(dimension):
            assert (members["suppression"] != "").sum() != 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ('main;=HYPERLINK("http://x","y")', 'main;\'=HYPERLINK("http://x","y")'),
        ("a,+1", "a,'+1"),
        ("north|@SUM(A1)", "north|'@SUM(A1)"),
        ("x\n-1", "x\n'-1"),
        ("x\t=1", "x\t'=1"),
        ("a; =1", "a;' =1"),
        ("\t=1", "'\t=1"),
        ("north-east", "north-east"),  # a hyphen inside a word starts no cell
        ("a+b=c", "a+b=c"),
    ],
)
def test_a_formula_is_neutralised_wherever_a_spreadsheet_may_start_a_cell(value, expected):
    assert neutralise_formula(value) == expected


def test_a_formula_after_a_separator_in_a_site_name_is_neutralised_in_the_csv(engine):
    for i in range(12):
        add_patient(engine, f"S{i}", site="main;=HYPERLINK(1)", followups=[{"day": 90, "pain": 2}])
    table = summarize(engine, OutcomeDefinition(), CohortFilter(), ("site",))
    csv = response_table_csv(table)
    assert "main;'=HYPERLINK(1)" in csv
    assert ";=HYPERLINK" not in csv
