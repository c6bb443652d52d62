"""durability facts at 50 %: kept per threshold, at 30 % and at 50 %

Revision ID: 0018
Revises: 0017

`durability --threshold 0.5` (IMMPACT's substantial reduction, the second threshold a clinic
reports) ran the durability rules for every patient whose lowest pain is a response: at 10M
sessions on PostgreSQL 6.6 s, against 0.4 s for the default 30 % read from `durability_facts`
(docs/performance.md, "Durability at 50 %, kept"). The table now keeps one row per patient and
kept threshold (`threshold_pct`, 30 or 50; `analysis.db.schema.FACTS_THRESHOLDS`). The rows are
derived data: the table is made again in its new shape and filled from the stored facts and
pain days (as 0009 did), for both thresholds; the downgrade makes the old shape and keeps 30 %.
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _create(with_threshold: bool) -> None:
    key = ["patient_key", "threshold_pct"] if with_threshold else ["patient_key"]
    op.create_table(
        "durability_facts",
        sa.Column("patient_key", sa.Integer(), autoincrement=False, nullable=False),
        *(
            [sa.Column("threshold_pct", sa.Integer(), autoincrement=False, nullable=False)]
            if with_threshold
            else []
        ),
        sa.Column("response_days", sa.Integer(), nullable=False),
        sa.Column("response_lost", sa.Integer(), nullable=False),
        sa.Column("booster_gap", sa.Float(), nullable=True),
        *([sa.Column("onset_day", sa.Integer(), nullable=False)] if with_threshold else []),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("condition", sa.String(length=32), nullable=True),
        sa.Column("route", sa.String(length=16), nullable=True),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("age_group", sa.String(length=8), nullable=True),
        sa.Column("index_date", sa.Date(), nullable=True),
        sa.Column("last_session_date", sa.Date(), nullable=True),
        sa.Column("last_followup_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_durability_facts")),
    )
    from analysis.db import facts  # the one definition of how facts are derived

    facts.refresh_durability(op.get_bind())
    # A table made afresh has no statistics until autovacuum comes by: PostgreSQL planned the
    # first `durability --cutoff` at 10M for 611 rows and ran it for over 11 minutes.
    op.execute("ANALYZE durability_facts")


def upgrade() -> None:
    op.drop_table("durability_facts")
    _create(with_threshold=True)


def downgrade() -> None:
    op.drop_table("durability_facts")
    _create(with_threshold=False)
