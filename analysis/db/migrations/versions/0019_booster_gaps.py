"""booster gaps: each maintenance session's gap to the previous one, kept at import

Revision ID: 0019
Revises: 0018

`durability --cutoff` ranked the booster gaps of the responders with a session after the
cut-off from their sessions: at 10M sessions on PostgreSQL 977,543 sessions read by index,
sorted, their gaps taken (a window over each patient's sessions), ranked and counted, ~2.5 s
(docs/performance.md, "Booster gaps kept"). `booster_gaps` keeps each maintenance session's gap
to the patient's previous one, so the gaps as of a cut-off are a range of kept rows. Filled here
from the stored sessions and facts.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booster_gaps",
        sa.Column("patient_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("session_date", sa.Date(), nullable=False),
        sa.Column("gap", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("patient_key", "session_date", name=op.f("pk_booster_gaps")),
        sqlite_with_rowid=False,
    )
    from analysis.db import booster_gaps  # the one definition of how the gaps are derived

    booster_gaps.refresh(op.get_bind())
    op.execute("ANALYZE booster_gaps")  # a new table has no statistics until autovacuum comes by


def downgrade() -> None:
    op.drop_table("booster_gaps")
