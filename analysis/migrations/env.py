"""Alembic environment: migrations run on the connection that ``analysis.store.migrate`` passes."""

from alembic import context

from analysis.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
