"""durability cohort columns: the breakdown and filter columns copied into durability_facts

Revision ID: 0011
Revises: 0010

The default durability view joined durability_facts to patient_facts for the route, condition and
the cohort filter: 2 s at 10M sessions on PostgreSQL (docs/performance.md, "Durability"). With
the six columns copied, it scans durability_facts alone. Filled here from patient_facts.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = {
    "site": sa.String(64),
    "condition": sa.String(32),
    "route": sa.String(16),
    "sex": sa.String(8),
    "age_group": sa.String(8),
    "index_date": sa.Date(),
}


def upgrade() -> None:
    with op.batch_alter_table("durability_facts") as batch:
        for name, kind in _COLUMNS.items():
            batch.add_column(sa.Column(name, kind, nullable=True))
    lasting = sa.table("durability_facts", sa.column("patient_key", sa.Integer), *(sa.column(n) for n in _COLUMNS))
    facts = sa.table("patient_facts", sa.column("patient_key", sa.Integer), *(sa.column(n) for n in _COLUMNS))
    op.get_bind().execute(
        sa.update(lasting)
        .values({name: facts.c[name] for name in _COLUMNS})
        .where(lasting.c.patient_key == facts.c.patient_key)
    )


def downgrade() -> None:
    with op.batch_alter_table("durability_facts") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
