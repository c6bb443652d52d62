"""CLI commands timed at every clinic size: one entry a command, cold in a process of its own.

The ``command`` probe (:func:`benchmarks.probes.probe_command`) imports the CLI, then times
``analysis.cli.main(args)`` with its output discarded: the time beyond interpreter start-up and
imports, and the process's peak memory. Each entry's key is a measure of
:data:`benchmarks.report.MEASURES`; the targets (docs/performance.md) are the issue's: at most
1 s at 1M sessions on SQLite (and below), at most 2 s at 10M on PostgreSQL, under 300 MB.
Add a command here with one line (its arguments after ``--db URL``).
"""

from __future__ import annotations

#: measure key → (label, CLI arguments after the subcommand's ``--db URL``).
COMMANDS: dict[str, tuple[str, list[str]]] = {
    "cmd_summary_condition": (
        "`summary --by condition`, cold",
        ["summary", "--by", "condition", "--format", "json"],
    ),
    "cmd_secondary_condition": (
        "`secondary --by condition`, cold",
        ["secondary", "--by", "condition", "--format", "json"],
    ),
    "cmd_compare_iv_in": (
        "`compare --a intravenous --b intranasal`, cold",
        ["compare", "--a", "intravenous", "--b", "intranasal", "--format", "json"],
    ),
    "cmd_durability_route": (
        "`durability --by route`, cold",
        ["durability", "--by", "route", "--format", "json"],
    ),
    "cmd_profile": ("`profile`, cold", ["profile", "--format", "json"]),
    # Any definition (issue #16): the end of the last quarter before the clinics' history ends
    # (2026-10-31, benchmarks/clinic.py), and a time point the facts do not keep.
    "cmd_summary_cutoff": (
        "`summary --by condition --cutoff 2026-06-30`, cold",
        ["summary", "--by", "condition", "--cutoff", "2026-06-30", "--format", "json"],
    ),
    "cmd_summary_t180": (
        "`summary --by condition --timepoint 180`, cold",
        ["summary", "--by", "condition", "--timepoint", "180", "--format", "json"],
    ),
    "cmd_secondary_cutoff": (
        "`secondary --by condition --cutoff 2026-06-30`, cold",
        ["secondary", "--by", "condition", "--cutoff", "2026-06-30", "--format", "json"],
    ),
    "cmd_durability_cutoff": (
        "`durability --by route --cutoff 2026-06-30`, cold",
        ["durability", "--by", "route", "--cutoff", "2026-06-30", "--format", "json"],
    ),
    "cmd_compare_cutoff": (
        "`compare --a intravenous --b intranasal --cutoff 2026-06-30`, cold",
        ["compare", "--a", "intravenous", "--b", "intranasal", "--cutoff", "2026-06-30", "--format", "json"],
    ),
    # Other settings than the kept facts' own (issue #16: "any definition"): the outcomes beyond
    # pain at another time point, durability at another response threshold.
    "cmd_secondary_t180": (
        "`secondary --by condition --timepoint 180`, cold",
        ["secondary", "--by", "condition", "--timepoint", "180", "--format", "json"],
    ),
    "cmd_durability_t50": (
        "`durability --by route --threshold 0.5`, cold",
        ["durability", "--by", "route", "--threshold", "0.5", "--format", "json"],
    ),
}
