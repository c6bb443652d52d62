"""booster medians: each kept booster gap with the patient's median gap up to it

Revision ID: 0020
Revises: 0019

`durability --cutoff` ranked the kept booster gaps of the responders with a session after the
cut-off to find each one's median as of the cut-off: at 10M sessions on PostgreSQL 832,070 gaps
of 164,033 patients read by index, sorted, ranked and averaged, 1.4 s of a 3.3 s statement
(docs/performance.md, "Booster medians kept"). Each `booster_gaps` row now keeps
`median_gap`, the median of the patient's gaps up to and including it, so the median as of a
last date is one search. The rows are derived data: the table is made again in its new shape
and filled from the stored sessions and facts (as 0018 did); the downgrade makes the old shape.
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _create(with_medians: bool) -> None:
    op.create_table(
        "booster_gaps",
        sa.Column("patient_key", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("session_date", sa.Date(), nullable=False),
        sa.Column("gap", sa.Integer(), nullable=False),
        *([sa.Column("median_gap", sa.Float(), nullable=False)] if with_medians else []),
        sa.PrimaryKeyConstraint("patient_key", "session_date", name=op.f("pk_booster_gaps")),
        sqlite_with_rowid=False,
    )
    from analysis.db import booster_gaps  # the one definition of how the gaps are derived

    booster_gaps.refresh(op.get_bind())
    op.execute("ANALYZE booster_gaps")  # a new table has no statistics until autovacuum comes by


def upgrade() -> None:
    op.drop_table("booster_gaps")
    _create(with_medians=True)


def downgrade() -> None:
    op.drop_table("booster_gaps")
    _create(with_medians=False)
