"""Alembic environment: migrations run on the connection that ``analysis.db.store.migrate`` passes."""

from alembic import context

from analysis.db.schema import made_on, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_object=lambda _, name, kind, *__: made_on(connection.dialect.name, name, kind),
)
with context.begin_transaction():
    context.run_migrations()
