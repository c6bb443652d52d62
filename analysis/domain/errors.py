"""The errors a user can meet, each carrying the exit code the command line returns.

Exit codes (README, "Command line"): 0 success; 1 an import refused (nothing written);
2 a bad setting or argument; 3 the database cannot be reached, opened or used. Every driver
error is wrapped into one of these where it is raised, with a message a clinician can act on;
the CLI prints the message and exits with the class's code, the pages show it with ``st.error``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_SETTING = 2
EXIT_DATABASE = 3


class OutcomesError(Exception):
    """Base class: a failure with a plain-language message and an exit code."""

    exit_code: int = EXIT_REFUSED


class ImportRefused(OutcomesError):
    """An import that wrote nothing (the problems are in its report)."""

    exit_code = EXIT_REFUSED


class SettingError(OutcomesError, ValueError):
    """A setting or argument outside what the product accepts (a time point, a URL, a file)."""

    exit_code = EXIT_SETTING


class DatabaseError(OutcomesError):
    """A database that cannot be reached, opened or used."""

    exit_code = EXIT_DATABASE


def first_line(exc: BaseException) -> str:
    """The first line of a (driver) error's message, or the error's type when it has none.

    Driver messages can be empty or span several lines with SQL and parameters; the first line
    says what went wrong without them.
    """
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return detail[0] if detail else type(exc).__name__
