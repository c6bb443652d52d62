"""secondary cells settled by quarter: the kept outcomes beyond pain answer earlier cut-offs

Revision ID: 0021
Revises: 0020

`secondary --cutoff` (a report "as of the end of last quarter") counted 28 rules and four change
histograms over every eligible patient, derived as of the cut-off: 6.8–8.5 s at 10M sessions on
PostgreSQL, against 2 s (docs/performance.md, "Settled by quarter"). Each row of
`secondary_cells` and `secondary_changes` now keeps the calendar quarter by whose end its
patients were settled (`settled_by`), so that an earlier cut-off adds up the quarters ended by
then and counts only the patients settled later from the facts; an index on
`patient_facts.index_date` finds those. The cells are derived data: made again in their new
shape and counted from the facts. The downgrade makes the old shape empty and forgets the
state row, so that the older code counts the cells afresh at its next refresh and computes the
view from the facts until then.
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def _create(with_quarters: bool) -> None:
    from analysis.db import schema  # the one list of counts

    quarter = [sa.Column("settled_by", sa.String(length=8), nullable=False)] if with_quarters else []
    keys = ["grouping", "group_key", *(["settled_by"] if with_quarters else [])]
    op.create_table(
        "secondary_cells",
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        *quarter,
        sa.Column("patients", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in schema.BEYOND_PAIN_COUNTS],
    )
    op.create_index(op.f(f"ix_secondary_cells_{'_'.join(keys)}"), "secondary_cells", keys)
    op.create_table(
        "secondary_changes",
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("group_key", sa.String(length=64), nullable=False),
        *[sa.Column(c.name, c.type, nullable=False) for c in quarter],
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("patients", sa.Integer(), nullable=False),
    )
    changes = [*keys, "kind", "value"] if with_quarters else keys  # the whole key (schema.py)
    op.create_index(op.f(f"ix_secondary_changes_{'_'.join(changes)}"), "secondary_changes", changes)


def _drop() -> None:
    op.drop_table("secondary_changes")  # their indexes go with them
    op.drop_table("secondary_cells")


def upgrade() -> None:
    _drop()
    _create(with_quarters=True)
    op.create_index(op.f("ix_patient_facts_index_date"), "patient_facts", ["index_date"])
    op.execute("ANALYZE patient_facts")
    from analysis.db.secondary_cells import Recount

    recount = Recount(op.get_bind(), None)
    recount.before()
    recount.after()


def downgrade() -> None:
    op.drop_index(op.f("ix_patient_facts_index_date"), table_name="patient_facts")
    _drop()
    _create(with_quarters=False)
    op.execute("DELETE FROM secondary_cells_state")
