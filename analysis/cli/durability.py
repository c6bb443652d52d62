"""``durability``: how long relief lasts and the gaps between boosters (docs/methods.md, "Durability")."""

from __future__ import annotations

import argparse
import json

from analysis.cli import options
from analysis.db.store import open_database
from analysis.domain.errors import EXIT_OK
from analysis.present.durability import durability_text
from analysis.queries import durability


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "durability",
        help="print how long relief lasts (Kaplan-Meier) and the gaps between boosters",
        description="Among patients whose pain fell by the threshold by day T+W: how long the "
        "response lasted (Kaplan-Meier, with 95% log(-log) intervals, the median and survival at "
        "4, 8, 12 and 26 weeks), the median gap between maintenance sessions, and the log-rank "
        "p across groups.",
    )
    options.add_db(parser)
    parser.add_argument(
        "--by",
        choices=durability.DIMENSIONS,
        default=None,
        help="break down by the patient's route or condition (default: all responders together)",
    )
    options.add_definition(parser, policy=False)
    options.add_format(parser, choices=("json", "table"))
    parser.add_argument(
        "--no-suppress",
        action="store_true",
        help="show the counts of groups with fewer than 11 patients in table output "
        "(by default they are shown as <11)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    definition = options.definition_from(args)
    engine = open_database(args.db)
    table = durability.durability(engine, definition, by=args.by)
    if args.format == "json":
        print(json.dumps(table.to_dict(), indent=2, allow_nan=False))
    else:
        print(durability_text(table, suppress=not args.no_suppress))
    return EXIT_OK
