"""The database: schema, engine and migrations, the per-patient derivation, facts, the import log.

Row work happens here, in SQL (SQLAlchemy Core), on SQLite and PostgreSQL alike.
"""
