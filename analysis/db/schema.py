"""The data model: the one place where the stored tables are written down (docs/contract.md).

Patients carry a surrogate integer key (``patients.id``) that sessions and follow-ups
reference, so that the outcome queries join on integers; the pseudonymous ``patient_id`` a
clinic supplies is unique. Sessions and follow-ups are keyed by their natural keys,
``(patient_key, session_date)`` and ``(patient_key, followup_date)``: the index the outcome
queries walk is the primary key itself, and no surrogate id is kept beside it (one B-tree and
one sequence less per row written; SQLite stores the rows in that key's order, ``WITHOUT
ROWID``). See migration 0005 and docs/performance.md.

Adverse events are stored as canonical codes, sorted and joined by ``;`` (empty → NULL).
No column can hold a direct identifier: the importer refuses them before anything is written.

``imports`` is the import log (the audit trail): one row per import attempt, applied or
refused — who, when, from where, which files (name, SHA-256, size) and the counts written.
It is append-only: the migration adds triggers that refuse ``UPDATE`` and ``DELETE`` on it.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from analysis.domain import contract
from analysis.domain.definition import OutcomeDefinition

# Stable constraint names so that Alembic migrations are the same on SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def checks(table: str) -> list[CheckConstraint]:
    """The CHECK constraints that keep a contract table's ranges in the stored rows."""
    return [
        CheckConstraint(sql, name=field.check_name)
        for field in contract.FIELDS[table]
        if (sql := field.check_sql()) is not None
    ]


patients = Table(
    "patients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_id", String(64), nullable=False, unique=True),
    Column("condition", String(32), nullable=False),
    Column("site", String(64), nullable=False, server_default="main"),
    Column("age", Integer),  # capped at 90 on import (HIPAA Safe Harbor: "90+")
    Column("sex", String(8)),
    Column("baseline_pain", Float),
    Column("baseline_mme", Float),
    Column("baseline_phq9", Integer),
    Column("baseline_bpi_interference", Float),
    Column("baseline_headache_days", Integer),
    Column("end_date", Date),  # the day the patient left care
    Column("end_reason", String(24)),  # canonical code (vocabulary.END_REASON_LABELS)
    *checks("patients"),
    Index(None, "condition"),
    Index(None, "site"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("patient_key", Integer, ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True),
    Column("session_date", Date, primary_key=True),
    Column("route", String(16), nullable=False),
    Column("dose_mg", Float, nullable=False),
    Column("weight_kg", Float),
    Column("pre_pain", Float),
    Column("post_pain", Float),
    Column("adverse_events", String(200)),
    Column("ae_duration_min", Float),
    Index(None, "session_date"),  # the data cut-off and the quarter filter: max/min in an index
    *checks("sessions"),
    sqlite_with_rowid=False,
)

followups = Table(
    "followups",
    metadata,
    Column("patient_key", Integer, ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True),
    Column("followup_date", Date, primary_key=True),
    Column("pain", Float, nullable=False),
    Column("pgic", Integer),
    Column("bpi_interference", Float),
    Column("phq9", Integer),
    Column("mme", Float),
    Column("adverse_events", String(200)),
    Column("headache_days", Integer),
    Index(None, "followup_date"),
    *checks("followups"),
    sqlite_with_rowid=False,
)

#: Per-patient facts that no outcome setting changes, over all stored data (docs/performance.md).
#: Derived from the three tables above by :mod:`analysis.db.facts` and refreshed for the patients
#: an import touched, in the import's own transaction; the outcome queries read it instead of
#: scanning sessions whenever the data cut-off is the latest stored date. The nearest
#: follow-up is kept for the default time point and window only (``FACTS_TIMEPOINT``).
#: ``patient_id`` is the clinic's pseudonym, copied from ``patients`` (no new identifier).
#: ``patient_key`` is ``patients.id`` without a foreign key: the table is derived, written
#: only by ``facts.refresh`` from a join on ``patients``, and the constraint's check per row
#: cost 5–8 % of every import (docs/performance.md).
patient_facts = Table(
    "patient_facts",
    metadata,
    Column("patient_key", Integer, primary_key=True, autoincrement=False),
    Column("patient_id", String(64), nullable=False),
    Column("site", String(64), nullable=False),
    Column("condition", String(32), nullable=False),
    Column("sex", String(8), nullable=False),  # 'unknown' where not recorded
    Column("age", Integer),
    Column("age_group", String(8), nullable=False),
    Column("index_date", Date),  # NULL: no session yet
    Column("quarter", String(8), nullable=False),  # of the index date; 'none' without one
    Column("n_sessions", Integer, nullable=False),
    Column("sessions_with_ae", Integer, nullable=False),
    Column("sessions_with_dissociation", Integer, nullable=False),
    Column("route", String(16), nullable=False),  # plurality route, 'mixed', or 'none'
    Column("baseline", Float),
    Column("followup_date", Date),  # nearest the default time point, inside its window
    Column("followup_day", Integer),
    Column("followup_pain", Float),
    Column("followup_pgic", Integer),
    Column("evaluable", Integer, nullable=False),  # 0/1: a first session and a baseline above 0
    Column("reduction", Float),  # at that follow-up; NULL unless evaluable with a follow-up
    # The patient's last session and follow-up: a patient with neither after an earlier cut-off
    # has, as of that cut-off, the same facts as today (docs/performance.md, "Earlier cut-offs").
    Column("last_session_date", Date),
    Column("last_followup_date", Date),
    # How many routes the patient's sessions used: as of an earlier cut-off, a patient with one
    # has the same route as now (docs/performance.md, "Only the columns asked for").
    Column("n_routes", Integer),
    # The end of care, copied from ``patients`` (the stored date, not as of any cut-off): the
    # disposition table reads them with the other facts instead of joining every patient row
    # (docs/performance.md, "End of care in the facts").
    Column("end_date", Date),
    Column("end_reason", String(24)),
    Index(None, "patient_id"),  # one patient's row (the Patients page) without a scan
    # The patients first treated in a span of days: those whose outcome an earlier cut-off can
    # still change (analysis.db.secondary_cells; docs/performance.md, "Settled by quarter").
    Index(None, "index_date"),
    # Covers the summary by condition × route (and by condition): SQLite reads it in group
    # order instead of sorting every patient (1M sessions: 0.44 s → 0.18 s). PostgreSQL hashes
    # either way (10M: 0.26 s with or without it), and keeping it cost an import into the 10M
    # clinic about 0.2 s of random index inserts: SQLite only.
    Index(
        "ix_patient_facts_summary", "condition", "route", "evaluable", "reduction", "index_date", "n_sessions"
    ).ddl_if(dialect="sqlite"),
)

#: Indexes made on SQLite only (``ddl_if``); Alembic's schema comparison must skip them elsewhere.
SQLITE_ONLY_INDEXES: frozenset[str] = frozenset({"ix_patient_facts_summary"})


def made_on(dialect: str, name: str | None, kind: str) -> bool:
    """Whether the schema object ``name`` of ``kind`` (Alembic's words: ``"index"``, ``"table"``…)
    exists on a database of ``dialect``: Alembic's ``include_object`` for comparisons."""
    return not (kind == "index" and name in SQLITE_ONLY_INDEXES and dialect != "sqlite")


#: Per-patient facts of the outcomes beyond pain (docs/methods.md, "Outcomes beyond pain"), kept
#: beside ``patient_facts`` and refreshed with it: the four baselines copied from ``patients``
#: and, for the default time point and window over all stored data, each measure's value at the
#: follow-up that counts for it (:mod:`analysis.db.measures`). ``secondary`` at the default view
#: reads one row per patient here instead of joining ``patients`` and scanning ``followups``.
measure_facts = Table(
    "measure_facts",
    metadata,
    Column("patient_key", Integer, primary_key=True, autoincrement=False),
    Column("baseline_mme", Float),
    Column("baseline_phq9", Integer),
    Column("baseline_bpi_interference", Float),
    Column("baseline_headache_days", Integer),
    Column("pgic", Integer),
    Column("mme", Float),
    Column("phq9", Integer),
    Column("bpi_interference", Float),
    Column("headache_days", Integer),
)

#: Each follow-up of a patient with a first session, keyed by its day since the patient's index
#: date: the follow-up nearest any time point is then a range of this table, with no join to
#: the index dates. Kept at import with ``patient_facts`` by ``analysis.db.followup_days``
#: (docs/performance.md, "Follow-up days"); no foreign key, as ``patient_facts``.
followup_days = Table(
    "followup_days",
    metadata,
    Column("patient_key", Integer, primary_key=True, autoincrement=False),
    Column("day", Integer, primary_key=True, autoincrement=False),
    Column("followup_date", Date, nullable=False),
    Column("pain", Float, nullable=False),
    Column("pgic", Integer),
    # The other measures (migration 0014): the outcomes beyond pain at any time point rank them
    # here too (docs/performance.md, "Only the columns asked for").
    Column("mme", Float),
    Column("phq9", Integer),
    Column("bpi_interference", Float),
    Column("headache_days", Integer),
    sqlite_with_rowid=False,
)

#: Each patient's pain measurements after the index date, one per day since it: the follow-up's
#: ``pain``, else the session's ``pre_pain`` (a follow-up wins over a session on the same day;
#: docs/methods.md, "Durability"). The durability rules at any threshold, window or cut-off
#: search this one narrow table per patient instead of sessions and follow-ups with the day of
#: each computed (docs/performance.md, "Pain days"). Kept at import with ``patient_facts`` by
#: ``analysis.db.pain_days``; no foreign key, as ``patient_facts``.
pain_days = Table(
    "pain_days",
    metadata,
    Column("patient_key", Integer, primary_key=True, autoincrement=False),
    Column("day", Integer, primary_key=True, autoincrement=False),  # ≥ 1
    Column("pain", Float, nullable=False),
    sqlite_with_rowid=False,
)

#: Each maintenance session (more than ``analysis.db.booster_gaps.MAINTENANCE_AFTER_DAY`` days after
#: the first session) after a patient's first one, with ``gap``, the days since the patient's
#: previous maintenance session, kept at import with the facts
#: (:func:`analysis.db.booster_gaps.refresh`): the booster gaps of the patients with sessions
#: after an earlier cut-off are ranked from these rows, bounded by their last date, instead of
#: from their sessions (docs/performance.md, "Booster gaps kept"; migration 0019).
#: ``median_gap``: the median of the patient's gaps up to and including this one — the booster
#: median of a patient whose last date falls on or after this session and before the next
#: maintenance session, read with one search instead of ranking the gaps (docs/performance.md,
#: "Booster medians kept"; migration 0020).
booster_gaps = Table(
    "booster_gaps",
    metadata,
    Column("patient_key", Integer, autoincrement=False, nullable=False),
    Column("session_date", Date, nullable=False),
    Column("gap", Integer, nullable=False),
    Column("median_gap", Float, nullable=False),
    # The median as of a last date is read from the key's index alone on PostgreSQL (migration
    # 0024); SQLite keeps the rows in the key's order (WITHOUT ROWID).
    PrimaryKeyConstraint("patient_key", "session_date", postgresql_include=["median_gap"]),
    sqlite_with_rowid=False,
)

#: What the durability rules read per patient besides the pain days, one row per patient with an
#: index date (docs/methods.md, "Durability"; docs/performance.md, "Pain days"):
#: - ``end_date`` (copied from ``patients``) and ``last_session_date`` (from ``patient_facts``),
#:   so that the rules join one narrow table;
#: - ``lowest_pain``, the lowest of the patient's ``pain_days`` (NULL without any): a patient
#:   whose lowest pain is no response at a threshold has no onset at it, whatever the window or
#:   cut-off, so the rules search the pain days of the others only;
#: - ``booster_gap``, the median gap in days between the maintenance ("booster") sessions over
#:   all stored sessions (NULL with fewer than two): no threshold or window changes it, so it
#:   is read for every patient with no session after the cut-off.
#: Kept at import with ``patient_facts`` by ``analysis.db.durability``; no foreign key, as
#: ``patient_facts``.
durability_inputs = Table(
    "durability_inputs",
    metadata,
    Column("patient_key", Integer, primary_key=True, autoincrement=False),
    Column("end_date", Date),
    Column("last_session_date", Date),
    Column("lowest_pain", Float),
    Column("booster_gap", Float),
)

#: (time point, window) in days for which ``patient_facts`` keeps the nearest follow-up.
FACTS_TIMEPOINT: tuple[int, int] = (90, 30)
#: The definition the kept facts are derived at: that time point and window, the defaults otherwise.
FACTS_DEFINITION = OutcomeDefinition(timepoint_days=FACTS_TIMEPOINT[0], window_days=FACTS_TIMEPOINT[1])

#: Per-patient durability at the default time point and window (``FACTS_TIMEPOINT``) over all
#: stored data, at each response threshold of ``FACTS_THRESHOLDS`` (``threshold_pct``): one row
#: per patient with an onset at it and threshold (docs/methods.md, "Durability"), kept at import
#: with ``patient_facts`` (:func:`analysis.db.facts.refresh`) so that the durability view at those
#: thresholds reads one row per responder instead of searching every patient's pain days
#: (docs/performance.md, "Durability" and "Durability at 50 %, kept"). ``response_days`` is the
#: time from onset to the loss or censoring, ``response_lost`` 1 for a loss, ``booster_gap`` the
#: median gap in days between the patient's maintenance sessions (NULL with fewer than two),
#: ``onset_day`` the onset's day since the index date (migration 0018: what tells an earlier
#: cut-off's durability from the kept one, ``analysis.db.durability.facts_as_of_counts``). The
#: patient's breakdown and cohort columns are copied from ``patient_facts`` (migration 0011), so
#: that the view scans this table alone: joining it to the 1.7M patients of a 10M-session clinic
#: took 2 s on PostgreSQL (docs/performance.md, "Durability").
durability_facts = Table(
    "durability_facts",
    metadata,
    Column("patient_key", Integer, primary_key=True, autoincrement=False),
    Column("threshold_pct", Integer, primary_key=True, autoincrement=False),  # of FACTS_THRESHOLDS
    Column("response_days", Integer, nullable=False),
    Column("response_lost", Integer, nullable=False),
    Column("booster_gap", Float),
    Column("onset_day", Integer, nullable=False),  # days from the index date to the onset
    Column("site", String(64)),
    Column("condition", String(32)),
    Column("route", String(16)),
    Column("sex", String(8)),
    Column("age_group", String(8)),
    Column("index_date", Date),
    Column("last_session_date", Date),
    Column("last_followup_date", Date),
    Column("end_date", Date),
    Column("n_routes", Integer),
)
#: The columns ``durability_facts`` copies from ``patient_facts``: what a cohort filter or a
#: breakdown reads (``analysis.db.cohorts.apply_filter``).
DURABILITY_COHORT_COLUMNS: tuple[str, ...] = ("site", "condition", "route", "sex", "age_group", "index_date")
#: All it copies: the cohort columns, the last dates that tell whether a patient's kept
#: durability is theirs as of an earlier cut-off (``analysis.db.durability.facts_settled``,
#: migration 0017), and what the durability as of a cut-off reads of the others: the end of care
#: and the number of routes (``analysis.db.durability.facts_as_of_counts``, migration 0024).
DURABILITY_COPIED_COLUMNS: tuple[str, ...] = (
    *DURABILITY_COHORT_COLUMNS,
    "last_session_date",
    "last_followup_date",
    "end_date",
    "n_routes",
)
#: The default response threshold, the first ``durability_facts`` is kept for.
FACTS_THRESHOLD = 0.30
#: Every response threshold ``durability_facts`` is kept for → its ``threshold_pct``: IMMPACT's
#: moderately important (≥ 30 %, the default) and substantial (≥ 50 %) reductions in pain, the two
#: a clinic reports (docs/methods.md, "Durability"; migration 0018). Any other threshold runs the
#: rules (:func:`analysis.db.durability.durability_counts`).
FACTS_THRESHOLDS: dict[float, int] = {FACTS_THRESHOLD: 30, 0.50: 50}

#: The counts per group of the outcomes beyond pain (besides ``patients``, the eligible), in the
#: order ``analysis.db.beyond_pain`` computes them (docs/methods.md, "Outcomes beyond pain").
BEYOND_PAIN_COUNTS: tuple[str, ...] = (
    "with_followup",
    "substantial",
    "pgic_has",
    "pgic_improved",
    "mme_q",
    "mme_has",
    "mme_reduced_50",
    "mme_stopped",
    "phq9_q",
    "phq9_has",
    "phq9_response",
    "phq9_remission",
    "bpi_q",
    "bpi_has",
    "bpi_improved",
    "headache_q",
    "headache_has",
    "headache_response",
    "agree_n",
    "agree_both",
    "agree_pgic_only",
    "agree_nrs_only",
    "mme_pair",
    "mme_base_low",
    "mme_fu_low",
    "mme_base_high",
    "mme_fu_high",
)
#: The default view of the outcomes beyond pain, already counted: per breakdown (``grouping``:
#: '' for the whole clinic, else one dimension) and group, the counts. Kept at import by
#: ``analysis.db.secondary_cells`` (docs/performance.md, "Beyond pain, counted at import"), at
#: the facts' time point and at the other time points clinics report (``timepoint``, days).
secondary_cells = Table(
    "secondary_cells",
    metadata,
    Column("timepoint", Integer, nullable=False),
    Column("grouping", String(16), nullable=False),
    Column("group_key", String(64), nullable=False),  # '' for the whole clinic
    # The calendar quarter (``2026-Q2``) by whose end the patients of the row were settled: as
    # of any later cut-off their part is what it is now (analysis.db.secondary_cells); '' at the
    # other time points, which answer the data cut-off only.
    Column("settled_by", String(8), nullable=False),
    Column("patients", Integer, nullable=False),  # eligible
    *[Column(name, Integer, nullable=False) for name in BEYOND_PAIN_COUNTS],
    # Unique: an import adds its sums to the kept rows through it (INSERT … ON CONFLICT; 0025).
    Index(None, "timepoint", "grouping", "group_key", "settled_by", unique=True),
)
#: The change histograms of the same view: per breakdown, group and change measure, each
#: distinct change with its number of patients.
secondary_changes = Table(
    "secondary_changes",
    metadata,
    Column("timepoint", Integer, nullable=False),
    Column("grouping", String(16), nullable=False),
    Column("group_key", String(64), nullable=False),
    Column("settled_by", String(8), nullable=False),
    Column("kind", String(24), nullable=False),  # the change measure
    Column("value", Float, nullable=False),
    Column("patients", Integer, nullable=False),
    # The whole key: an import adds its sums to the rows it names, found one by one (on SQLite,
    # by the first three columns alone, 6–8 s for an import into the 1M clinic instead of 0.1).
    # Unique since migration 0025, for INSERT … ON CONFLICT.
    Index(None, "timepoint", "grouping", "group_key", "settled_by", "kind", "value", unique=True),
    # Room on each page for an import's changed rows (HOT updates on PostgreSQL; migration 0025).
    postgresql_with={"fillfactor": 60},
)
#: The response profile's patients per pattern of baseline characteristics at the default view,
#: kept by every import: ``analysis.db.profile_cells`` (docs/performance.md, "Profile patterns
#: kept"). Age, baseline MME > 0 and PHQ-9 >= 10 may be unrecorded: stored as -1 then, so that
#: the key is compared with ``=`` and an import finds its patterns through the primary key.
profile_patterns = Table(
    "profile_patterns",
    metadata,
    Column("condition", String(32), primary_key=True),
    Column("route", String(16), primary_key=True),
    Column("baseline", Float, primary_key=True),
    Column("age", Integer, primary_key=True, autoincrement=False),
    Column("sex", String(8), primary_key=True),
    Column("mme_positive", Integer, primary_key=True),
    Column("phq9_high", Integer, primary_key=True),
    Column("eligible", Integer, nullable=False),
    Column("with_followup", Integer, nullable=False),
    Column("responders", Integer, nullable=False),
    postgresql_with={"fillfactor": 60},  # as secondary_changes
)
#: What ``secondary_cells`` and ``secondary_changes`` count: at which data cut-off, under which
#: rules (one row).
secondary_cells_state = Table(
    "secondary_cells_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("as_of", Date),  # the data cut-off; NULL when nothing was stored
    Column("fingerprint", String(64), nullable=False),
)

#: Where an import came from, and how it ended (the import log's vocabularies).
IMPORT_SOURCES: tuple[str, ...] = ("cli", "app", "demo")
IMPORT_STATUSES: tuple[str, ...] = ("applied", "refused")

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("imported_at", DateTime(timezone=True), nullable=False),  # UTC
    Column("user", Text, nullable=False),  # an e-mail, 'cli:<os user>', or 'unknown'
    Column("source", String(8), nullable=False),
    Column("files", Text, nullable=False),  # JSON: [{"name", "sha256", "bytes"}, ...]
    Column("status", String(8), nullable=False),
    Column("counts", Text, nullable=False),  # JSON: {table: {inserted, updated, unchanged}}
    Column("problem_count", Integer, nullable=False, server_default="0"),
    CheckConstraint("source IN ('cli', 'app', 'demo')", name="source_vocabulary"),
    CheckConstraint("status IN ('applied', 'refused')", name="status_vocabulary"),
    CheckConstraint("problem_count >= 0", name="problem_count_range"),
    Index(None, "imported_at"),
)

#: Import-contract columns per table, in the order the contract lists them (docs/contract.md).
CONTRACT_COLUMNS: dict[str, tuple[str, ...]] = contract.COLUMNS

#: The comparators in use (docs/comparisons.md): the shipped table until a director first edits it.
#: Replaced as a whole by :func:`analysis.db.comparators.save`; every change is logged in
#: ``comparator_changes`` (append-only: the migration adds triggers that refuse UPDATE/DELETE).
comparators = Table(
    "comparators",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("condition", String(32), nullable=False),
    Column("label", String(500), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("rate", Float, nullable=False),
    Column("n", Integer),
    Column("timepoint_days", Integer),
    Column("citation", String(500), nullable=False),
    Column("doi_or_pmid", String(500)),
    Column("indirect", Integer, nullable=False, server_default="0"),
    CheckConstraint("kind IN ('conventional', 'placebo', 'ketamine')", name="kind_vocabulary"),
    CheckConstraint("threshold IN (0.3, 0.5)", name="threshold_values"),
    CheckConstraint("rate >= 0 AND rate <= 1", name="rate_range"),
    CheckConstraint("indirect IN (0, 1)", name="indirect_flag"),
)

#: What a change to the comparators was.
COMPARATOR_ACTIONS: tuple[str, ...] = ("edit", "upload", "reset")

comparator_changes = Table(
    "comparator_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),  # UTC
    Column("user", Text, nullable=False),
    Column("action", String(8), nullable=False),
    Column("before", Text, nullable=False),  # the table before, as a comparators CSV
    Column("after", Text, nullable=False),  # the table after, as a comparators CSV
    CheckConstraint("action IN ('edit', 'upload', 'reset')", name="action_vocabulary"),
    Index(None, "changed_at"),
)
