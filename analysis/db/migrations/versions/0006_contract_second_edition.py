"""import contract, second edition: baselines of mood, function and headache days; end of care

Revision ID: 0006
Revises: 0005

New optional columns (docs/contract.md): ``patients.baseline_phq9``,
``baseline_bpi_interference``, ``baseline_headache_days``, ``end_date``, ``end_reason`` and
``followups.headache_days``. Every stored row is kept; the new columns start empty. Each column
is added with its range CHECK in one ``ALTER TABLE … ADD COLUMN``, which SQLite and PostgreSQL
both accept without rebuilding the table (SQLite tables stay ``WITHOUT ROWID``). The column
definitions are frozen here: later changes to the contract need a migration of their own.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS: tuple[tuple[str, str, str], ...] = (
    (
        "patients",
        "baseline_phq9",
        "INTEGER CONSTRAINT ck_patients_baseline_phq9_range "
        "CHECK (baseline_phq9 IS NULL OR (baseline_phq9 >= 0 AND baseline_phq9 <= 27))",
    ),
    (
        "patients",
        "baseline_bpi_interference",
        "FLOAT CONSTRAINT ck_patients_baseline_bpi_range CHECK (baseline_bpi_interference IS NULL OR "
        "(baseline_bpi_interference >= 0 AND baseline_bpi_interference <= 10))",
    ),
    (
        "patients",
        "baseline_headache_days",
        "INTEGER CONSTRAINT ck_patients_baseline_headache_days_range CHECK (baseline_headache_days IS NULL "
        "OR (baseline_headache_days >= 0 AND baseline_headache_days <= 31))",
    ),
    ("patients", "end_date", "DATE"),
    ("patients", "end_reason", "VARCHAR(24)"),
    (
        "followups",
        "headache_days",
        "INTEGER CONSTRAINT ck_followups_headache_days_range "
        "CHECK (headache_days IS NULL OR (headache_days >= 0 AND headache_days <= 31))",
    ),
)


def upgrade() -> None:
    for table, column, definition in _COLUMNS:
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def downgrade() -> None:
    # SQLite (3.35+) drops a column with a column-level CHECK; PostgreSQL drops its constraint too.
    for table, column, _ in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
