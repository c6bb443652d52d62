"""Flags that several commands share: the database, the outcome definition, the output format."""

from __future__ import annotations

import argparse
import getpass
import math
from datetime import date

from analysis.domain.definition import OutcomeDefinition, check_chosen_cutoff
from analysis.domain.errors import SettingError
from analysis.queries import response

DB_HELP = (
    "database URL, e.g. sqlite:///data/outcomes.db or postgresql://user@host/db "
    "(default: $DATABASE_URL, else the embedded SQLite file data/outcomes.db)"
)


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date in the form YYYY-MM-DD") from None


def fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number such as 0.30") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number")
    return number


def non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be 0 or more")
    return number


def by_dimensions(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in response.DIMENSIONS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"{value!r}: choose one or more of {', '.join(response.DIMENSIONS)}, separated by commas"
        )
    return names


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help=DB_HELP)


def add_by(parser: argparse.ArgumentParser) -> None:
    """``--by``: the breakdown of a response-style table (``summary``, ``secondary``)."""
    parser.add_argument(
        "--by",
        type=by_dimensions,
        default=(),
        help="break down by condition, route, site (also sex, age_group, quarter), or a comma list "
        "such as condition,route",
    )


def add_definition(parser: argparse.ArgumentParser, *, policy: bool = True) -> None:
    """The outcome definition's flags (docs/methods.md, "Settings"); ``policy`` adds --missing and --ci."""
    defaults = OutcomeDefinition()
    parser.add_argument(
        "--timepoint",
        type=non_negative_int,
        default=defaults.timepoint_days,
        help="time point T in days after the first session (default %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=non_negative_int,
        default=defaults.window_days,
        help="half-width W of the follow-up window in days: T-W..T+W inclusive (default %(default)s)",
    )
    parser.add_argument(
        "--threshold",
        type=fraction,
        default=defaults.threshold,
        help="responder threshold: fraction of pain reduction from baseline (default %(default)s)",
    )
    if policy:
        parser.add_argument(
            "--missing",
            choices=("itt", "completers"),
            default=defaults.missing,
            help="itt: patients without a follow-up count as non-responders; completers: only "
            "patients with a follow-up in the window (default %(default)s)",
        )
        parser.add_argument(
            "--ci",
            choices=("wilson", "exact"),
            default=defaults.ci,
            help="95%% interval: wilson (score) or exact (Clopper-Pearson) (default %(default)s)",
        )
    parser.add_argument(
        "--cutoff",
        type=iso_date,
        default=None,
        help="data cut-off YYYY-MM-DD: analyse the data as of that day (default: the latest "
        "session or follow-up date in the database)",
    )


def definition_from(args: argparse.Namespace) -> OutcomeDefinition:
    """The outcome definition the flags ask for; a value out of range is a :class:`SettingError`."""
    defaults = OutcomeDefinition()
    check_chosen_cutoff(args.cutoff)
    try:
        return OutcomeDefinition(
            timepoint_days=args.timepoint,
            window_days=args.window,
            threshold=args.threshold,
            missing=getattr(args, "missing", defaults.missing),
            ci=getattr(args, "ci", defaults.ci),
            cutoff=args.cutoff,
        )
    except ValueError as exc:
        raise SettingError(str(exc)) from exc


def add_format(parser: argparse.ArgumentParser, choices: tuple[str, ...] = ("json", "csv", "table")) -> None:
    parser.add_argument(
        "--format",
        choices=choices,
        default="table",
        help="json (full precision), or rounded for reading: "
        + ", ".join(c for c in choices if c != "json")
        + " (default %(default)s)",
    )


def cli_user() -> str:
    """Who runs the command, for the import log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"
