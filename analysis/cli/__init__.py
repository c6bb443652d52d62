"""The command line: ``ketamine-outcomes COMMAND`` or ``python -m analysis COMMAND`` (README).

Each command is a module with ``register(commands)``, which adds its parser and sets
``run``, and ``run(args) -> exit code``; a new command is one module and one line in
:data:`COMMANDS`. Failures are :class:`analysis.domain.errors.OutcomesError` subclasses:
their message is printed and their ``exit_code`` returned (0 success; 1 import refused, nothing
written; 2 a bad setting or argument; 3 the database cannot be reached or used).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from sqlalchemy.exc import SQLAlchemyError

from analysis.cli import compare, demo, durability, load, profile, secondary, serve, summary
from analysis.domain import paths
from analysis.domain.errors import EXIT_DATABASE, OutcomesError, first_line

#: The commands, in the order ``--help`` lists them.
COMMANDS = (demo, load, summary, secondary, durability, compare, profile, serve)


def build_parser(prog: str = "python -m analysis") -> argparse.ArgumentParser:
    """The argument parser, with help that explains every flag."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Ketamine Outcomes: load data, and compute response rates against the "
        "30–40 % conventional-therapy band.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {paths.version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "python -m analysis") -> int:
    """Entry point; returns the process exit code."""
    args = build_parser(prog).parse_args(argv)
    try:
        return args.run(args)
    except OutcomesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SQLAlchemyError as exc:
        print(f"error: the database could not be used ({first_line(exc)}).", file=sys.stderr)
        return EXIT_DATABASE


def console() -> NoReturn:
    """The installed ``ketamine-outcomes`` command (``[project.scripts]``): exits with main's code."""
    sys.exit(main(prog="ketamine-outcomes"))
