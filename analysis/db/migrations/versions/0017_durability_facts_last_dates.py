"""last dates in the durability facts: an earlier cut-off reads one table for settled patients

Revision ID: 0017
Revises: 0016

`durability --cutoff` reads the patients whose kept durability is theirs as of the cut-off
(no session and no follow-up after it) from `durability_facts`, and joined it to
`patient_facts` for two columns, each patient's last session and last follow-up date: at 10M
sessions a scan of 1.1M facts rows and a hash join with 667,551 kept rows, ~0.9 s
(docs/performance.md, "Durability facts keep the last dates"). `durability_facts` now keeps
both, copied from `patient_facts` by every refresh. Filled here from the stored facts.
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("durability_facts") as batch:
        batch.add_column(sa.Column("last_session_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("last_followup_date", sa.Date(), nullable=True))
    kept = sa.table(
        "durability_facts",
        sa.column("patient_key", sa.Integer),
        sa.column("last_session_date", sa.Date),
        sa.column("last_followup_date", sa.Date),
    )
    facts = sa.table(
        "patient_facts",
        sa.column("patient_key", sa.Integer),
        sa.column("last_session_date", sa.Date),
        sa.column("last_followup_date", sa.Date),
    )
    # One UPDATE … FROM (SQLite ≥ 3.33), as 0016.
    op.get_bind().execute(
        sa.update(kept)
        .values(last_session_date=facts.c.last_session_date, last_followup_date=facts.c.last_followup_date)
        .where(kept.c.patient_key == facts.c.patient_key)
    )


def downgrade() -> None:
    with op.batch_alter_table("durability_facts") as batch:
        batch.drop_column("last_followup_date")
        batch.drop_column("last_session_date")
