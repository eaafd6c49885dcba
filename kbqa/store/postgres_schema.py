"""The PostgreSQL record store's layout: names, tables, locks and row conversions.

Kept apart from kbqa/store/postgres.py (the store itself) and shared with its indexes
(kbqa/store/postgres_search.py).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from kbqa.store.base import FileRecord, StoredChunk


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of a float32 vector: 9 significant digits give back every float32
    exactly (and format four times faster than repr)."""
    values = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
    return _format(len(values)) % tuple(values)


@functools.lru_cache(maxsize=8)
def _format(dimension: int) -> str:
    return "[" + ",".join(["%.9g"] * dimension) + "]"


def read_vector(blob: bytes) -> np.ndarray:
    """A float32 vector from pgvector's binary form (int16 dimension, int16 unused, big-endian
    float4s)."""
    return np.frombuffer(blob, dtype=">f4", offset=4).astype(np.float32)


NAME = "postgres"
SCHEMA_VERSION = 1
SCHEMES = ("postgresql", "postgres")

#: the advisory-lock class of every kbqa lock (the second key names the base)
LOCK_CLASS = 0x6B627161  # "kbqa"
#: the key of the lock held while any base's schema is created or dropped (DDL is not
#: concurrency-safe: two CREATE ... IF NOT EXISTS at once can still collide)
DDL_KEY = 0

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    doc text PRIMARY KEY,
    source text NOT NULL,
    origin text,
    sha256 text NOT NULL,
    size bigint NOT NULL,
    mtime double precision NOT NULL,
    pages integer,
    chunks integer NOT NULL,
    added_at double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid text NOT NULL UNIQUE,
    doc text,
    position integer NOT NULL DEFAULT 0,
    text text NOT NULL,
    metadata jsonb NOT NULL,
    vector vector NOT NULL
);
-- Vectors inline (TOAST moves the text out instead): an exact search reads every vector, and
-- one out of line costs a lookup each (384-d rows sit right at TOAST's 2 kB threshold).
ALTER TABLE chunks ALTER COLUMN vector SET STORAGE MAIN;
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc, position);
CREATE INDEX IF NOT EXISTS files_source ON files (source);
"""

CHUNK_COLUMNS = "id, uid, doc, position, text, metadata"
FILE_COLUMNS = "doc, source, origin, sha256, size, mtime, pages, chunks, added_at"
BATCH = 1000


def schema_for(name: str) -> str:
    """The schema a base called `name` on the server lives in (at most 63 bytes)."""
    schema = f"kbqa_{name}"
    if len(schema.encode("utf-8")) <= 63:
        return schema
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    cut = schema.encode("utf-8")[:50].decode("utf-8", errors="ignore")
    return f"{cut}_{digest}"


def lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(schema.encode("utf-8")).digest()[:4], "big", signed=True)


def conninfo(uri: str) -> str:
    """A URI libpq takes: postgresql+psycopg:// and the like become postgresql://."""
    scheme, sep, rest = uri.partition("://")
    return f"postgresql://{rest}" if sep and scheme.lower().startswith("postgres") else uri


def chunk_row(row: tuple) -> StoredChunk:
    metadata = row[5] if isinstance(row[5], dict) else json.loads(row[5])
    return StoredChunk(int(row[0]), row[1], row[2], int(row[3]), row[4], metadata)


def file_row(row: tuple) -> FileRecord:
    return FileRecord(*row)


class Snapshot:
    def __init__(self, db: Any) -> None:
        self._db = db
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'state')"))
        self.generation = int(meta.get("generation", 0))
        self.state = meta.get("state", "0")
        self.count = int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def vector_batches(self, size: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        last = -1
        while True:
            rows = (
                self._db.cursor(binary=True)
                .execute(
                    "SELECT id, vector FROM chunks WHERE id > %s ORDER BY id LIMIT %s",
                    (last, size),
                )
                .fetchall()
            )
            if not rows:
                return
            last = int(rows[-1][0])
            yield (
                np.asarray([r[0] for r in rows], dtype=np.int64),
                np.vstack([read_vector(r[1]) for r in rows]),
            )
