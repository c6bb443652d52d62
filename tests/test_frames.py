"""``analysis.db.frames.read_frame``: the frame a query gives, whichever way it is fetched.

On PostgreSQL the rows come as CSV through ``COPY … TO STDOUT``; on SQLite as the driver's
tuples. Either way the frame must hold what the database holds: floats to the last bit, text
that looks like a number or like "NA" as text, NULL as missing, and every value of an IN list.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sqlalchemy import Column, Engine, Float, Integer, MetaData, String, Table, func, insert, select

from analysis.db.frames import read_frame

ROWS = [
    {"id": 1, "label": "NA", "value": 0.1 + 0.2, "count": 3},
    {"id": 2, "label": "12", "value": 1 / 3, "count": None},
    {"id": 3, "label": None, "value": 1e-300, "count": 0},
    {"id": 4, "label": 'Trigeminal, "atypical"\nneuralgia', "value": -2.5e17 / 7, "count": 7},
    {"id": 5, "label": "null", "value": None, "count": 1},
    {"id": 6, "label": "whole", "value": 7.0, "count": 2},
]


def _table(engine: Engine) -> Table:
    table = Table(
        "frames_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("label", String(64)),
        Column("value", Float),
        Column("count", Integer),
    )
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(insert(table), ROWS)
    return table


def test_the_frame_holds_what_the_database_holds(engine: Engine) -> None:
    t = _table(engine)
    query = (
        select(t.c.id, t.c.label, t.c.value, t.c.count).where(t.c.id.in_([1, 2, 3, 4, 5])).order_by(t.c.id)
    )
    with engine.connect() as connection:
        frame = read_frame(connection, query, text=("label",))
        fetched = connection.execute(query).all()
    assert list(frame.columns) == ["id", "label", "value", "count"]
    assert frame["id"].tolist() == [1, 2, 3, 4, 5]
    labels = [None if pd.isna(v) else v for v in frame["label"]]
    assert labels == [row.label for row in fetched] == ["NA", "12", None, ROWS[3]["label"], "null"]
    # Floats to the last bit: the same doubles the driver returns.
    for got, row in zip(frame["value"], fetched, strict=True):
        assert (math.isnan(got) and row.value is None) or got == row.value
    assert frame["value"].iloc[0] == 0.1 + 0.2 and frame["value"].iloc[1] == 1 / 3
    counts = [None if pd.isna(v) else int(v) for v in frame["count"]]
    assert counts == [3, None, 0, 7, 1]


def test_an_in_list_and_a_grouped_query_read_as_executed(engine: Engine) -> None:
    t = _table(engine)
    query = (
        select(t.c.label, func.count().label("n"), func.sum(t.c.value).label("total"))
        .where(t.c.id.in_([1, 2, 4]), t.c.value > -1e300)
        .group_by(t.c.label)
    )
    with engine.connect() as connection:
        frame = read_frame(connection, query, text=("label",)).sort_values("label", ignore_index=True)
    assert frame["label"].tolist() == ["12", "NA", ROWS[3]["label"]]
    assert frame["n"].tolist() == [1, 1, 1]
    assert np.array_equal(frame["total"].to_numpy(), np.array([1 / 3, 0.1 + 0.2, -2.5e17 / 7]))


def test_no_rows_give_an_empty_frame_with_the_columns(engine: Engine) -> None:
    t = _table(engine)
    query = select(t.c.label, t.c.value).where(t.c.id > 99)
    with engine.connect() as connection:
        frame = read_frame(connection, query, text=("label",))
    assert frame.empty and list(frame.columns) == ["label", "value"]
    assert frame["value"].dtype == np.float64


def test_a_float_column_of_whole_numbers_stays_float(engine: Engine) -> None:
    """PostgreSQL writes 7.0 as "7" in CSV; the frame has the float the driver gives."""
    t = _table(engine)
    query = select(t.c.value, t.c.count).where(t.c.id == 6)
    with engine.connect() as connection:
        frame = read_frame(connection, query)
    assert frame["value"].dtype == np.float64 and frame["value"].tolist() == [7.0]
    assert frame["count"].tolist() == [2]
