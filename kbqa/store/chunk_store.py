"""One knowledge base on disk: SQLite for texts, metadata, vectors and BM25; FAISS for dense search.

Layout of a knowledge-base folder:
    store.sqlite        chunks (text, metadata JSON, float32 vector), files (content hashes),
                        meta (the manifest: embedder, dimension, splitter, generation), chunks_fts
                        (SQLite FTS5 over jieba/word tokens, for BM25)
    index.<gen>.faiss   the FAISS index of generation <gen>; a cache, rebuilt from the vectors
                        in SQLite when missing or stale
    write.lock          held (flock) by the one writer

Why this is safe: every change is one SQLite transaction (WAL mode), so a crash leaves the last
committed state; readers work on a snapshot and never see a half-written batch. The FAISS file is
written to a temporary name and renamed, and it is named after the generation it holds, so a
reader can never pair an index with the wrong rows. Nothing is pickled.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KnowledgeBaseError, KnowledgeBaseLocked
from kbqa.store.tokenize import tokenize

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    doc TEXT PRIMARY KEY,          -- path relative to the ingested folder
    source TEXT NOT NULL,          -- base name
    origin TEXT,                   -- absolute path it was read from
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    pages INTEGER,
    chunks INTEGER NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- the FAISS id
    uid TEXT NOT NULL UNIQUE,               -- the public id (LangChain Document.id)
    doc TEXT,                               -- files.doc, NULL for texts added through the API
    position INTEGER NOT NULL DEFAULT 0,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,                 -- JSON
    vector BLOB NOT NULL                    -- float32, L2-normalised
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc, position);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (tokens);
"""


@dataclass(frozen=True)
class StoredChunk:
    id: int
    uid: str
    doc: str | None
    position: int
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class NewChunk:
    uid: str
    text: str
    metadata: dict[str, Any]
    doc: str | None = None
    position: int = 0


@dataclass(frozen=True)
class FileRecord:
    doc: str
    source: str
    origin: str | None
    sha256: str
    size: int
    mtime: float
    pages: int | None
    chunks: int
    added_at: float

    @property
    def path(self) -> str:
        return self.doc


class ChunkStore:
    """Thread-safe access to one knowledge-base folder. Writers must hold `writer()`."""

    def __init__(self, folder: Path, *, create: bool = False) -> None:
        self.folder = Path(folder)
        self.db_path = self.folder / "store.sqlite"
        if not self.db_path.exists() and not create:
            raise KnowledgeBaseError(f"no knowledge base at {self.folder}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._index_lock = threading.RLock()
        self._index = None
        self._index_generation = -1
        # executescript manages its own transaction: the schema and first rows land together.
        self.db.executescript(
            f"BEGIN IMMEDIATE;{_SCHEMA}"
            f"INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');"
            "INSERT OR IGNORE INTO meta VALUES ('generation', '0');COMMIT;"
        )

    # -- connections ---------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        connection = getattr(self._local, "db", None)
        if connection is None:
            connection = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.db = connection
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: all reads inside see one committed state."""
        db = self.db
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    @contextmanager
    def writer(self, wait_s: float = 0.0) -> Iterator[None]:
        """Exclusive write access across processes (flock); `KnowledgeBaseLocked` if taken."""
        lock_path = self.folder / "write.lock"
        handle = lock_path.open("a+")
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    handle.close()
                    raise KnowledgeBaseLocked(
                        f"knowledge base {self.folder.name!r} is being written by another "
                        "process; try again when it has finished"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    # -- manifest -------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, values: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()],
            )

    def manifest(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation", "0") or 0)

    # -- files ----------------------------------------------------------------------------------

    def files(self) -> list[FileRecord]:
        rows = self.db.execute(
            "SELECT doc, source, origin, sha256, size, mtime, pages, chunks, added_at "
            "FROM files ORDER BY doc"
        ).fetchall()
        return [FileRecord(*row) for row in rows]

    def file(self, doc: str) -> FileRecord | None:
        row = self.db.execute(
            "SELECT doc, source, origin, sha256, size, mtime, pages, chunks, added_at "
            "FROM files WHERE doc = ?",
            (doc,),
        ).fetchone()
        return FileRecord(*row) if row else None

    # -- writes (one transaction each; the caller holds writer()) -------------------------------

    def replace_documents(
        self,
        documents: Sequence[tuple[FileRecord, Sequence[NewChunk], np.ndarray]],
    ) -> None:
        """Atomically replace the chunks of each (file, chunks, vectors) and record the file."""
        with self._transaction() as db:
            removed: list[int] = []
            added: list[tuple[int, np.ndarray]] = []
            for record, chunks, vectors in documents:
                removed += self._delete_where(db, "doc = ?", (record.doc,))
                db.execute(
                    "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.doc,
                        record.source,
                        record.origin,
                        record.sha256,
                        record.size,
                        record.mtime,
                        record.pages,
                        record.chunks,
                        record.added_at,
                    ),
                )
                added += self._insert(db, chunks, vectors)
            self._bump(db, removed, added)

    def upsert_chunks(self, chunks: Sequence[NewChunk], vectors: np.ndarray) -> None:
        """Insert chunks, replacing any with the same uid (LangChain add-by-id semantics)."""
        with self._transaction() as db:
            removed: list[int] = []
            for chunk in chunks:
                removed += self._delete_where(db, "uid = ?", (chunk.uid,))
            added = self._insert(db, chunks, vectors)
            self._bump(db, removed, added)

    def delete_uids(self, uids: Iterable[str]) -> int:
        with self._transaction() as db:
            removed: list[int] = []
            for uid in uids:
                removed += self._delete_where(db, "uid = ?", (uid,))
            self._bump(db, removed, [])
        return len(removed)

    def delete_documents(self, docs: Iterable[str]) -> int:
        with self._transaction() as db:
            removed: list[int] = []
            for doc in docs:
                removed += self._delete_where(db, "doc = ?", (doc,))
                db.execute("DELETE FROM files WHERE doc = ?", (doc,))
            self._bump(db, removed, [])
        return len(removed)

    def _delete_where(self, db: sqlite3.Connection, where: str, args: tuple) -> list[int]:
        ids = [row[0] for row in db.execute(f"SELECT id FROM chunks WHERE {where}", args)]
        if ids:
            db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
            db.execute(f"DELETE FROM chunks WHERE {where}", args)
        return ids

    def _insert(
        self, db: sqlite3.Connection, chunks: Sequence[NewChunk], vectors: np.ndarray
    ) -> list[tuple[int, np.ndarray]]:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        added = []
        for chunk, vector in zip(chunks, vectors, strict=True):
            cursor = db.execute(
                "INSERT INTO chunks (uid, doc, position, text, metadata, vector) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    chunk.uid,
                    chunk.doc,
                    chunk.position,
                    chunk.text,
                    json.dumps(chunk.metadata, ensure_ascii=False),
                    vector.tobytes(),
                ),
            )
            row_id = int(cursor.lastrowid)
            heading = chunk.metadata.get("heading") if isinstance(chunk.metadata, dict) else None
            tokens = tokenize(f"{heading}\n{chunk.text}" if heading else chunk.text)
            db.execute(
                "INSERT INTO chunks_fts (rowid, tokens) VALUES (?, ?)", (row_id, " ".join(tokens))
            )
            added.append((row_id, vector))
        return added

    def _bump(
        self,
        db: sqlite3.Connection,
        removed: list[int],
        added: list[tuple[int, np.ndarray]],
    ) -> None:
        if not removed and not added:
            return
        old = int(db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        db.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(old + 1),))
        # Keep an already-loaded index in step, so a writer does not rebuild after each batch.
        with self._index_lock:
            if self._index is not None and self._index_generation == old:
                if removed:
                    self._index.remove_ids(np.asarray(removed, dtype=np.int64))
                if added:
                    ids = np.asarray([i for i, _ in added], dtype=np.int64)
                    self._index.add_with_ids(np.vstack([v for _, v in added]), ids)
                self._index_generation = old + 1
            else:
                self._index = None

    # -- reads ----------------------------------------------------------------------------------

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def dimension(self) -> int | None:
        value = self.get_meta("dimension")
        return int(value) if value else None

    def get(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        result: dict[int, StoredChunk] = {}
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for row in self.db.execute(
                f"SELECT id, uid, doc, position, text, metadata FROM chunks WHERE id IN ({marks})",
                part,
            ):
                result[row[0]] = StoredChunk(*row[:5], json.loads(row[5]))
        return result

    def get_by_uids(self, uids: Sequence[str]) -> list[StoredChunk]:
        found = []
        for uid in uids:
            row = self.db.execute(
                "SELECT id, uid, doc, position, text, metadata FROM chunks WHERE uid = ?", (uid,)
            ).fetchone()
            if row:
                found.append(StoredChunk(*row[:5], json.loads(row[5])))
        return found

    def neighbours(self, doc: str, position: int, span: int) -> list[StoredChunk]:
        rows = self.db.execute(
            "SELECT id, uid, doc, position, text, metadata FROM chunks "
            "WHERE doc = ? AND position BETWEEN ? AND ? ORDER BY position",
            (doc, position - span, position + span),
        ).fetchall()
        return [StoredChunk(*row[:5], json.loads(row[5])) for row in rows]

    def ids_for_sources(self, sources: Sequence[str]) -> np.ndarray:
        """Chunk ids whose document's base name or relative path is in `sources`."""
        marks = ",".join("?" * len(sources))
        rows = self.db.execute(
            f"SELECT c.id FROM chunks c JOIN files f ON c.doc = f.doc "
            f"WHERE f.source IN ({marks}) OR f.doc IN ({marks})",
            [*sources, *sources],
        ).fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        index = self.index()
        out = {}
        with self._index_lock:
            for chunk_id in ids:
                out[chunk_id] = index.reconstruct(int(chunk_id))
        return out

    def bm25(self, query: str, limit: int, allowed: np.ndarray | None = None) -> list[int]:
        """Chunk ids best first by BM25 over the FTS5 token index."""
        tokens = list(dict.fromkeys(tokenize(query)))
        if not tokens:
            return []
        match = " OR ".join('"' + token.replace('"', '""') + '"' for token in tokens)
        if allowed is not None:
            marks = ",".join(str(int(i)) for i in allowed) or "NULL"
            sql = (
                f"SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? AND rowid IN ({marks}) "
                "ORDER BY bm25(chunks_fts) LIMIT ?"
            )
        else:
            sql = "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY bm25(chunks_fts) LIMIT ?"
        return [row[0] for row in self.db.execute(sql, (match, limit))]

    # -- the FAISS index --------------------------------------------------------------------------

    def index(self):
        """The FAISS index matching the current committed generation (loaded or rebuilt)."""
        import faiss

        generation = self.generation
        with self._index_lock:
            if self._index is not None and self._index_generation == generation:
                return self._index
            with self._snapshot() as db:
                generation = int(
                    db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0]
                )
                path = self._index_path(generation)
                index = None
                if path.exists():
                    try:
                        index = faiss.read_index(str(path))
                    except RuntimeError:
                        index = None  # damaged cache file: rebuild below
                if index is None:
                    index = self._build_index(db)
            self._index, self._index_generation = index, generation
            return index

    def _build_index(self, db: sqlite3.Connection):
        import faiss

        dimension = self.dimension()
        if dimension is None:
            row = db.execute("SELECT vector FROM chunks LIMIT 1").fetchone()
            dimension = len(row[0]) // 4 if row else 1
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        batch_ids, batch_vectors = [], []
        for chunk_id, blob in db.execute("SELECT id, vector FROM chunks ORDER BY id"):
            batch_ids.append(chunk_id)
            batch_vectors.append(np.frombuffer(blob, dtype=np.float32))
            if len(batch_ids) >= 8192:
                index.add_with_ids(np.vstack(batch_vectors), np.asarray(batch_ids, dtype=np.int64))
                batch_ids, batch_vectors = [], []
        if batch_ids:
            index.add_with_ids(np.vstack(batch_vectors), np.asarray(batch_ids, dtype=np.int64))
        return index

    def _index_path(self, generation: int) -> Path:
        return self.folder / f"index.{generation}.faiss"

    def save_index(self) -> None:
        """Persist the current index (atomic rename), and remove older generations' files."""
        import faiss

        with self._index_lock:
            index = self.index()
            generation = self._index_generation
            target = self._index_path(generation)
            if not target.exists():
                temporary = target.with_suffix(f".tmp{os.getpid()}")
                faiss.write_index(index, str(temporary))
                os.replace(temporary, target)
        for old in self.folder.glob("index.*.faiss"):
            if old != target:
                old.unlink(missing_ok=True)

    def search_dense(
        self, vector: np.ndarray, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        import faiss

        index = self.index()
        if index.ntotal == 0:
            return []
        params = None
        if allowed is not None:
            if len(allowed) == 0:
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        with self._index_lock:
            scores, ids = index.search(
                np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1),
                min(limit, index.ntotal),
                params=params,
            )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def close(self) -> None:
        connection = getattr(self._local, "db", None)
        if connection is not None:
            connection.close()
            self._local.db = None
