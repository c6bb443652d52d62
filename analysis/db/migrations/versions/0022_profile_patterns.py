"""profile patterns: the response profile's patients per pattern, kept at import

Revision ID: 0022
Revises: 0021

`profile` grouped every eligible patient into patterns of baseline characteristics on each run:
at 10M sessions on PostgreSQL 1.3M patients into 347,322 patterns, most of its 4.6 s against a
2 s target (docs/performance.md, "Profile patterns kept"). The patterns of the default view are
now kept in `profile_patterns` and changed by every import with the outcomes beyond pain
(analysis.db.profile_cells). The table is derived data: made here and counted from the facts,
with the cells, whose fingerprint now covers the patterns' rules. The downgrade drops it and
forgets the cells' state, so that the older code counts its cells afresh at its next refresh.
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_patterns",
        sa.Column("condition", sa.String(length=32), nullable=False),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("age", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("mme_positive", sa.Integer(), nullable=False),
        sa.Column("phq9_high", sa.Integer(), nullable=False),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("with_followup", sa.Integer(), nullable=False),
        sa.Column("responders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "condition",
            "route",
            "baseline",
            "age",
            "sex",
            "mme_positive",
            "phq9_high",
            name=op.f("pk_profile_patterns"),
        ),
    )
    from analysis.db.secondary_cells import Recount

    recount = Recount(op.get_bind(), None)
    recount.before()
    recount.after()


def downgrade() -> None:
    op.drop_table("profile_patterns")
    op.execute("DELETE FROM secondary_cells_state")
