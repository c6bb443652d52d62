"""Per-condition comparators (docs/comparisons.md): the shipped table, bad files, verdicts, the log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from analysis.db import comparators as stored
from analysis.db import store
from analysis.domain import comparators as domain
from analysis.domain.definition import OutcomeDefinition
from analysis.domain.errors import EXIT_SETTING, SettingError
from analysis.domain.vocabulary import CONDITION_LABELS
from analysis.queries import comparators as matching
from analysis.queries import response
from analysis.stats import comparator_verdict
from tests.clinic import add_patient

ROOT = Path(__file__).resolve().parent.parent
HEADER = ",".join(domain.COLUMNS)
GOOD_ROW = "fibromyalgia,Placebo arm,placebo,0.3,0.34,120,84,A cited source,doi:10.1/x,no"


def _csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


# --- the shipped table ----------------------------------------------------------------------


def test_the_shipped_table_parses_and_every_row_is_cited() -> None:
    rows = domain.shipped_comparators()
    assert rows and all(r.citation for r in rows)
    assert {r.threshold for r in rows} == {0.3, 0.5}


def test_the_shipped_figures_are_those_read_in_their_sources() -> None:
    # Arthritis Res Ther review (doi:10.1186/ar4441), Table 1: 30 % pain reduction, drug vs placebo.
    fibro = {
        r.label.split(" ")[0]: r.rate for r in domain.shipped_comparators() if r.condition == "fibromyalgia"
    }
    assert fibro["Duloxetine"] == 0.468 and fibro["Pregabalin"] == 0.400 and fibro["Milnacipran"] == 0.364
    # Clin Drug Investig 2014 (doi:10.1007/s40261-014-0259-1): ≥ 50 % placebo responders, PHN 19 %.
    phn = domain.for_condition(domain.shipped_comparators(), "postherpetic_neuralgia", 0.5)
    assert [r.rate for r in phn] == [0.19]
    # Hardy 2012 (PMID 22965960): 25 of 92 placebo, 29 of 93 ketamine.
    cancer = {r.kind: (r.rate, r.n) for r in domain.shipped_comparators() if r.condition == "cancer_pain"}
    assert cancer == {"placebo": (0.272, 92), "ketamine": (0.312, 93)}


def test_conditions_without_a_published_comparator_have_no_row() -> None:
    present = {r.condition for r in domain.shipped_comparators()}
    assert {"crohns", "lyme", "phantom_limb"} <= set(CONDITION_LABELS) - present


# --- bad files: refused with row and reason -------------------------------------------------


@pytest.mark.parametrize(
    ("content", "row", "reason"),
    [
        (_csv(GOOD_ROW, header=HEADER.replace(",citation", "")), 1, "missing column(s): citation"),
        (_csv(GOOD_ROW.replace(",0.34,", ",1.4,")), 2, "between 0 and 1"),
        (_csv(GOOD_ROW.replace(",0.34,", ",-0.1,")), 2, "between 0 and 1"),
        (_csv(GOOD_ROW.replace(",0.3,", ",0.4,")), 2, "must be 0.3"),
        (_csv(GOOD_ROW.replace("fibromyalgia", "gout")), 2, "unknown condition"),
        (_csv(GOOD_ROW.replace("Placebo arm", "=HYPERLINK(1)")), 2, "spreadsheet formula"),
        (_csv(GOOD_ROW, GOOD_ROW.replace("placebo,", "homeopathy,", 1)), 3, "must be one of"),
        (_csv(GOOD_ROW.replace(",120,", ",12.5,")), 2, "whole number of patients"),
    ],
)
def test_a_bad_file_is_refused_with_its_row_and_reason(content: str, row: int, reason: str) -> None:
    with pytest.raises(domain.ComparatorFileError) as refused:
        domain.parse_comparators(content)
    assert any(p.row == row and reason in p.reason for p in refused.value.problems), refused.value
    assert isinstance(refused.value, SettingError) and refused.value.exit_code == EXIT_SETTING


def test_every_problem_of_a_file_is_reported_not_only_the_first() -> None:
    content = _csv(GOOD_ROW.replace(",0.34,", ",2,"), GOOD_ROW.replace("fibromyalgia", "gout"))
    with pytest.raises(domain.ComparatorFileError) as refused:
        domain.parse_comparators(content)
    assert [p.row for p in refused.value.problems] == [2, 3]


def test_labels_are_accepted_for_conditions_and_optional_columns_may_be_absent() -> None:
    rows = domain.parse_comparators(
        "Condition,Label,Kind,Threshold,Rate,Citation\nPHN,Placebo,placebo,0.5,0.2,S\n"
    )
    assert rows[0].condition == "postherpetic_neuralgia" and rows[0].n is None and not rows[0].indirect


# --- verdicts at each threshold -------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "rate", "verdict"),
    [
        (0.35, 0.55, 0.34, "above"),
        (0.35, 0.55, 0.35, "overlaps"),
        (0.35, 0.55, 0.56, "below"),
        (None, None, 0.2, "no_data"),
    ],
)
def test_a_comparator_verdict_reads_the_interval_against_its_rate(low, high, rate, verdict) -> None:
    assert comparator_verdict(low, high, rate) == verdict


def _clinic(engine, responders: int, total: int, condition: str = "postherpetic_neuralgia") -> None:
    for i in range(total):
        pain = 3.0 if i < responders else 8.0  # from 8: a 62.5 % reduction, or none
        add_patient(
            engine, f"{condition[:3]}{i:03d}", condition=condition, followups=[{"day": 90, "pain": pain}]
        )


@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_summary_lists_only_the_comparators_at_the_current_threshold(engine, threshold) -> None:
    _clinic(engine, 30, 40)  # 75 %, Wilson 59.8–85.8 %: above every placebo arm
    mine = domain.parse_comparators(
        _csv(
            "PHN,Placebo at 30,placebo,0.3,0.9,,,Source A,,no",
            "PHN,Placebo at 50,placebo,0.5,0.19,,,Source B,,no",
        )
    )
    table = response.summarize(engine, OutcomeDefinition(threshold=threshold), by=("condition",))
    listed = matching.table_document(table, mine)["groups"][0]["comparators"]
    assert [c["threshold"] for c in listed] == [threshold]
    assert listed[0]["verdict"] == ("below" if threshold == 0.3 else "above")
    assert set(listed[0]) >= {"label", "kind", "rate", "threshold", "citation", "verdict"}


# --- stored in the database, every change logged --------------------------------------------


def test_the_shipped_table_is_in_use_until_a_director_changes_it(engine) -> None:
    assert stored.current(engine) == domain.shipped_comparators() and stored.is_shipped(engine)
    mine = domain.parse_comparators(_csv(GOOD_ROW))
    assert stored.save(engine, mine, user="director@clinic.org", action="edit")
    assert stored.current(engine) == mine and not stored.is_shipped(engine)
    assert not stored.save(engine, mine, user="director@clinic.org", action="edit")  # no change, no log
    assert stored.reset(engine, user="director@clinic.org")
    assert stored.current(engine) == domain.shipped_comparators()
    log = stored.changes(engine)
    assert [c.action for c in log] == ["reset", "edit"]
    assert log[1].user == "director@clinic.org" and log[1].after == domain.to_csv(mine)
    assert log[0].before == domain.to_csv(mine)


def test_the_change_log_cannot_be_edited_or_emptied(engine) -> None:
    stored.save(engine, domain.parse_comparators(_csv(GOOD_ROW)), user="d", action="upload")
    for statement in ("UPDATE comparator_changes SET \"user\" = 'x'", "DELETE FROM comparator_changes"):
        with pytest.raises(DBAPIError), engine.begin() as connection:
            connection.execute(text(statement))
    assert len(stored.changes(engine)) == 1


# --- the command line -----------------------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_summary_with_a_comparators_file_uses_it_for_that_run(db_url, tmp_path) -> None:
    engine = store.make_engine(db_url)
    _clinic(engine, 6, 20, condition="fibromyalgia")
    engine.dispose()
    path = tmp_path / "mine.csv"
    path.write_text(_csv(GOOD_ROW), encoding="utf-8")
    result = _cli(
        "summary", "--db", db_url, "--by", "condition", "--format", "json", "--comparators", str(path)
    )
    assert result.returncode == 0, result.stderr
    group = json.loads(result.stdout)["groups"][0]
    assert [c["label"] for c in group["comparators"]] == ["Placebo arm"]
    engine = store.make_engine(db_url)
    assert stored.current(engine) == domain.shipped_comparators()  # the stored table is untouched
    engine.dispose()


def test_summary_refuses_a_bad_comparators_file_with_exit_2(db_url, tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(_csv(GOOD_ROW.replace(",0.34,", ",34,")), encoding="utf-8")
    result = _cli("summary", "--db", db_url, "--by", "condition", "--comparators", str(path))
    assert result.returncode == EXIT_SETTING
    assert (
        "row 2" in result.stderr and "between 0 and 1" in result.stderr and "Traceback" not in result.stderr
    )


# --- the board report -----------------------------------------------------------------------


def test_the_board_report_lists_the_comparators_with_their_citations(engine) -> None:
    from analysis.present import board_report

    _clinic(engine, 30, 40)
    document = board_report.overview_html(engine)
    assert "Published comparators by condition" in document
    assert "Clin Drug Investig 2014" not in document  # the 0.5 comparators: not at the 0.3 threshold
    assert "no comparator at ≥30% relief; published at ≥50%" in document
    document = board_report.overview_html(engine, OutcomeDefinition(threshold=0.5))
    assert "Clin Drug Investig 2014" in document and "doi:10.1007/s40261-014-0259-1" in document
