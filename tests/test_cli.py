"""The command line (README), run as a user runs it: ``python -m analysis`` in a subprocess."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.cli import build_parser
from analysis.db import audit, store
from tests.clinic import add_patient

ROOT = Path(__file__).resolve().parent.parent
GROUP_KEYS = {
    "patients",
    "evaluable",
    "pending",
    "eligible",
    "with_followup",
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
    "small_n",
    # the precision planner (docs/methods.md, "Precision planner")
    "n_needed",
    "more_needed",
    "pace_per_month",
    "expected_month",
}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )


def small_clinic(url: str) -> None:
    engine = store.make_engine(url)
    for i in range(12):
        add_patient(engine, f"C{i}", condition="crps", followups=[{"day": 90, "pain": 2 if i < 8 else 7}])
    for i in range(3):
        add_patient(engine, f"M{i}", condition="migraine", sessions=[{"day": 0, "route": "intramuscular"}])
    engine.dispose()


def test_summary_json_has_the_spec_shape(db_url):
    small_clinic(db_url)
    result = cli("summary", "--db", db_url, "--by", "condition", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["definition"] == {
        "timepoint_days": 90,
        "window_days": 30,
        "threshold": 0.3,
        "missing": "itt",
        "ci": "wilson",
        "band": [0.3, 0.4],
        "cutoff": "2025-04-06",
    }
    assert set(document["overall"]) == GROUP_KEYS
    # --by condition: each group also lists its published comparators (docs/comparisons.md)
    assert [set(g) for g in document["groups"]] == [GROUP_KEYS | {"condition", "comparators"}] * 2
    crps = document["groups"][0]
    assert (crps["condition"], crps["n"], crps["responders"]) == ("crps", 12, 8)
    assert crps["rate"] == 8 / 12  # full precision, not rounded
    migraine = document["groups"][1]
    assert migraine["verdict"] in {"no_data", "overlaps", "below", "above"}
    assert migraine["small_n"] is True


def test_summary_flags_change_the_definition(sqlite_engine):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    small_clinic(url)
    result = cli(
        "summary",
        "--db",
        url,
        "--timepoint",
        "180",
        "--window",
        "14",
        "--threshold",
        "0.5",
        "--missing",
        "completers",
        "--ci",
        "exact",
        "--cutoff",
        "2025-12-31",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    definition = json.loads(result.stdout)["definition"]
    assert definition == {
        "timepoint_days": 180,
        "window_days": 14,
        "threshold": 0.5,
        "missing": "completers",
        "ci": "exact",
        "band": [0.3, 0.4],
        "cutoff": "2025-12-31",
    }


def test_summary_by_condition_and_route_names_both_keys(sqlite_engine):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    small_clinic(url)
    document = json.loads(cli("summary", "--db", url, "--by", "condition,route", "--format", "json").stdout)
    assert [(g["condition"], g["route"]) for g in document["groups"]] == [
        ("crps", "intranasal"),
        ("migraine", "intramuscular"),
    ]


def test_summary_table_is_readable_and_suppresses_small_cells(sqlite_engine):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    small_clinic(url)
    result = cli("summary", "--db", url, "--by", "condition", "--format", "table")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Response at day 90")
    migraine_line = next(line for line in lines if line.strip().startswith("Migraine"))
    assert "<11" in migraine_line and "%" not in migraine_line
    # CRPS alone visible would give migraine back from the overall row (complementary suppression).
    crps_line = next(line for line in lines if line.strip().startswith("CRPS"))
    assert "66.7%" not in crps_line and "<11" in crps_line
    assert any("complementary suppression" in line for line in lines)  # the footnote (comparators follow)
    unsuppressed = cli("summary", "--db", url, "--by", "condition", "--no-suppress").stdout
    assert "<11" not in unsuppressed and "66.7%" in unsuppressed


def test_summary_csv_suppresses_small_cells(sqlite_engine):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    small_clinic(url)
    lines = cli("summary", "--db", url, "--by", "condition", "--format", "csv").stdout.splitlines()
    assert lines[0].startswith("condition,patients,")
    assert lines[0].endswith(",suppression")
    assert lines[1].startswith("crps,<11,") and lines[1].endswith(",complementary (protects a small cell)")
    assert lines[2].startswith("migraine,<11,") and lines[2].endswith(",small cell (n < 11)")
    assert lines[3].startswith("(all),15,")


def test_unreachable_database_is_a_clear_message_not_a_traceback():
    result = cli("summary", "--db", "postgresql://nobody@127.0.0.1:9/none")
    assert result.returncode == 3
    assert "cannot be reached" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_sqlite_folder_is_a_clear_message(tmp_path):
    result = cli("summary", "--db", f"sqlite:///{tmp_path}/no/such/folder/x.db")
    assert result.returncode == 3
    assert "folder for the database file does not exist" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--threshold", "1.5"], "threshold"),
        (["--threshold", "abc"], "not a number"),
        (["--timepoint", "-3"], "must be 0 or more"),
        (["--cutoff", "2025-02-30"], "not a date"),
        (["--by", "hair_colour"], "choose one or more of"),
        (["--missing", "locf"], "invalid choice"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(sqlite_engine, flags, message):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = cli("summary", "--db", url, *flags)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_help_explains_every_flag():
    for command, flags in {
        "summary": [
            "--db",
            "--by",
            "--timepoint",
            "--window",
            "--threshold",
            "--missing",
            "--ci",
            "--cutoff",
            "--format",
            "--no-suppress",
        ],
        "import": ["--db", "PATH"],
        "demo": ["--db", "--patients", "--seed"],
    }.items():
        result = cli(command, "--help")
        assert result.returncode == 0
        for flag in flags:
            line = next((line for line in result.stdout.splitlines() if line.strip().startswith(flag)), None)
            assert line is not None, f"{command} --help does not list {flag}"
        assert "default" in result.stdout


def test_every_commands_help_reads_as_text():
    # argparse formats only the flags' help with %, not a command's description: a "%%" written
    # there reached the reader as "95%%" (secondary, durability, profile).
    choices = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(choices) >= {"summary", "secondary", "durability", "compare", "profile"}
    for name, parser in choices.items():
        text = parser.format_help()
        assert "%%" not in text and "%(" not in text, f"{name} --help shows a formatting escape"
    assert "95% intervals" in choices["secondary"].format_help()


def test_database_url_comes_from_the_environment(sqlite_engine):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    small_clinic(url)
    env = {**os.environ, "DATABASE_URL": url}
    document = json.loads(cli("summary", "--format", "json", env=env).stdout)
    assert document["overall"]["patients"] == 15


def test_import_of_the_sample_files_prints_a_one_line_summary_and_is_idempotent(sqlite_engine):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    samples = sorted(str(p) for p in (ROOT / "data" / "sample").glob("*.csv"))
    first = cli("import", "--db", url, *samples)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("\n") == 1
    assert first.stdout.startswith("Imported 10 patients (10 new)")
    counts = store.table_counts(sqlite_engine)
    again = cli("import", "--db", url, *samples)
    assert again.returncode == 0, again.stderr
    assert store.table_counts(sqlite_engine) == counts
    log = audit.recent_imports(sqlite_engine)
    assert list(log["source"]) == ["cli", "cli"] and all(log["user"].str.startswith("cli:"))


def test_refused_import_lists_every_problem_and_writes_nothing(sqlite_engine, tmp_path):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    (tmp_path / "patients.csv").write_text(
        "patient_id,condition,age\nA1,crps,17\nA2,gout,40\nA3,migraine,50\n", encoding="utf-8"
    )
    result = cli("import", "--db", url, str(tmp_path / "patients.csv"))
    assert result.returncode == 1
    assert "row 2, column age" in result.stderr
    assert "row 3, column condition" in result.stderr
    assert "Traceback" not in result.stderr
    assert store.table_counts(sqlite_engine)["patients"] == 0


def test_demo_writes_a_reproducible_clinic(sqlite_engine):
    url = sqlite_engine.url.render_as_string(hide_password=False)
    result = cli("demo", "--db", url, "--patients", "200", "--seed", "5")
    assert result.returncode == 0, result.stderr
    assert "200 patients" in result.stdout
    counts = store.table_counts(sqlite_engine)
    assert counts["patients"] == 200 and counts["sessions"] > 800
    assert cli("demo", "--db", url, "--patients", "200", "--seed", "5").returncode == 0
    assert store.table_counts(sqlite_engine) == counts
