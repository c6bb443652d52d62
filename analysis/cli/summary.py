"""``summary``: the response table, overall and per group (docs/methods.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.cli import options
from analysis.db import comparators as stored_comparators
from analysis.db.store import open_database
from analysis.domain import comparators as comparator_files
from analysis.domain.errors import EXIT_OK
from analysis.present import exports
from analysis.queries import comparators as matching
from analysis.queries import response


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "summary",
        help="print the response table",
        description="Response rate at the time point, with its interval, one-sided exact tests "
        "against the benchmark band, and a verdict, overall and per group.",
    )
    options.add_db(parser)
    options.add_by(parser)
    options.add_definition(parser)
    options.add_format(parser)
    parser.add_argument(
        "--no-suppress",
        action="store_true",
        help="show the counts of groups with fewer than 11 patients in csv and table output "
        "(by default they are shown as <11)",
    )
    parser.add_argument(
        "--comparators",
        type=Path,
        metavar="FILE",
        help="a comparators CSV (docs/comparisons.md) that replaces the stored table for this run; "
        "with --by condition each group lists its comparators at the current threshold",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    definition = options.definition_from(args)
    # A file is checked before anything else, so that a bad one fails fast and changes nothing.
    given = comparator_files.read_comparators_file(args.comparators) if args.comparators else None
    engine = open_database(args.db)
    table = response.summarize(engine, definition, by=args.by)
    comparators = []
    if "condition" in args.by:
        comparators = given if given is not None else stored_comparators.current(engine)
    if args.format == "json":
        document = matching.table_document(table, comparators)
        print(json.dumps(document, indent=2, allow_nan=False))
    elif args.format == "csv":
        sys.stdout.write(exports.response_table_csv(table, suppress=not args.no_suppress))
    else:
        print(exports.response_table_text(table, suppress=not args.no_suppress))
        if "condition" in args.by:
            print(exports.comparators_text(table, comparators))
    return EXIT_OK
