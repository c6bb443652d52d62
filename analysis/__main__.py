"""Command line: ``python -m analysis demo|import|summary`` (SPEC §5).

Exit codes: 0 success; 1 the import was refused (every problem is printed, nothing was
written); 2 a bad setting or argument; 3 the database cannot be reached or opened.
"""

from __future__ import annotations

import argparse
import getpass
import json
import math
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from analysis import outcomes, report
from analysis.definition import OutcomeDefinition
from analysis.store import DatabaseError, open_database

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 3

DB_HELP = (
    "database URL, e.g. sqlite:///data/outcomes.db or postgresql://user@host/db "
    "(default: $DATABASE_URL, else the embedded SQLite file data/outcomes.db)"
)


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date in the form YYYY-MM-DD") from None


def _fraction(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number such as 0.30") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number")
    return number


def _non_negative_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of days") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be 0 or more")
    return number


def _by(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in outcomes.DIMENSIONS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"{value!r}: choose one or more of {', '.join(outcomes.DIMENSIONS)}, separated by commas"
        )
    return names


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with help that explains every flag."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Ketamine Outcomes: load data, and compute response rates against the "
        "30–40 %% conventional-therapy band.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="write a synthetic demo clinic into the database",
        description="Write a realistic synthetic clinic (SPEC §6) into the database, through the "
        "same importer as real data. Re-running with the same seed changes nothing.",
    )
    demo.add_argument("--db", help=DB_HELP)
    demo.add_argument("--patients", type=int, default=None, help="number of patients (default 3000)")
    demo.add_argument(
        "--seed", type=int, default=None, help="random seed; the same seed gives the same clinic"
    )

    imp = commands.add_parser(
        "import",
        help="import de-identified CSV files or one .xlsx workbook",
        description="Import patients.csv / sessions.csv / followups.csv (any of them), or one .xlsx "
        "workbook with sheets of those names. All or nothing: on any problem nothing is written and "
        "every problem is listed. Re-importing the same files changes nothing.",
    )
    imp.add_argument("--db", help=DB_HELP)
    imp.add_argument("paths", nargs="+", metavar="PATH", help="CSV files or one .xlsx workbook")

    summary = commands.add_parser(
        "summary",
        help="print the response table",
        description="Response rate at the time point, with its interval, one-sided exact tests "
        "against the benchmark band, and a verdict, overall and per group.",
    )
    summary.add_argument("--db", help=DB_HELP)
    summary.add_argument(
        "--by",
        type=_by,
        default=(),
        help="break down by condition, route, site (also sex, age_group, quarter), or a comma list "
        "such as condition,route",
    )
    defaults = OutcomeDefinition()
    summary.add_argument(
        "--timepoint",
        type=_non_negative_int,
        default=defaults.timepoint_days,
        help="time point T in days after the first session (default %(default)s)",
    )
    summary.add_argument(
        "--window",
        type=_non_negative_int,
        default=defaults.window_days,
        help="half-width W of the follow-up window in days: T-W..T+W inclusive (default %(default)s)",
    )
    summary.add_argument(
        "--threshold",
        type=_fraction,
        default=defaults.threshold,
        help="responder threshold: fraction of pain reduction from baseline (default %(default)s)",
    )
    summary.add_argument(
        "--missing",
        choices=("itt", "completers"),
        default=defaults.missing,
        help="itt: patients without a follow-up count as non-responders; completers: only patients "
        "with a follow-up in the window (default %(default)s)",
    )
    summary.add_argument(
        "--ci",
        choices=("wilson", "exact"),
        default=defaults.ci,
        help="95%% interval: wilson (score) or exact (Clopper-Pearson) (default %(default)s)",
    )
    summary.add_argument(
        "--cutoff",
        type=_iso_date,
        default=None,
        help="data cut-off YYYY-MM-DD: analyse the data as of that day (default: the latest "
        "session or follow-up date in the database)",
    )
    summary.add_argument(
        "--format",
        choices=("json", "csv", "table"),
        default="table",
        help="json (full precision), csv or table (rounded for reading) (default %(default)s)",
    )
    summary.add_argument(
        "--no-suppress",
        action="store_true",
        help="show the counts of groups with fewer than 11 patients in csv and table output "
        "(by default they are shown as <11)",
    )
    return parser


def _cli_user() -> str:
    """Who runs the command, for the import log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _run_demo(args: argparse.Namespace) -> int:
    from analysis import demo

    engine = open_database(args.db)
    kwargs = {}
    if args.patients is not None:
        if args.patients < 1:
            print("error: --patients must be 1 or more", file=sys.stderr)
            return EXIT_USAGE
        kwargs["n_patients"] = args.patients
    if args.seed is not None:
        kwargs["seed"] = args.seed
    result = demo.load_demo(engine, **kwargs, user=_cli_user())
    if not result.ok:  # the generator must always satisfy the contract; say so loudly if not
        for problem in result.problems:
            print(problem, file=sys.stderr)
        return EXIT_REFUSED
    print(f"Demo clinic: {result.summary_line()}")
    return EXIT_OK


def _run_import(args: argparse.Namespace) -> int:
    from analysis import ingest

    engine = open_database(args.db)
    result = ingest.import_paths(engine, [Path(p) for p in args.paths], user=_cli_user(), source="cli")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not result.ok:
        print(result.summary_line(), file=sys.stderr)
        for problem in result.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_REFUSED
    for issue in result.data_quality:
        print(f"data quality: {issue}", file=sys.stderr)
    print(result.summary_line())
    return EXIT_OK


def _run_summary(args: argparse.Namespace) -> int:
    try:
        definition = OutcomeDefinition(
            timepoint_days=args.timepoint,
            window_days=args.window,
            threshold=args.threshold,
            missing=args.missing,
            ci=args.ci,
            cutoff=args.cutoff,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    engine = open_database(args.db)
    table = outcomes.summarize(engine, definition, by=args.by)
    if args.format == "json":
        print(json.dumps(table.to_dict(), indent=2, allow_nan=False))
    elif args.format == "csv":
        sys.stdout.write(report.response_table_csv(table, suppress=not args.no_suppress))
    else:
        print(report.response_table_text(table, suppress=not args.no_suppress))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = build_parser().parse_args(argv)
    runners = {"demo": _run_demo, "import": _run_import, "summary": _run_summary}
    try:
        return runners[args.command](args)
    except DatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except SQLAlchemyError as exc:
        first_line = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        print(f"error: the database could not be used ({first_line}).", file=sys.stderr)
        return EXIT_DATABASE


if __name__ == "__main__":
    sys.exit(main())
