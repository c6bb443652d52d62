"""import audit: the append-only import log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:18:08.277051

One row per import attempt (applied or refused): who, when, from where, which files (name,
SHA-256, size) and the counts written. Triggers refuse UPDATE and DELETE on the table (and
TRUNCATE on PostgreSQL), so that the log cannot be edited or emptied through the app's own
connection; removing the triggers takes a deliberate schema change.
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_MESSAGE = "the import log (imports) is append-only: its rows cannot be changed or deleted"


def upgrade() -> None:
    op.create_table('imports',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('files', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('counts', sa.Text(), nullable=False),
    sa.Column('problem_count', sa.Integer(), server_default='0', nullable=False),
    sa.CheckConstraint("source IN ('cli', 'app', 'demo')", name=op.f('ck_imports_source_vocabulary')),
    sa.CheckConstraint("status IN ('applied', 'refused')", name=op.f('ck_imports_status_vocabulary')),
    sa.CheckConstraint('problem_count >= 0', name=op.f('ck_imports_problem_count_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imports'))
    )
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imports_imported_at'), ['imported_at'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        op.execute(
            "CREATE FUNCTION imports_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER imports_append_only BEFORE UPDATE OR DELETE ON imports "
            "FOR EACH ROW EXECUTE FUNCTION imports_append_only()"
        )
        op.execute(
            "CREATE TRIGGER imports_no_truncate BEFORE TRUNCATE ON imports "
            "FOR EACH STATEMENT EXECUTE FUNCTION imports_append_only()"
        )
    else:
        for event in ('UPDATE', 'DELETE'):
            op.execute(
                f"CREATE TRIGGER imports_no_{event.lower()} BEFORE {event} ON imports "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS imports_no_truncate ON imports")
        op.execute("DROP TRIGGER IF EXISTS imports_append_only ON imports")
        op.execute("DROP FUNCTION IF EXISTS imports_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS imports_no_update")
        op.execute("DROP TRIGGER IF EXISTS imports_no_delete")
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imports_imported_at'))

    op.drop_table('imports')
