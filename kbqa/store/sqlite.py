"""The SQLite record store and the FTS5 lexical index (both in one `store.sqlite` file).

Layout of a knowledge-base folder:
    store.sqlite        chunks (text, metadata JSON, float32 vector), files (content hashes),
                        meta (the manifest: embedder, dimension, splitter, backends, generation),
                        chunks_fts (SQLite FTS5 over jieba/word tokens, for BM25)
    write.lock          held (flock) by the one writer
    (and whatever the dense index keeps, e.g. index.<gen>.faiss)

Why this is safe: every change is one SQLite transaction (WAL mode), so a crash leaves the last
committed state; readers work on a snapshot and never see a half-written batch. FTS5 rows are
written in the same transaction as the chunks. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KnowledgeBaseError
from kbqa.store.base import (
    FileRecord,
    ManifestFields,
    NewChunk,
    Problem,
    RecordStore,
    StoredChunk,
    chunk_count_problems,
    lexical_batches,
)
from kbqa.store.bm25_memory import MemoryBM25Cache
from kbqa.store.leftovers import process_alive
from kbqa.store.locks import flock_writer
from kbqa.store.tokenize import tokenize

SCHEMA_VERSION = 1
DB_NAME = "store.sqlite"

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
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- the index id
    uid TEXT NOT NULL UNIQUE,               -- the public id (LangChain Document.id)
    doc TEXT,                               -- files.doc, NULL for texts added through the API
    position INTEGER NOT NULL DEFAULT 0,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,                 -- JSON
    vector BLOB NOT NULL                    -- float32, L2-normalised
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc, position);
"""

_CHUNK_COLUMNS = "id, uid, doc, position, text, metadata"
_FILE_COLUMNS = "doc, source, origin, sha256, size, mtime, pages, chunks, added_at"


def holds_store(folder: Path) -> bool:
    """Whether `folder` holds a SQLite knowledge base (settling what a killed repair left)."""
    database = Path(folder) / DB_NAME
    for fresh in Path(folder).glob(f"{DB_NAME}{_FRESH}*"):
        pid = fresh.name.rpartition("-")[2]
        if not pid.isdigit() or process_alive(int(pid)):
            continue  # a repair still running: its copy is its own
        if database.exists():  # killed before its swap: the copy is unfinished
            fresh.unlink(missing_ok=True)
        else:  # killed between its renames: rewrite() fsynced the copy before moving the old aside
            os.replace(fresh, database)
    return database.is_file()


#: the fresh copy a rewrite fills: store.sqlite.new-<pid>
_FRESH = ".new-"


#: SQLite's result codes for a file that is damaged, not merely busy or misused
_DAMAGE_CODES = {"SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_CORRUPT_VTAB", "SQLITE_CORRUPT_INDEX"}


def describe_damage(error: BaseException) -> str | None:
    """What is damaged, when `error` is SQLite reporting a damaged file (else None)."""
    if not isinstance(error, sqlite3.DatabaseError):
        return None
    name = getattr(error, "sqlite_errorname", "") or ""
    text = str(error)
    if name in _DAMAGE_CODES or "malformed" in text or "not a database" in text:
        return f"{DB_NAME}: {text}"
    return None


def _chunk(row: tuple) -> StoredChunk:
    return StoredChunk(*row[:5], json.loads(row[5]))


class _Snapshot:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('generation', 'state')"))
        self.generation = int(meta["generation"])
        self.state = meta.get("state", "0")
        self.count = int(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def vector_batches(self, size: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        ids: list[int] = []
        vectors: list[np.ndarray] = []
        for chunk_id, blob in self._db.execute("SELECT id, vector FROM chunks ORDER BY id"):
            ids.append(chunk_id)
            vectors.append(np.frombuffer(blob, dtype=np.float32))
            if len(ids) >= size:
                yield np.asarray(ids, dtype=np.int64), np.vstack(vectors)
                ids, vectors = [], []
        if ids:
            yield np.asarray(ids, dtype=np.int64), np.vstack(vectors)


class SQLiteRecordStore(ManifestFields):
    """Thread-safe access to one knowledge base's rows. Writers must hold `writer()`."""

    name = "sqlite"

    def __init__(self, folder: Path, *, create: bool = False) -> None:
        self.folder = Path(folder)
        self.db_path = self.folder / DB_NAME
        if not self.db_path.exists() and not create:
            raise KnowledgeBaseError(f"no knowledge base at {self.folder}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[_Snapshot]:
        """A read transaction: all reads inside see one committed state."""
        db = self.db
        db.execute("BEGIN")
        try:
            yield _Snapshot(db)
        finally:
            db.execute("COMMIT")

    def writer(self, wait_s: float = 0.0) -> AbstractContextManager[None]:
        """Exclusive write access across processes (flock); `KnowledgeBaseLocked` if taken."""
        return flock_writer(self.folder / "write.lock", wait_s, self.folder.name)

    # -- manifest -------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, values: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()],
            )

    def manifest(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    # -- writes (inside transaction(); the caller holds writer()) -------------------------------

    def delete_chunks(
        self, tx: sqlite3.Connection, *, doc: str | None = None, uid: str | None = None
    ) -> list[int]:
        where, value = ("doc = ?", doc) if uid is None else ("uid = ?", uid)
        ids = [row[0] for row in tx.execute(f"SELECT id FROM chunks WHERE {where}", (value,))]
        if ids:
            tx.execute(f"DELETE FROM chunks WHERE {where}", (value,))
        return ids

    def insert_chunks(
        self, tx: sqlite3.Connection, chunks: Sequence[NewChunk], vectors: np.ndarray
    ) -> list[int]:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = []
        for chunk, vector in zip(chunks, vectors, strict=True):
            cursor = tx.execute(
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
            ids.append(int(cursor.lastrowid))
        return ids

    def put_file(self, tx: sqlite3.Connection, record: FileRecord) -> None:
        tx.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            record.row(),
        )

    def delete_file(self, tx: sqlite3.Connection, doc: str) -> None:
        tx.execute("DELETE FROM files WHERE doc = ?", (doc,))

    def bump_generation(self, tx: sqlite3.Connection) -> tuple[int, int]:
        old = int(tx.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        tx.execute("UPDATE meta SET value = ? WHERE key = 'generation'", (str(old + 1),))
        # A fresh random state with every commit: a generation number can come back (a restored
        # store.sqlite, a commit lost to power failure), a state never does.
        tx.execute("INSERT OR REPLACE INTO meta VALUES ('state', ?)", (secrets.token_hex(8),))
        return old, old + 1

    # -- reads ----------------------------------------------------------------------------------

    def files(self) -> list[FileRecord]:
        rows = self.db.execute(f"SELECT {_FILE_COLUMNS} FROM files ORDER BY doc").fetchall()
        return [FileRecord(*row) for row in rows]

    def file(self, doc: str) -> FileRecord | None:
        row = self.db.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE doc = ?", (doc,)).fetchone()
        return FileRecord(*row) if row else None

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def get(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        result: dict[int, StoredChunk] = {}
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(part))
            for row in self.db.execute(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE id IN ({marks})", part
            ):
                result[row[0]] = _chunk(row)
        return result

    def get_by_uids(self, uids: Sequence[str]) -> list[StoredChunk]:
        found = []
        for uid in uids:
            row = self.db.execute(
                f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE uid = ?", (uid,)
            ).fetchone()
            if row:
                found.append(_chunk(row))
        return found

    def iter_chunks(self) -> Iterator[StoredChunk]:
        for row in self.db.execute(f"SELECT {_CHUNK_COLUMNS} FROM chunks ORDER BY id").fetchall():
            yield _chunk(row)

    def neighbours(self, doc: str, position: int, span: int) -> list[StoredChunk]:
        rows = self.db.execute(
            f"SELECT {_CHUNK_COLUMNS} FROM chunks "
            "WHERE doc = ? AND position BETWEEN ? AND ? ORDER BY position",
            (doc, position - span, position + span),
        ).fetchall()
        return [_chunk(row) for row in rows]

    def ids_for_sources(self, sources: Sequence[str]) -> np.ndarray:
        marks = ",".join("?" * len(sources))
        rows = self.db.execute(
            f"SELECT c.id FROM chunks c JOIN files f ON c.doc = f.doc "
            f"WHERE f.source IN ({marks}) OR f.doc IN ({marks})",
            [*sources, *sources],
        ).fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(part))
            for chunk_id, blob in self.db.execute(
                f"SELECT id, vector FROM chunks WHERE id IN ({marks})", part
            ):
                out[chunk_id] = np.frombuffer(blob, dtype=np.float32)
        return out

    # -- consistency ----------------------------------------------------------------------------

    def check(self) -> list[Problem]:
        try:
            verdict = [row[0] for row in self.db.execute("PRAGMA integrity_check(5)")]
        except sqlite3.DatabaseError as error:  # the check itself stumbles on a damaged page
            verdict = [str(error)]
        counted, files, unreadable = self._read_records()
        if unreadable:
            return [Problem("records", unreadable, False)]
        problems = chunk_count_problems(counted, files)
        if verdict != ["ok"]:
            found = [line for row in verdict for line in row.splitlines() if "***" not in line]
            found = found or verdict
            more = f" and {len(found) - 1} more" if len(found) > 1 else ""
            detail = (
                f"{DB_NAME} fails SQLite's integrity check ({found[0]}{more}); every record reads"
            )
            problems.append(Problem("records", detail, True))
        return problems

    def _read_records(self) -> tuple[dict[str, int], list[FileRecord], str | None]:
        """Every record read whole, in one pass: chunks per file, the files, and what stopped
        a record from being read (None when all read)."""
        counted: dict[str, int] = {}
        files: list[FileRecord] = []
        try:
            dimension = self.dimension()
            size = 4 * dimension if dimension else None
            wrong = 0
            # NOT INDEXED: read the rows themselves, not an index (which a rewrite rebuilds)
            rows = self.db.execute("SELECT doc, metadata, length(vector) FROM chunks NOT INDEXED")
            for doc, metadata, length in rows:
                json.loads(metadata)
                wrong += size is not None and length != size
                if doc is not None:
                    counted[doc] = counted.get(doc, 0) + 1
            query = f"SELECT {_FILE_COLUMNS} FROM files NOT INDEXED ORDER BY doc"
            files = [FileRecord(*row) for row in self.db.execute(query)]
        except sqlite3.DatabaseError as error:
            return counted, files, f"records cannot all be read ({error})"
        except ValueError as error:
            return counted, files, f"a chunk's metadata is not JSON ({error})"
        if wrong:
            return counted, files, f"{wrong} chunks hold vectors that are not {dimension}-d"
        return counted, files, None

    def rewrite(self) -> None:
        fresh = self.folder / f"{DB_NAME}{_FRESH}{os.getpid()}"
        fresh.unlink(missing_ok=True)
        connection = sqlite3.connect(fresh, isolation_level=None)
        connection.executescript(_SCHEMA)
        connection.close()
        db = self.db
        db.execute("ATTACH DATABASE ? AS fresh", (str(fresh),))
        try:
            db.execute("BEGIN")
            db.execute("INSERT INTO fresh.meta SELECT key, value FROM main.meta")
            db.execute(f"INSERT INTO fresh.files SELECT {_FILE_COLUMNS} FROM main.files")
            columns = f"{_CHUNK_COLUMNS}, vector"
            db.execute(f"INSERT INTO fresh.chunks ({columns}) SELECT {columns} FROM main.chunks")
            # Ids are never reused (AUTOINCREMENT): keep the counter past every id ever given.
            db.execute(
                "UPDATE fresh.sqlite_sequence SET seq = max(seq, "
                "(SELECT coalesce(max(seq), 0) FROM main.sqlite_sequence WHERE name = 'chunks')) "
                "WHERE name = 'chunks'"
            )
            db.execute(
                "INSERT OR REPLACE INTO fresh.meta VALUES ('state', ?)", (secrets.token_hex(8),)
            )
            db.execute("COMMIT")
        finally:
            db.execute("DETACH DATABASE fresh")
        with fresh.open("rb+") as handle:
            os.fsync(handle.fileno())
        self.close()
        aside = self.folder / f"{DB_NAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        for suffix in ("-wal", "-shm"):
            companion = self.db_path.with_name(DB_NAME + suffix)
            if companion.exists():
                os.replace(companion, aside.with_name(aside.name + suffix))
        os.replace(self.db_path, aside)
        os.replace(fresh, self.db_path)

    def drop(self) -> None:
        """Nothing outside the folder: removing the folder deletes the base."""

    def close(self) -> None:
        connection = getattr(self._local, "db", None)
        if connection is not None:
            connection.close()
            self._local.db = None


_CREATE_FTS = "CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (tokens)"


class FTS5Index:
    """BM25 over jieba/word tokens in an FTS5 table of the record store's own SQLite file, so
    its rows are written in the same transaction as the chunks."""

    name = "fts5"

    def __init__(self, records: RecordStore) -> None:
        if not isinstance(records, SQLiteRecordStore):
            raise KnowledgeBaseError(
                f"the fts5 lexical index needs the sqlite record store, not {records.name!r}"
            )
        self.records = records
        records.db.execute(_CREATE_FTS)
        self._memory = MemoryBM25Cache()

    def _token_rows(self) -> list[tuple[int, str]]:
        return self.records.db.execute("SELECT rowid, tokens FROM chunks_fts").fetchall()

    def add(self, tx: sqlite3.Connection, chunks: Iterable[tuple[int, NewChunk]]) -> None:
        tx.executemany(
            "INSERT INTO chunks_fts (rowid, tokens) VALUES (?, ?)",
            [(row_id, " ".join(tokenize(chunk.lexical_text()))) for row_id, chunk in chunks],
        )

    def remove(self, tx: sqlite3.Connection, ids: Sequence[int]) -> None:
        tx.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(int(i),) for i in ids])

    def search(
        self, query: str, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        tokens = list(dict.fromkeys(tokenize(query)))
        if not tokens:
            return []
        # FTS5's own ranking, from postings in memory (kbqa/store/bm25_memory.py: the same
        # scores, ~50x faster at 100k chunks); FTS5 itself for what those cannot match.
        # (A commit between reading the state and the rows only labels newer rows with an
        # older state: the next search rebuilds; states are never reused.)
        memory = self._memory.get(self.records.state, self._token_rows)
        found = memory.search(tokens, limit, allowed)
        if found is not None:
            return found
        match = " OR ".join('"' + token.replace('"', '""') + '"' for token in tokens)
        if allowed is not None:
            marks = ",".join(str(int(i)) for i in allowed) or "NULL"
            sql = (
                f"SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                f"AND rowid IN ({marks}) ORDER BY bm25(chunks_fts) LIMIT ?"
            )
        else:
            sql = (
                "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY bm25(chunks_fts) LIMIT ?"
            )
        return [(int(r[0]), float(r[1])) for r in self.records.db.execute(sql, (match, limit))]

    def check(self) -> list[Problem]:
        db = self.records.db
        try:
            db.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('integrity-check')")
            missing = db.execute(
                "SELECT COUNT(*) FROM chunks WHERE id NOT IN (SELECT rowid FROM chunks_fts)"
            ).fetchone()[0]
            extra = db.execute(
                "SELECT COUNT(*) FROM chunks_fts WHERE rowid NOT IN (SELECT id FROM chunks)"
            ).fetchone()[0]
        except sqlite3.DatabaseError as error:
            return [Problem("lexical index", f"chunks_fts cannot be read ({error})", True)]
        if missing or extra:
            detail = f"chunks_fts lacks {missing} chunks and holds {extra} that are gone"
            return [Problem("lexical index", detail, True)]
        return []

    def rebuild(self) -> None:
        with self.records.transaction() as tx:
            tx.execute("DROP TABLE IF EXISTS chunks_fts")
            tx.execute(_CREATE_FTS)
            for batch in lexical_batches(self.records):
                self.add(tx, batch)

    def close(self) -> None:
        self._memory.clear()  # the record store owns the connection
