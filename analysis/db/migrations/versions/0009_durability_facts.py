"""durability facts: each responder's time to loss of response at the default definition, kept at import

Revision ID: 0009
Revises: 0008

`durability --by route` at 1M sessions searched every patient's sessions and follow-ups (about
2 s of CPU on SQLite, docs/performance.md, "Durability"); with this table the default view reads
one row per responder. The table is filled here for data stored before this version.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "durability_facts",
        sa.Column("patient_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("response_days", sa.Integer(), nullable=False),
        sa.Column("response_lost", sa.Integer(), nullable=False),
        sa.Column("booster_gap", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("patient_key", name=op.f("pk_durability_facts")),
    )
    from analysis.db import facts  # the one definition of how facts are derived

    facts.refresh(op.get_bind())


def downgrade() -> None:
    op.drop_table("durability_facts")
