"""The Data page's CSV is for people: names, rounded percentages, worded p-values (issue #14 item 19).

The command line's CSV stays the machine CSV (codes, full precision): both are checked here.
"""

from __future__ import annotations

import csv
import io

from analysis.domain.definition import OutcomeDefinition
from analysis.present import format as fmt
from analysis.present.exports import director_csv, response_table_csv
from analysis.queries.response import summarize
from tests.clinic import add_patient


def clinic(engine) -> None:
    """Cancer pain: 30 of 30 respond; CRPS: 0 of 12; one patient never treated (route none)."""
    for i in range(30):
        add_patient(
            engine, f"C{i:02d}", condition="cancer_pain", baseline_pain=10, followups=[{"day": 90, "pain": 2}]
        )
    for i in range(12):
        add_patient(
            engine, f"R{i:02d}", condition="crps", baseline_pain=10, followups=[{"day": 90, "pain": 10}]
        )
    add_patient(engine, "NEVER", condition="crps", sessions=[])


def rows_of(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff# Responder: pain reduction ≥ 30% at day 90")
    return list(csv.DictReader(io.StringIO(text.split("\n", 1)[1])))


def test_director_csv_names_groups_and_rounds_numbers(sqlite_engine):
    clinic(sqlite_engine)
    table = summarize(sqlite_engine, OutcomeDefinition(), by=("condition",))
    rows = {row["Condition"]: row for row in rows_of(director_csv(table))}
    assert set(rows) == {"Cancer pain", "CRPS", "All patients"}  # names, not cancer_pain / crps
    cancer = rows["Cancer pain"]
    expected = table.groups[0]
    assert cancer["Rate (%)"] == "100.0"
    # Wilson at x = n has the closed form n / (n + z²) = 30 / 33.84 (Newcombe 1998, method 3).
    assert cancer["95% CI low (%)"] == f"{100 * expected.ci_low:.1f}" == "88.6"
    assert cancer["p > 30%"] == "< 0.001" and rows["CRPS"]["p > 30%"] == "> 0.999"
    assert cancer["Verdict"] == "Above band" and cancer["Small n"] == "No"
    assert rows["CRPS"]["p > 40% (Holm)"] == fmt.p_value(table.groups[1].p_gt_upper_holm)


def test_director_csv_route_none_reads_no_session_and_no_cell_reads_none_or_nan(sqlite_engine):
    clinic(sqlite_engine)
    table = summarize(sqlite_engine, OutcomeDefinition(), by=("route",))
    text = director_csv(table, suppress=False)
    routes = [row["Route"] for row in rows_of(text)]
    assert "No session" in routes and "none" not in routes
    never = next(row for row in rows_of(text) if row["Route"] == "No session")
    assert never["Rate (%)"] == "" and never["Verdict"] == "No data"
    for token in (",None,", ",nan,", ",no_data,", "0.000,", "1.000,"):
        assert token not in text


def test_machine_csv_keeps_codes_and_full_precision(sqlite_engine):
    clinic(sqlite_engine)
    table = summarize(sqlite_engine, OutcomeDefinition(), by=("condition",))
    rows = list(csv.DictReader(io.StringIO(response_table_csv(table))))
    assert {row["condition"] for row in rows} == {"cancer_pain", "crps", "(all)"}
    assert float(rows[0]["ci_low"]) == table.groups[0].ci_low  # not rounded
