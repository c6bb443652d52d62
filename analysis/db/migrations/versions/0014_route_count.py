"""route count: how many routes each patient's sessions used, in the facts, for earlier cut-offs

Revision ID: 0014
Revises: 0013

As of an earlier cut-off, the route of a patient whose care straddles it was found by counting
every one of their sessions up to the cut-off (3.0 s of `compare --cutoff` at 10M sessions on
PostgreSQL). A patient whose sessions all used one route had that route then as now, so only the
patients with two or more routes need their sessions counted (docs/performance.md, "Only the
columns asked for"). Filled here from the stored sessions.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patient_facts") as batch:
        batch.add_column(sa.Column("n_routes", sa.Integer(), nullable=True))
    facts = sa.table("patient_facts", sa.column("patient_key", sa.Integer), sa.column("n_routes", sa.Integer))
    sessions = sa.table("sessions", sa.column("patient_key", sa.Integer), sa.column("route", sa.String))
    op.get_bind().execute(
        sa.update(facts).values(
            n_routes=sa.select(sa.func.count(sa.distinct(sessions.c.route)))
            .where(sessions.c.patient_key == facts.c.patient_key)
            .scalar_subquery()
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("patient_facts") as batch:
        batch.drop_column("n_routes")
