"""natural keys: sessions and follow-ups keyed by (patient, date); leaner derived facts

Revision ID: 0005
Revises: 0004

Every row an import wrote paid for a surrogate ``id`` nobody reads (a sequence value and a
B-tree of its own beside the natural key's), and every derived fact for a foreign-key check
against the patient it was derived from. Without them an import of 289,077 rows takes 0.35 s
and 0.2 s less on PostgreSQL (docs/performance.md). On PostgreSQL the facts also lose the
summary index, which only SQLite's reads use (0.2 s of an import into a 10M-session clinic).
The natural key becomes the primary key: the same index the outcome queries already walk.
SQLite stores the rows in that key's order (``WITHOUT ROWID``), which needs the table rebuilt;
PostgreSQL keeps the table and rebuilds the natural key's index as the primary key.

The table definitions below are frozen copies of the schema at this revision.
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_SESSIONS_COLUMNS = """
    patient_key INTEGER NOT NULL,
    session_date DATE NOT NULL,
    route VARCHAR(16) NOT NULL,
    dose_mg FLOAT NOT NULL,
    weight_kg FLOAT,
    pre_pain FLOAT,
    post_pain FLOAT,
    adverse_events VARCHAR(200),
    ae_duration_min FLOAT,"""
_SESSIONS_RULES = """
    CONSTRAINT ck_sessions_dose_range CHECK (dose_mg > 0 AND dose_mg <= 1000),
    CONSTRAINT ck_sessions_weight_range CHECK (weight_kg IS NULL OR (weight_kg >= 30 AND weight_kg <= 300)),
    CONSTRAINT ck_sessions_pre_pain_range CHECK (pre_pain IS NULL OR (pre_pain >= 0 AND pre_pain <= 10)),
    CONSTRAINT ck_sessions_post_pain_range CHECK (post_pain IS NULL OR (post_pain >= 0 AND post_pain <= 10)),
    CONSTRAINT ck_sessions_ae_duration_range CHECK (ae_duration_min IS NULL OR ae_duration_min >= 0),
    CONSTRAINT fk_sessions_patient_key_patients FOREIGN KEY(patient_key)
        REFERENCES patients (id) ON DELETE CASCADE"""
_FOLLOWUPS_COLUMNS = """
    patient_key INTEGER NOT NULL,
    followup_date DATE NOT NULL,
    pain FLOAT NOT NULL,
    pgic INTEGER,
    bpi_interference FLOAT,
    phq9 INTEGER,
    mme FLOAT,
    adverse_events VARCHAR(200),"""
_FOLLOWUPS_RULES = """
    CONSTRAINT ck_followups_pain_range CHECK (pain >= 0 AND pain <= 10),
    CONSTRAINT ck_followups_pgic_range CHECK (pgic IS NULL OR (pgic >= 1 AND pgic <= 7)),
    CONSTRAINT ck_followups_bpi_range CHECK (bpi_interference IS NULL OR (bpi_interference >= 0 AND bpi_interference <= 10)),
    CONSTRAINT ck_followups_phq9_range CHECK (phq9 IS NULL OR (phq9 >= 0 AND phq9 <= 27)),
    CONSTRAINT ck_followups_mme_range CHECK (mme IS NULL OR mme >= 0),
    CONSTRAINT fk_followups_patient_key_patients FOREIGN KEY(patient_key)
        REFERENCES patients (id) ON DELETE CASCADE"""
_FACTS_COLUMNS = """
    patient_key INTEGER NOT NULL,
    patient_id VARCHAR(64) NOT NULL,
    site VARCHAR(64) NOT NULL,
    condition VARCHAR(32) NOT NULL,
    sex VARCHAR(8) NOT NULL,
    age INTEGER,
    age_group VARCHAR(8) NOT NULL,
    index_date DATE,
    quarter VARCHAR(8) NOT NULL,
    n_sessions INTEGER NOT NULL,
    sessions_with_ae INTEGER NOT NULL,
    sessions_with_dissociation INTEGER NOT NULL,
    route VARCHAR(16) NOT NULL,
    baseline FLOAT,
    followup_date DATE,
    followup_day INTEGER,
    followup_pain FLOAT,
    followup_pgic INTEGER,
    evaluable INTEGER NOT NULL,
    reduction FLOAT,
    CONSTRAINT pk_patient_facts PRIMARY KEY (patient_key)"""
_FACTS_FOREIGN_KEY = """,
    CONSTRAINT fk_patient_facts_patient_key_patients FOREIGN KEY(patient_key)
        REFERENCES patients (id) ON DELETE CASCADE"""

_FACTS_INDEXES = [
    "CREATE INDEX ix_patient_facts_patient_id ON patient_facts (patient_id)",
    "CREATE INDEX ix_patient_facts_summary ON patient_facts "
    "(condition, route, evaluable, reduction, index_date, n_sessions)",
]

#: (table, date column, columns, constraints) of the two tables that change keys.
_TABLES = (
    ("sessions", "session_date", _SESSIONS_COLUMNS, _SESSIONS_RULES),
    ("followups", "followup_date", _FOLLOWUPS_COLUMNS, _FOLLOWUPS_RULES),
)


def _names(columns: str) -> str:
    """The column names of a frozen definition (its lines up to the first constraint)."""
    lines = [line.split()[0] for line in columns.strip().splitlines()]
    return ", ".join(name for name in lines if name != "CONSTRAINT")


def _rebuild_sqlite(
    table: str, definition: str, copied: str, indexes: list[str], *, without_rowid: bool, order: str = ""
) -> None:
    """Replace ``table`` by one made from ``definition`` (its body), keeping every row: the
    ``copied`` columns are carried over, in ``order``."""
    option = " WITHOUT ROWID" if without_rowid else ""
    # A copy left by an upgrade that was killed half-way under an older release (which did not
    # run migrations in one transaction) is dropped: the original table still holds every row.
    op.execute(f"DROP TABLE IF EXISTS _new_{table}")
    op.execute(f"CREATE TABLE _new_{table} ({definition}\n){option}")
    op.execute(f"INSERT INTO _new_{table} ({copied}) SELECT {copied} FROM {table}{order}")
    op.execute(f"DROP TABLE {table}")
    op.execute(f"ALTER TABLE _new_{table} RENAME TO {table}")
    for index in indexes:
        op.execute(index)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, date_column, _, _ in _TABLES:
            op.execute(f"ALTER TABLE {table} DROP COLUMN id")  # its primary key and sequence go too
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT uq_{table}_patient_key_{date_column}")
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (patient_key, {date_column})")
        op.execute("ALTER TABLE patient_facts DROP CONSTRAINT fk_patient_facts_patient_key_patients")
        op.execute("DROP INDEX ix_patient_facts_summary")  # serves SQLite's reads only (schema.py)
        return
    for table, date_column, columns, rules in _TABLES:
        _rebuild_sqlite(
            table,
            f"{columns}\n    CONSTRAINT pk_{table} PRIMARY KEY (patient_key, {date_column}),{rules}",
            _names(columns),
            [f"CREATE INDEX ix_{table}_{date_column} ON {table} ({date_column})"],
            without_rowid=True,
        )
    _rebuild_sqlite(
        "patient_facts", _FACTS_COLUMNS, _names(_FACTS_COLUMNS), _FACTS_INDEXES, without_rowid=False
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FACTS_INDEXES[1])
        op.execute(
            "ALTER TABLE patient_facts ADD CONSTRAINT fk_patient_facts_patient_key_patients "
            "FOREIGN KEY(patient_key) REFERENCES patients (id) ON DELETE CASCADE"
        )
        for table, date_column, _, _ in _TABLES:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}")
            op.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT uq_{table}_patient_key_{date_column} "
                f"UNIQUE (patient_key, {date_column})"
            )
            op.execute(f"ALTER TABLE {table} ADD COLUMN id SERIAL")
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
        return
    for table, date_column, columns, rules in _TABLES:
        _rebuild_sqlite(
            table,
            f"\n    id INTEGER NOT NULL,{columns}\n    CONSTRAINT pk_{table} PRIMARY KEY (id),"
            f"\n    CONSTRAINT uq_{table}_patient_key_{date_column} UNIQUE (patient_key, {date_column}),{rules}",
            _names(columns),
            [f"CREATE INDEX ix_{table}_{date_column} ON {table} ({date_column})"],
            without_rowid=False,
            order=f" ORDER BY patient_key, {date_column}",
        )
    _rebuild_sqlite(
        "patient_facts",
        _FACTS_COLUMNS + _FACTS_FOREIGN_KEY,
        _names(_FACTS_COLUMNS),
        _FACTS_INDEXES,
        without_rowid=False,
    )
