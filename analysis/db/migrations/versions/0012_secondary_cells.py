"""secondary cells and changes: the default view of the outcomes beyond pain, counted at import

Revision ID: 0012
Revises: 0011

`secondary --by condition` at 10M sessions on PostgreSQL counted 28 rules over 1.5M eligible
patients and four change histograms (4.6 s, against 2 s); these tables keep the default view
already counted per breakdown and group, changed at each import by what it changed
(docs/performance.md, "Beyond pain, counted at import"). Counted here for the data stored
before this version.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from analysis.db import schema  # the one list of counts

    op.create_table(
        "secondary_cells",
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("patients", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in schema.BEYOND_PAIN_COUNTS],
    )
    op.create_index(op.f("ix_secondary_cells_grouping_group_key"), "secondary_cells", ["grouping", "group_key"])
    op.create_table(
        "secondary_changes",
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("patients", sa.Integer(), nullable=False),
    )
    op.create_index(
        op.f("ix_secondary_changes_grouping_group_key"), "secondary_changes", ["grouping", "group_key"]
    )
    op.create_table(
        "secondary_cells_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secondary_cells_state")),
    )
    from analysis.db.secondary_cells import Recount

    recount = Recount(op.get_bind(), None)
    recount.before()
    recount.after()


def downgrade() -> None:
    op.drop_table("secondary_cells_state")
    op.drop_index(op.f("ix_secondary_changes_grouping_group_key"), table_name="secondary_changes")
    op.drop_table("secondary_changes")
    op.drop_index(op.f("ix_secondary_cells_grouping_group_key"), table_name="secondary_cells")
    op.drop_table("secondary_cells")
