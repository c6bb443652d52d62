"""durability inputs: pain days and per-patient inputs, kept at import

Revision ID: 0015
Revises: 0014

Durability at any setting other than the kept facts' own ran its rules over the sessions and
follow-ups: two range searches per question, each session checked for a follow-up on its day,
every row's day computed from the index date, and the gaps between every responder's sessions
ranked (31 s for `durability --threshold 0.5` at 10M sessions on PostgreSQL). `pain_days` keeps
the measurements merged, one per day since the index date, so each question is one range search
of one narrow table. `durability_inputs` keeps per patient what else the rules read: the end of
care, the last session date, the lowest pain (a patient whose lowest pain is no response at a
threshold is not searched) and the median gap between maintenance sessions, which no threshold
or window changes (docs/performance.md, "Pain days"). Both filled here from the stored rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pain_days",
        sa.Column("patient_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pain", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("patient_key", "day", name=op.f("pk_pain_days")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "durability_inputs",
        sa.Column("patient_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("last_session_date", sa.Date(), nullable=True),
        sa.Column("lowest_pain", sa.Float(), nullable=True),
        sa.Column("booster_gap", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("patient_key", name=op.f("pk_durability_inputs")),
    )
    # The one definition of how each is derived.
    from analysis.db import durability, pain_days

    pain_days.refresh(op.get_bind())
    durability.refresh_inputs(op.get_bind())


def downgrade() -> None:
    op.drop_table("durability_inputs")
    op.drop_table("pain_days")
