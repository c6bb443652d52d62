"""per-condition comparators and their change log

Revision ID: 0008
Revises: 0007

``comparators`` holds the comparators a director set (docs/comparisons.md); while it has
never been changed the shipped table is used. ``comparator_changes`` logs every change (who,
when, what: the table before and after as CSV) and is append-only like the import log:
triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL). Definitions frozen here.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_MESSAGE = "the comparator change log (comparator_changes) is append-only: its rows cannot be changed or deleted"


def upgrade() -> None:
    op.create_table(
        "comparators",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("condition", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("rate", sa.Float(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=True),
        sa.Column("timepoint_days", sa.Integer(), nullable=True),
        sa.Column("citation", sa.String(length=500), nullable=False),
        sa.Column("doi_or_pmid", sa.String(length=500), nullable=True),
        sa.Column("indirect", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "kind IN ('conventional', 'placebo', 'ketamine')", name=op.f("ck_comparators_kind_vocabulary")
        ),
        sa.CheckConstraint("threshold IN (0.3, 0.5)", name=op.f("ck_comparators_threshold_values")),
        sa.CheckConstraint("rate >= 0 AND rate <= 1", name=op.f("ck_comparators_rate_range")),
        sa.CheckConstraint("indirect IN (0, 1)", name=op.f("ck_comparators_indirect_flag")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparators")),
    )
    op.create_table(
        "comparator_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.Text(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "action IN ('edit', 'upload', 'reset')", name=op.f("ck_comparator_changes_action_vocabulary")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparator_changes")),
    )
    op.create_index(
        op.f("ix_comparator_changes_changed_at"), "comparator_changes", ["changed_at"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION comparator_changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER comparator_changes_append_only BEFORE UPDATE OR DELETE ON comparator_changes "
            "FOR EACH ROW EXECUTE FUNCTION comparator_changes_append_only()"
        )
        op.execute(
            "CREATE TRIGGER comparator_changes_no_truncate BEFORE TRUNCATE ON comparator_changes "
            "FOR EACH STATEMENT EXECUTE FUNCTION comparator_changes_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER comparator_changes_no_{event.lower()} BEFORE {event} ON comparator_changes "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS comparator_changes_no_truncate ON comparator_changes")
        op.execute("DROP TRIGGER IF EXISTS comparator_changes_append_only ON comparator_changes")
        op.execute("DROP FUNCTION IF EXISTS comparator_changes_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS comparator_changes_no_update")
        op.execute("DROP TRIGGER IF EXISTS comparator_changes_no_delete")
    op.drop_index(op.f("ix_comparator_changes_changed_at"), table_name="comparator_changes")
    op.drop_table("comparator_changes")
    op.drop_table("comparators")
