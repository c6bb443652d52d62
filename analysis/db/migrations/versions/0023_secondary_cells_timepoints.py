"""secondary cells at the time points clinics report: 90 days (the facts') and 180 days

Revision ID: 0023
Revises: 0022

`secondary --timepoint 180` ranked every eligible patient's follow-ups and counted 28 rules and
four change histograms over them: 7.0–7.4 s at 10M sessions on PostgreSQL, against 2 s
(docs/performance.md, "Outcomes beyond pain at six months, kept"). The cells now keep a
`timepoint` column, and count the view at 180 days (the default window and threshold, the data
cut-off) beside the default one. The cells are derived data: made again in their new shape and
counted from the facts. The downgrade makes the old shape empty and forgets the state row, so
that the older code counts the cells afresh at its next refresh.
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def _create(with_timepoint: bool) -> None:
    from analysis.db import schema  # the one list of counts

    timepoint = [sa.Column("timepoint", sa.Integer(), nullable=False)] if with_timepoint else []
    keys = [*(["timepoint"] if with_timepoint else []), "grouping", "group_key", "settled_by"]
    op.create_table(
        "secondary_cells",
        *timepoint,
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("settled_by", sa.String(length=8), nullable=False),
        sa.Column("patients", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in schema.BEYOND_PAIN_COUNTS],
    )
    op.create_index(op.f(f"ix_secondary_cells_{'_'.join(keys)}"), "secondary_cells", keys)
    op.create_table(
        "secondary_changes",
        *[sa.Column(c.name, c.type, nullable=False) for c in timepoint],
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        sa.Column("settled_by", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("patients", sa.Integer(), nullable=False),
    )
    changes = [*keys, "kind", "value"]  # the whole key (schema.py)
    op.create_index(op.f(f"ix_secondary_changes_{'_'.join(changes)}"), "secondary_changes", changes)


def _drop() -> None:
    op.drop_table("secondary_changes")  # their indexes go with them
    op.drop_table("secondary_cells")


def upgrade() -> None:
    _drop()
    _create(with_timepoint=True)
    from analysis.db.secondary_cells import Recount

    recount = Recount(op.get_bind(), None)
    recount.before()
    recount.after()


def downgrade() -> None:
    _drop()
    _create(with_timepoint=False)
    op.execute("DELETE FROM secondary_cells_state")
