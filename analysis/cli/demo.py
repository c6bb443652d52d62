"""``demo``: write the synthetic demo clinic through the real importer."""

from __future__ import annotations

import argparse
import sys

from analysis.cli import options
from analysis.db.store import open_database
from analysis.domain.errors import EXIT_OK, ImportRefused, SettingError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="write a synthetic demo clinic into the database",
        description='Write a realistic synthetic clinic (docs/methods.md, "What the demo clinic is") '
        "into the database, through the same importer as real data. Re-running with the same seed "
        "changes nothing.",
    )
    options.add_db(parser)
    parser.add_argument("--patients", type=int, default=None, help="number of patients (default 3000)")
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed; the same seed gives the same clinic"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from analysis import demo

    kwargs = {}
    if args.patients is not None:
        if args.patients < 1:
            raise SettingError("--patients must be 1 or more")
        kwargs["n_patients"] = args.patients
    if args.seed is not None:
        if args.seed < 0:
            raise SettingError("--seed must be a whole number, 0 or more")
        kwargs["seed"] = args.seed
    engine = open_database(args.db)
    result = demo.load_demo(engine, **kwargs, user=options.cli_user())
    if not result.ok:  # the generator must always satisfy the contract; say so loudly if not
        for problem in result.problems:
            print(problem, file=sys.stderr)
        raise ImportRefused("the demo clinic was refused by the importer")
    print(f"Demo clinic: {result.summary_line()}")
    return EXIT_OK
