"""route count and follow-up measures: for earlier cut-offs and other time points

Revision ID: 0014
Revises: 0013

As of an earlier cut-off, the route of a patient whose care straddles it was found by counting
every one of their sessions up to the cut-off (3.0 s of `compare --cutoff` at 10M sessions on
PostgreSQL). A patient whose sessions all used one route had that route then as now, so
`patient_facts.n_routes` keeps how many routes each patient's sessions used, and only the
patients with two or more need their sessions counted.

At a time point other than the facts' own, the outcomes beyond pain joined every follow-up to its
patient's index date to rank it; `followup_days` now keeps the other measures (MME, PHQ-9, BPI
interference, headache days) beside pain and PGIC, so they are ranked there as pain is
(docs/performance.md, "Only the columns asked for"). Both filled here from the stored rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_MEASURES = (
    ("mme", sa.Float()),
    ("phq9", sa.Integer()),
    ("bpi_interference", sa.Float()),
    ("headache_days", sa.Integer()),
)


def upgrade() -> None:
    with op.batch_alter_table("patient_facts") as batch:
        batch.add_column(sa.Column("n_routes", sa.Integer(), nullable=True))
    with op.batch_alter_table("followup_days") as batch:
        for name, type_ in _MEASURES:
            batch.add_column(sa.Column(name, type_, nullable=True))
    facts = sa.table("patient_facts", sa.column("patient_key", sa.Integer), sa.column("n_routes", sa.Integer))
    sessions = sa.table("sessions", sa.column("patient_key", sa.Integer), sa.column("route", sa.String))
    op.get_bind().execute(
        sa.update(facts).values(
            n_routes=sa.select(sa.func.count(sa.distinct(sessions.c.route)))
            .where(sessions.c.patient_key == facts.c.patient_key)
            .scalar_subquery()
        )
    )
    from analysis.db import followup_days  # the one definition of how the days are derived

    followup_days.refresh(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("followup_days") as batch:
        for name, _ in reversed(_MEASURES):
            batch.drop_column(name)
    with op.batch_alter_table("patient_facts") as batch:
        batch.drop_column("n_routes")
