"""follow-up days: each follow-up by its day since the index date, kept at import

Revision ID: 0013
Revises: 0012

At a time point other than the facts' own, every follow-up was joined to its patient's index date
to know its day before the nearest could be ranked (1.66 s of the 3.4 s of
`summary --timepoint 180` at 10M sessions on PostgreSQL); this table keeps the day, so the window
is a range of one narrow table (docs/performance.md, "Follow-up days"). Filled here for the data
stored before this version.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "followup_days",
        sa.Column("patient_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("followup_date", sa.Date(), nullable=False),
        sa.Column("pain", sa.Float(), nullable=False),
        sa.Column("pgic", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("patient_key", "day", name=op.f("pk_followup_days")),
        sqlite_with_rowid=False,
    )
    from analysis.db import followup_days  # the one definition of how the days are derived

    followup_days.refresh(op.get_bind())


def downgrade() -> None:
    op.drop_table("followup_days")
