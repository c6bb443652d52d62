"""``profile``: baseline characteristics associated with response — association, not a rule."""

from __future__ import annotations

import argparse
import json

from analysis.cli import options
from analysis.db.store import open_database
from analysis.domain.definition import CohortFilter
from analysis.domain.errors import EXIT_OK
from analysis.present import comparisons_text
from analysis.queries import profile


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "profile",
        help="who responds: odds ratios of baseline characteristics (association, not a rule)",
        description="A logistic model of response on condition, route, baseline pain, age, sex, baseline "
        "MME > 0 and baseline PHQ-9 >= 10: odds ratios with 95% intervals, cross-validated AUC with "
        "DeLong's interval and calibration by tenths of predicted risk (docs/comparisons.md). It "
        "describes association in this clinic's patients; it is not a rule to refuse anyone.",
    )
    options.add_db(parser)
    options.add_definition(parser, policy=False)
    parser.add_argument(
        "--missing",
        choices=("itt", "completers"),
        default="itt",
        help="itt: patients without a follow-up count as non-responders; completers: only patients "
        "with a follow-up in the window (default %(default)s)",
    )
    parser.add_argument(
        "--folds",
        type=int,
        choices=range(2, 21),
        default=profile.FOLDS,
        metavar="K",
        help="folds of the cross-validation, 2-20 (default %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=profile.SEED, help="seed of the folds (default %(default)s)"
    )
    options.add_format(parser, ("json", "table"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    definition = options.definition_from(args)
    engine = open_database(args.db)
    result = profile.response_profile(engine, definition, CohortFilter(), folds=args.folds, seed=args.seed)
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(comparisons_text.profile_text(result))
    return EXIT_OK
