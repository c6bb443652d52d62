"""Every outcome setting and every command-line flag is documented (as datasette does)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from analysis.cli import build_parser
from analysis.domain.definition import OutcomeDefinition

ROOT = Path(__file__).resolve().parent.parent
METHODS = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _flags() -> list[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    flags = set()
    for sub in subparsers.choices.values():
        for action in sub._actions:
            flags.update(s for s in action.option_strings if s.startswith("--") and s != "--help")
    return sorted(flags)


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(OutcomeDefinition) if f.name != "alpha"])
def test_every_outcome_setting_is_in_the_methods(name):
    assert f"`{name}`" in METHODS


@pytest.mark.parametrize("flag", _flags())
def test_every_command_line_flag_is_documented(flag):
    assert f"`{flag}`" in METHODS or f"`{flag}" in README, f"{flag} is not documented"


def test_readme_first_screen_shows_the_two_commands():
    first_screen = "\n".join(README.splitlines()[:30])
    assert "make run" in first_screen
    assert "make test" in first_screen
