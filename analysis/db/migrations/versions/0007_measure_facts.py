"""measure facts: the outcomes beyond pain per patient, kept at import

Revision ID: 0007
Revises: 0006

``secondary`` at the default view joined every eligible patient to ``patients`` and scanned the
follow-ups in the window for each measure; this table keeps, per patient, the four baselines and
each measure's value at the follow-up that counts for it (default time point and window), so
that the default view reads one row per patient (docs/performance.md). Filled here for the data
stored before this version; derived and refreshed by :mod:`analysis.db.measures`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "measure_facts",
        sa.Column("patient_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("baseline_mme", sa.Float(), nullable=True),
        sa.Column("baseline_phq9", sa.Integer(), nullable=True),
        sa.Column("baseline_bpi_interference", sa.Float(), nullable=True),
        sa.Column("baseline_headache_days", sa.Integer(), nullable=True),
        sa.Column("pgic", sa.Integer(), nullable=True),
        sa.Column("mme", sa.Float(), nullable=True),
        sa.Column("phq9", sa.Integer(), nullable=True),
        sa.Column("bpi_interference", sa.Float(), nullable=True),
        sa.Column("headache_days", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("patient_key", name=op.f("pk_measure_facts")),
    )
    from analysis.db import measures  # the one definition of how the measures are derived

    measures.refresh_facts(op.get_bind())


def downgrade() -> None:
    op.drop_table("measure_facts")
