"""``secondary``: the outcomes beyond pain, overall and per group (docs/methods.md)."""

from __future__ import annotations

import argparse
import json
import sys

from analysis.cli import options
from analysis.db.store import open_database
from analysis.domain.errors import EXIT_OK, SettingError
from analysis.domain.measures import MeasureSettings
from analysis.present import secondary as present
from analysis.queries import secondary


def _add_settings(parser: argparse.ArgumentParser) -> None:
    """The success rules of each measure (docs/methods.md, "Settings")."""
    defaults = MeasureSettings()
    group = parser.add_argument_group("success rules of the measures (docs/methods.md)")
    group.add_argument(
        "--substantial",
        type=options.fraction,
        default=defaults.substantial,
        help="pain reduction that is substantial relief (default %(default)s)",
    )
    group.add_argument(
        "--pgic-improved",
        type=int,
        default=defaults.pgic_improved,
        help="a PGIC at or below this is improved: 2 = much improved (default %(default)s)",
    )
    group.add_argument(
        "--mme-reduction",
        type=options.fraction,
        default=defaults.mme_reduction,
        help="opioid dose reduction from baseline that counts (default %(default)s)",
    )
    group.add_argument(
        "--phq9-baseline",
        type=int,
        default=defaults.phq9_baseline,
        help="baseline PHQ-9 from which a patient qualifies for the depression measures "
        "(default %(default)s)",
    )
    group.add_argument(
        "--phq9-response",
        type=options.fraction,
        default=defaults.phq9_response,
        help="PHQ-9 reduction from baseline that is a response (default %(default)s)",
    )
    group.add_argument(
        "--phq9-remission",
        type=int,
        default=defaults.phq9_remission,
        help="a follow-up PHQ-9 below this is remission (default %(default)s)",
    )
    group.add_argument(
        "--bpi-points",
        type=options.fraction,
        default=defaults.bpi_points,
        help="drop in BPI interference (0-10) that is an improvement (default %(default)s)",
    )
    group.add_argument(
        "--headache-reduction",
        type=options.fraction,
        default=defaults.headache_reduction,
        help="reduction in headache days that is a response (default %(default)s)",
    )


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "secondary",
        help="print the outcomes beyond pain (PGIC, opioids, PHQ-9, BPI, headache days)",
        description="Substantial pain relief, PGIC improvement and its agreement with the pain "
        "responder, opioid reduction and stopping, PHQ-9 response and remission, BPI interference "
        "improvement and headache-day response, with 95% intervals; and the mean and median "
        "changes with 95% t intervals; overall and per group.",
    )
    options.add_db(parser)
    options.add_by(parser)
    options.add_definition(parser)
    _add_settings(parser)
    options.add_format(parser)
    parser.add_argument(
        "--no-suppress",
        action="store_true",
        help="show the counts of groups with fewer than 11 patients in csv and table output "
        "(by default they are shown as <11)",
    )
    parser.set_defaults(run=run)


def settings_from(args: argparse.Namespace) -> MeasureSettings:
    """The measure settings the flags ask for; a value out of range is a :class:`SettingError`."""
    try:
        return MeasureSettings(
            substantial=args.substantial,
            pgic_improved=args.pgic_improved,
            mme_reduction=args.mme_reduction,
            phq9_baseline=args.phq9_baseline,
            phq9_response=args.phq9_response,
            phq9_remission=args.phq9_remission,
            bpi_points=args.bpi_points,
            headache_reduction=args.headache_reduction,
        )
    except ValueError as exc:
        raise SettingError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    definition = options.definition_from(args)
    settings = settings_from(args)
    engine = open_database(args.db)
    table = secondary.secondary_table(engine, definition, by=args.by, settings=settings)
    if args.format == "json":
        print(json.dumps(table.to_dict(), indent=2, allow_nan=False))
    elif args.format == "csv":
        sys.stdout.write(present.secondary_csv(table, suppress=not args.no_suppress))
    else:
        print(present.secondary_text(table, suppress=not args.no_suppress))
    return EXIT_OK
