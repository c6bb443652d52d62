"""A query's result as a pandas frame: text and numbers, up to a few hundred thousand rows.

The models of ``compare`` and ``profile`` fit to one row per covariate pattern: 347,322 rows
at 10M sessions for the profile. Fetched through the driver, every value of every row is a
Python object first; the profile's patterns took 190 MB that way, and the process did not
give the memory back after the frame was built (docs/performance.md, "Profile at 10M"). So
on PostgreSQL the rows come as CSV (``COPY (query) TO STDOUT``: 13 MB for those patterns) and
pandas' C parser reads them into columns, with no Python object per value. SQLite has no
``COPY``; its rows come in chunks of plain tuples.

Numbers read back exactly: PostgreSQL writes floats with the fewest digits that round-trip
(``extra_float_digits`` 1, its default since version 12, set for the statement) and pandas'
parser reads them back to the same double (one converter for every mode since pandas 3.1;
``tests/test_frames.py`` holds it to the driver's values); a float column stays float even
where every value is whole. Text columns must be named in ``text``: they are read as pandas
strings (no Python object per value either), an empty field as missing (SQL NULL; the import
contract stores no empty text) and nothing else as missing: a site called "NA" stays
"NA", and a site called "12" stays text.
"""

from __future__ import annotations

import io
from collections.abc import Collection
from typing import Any

import pandas as pd
import pyarrow
from sqlalchemy import Connection, Float, Select

#: Rows fetched at a time on SQLite (a few MB of Python tuples each).
FETCH_ROWS = 50_000


def read_frame(connection: Connection, query: Select[Any], *, text: Collection[str] = ()) -> pd.DataFrame:
    """The rows of ``query`` as a frame with its column names; ``text``: its text columns."""
    names = [column.name for column in query.selected_columns]
    if connection.dialect.name == "postgresql":
        return _copied(connection, query, names, text)
    cursor = connection.execute(query).cursor
    # The driver's plain tuples, not Rows: pandas probes each SQLAlchemy Row with hasattr, which
    # Row answers by raising and catching an exception (0.9 s for 90,000 patterns).
    chunks = [pd.DataFrame(rows, columns=names) for rows in iter(lambda: cursor.fetchmany(FETCH_ROWS), [])]
    if not chunks:
        return _empty(names, text)
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def _empty(names: list[str], text: Collection[str]) -> pd.DataFrame:
    """No rows: the columns, text as strings and the rest as floats, however they were fetched."""
    return pd.DataFrame({name: pd.Series(dtype="str" if name in text else "float64") for name in names})


def _copied(
    connection: Connection, query: Select[Any], names: list[str], text: Collection[str]
) -> pd.DataFrame:
    # Expanding parameters (IN lists) rendered as one parameter each, as execute() would.
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    buffer = io.BytesIO()
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        # Shortest exact floats whatever the server's or database's setting (the default, 1,
        # since PostgreSQL 12); SET LOCAL ends with the transaction the pool rolls back.
        cursor.execute("SET LOCAL extra_float_digits = 1")
        # psycopg binds the parameters on the client: COPY takes none on the server.
        with cursor.copy(f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)", compiled.params) as copy:
            for block in copy:
                buffer.write(block)
    finally:
        cursor.close()
    buffer.seek(0)
    if not buffer.getbuffer().nbytes:
        return _empty(names, text)
    return pd.read_csv(
        buffer,
        names=names,
        header=None,
        # A float column as floats even where every value is whole (PostgreSQL writes 7.0 as
        # "7"), as the driver would give them.
        dtype={
            **{c.name: "float64" for c in query.selected_columns if isinstance(c.type, Float)},
            **{name: "str" for name in names if name in text},
        },
        keep_default_na=False,
        na_values=[""],
    )


def release_unused() -> None:
    """Hand back to the system the memory Arrow's pool keeps once large frames are dropped.

    pandas keeps text columns in Arrow's memory pool, which holds freed memory for reuse: after
    ``profile`` had dropped the frames of 347,322 patterns at 10M sessions, the pool still held
    46 MB that the fits never reuse (docs/performance.md, "Profile patterns kept"). pyarrow's
    documentation keeps the call for benchmarking and debugging, since it costs time where the
    memory would be reused at once; here it runs once, after the frames, against a peak target.
    """
    pyarrow.default_memory_pool().release_unused()
