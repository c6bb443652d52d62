"""``compare``: two routes, crude and adjusted for case mix (docs/comparisons.md)."""

from __future__ import annotations

import argparse
import json

from analysis.cli import options
from analysis.db.store import open_database
from analysis.domain.errors import EXIT_OK, SettingError
from analysis.domain.vocabulary import canonical_route
from analysis.present import comparisons_text
from analysis.queries import comparisons


def _route(value: str) -> str:
    route = canonical_route(value)
    if route is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a route (e.g. intranasal, IV, IM)")
    return route


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "compare",
        help="compare two routes, crude and adjusted for case mix",
        description="Route A against route B: the crude difference (Newcombe interval, conditional "
        "odds ratio, Fisher's test) and a logistic regression adjusted for condition, baseline pain, "
        "age, sex and site, with a standardised risk difference (docs/comparisons.md).",
    )
    options.add_db(parser)
    parser.add_argument("--a", required=True, type=_route, metavar="ROUTE", help="route A, e.g. intravenous")
    parser.add_argument(
        "--b", required=True, type=_route, metavar="ROUTE", help="route B, the reference, e.g. intranasal"
    )
    options.add_definition(parser, policy=False)
    parser.add_argument(
        "--missing",
        choices=("itt", "completers"),
        default="itt",
        help="itt: patients without a follow-up count as non-responders; completers: only patients "
        "with a follow-up in the window (default %(default)s)",
    )
    parser.add_argument(
        "--bootstrap",
        type=options.non_negative_int,
        default=0,
        metavar="B",
        help="percentile bootstrap with B resamples for the risk difference's interval (default 0: "
        "the delta method)",
    )
    parser.add_argument(
        "--seed", type=int, default=20261128, help="seed of the bootstrap (default %(default)s)"
    )
    options.add_format(parser, ("json", "table"))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.a == args.b:
        raise SettingError("Choose two different routes for --a and --b.")
    definition = options.definition_from(args)
    engine = open_database(args.db)
    result = comparisons.compare_routes(
        engine,
        definition,
        comparisons.CohortFilter(),
        args.a,
        args.b,
        bootstrap=args.bootstrap,
        seed=args.seed,
    )
    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(comparisons_text.route_comparison_text(result))
    return EXIT_OK
