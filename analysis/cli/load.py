"""``import``: CSV files or one workbook, all or nothing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.cli import options
from analysis.db.store import open_database
from analysis.domain.errors import EXIT_OK, EXIT_REFUSED


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "import",
        help="import de-identified CSV files or one .xlsx workbook",
        description="Import patients.csv / sessions.csv / followups.csv (any of them), or one .xlsx "
        "workbook with sheets of those names (docs/contract.md). All or nothing: on any problem "
        "nothing is written and every problem is listed. Re-importing the same files changes nothing.",
    )
    options.add_db(parser)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="CSV files or one .xlsx workbook")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from analysis import ingest

    engine = open_database(args.db)
    result = ingest.import_paths(engine, [Path(p) for p in args.paths], user=options.cli_user(), source="cli")
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
