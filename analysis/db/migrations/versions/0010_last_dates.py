"""last dates: each patient's last session and follow-up in the facts, for earlier cut-offs

Revision ID: 0010
Revises: 0009

An analysis "as of" an earlier cut-off ran the per-patient derivation over every stored session
and follow-up (≈ 20 s at 10M sessions on PostgreSQL, docs/performance.md, "Earlier cut-offs").
A patient with no session or follow-up after the cut-off has the same facts then as now, so
with these two dates only the patients whose care straddles the cut-off are derived from their
rows. Filled here from the stored rows by the primary keys (one range search per patient).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patient_facts") as batch:
        batch.add_column(sa.Column("last_session_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("last_followup_date", sa.Date(), nullable=True))
    facts = sa.table(
        "patient_facts",
        sa.column("patient_key", sa.Integer),
        sa.column("last_session_date", sa.Date),
        sa.column("last_followup_date", sa.Date),
    )
    sessions = sa.table("sessions", sa.column("patient_key", sa.Integer), sa.column("session_date", sa.Date))
    followups = sa.table(
        "followups", sa.column("patient_key", sa.Integer), sa.column("followup_date", sa.Date)
    )
    op.get_bind().execute(
        sa.update(facts).values(
            last_session_date=sa.select(sa.func.max(sessions.c.session_date))
            .where(sessions.c.patient_key == facts.c.patient_key)
            .scalar_subquery(),
            last_followup_date=sa.select(sa.func.max(followups.c.followup_date))
            .where(followups.c.patient_key == facts.c.patient_key)
            .scalar_subquery(),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("patient_facts") as batch:
        batch.drop_column("last_followup_date")
        batch.drop_column("last_session_date")
