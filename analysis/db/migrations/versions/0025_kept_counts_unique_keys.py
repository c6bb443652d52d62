"""the kept counts' keys unique, so that an import adds to them with one upsert

Revision ID: 0025
Revises: 0024

An import adds its sums to the kept counts of the outcomes beyond pain (`secondary_cells`,
`secondary_changes`) with `INSERT … ON CONFLICT (key) DO UPDATE`, which needs a unique index on
the key (docs/performance.md, "Thirteenth session: the kept counts"). Each table already has an
index on its whole key, and every refresh keeps one row per key; the index becomes unique. The
profile's patterns (`profile_patterns`) have a primary key already.

On PostgreSQL the change histograms and the profile's patterns, whose rows an import changes in
place (86,668 and 25,156 rows of an import into the 10M clinic), keep 40 % of each page free
(`fillfactor` 60), so that a changed row's new version fits on its page and needs no new index
entry (a "HOT" update): the upsert of the changes took 1.3–1.9 s instead of 2.4–2.7 s. The
tables are rewritten in their key's order (`CLUSTER`) for their stored pages to get that room.
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_KEYS = {
    "secondary_cells": ["timepoint", "grouping", "group_key", "settled_by"],
    "secondary_changes": ["timepoint", "grouping", "group_key", "settled_by", "kind", "value"],
}


#: The tables whose rows an import changes in place (schema.py: ``postgresql_with``).
_ROOM_FOR_UPDATES = {"secondary_changes": 60, "profile_patterns": 60}


def _key_index(unique: bool) -> None:
    inspector = sa.inspect(op.get_bind())
    for table, keys in _KEYS.items():
        for index in inspector.get_indexes(table):
            if list(index["column_names"]) == keys:
                op.drop_index(index["name"], table_name=table)
        # op.f: the name as the tables were created with it (PostgreSQL shortens the long one).
        op.create_index(op.f(f"ix_{table}_{'_'.join(keys)}"), table, keys, unique=unique)


def _room_for_updates(keep: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    inspector = sa.inspect(bind)
    for table, fillfactor in _ROOM_FOR_UPDATES.items():
        if not keep:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
            continue
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {fillfactor})")
        key = inspector.get_pk_constraint(table).get("name") or next(
            index["name"] for index in inspector.get_indexes(table) if index["unique"]
        )
        op.execute(f'CLUSTER {table} USING "{key}"')  # the stored pages get the room too


def upgrade() -> None:
    _key_index(unique=True)
    _room_for_updates(keep=True)


def downgrade() -> None:
    _room_for_updates(keep=False)
    _key_index(unique=False)
