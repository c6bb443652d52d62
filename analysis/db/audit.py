"""The import log: who imported what, when, and what it changed (the audit trail).

Every import attempt leaves one row in ``imports`` (:data:`analysis.db.schema.imports`):

- ``imported_at`` — UTC time of the attempt; ``user`` — who (an e-mail from the app's login,
  ``cli:<os user>`` from the command line, ``unknown`` when the caller did not say);
  ``source`` — ``cli``, ``app`` or ``demo``.
- ``files`` — JSON list of ``{"name", "sha256", "bytes"}``, one per file given. Files are
  hashed as received (uploads, and files read from disk, also when they are refused for
  their size). Frames (the demo generator) are hashed as their canonical CSV rendering
  (:func:`canonical_csv`: Apache Arrow's CSV writer, text quoted, numbers bare — ten times
  faster than pandas' ``to_csv`` on a large import; a frame Arrow cannot type, e.g. a
  column mixing numbers and text, falls back to ``frame.to_csv(index=False,
  lineterminator="\\n")``), encoded as UTF-8 and named after the table.
  A path that does not exist is listed with ``sha256`` and ``bytes`` null.
- ``status`` — ``applied`` or ``refused``; ``counts`` — JSON ``{table: {"inserted",
  "updated", "unchanged"}}`` for the tables an applied import wrote (``{}`` when refused);
  ``problem_count`` — every problem found (0 when applied).

An applied import writes its row in the same transaction as its data: both are stored or
neither. A refused import writes its row in a small transaction of its own after the refusal
(the data tables are untouched either way); if even that fails, the report carries a warning
saying the attempt could not be logged. The importer never deletes rows (upserts only), and
the log itself is append-only: triggers refuse ``UPDATE``/``DELETE`` on it.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from analysis.db import schema
from analysis.domain.errors import DatabaseError, first_line

#: What ``user`` is stored as when the caller does not say who imported.
UNKNOWN_USER = "unknown"
#: Longest ``user`` text stored (an e-mail address is at most 254 characters).
MAX_USER_CHARS = 320
#: Columns of :func:`recent_imports`, in order.
RECENT_COLUMNS: tuple[str, ...] = (
    "id",
    "imported_at",
    "user",
    "source",
    "status",
    "files",
    "inserted",
    "updated",
    "unchanged",
    "problem_count",
    "file_details",
    "counts",
)


@dataclass(frozen=True)
class FileDigest:
    """One file of an import as the log records it."""

    name: str
    sha256: str | None
    bytes: int | None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "bytes": self.bytes}


def digest_bytes(name: str, data: bytes) -> FileDigest:
    """Name, SHA-256 and size of an uploaded file."""
    return FileDigest(name, hashlib.sha256(data).hexdigest(), len(data))


def digest_path(path: Path) -> FileDigest:
    """Name, SHA-256 and size of a file on disk (streamed: memory stays small); null when missing."""
    try:
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256")
        return FileDigest(path.name, digest.hexdigest(), path.stat().st_size)
    except OSError:
        return FileDigest(path.name or str(path), None, None)


def canonical_csv(frame: pd.DataFrame) -> bytes:
    """The canonical CSV rendering of a frame that the log hashes (see the module notes)."""
    import pyarrow as pa  # here: only imports of frames need it
    import pyarrow.csv as pacsv

    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    return buffer.getvalue()


def digest_frame(name: str, frame: Any) -> FileDigest:
    """Name, SHA-256 and size of a frame's canonical CSV rendering."""
    if not isinstance(frame, pd.DataFrame):
        return FileDigest(str(name), None, None)
    return digest_bytes(str(name), canonical_csv(frame))


@dataclass(frozen=True)
class Attempt:
    """Who started an import, from where, with which files."""

    user: str
    source: str
    files: tuple[FileDigest, ...]

    @classmethod
    def of(cls, user: str | None, source: str, files: Sequence[FileDigest]) -> Attempt:
        if source not in schema.IMPORT_SOURCES:
            raise ValueError(f"source must be one of {', '.join(schema.IMPORT_SOURCES)}, not {source!r}")
        who = (user or "").strip() or UNKNOWN_USER
        return cls(who[:MAX_USER_CHARS], source, tuple(files))


def record(
    connection: Connection,
    attempt: Attempt,
    *,
    applied: bool,
    counts: Mapping[str, Mapping[str, int]] | None = None,
    problem_count: int = 0,
) -> int:
    """Append one row to the import log on ``connection`` (the caller's transaction); its id."""
    values = {
        "imported_at": datetime.now(UTC),
        "user": attempt.user,
        "source": attempt.source,
        "files": json.dumps([f.as_json() for f in attempt.files], ensure_ascii=False),
        "status": "applied" if applied else "refused",
        "counts": json.dumps({t: dict(c) for t, c in (counts or {}).items()}, sort_keys=True),
        "problem_count": int(problem_count),
    }
    result = connection.execute(insert(schema.imports).values(**values))
    key = result.inserted_primary_key
    if key is None:  # every dialect we support returns the new id
        raise RuntimeError("the import log returned no id for the new entry")
    return int(key[0])


def recent_imports(engine: Engine, limit: int = 50) -> pd.DataFrame:
    """The latest ``limit`` import attempts, newest first, for the Data page.

    Columns (:data:`RECENT_COLUMNS`): ``id``; ``imported_at`` (UTC, timezone-aware);
    ``user``; ``source``; ``status``; ``files`` (the file names, comma-separated);
    ``inserted``/``updated``/``unchanged`` (totals over the tables); ``problem_count``;
    ``file_details`` (list of ``{"name", "sha256", "bytes"}``) and ``counts`` (per table).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive whole number, not {limit!r}")
    t = schema.imports
    query = select(t).order_by(t.c.imported_at.desc(), t.c.id.desc()).limit(limit)
    try:
        with engine.connect() as connection:
            rows = [row._mapping for row in connection.execute(query)]
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise DatabaseError(
            f"The import log at {where} cannot be read ({detail[0] if detail else type(exc).__name__})."
        ) from exc
    records = []
    for row in rows:
        files = _loads(row["files"], [])
        counts = _loads(row["counts"], {})
        totals = {
            kind: sum(int(c.get(kind, 0)) for c in counts.values() if isinstance(c, dict))
            for kind in ("inserted", "updated", "unchanged")
        }
        records.append(
            {
                "id": row["id"],
                "imported_at": row["imported_at"],
                "user": row["user"],
                "source": row["source"],
                "status": row["status"],
                "files": ", ".join(str(f.get("name", "")) for f in files if isinstance(f, dict)),
                **totals,
                "problem_count": row["problem_count"],
                "file_details": files,
                "counts": counts,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=list(RECENT_COLUMNS))
    # SQLite returns naive UTC times, PostgreSQL aware ones: both become aware UTC.
    frame["imported_at"] = pd.to_datetime(frame["imported_at"], utc=True)
    for name in ("id", "inserted", "updated", "unchanged", "problem_count"):
        frame[name] = frame[name].astype("int64")
    return frame


def latest_applied_import(engine: Engine) -> int | None:
    """The id of the latest applied import (None before the first): the stored data's version.

    Every write of the importer (app, command line, demo) adds a log row in its own
    transaction, so this number changes whenever the stored data does; one lookup on the log's
    primary key, cheap enough for every page run (pages/common.py keys its caches on it).
    """
    t = schema.imports
    query = select(func.max(t.c.id)).where(t.c.status == "applied")
    try:
        with engine.connect() as connection:
            return connection.execute(query).scalar()
    except SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseError(f"The import log at {where} cannot be read ({first_line(exc)}).") from exc


def _loads(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


__all__ = [
    "RECENT_COLUMNS",
    "UNKNOWN_USER",
    "Attempt",
    "FileDigest",
    "canonical_csv",
    "digest_bytes",
    "digest_frame",
    "digest_path",
    "latest_applied_import",
    "recent_imports",
    "record",
]
