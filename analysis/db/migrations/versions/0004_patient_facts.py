"""patient facts: per-patient quantities no outcome setting changes, kept at import

Revision ID: 0004
Revises: 0003

The summary at 1M sessions scanned every session on every view (2.4 s SQLite, 1.7 s
PostgreSQL, docs/performance.md); with this table the default view reads one row per patient.
The table is filled here for data stored before this version.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_facts",
        sa.Column("patient_key", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("condition", sa.String(length=32), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("index_date", sa.Date(), nullable=True),
        sa.Column("quarter", sa.String(length=8), nullable=False),
        sa.Column("n_sessions", sa.Integer(), nullable=False),
        sa.Column("sessions_with_ae", sa.Integer(), nullable=False),
        sa.Column("sessions_with_dissociation", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=16), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=True),
        sa.Column("followup_date", sa.Date(), nullable=True),
        sa.Column("followup_day", sa.Integer(), nullable=True),
        sa.Column("followup_pain", sa.Float(), nullable=True),
        sa.Column("followup_pgic", sa.Integer(), nullable=True),
        sa.Column("evaluable", sa.Integer(), nullable=False),
        sa.Column("reduction", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_key"],
            ["patients.id"],
            name=op.f("fk_patient_facts_patient_key_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_key", name=op.f("pk_patient_facts")),
    )
    op.create_index(op.f("ix_patient_facts_patient_id"), "patient_facts", ["patient_id"])
    op.create_index(
        "ix_patient_facts_summary",
        "patient_facts",
        ["condition", "route", "evaluable", "reduction", "index_date", "n_sessions"],
    )
    from analysis.db import facts  # the one definition of how facts are derived

    facts.refresh(op.get_bind(), durability_facts=False)  # that table comes with 0009


def downgrade() -> None:
    op.drop_index("ix_patient_facts_summary", table_name="patient_facts")
    op.drop_index(op.f("ix_patient_facts_patient_id"), table_name="patient_facts")
    op.drop_table("patient_facts")
