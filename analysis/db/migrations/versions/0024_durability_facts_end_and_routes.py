"""end of care and routes in the durability facts; booster medians read from the index

Revision ID: 0024
Revises: 0023

`durability --cutoff` at 10M sessions on PostgreSQL took 2.5 s (target 2 s). Its unsettled
responders (a session or follow-up after the cut-off) came from `patient_facts` joined to
`durability_facts` for two more columns — the end of care, which bounds the last day, and the
number of routes, which tells whose route as of the cut-off can differ — and each one's booster
median as of their last date was a search of `booster_gaps` that read the table's row for one
column (docs/performance.md, "Durability as of a cut-off, from the kept rows alone"):

- `durability_facts` now keeps `end_date` and `n_routes`, copied from `patient_facts` by every
  refresh; filled here from the stored facts;
- on PostgreSQL the primary key of `booster_gaps` carries `median_gap` (`INCLUDE`), so that the
  search is answered from the index alone. SQLite keeps the table in its key's order already
  (`WITHOUT ROWID`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_COPIED = (("end_date", sa.Date), ("n_routes", sa.Integer))


def _booster_key(include: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE booster_gaps DROP CONSTRAINT pk_booster_gaps")
    op.execute(
        "ALTER TABLE booster_gaps ADD CONSTRAINT pk_booster_gaps PRIMARY KEY (patient_key, session_date)"
        + (" INCLUDE (median_gap)" if include else "")
    )


def upgrade() -> None:
    with op.batch_alter_table("durability_facts") as batch:
        for name, kind in _COPIED:
            batch.add_column(sa.Column(name, kind(), nullable=True))
    kept = sa.table(
        "durability_facts", sa.column("patient_key", sa.Integer), *[sa.column(n, k) for n, k in _COPIED]
    )
    facts = sa.table(
        "patient_facts", sa.column("patient_key", sa.Integer), *[sa.column(n, k) for n, k in _COPIED]
    )
    # One UPDATE … FROM (SQLite ≥ 3.33), as 0016 and 0017.
    op.get_bind().execute(
        sa.update(kept)
        .values({name: facts.c[name] for name, _ in _COPIED})
        .where(kept.c.patient_key == facts.c.patient_key)
    )
    _booster_key(include=True)


def downgrade() -> None:
    _booster_key(include=False)
    with op.batch_alter_table("durability_facts") as batch:
        for name, _ in reversed(_COPIED):
            batch.drop_column(name)
