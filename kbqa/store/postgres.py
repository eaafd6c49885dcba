"""The PostgreSQL record store: a knowledge base's rows on a PostgreSQL server (with pgvector).

Each base is one schema on the server, named from its name there (`kbqa_<name>`, quoted; a
long name is cut and suffixed with a hash, since PostgreSQL cuts identifiers at 63 bytes):

    meta        the manifest (embedder, dimension, splitter, backends, generation, state)
    files       one row per ingested file (content hash, size, chunk count)
    chunks      id (identity, never reused), uid (unique), doc, position, text, metadata (jsonb),
                vector (pgvector `vector`, untyped: the dimension is the manifest's)
    postings, lexical_lengths, lexical_totals
                the pg-bm25 lexical index (kbqa/store/postgres_search.py)

Every batch is one PostgreSQL transaction (`transaction()`), the lexical rows written in it, and
pgvector searches the `chunks` rows themselves: a commit is seen at once by every process and
machine pointing at the base (replicas of `kbqa serve`), with nothing cached to go stale.
`writer()` is `pg_advisory_lock` on a dedicated connection, so writers on several machines
exclude each other. Creating a base that is already on the server attaches to it.

Connections: one per thread (psycopg connections are not shared mid-transaction), autocommit
outside `transaction()`. The password in the URI (or `KBQA_STORE_PASSWORD`, or libpq's own
`PGPASSWORD` / `~/.pgpass`) is used to connect and never written down; errors name the URI
without it.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KnowledgeBaseError, KnowledgeBaseLocked
from kbqa.store.base import (
    FileRecord,
    ManifestFields,
    NewChunk,
    Problem,
    StoredChunk,
    chunk_count_problems,
)
from kbqa.store.postgres_connection import Guarded, connect, lost_connection
from kbqa.store.postgres_schema import (
    BATCH,
    CHUNK_COLUMNS,
    DDL_KEY,
    FILE_COLUMNS,
    LOCK_CLASS,
    NAME,
    SCHEMA_VERSION,
    SCHEMES,
    TABLES,
    Snapshot,
    chunk_row,
    file_row,
    lock_key,
    read_vector,
    schema_for,
    vector_literal,
)
from kbqa.store.remote import Remote, holds_remote


class PostgresRecordStore(ManifestFields):
    """One knowledge base's rows in its own schema on a PostgreSQL server; thread-safe."""

    name = NAME

    def __init__(self, folder: Path, *, create: bool = False, remote: Remote | None = None):
        if remote is None:
            raise KnowledgeBaseError(
                "the postgres record store needs a server: create the base with "
                "--store postgresql://user@host:5432/database"
            )
        import psycopg
        from psycopg import sql

        self._psycopg = psycopg
        self._sql = sql
        self.folder = Path(folder)
        self.remote = remote
        self.schema = schema_for(remote.name)
        self._lock_key = lock_key(self.schema)
        self._local = threading.local()
        self._connections: list[Any] = []
        self._guard = threading.Lock()
        self._extension_schema = "public"
        db = self.db
        if self._has_table(db, "meta"):  # the usual case: no DDL, so no table locks to wait for
            self._extension_schema = self._ensure_extension(db)
            self._set_search_path(db)
        else:
            self._create(db, create)
        if create:
            self.folder.mkdir(parents=True, exist_ok=True)

    def _has_table(self, db: Any, table: str) -> bool:
        found = db.execute(
            "SELECT to_regclass(quote_ident(%s) || '.' || quote_ident(%s))", (self.schema, table)
        ).fetchone()
        return found[0] is not None

    def _create(self, db: Any, create: bool) -> None:
        """Make the base's schema and tables (under the DDL lock: two replicas creating the
        same base at once make it once)."""
        sql = self._sql
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, DDL_KEY))
            exists = db.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
            ).fetchone()
            if not exists and not create:
                raise KnowledgeBaseError(
                    f"knowledge base {self.remote.name!r} is not on {self.remote.kept_uri} "
                    "(deleted there?); create it again with kbqa kb create --store"
                )
            self._extension_schema = self._ensure_extension(db)
            self._set_search_path(db)
            if not exists:
                db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.schema)))
            db.execute(TABLES)
            db.execute(
                "INSERT INTO meta VALUES ('schema_version', %s), ('generation', '0') "
                "ON CONFLICT (key) DO NOTHING",
                (str(SCHEMA_VERSION),),
            )

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> Any:
        return connect(self._psycopg, self.remote)

    def _set_search_path(self, db: Any) -> None:
        sql = self._sql
        db.execute(
            sql.SQL("SET search_path TO {}, {}").format(
                sql.Identifier(self.schema), sql.Identifier(self._extension_schema)
            )
        )

    def _ensure_extension(self, db: Any) -> str:
        """The schema pgvector is installed in (installing it in public when it is not)."""
        query = (
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'vector'"
        )
        row = db.execute(query).fetchone()
        if row is None:
            try:
                with db.transaction():
                    db.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            except self._psycopg.Error as error:
                raise KnowledgeBaseError(
                    f"PostgreSQL at {self.remote.kept_uri} has no pgvector extension and it "
                    f"could not be created ({str(error).strip()}); install pgvector and run "
                    "CREATE EXTENSION vector as a superuser"
                ) from None
            row = db.execute(query).fetchone()
        return row[0]

    @property
    def db(self) -> Any:
        """This thread's connection (a new one after a lost one, or in a forked child)."""
        connection = getattr(self._local, "db", None)
        pid = getattr(self._local, "pid", None)
        if connection is None or connection.closed or connection.broken or pid != os.getpid():
            raw = self._connect()
            self._set_search_path(raw)
            connection = Guarded(raw, self.remote.kept_uri, self._psycopg.OperationalError)
            self._local.db, self._local.pid = connection, os.getpid()
            with self._guard:
                self._connections = [c for c in self._connections if not c.closed]
                self._connections.append(raw)
        return connection

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        db = self.db
        try:
            with db.transaction():
                yield db
        except self._psycopg.OperationalError as error:  # BEGIN or COMMIT on a lost connection
            raise lost_connection(self.remote.kept_uri, error) from error

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A repeatable-read transaction: all reads inside see one committed state."""
        db = self.db
        try:
            with db.transaction():
                db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield Snapshot(db)
        except self._psycopg.OperationalError as error:
            raise lost_connection(self.remote.kept_uri, error) from error

    @contextmanager
    def writer(self, wait_s: float = 0.0) -> Iterator[None]:
        """Exclusive write access across processes and machines: a session advisory lock on a
        connection of its own, held while the writer is; `KnowledgeBaseLocked` if taken."""
        connection = self._connect()
        try:
            deadline = time.monotonic() + wait_s
            while not connection.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_CLASS, self._lock_key)
            ).fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise KnowledgeBaseLocked(
                        f"knowledge base {self.remote.name!r} is being written by another "
                        "process; try again when it has finished"
                    )
                time.sleep(0.1)
            yield
        finally:
            # Released here, not by the close alone: the server ends a closed session after the
            # client has moved on, so a writer opened right after this one could find the lock
            # still held (seen in CI). Closing still releases it if the connection broke.
            with suppress(Exception):
                connection.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", (LOCK_CLASS, self._lock_key)
                )
            connection.close()

    # -- manifest -------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, values: dict[str, Any]) -> None:
        rows = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in values.items()]
        with self.transaction() as db:
            db.cursor().executemany(
                "INSERT INTO meta VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                rows,
            )

    def manifest(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta ORDER BY key").fetchall())

    # -- writes (inside transaction(); the caller holds writer()) -------------------------------

    def delete_chunks(
        self, tx: Any, *, doc: str | None = None, uid: str | None = None
    ) -> list[int]:
        where, value = ("doc = %s", doc) if uid is None else ("uid = %s", uid)
        rows = tx.execute(f"DELETE FROM chunks WHERE {where} RETURNING id", (value,)).fetchall()
        return sorted(int(row[0]) for row in rows)

    def insert_chunks(self, tx: Any, chunks: Sequence[NewChunk], vectors: np.ndarray) -> list[int]:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids: list[int] = []
        for start in range(0, len(chunks), BATCH):
            part = chunks[start : start + BATCH]
            rows = tx.execute(
                "INSERT INTO chunks (uid, doc, position, text, metadata, vector) "
                "SELECT u, d, p, t, m::jsonb, v::vector FROM unnest("
                "%s::text[], %s::text[], %s::int[], %s::text[], %s::text[], %s::text[]) "
                "WITH ORDINALITY AS x(u, d, p, t, m, v, n) ORDER BY n RETURNING id, uid",
                (
                    [c.uid for c in part],
                    [c.doc for c in part],
                    [c.position for c in part],
                    [c.text for c in part],
                    [json.dumps(c.metadata, ensure_ascii=False) for c in part],
                    [vector_literal(v) for v in vectors[start : start + BATCH]],
                ),
            ).fetchall()
            by_uid = {uid: int(chunk_id) for chunk_id, uid in rows}
            ids.extend(by_uid[c.uid] for c in part)
        return ids

    def put_file(self, tx: Any, record: FileRecord) -> None:
        tx.execute(
            f"INSERT INTO files ({FILE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (doc) DO UPDATE SET source = EXCLUDED.source, origin = EXCLUDED.origin, "
            "sha256 = EXCLUDED.sha256, size = EXCLUDED.size, mtime = EXCLUDED.mtime, "
            "pages = EXCLUDED.pages, chunks = EXCLUDED.chunks, added_at = EXCLUDED.added_at",
            record.row(),
        )

    def delete_file(self, tx: Any, doc: str) -> None:
        tx.execute("DELETE FROM files WHERE doc = %s", (doc,))

    def bump_generation(self, tx: Any) -> tuple[int, int]:
        # One UPDATE: the row lock orders concurrent batches even without writer().
        new = int(
            tx.execute(
                "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation' "
                "RETURNING value"
            ).fetchone()[0]
        )
        # A fresh random state with every commit: a generation number can come back (a restored
        # backup), a state never does.
        tx.execute(
            "INSERT INTO meta VALUES ('state', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (secrets.token_hex(8),),
        )
        return new - 1, new

    # -- reads ----------------------------------------------------------------------------------

    def files(self) -> list[FileRecord]:
        rows = self.db.execute(f"SELECT {FILE_COLUMNS} FROM files ORDER BY doc").fetchall()
        return [file_row(row) for row in rows]

    def file(self, doc: str) -> FileRecord | None:
        row = self.db.execute(f"SELECT {FILE_COLUMNS} FROM files WHERE doc = %s", (doc,)).fetchone()
        return file_row(row) if row else None

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM chunks").fetchone()[0])

    def get(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if len(ids) == 0:
            return {}
        rows = self.db.execute(
            f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id = ANY(%s)", ([int(i) for i in ids],)
        ).fetchall()
        return {int(row[0]): chunk_row(row) for row in rows}

    def get_by_uids(self, uids: Sequence[str]) -> list[StoredChunk]:
        if not uids:
            return []
        rows = self.db.execute(
            f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE uid = ANY(%s)", (list(uids),)
        ).fetchall()
        found = {row[1]: chunk_row(row) for row in rows}
        return [found[uid] for uid in uids if uid in found]

    def iter_chunks(self) -> Iterator[StoredChunk]:
        last = -1
        while True:
            rows = self.db.execute(
                f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id > %s ORDER BY id LIMIT %s",
                (last, BATCH),
            ).fetchall()
            if not rows:
                return
            last = int(rows[-1][0])
            yield from (chunk_row(row) for row in rows)

    def neighbours(self, doc: str, position: int, span: int) -> list[StoredChunk]:
        rows = self.db.execute(
            f"SELECT {CHUNK_COLUMNS} FROM chunks "
            "WHERE doc = %s AND position BETWEEN %s AND %s ORDER BY position, id",
            (doc, position - span, position + span),
        ).fetchall()
        return [chunk_row(row) for row in rows]

    def ids_for_sources(self, sources: Sequence[str]) -> np.ndarray:
        rows = self.db.execute(
            "SELECT c.id FROM chunks c JOIN files f ON c.doc = f.doc "
            "WHERE f.source = ANY(%s) OR f.doc = ANY(%s) ORDER BY c.id",
            (list(sources), list(sources)),
        ).fetchall()
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if len(ids) == 0:
            return {}
        rows = (
            self.db.cursor(binary=True)
            .execute("SELECT id, vector FROM chunks WHERE id = ANY(%s)", ([int(i) for i in ids],))
            .fetchall()
        )
        return {int(chunk_id): read_vector(blob) for chunk_id, blob in rows}

    # -- consistency ----------------------------------------------------------------------------

    def check(self) -> list[Problem]:
        """Files whose recorded chunk count is not the chunks stored, chunks of no file, and
        vectors not of the manifest's dimension (the server keeps its own pages sound)."""
        try:
            counted = dict(
                self.db.execute(
                    "SELECT doc, count(*) FROM chunks WHERE doc IS NOT NULL GROUP BY doc"
                ).fetchall()
            )
            files = self.files()
            dimension = self.dimension()
            wrong = 0
            if dimension:
                wrong = self.db.execute(
                    "SELECT count(*) FROM chunks WHERE vector_dims(vector) <> %s", (dimension,)
                ).fetchone()[0]
        except self._psycopg.Error as error:
            return [Problem("records", f"records cannot all be read ({error})", False)]
        if wrong:
            return [
                Problem("records", f"{wrong} chunks hold vectors that are not {dimension}-d", False)
            ]
        return chunk_count_problems(counted, files)

    def rewrite(self) -> None:
        """The server keeps the rows' storage sound; rebuild the schema's indexes (what a
        damaged index page would need) and start a new state."""
        sql = self._sql
        self.db.execute(sql.SQL("REINDEX SCHEMA {}").format(sql.Identifier(self.schema)))
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO meta VALUES ('state', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (secrets.token_hex(8),),
            )

    def drop(self) -> None:
        """Drop the base's schema (its tables, the lexical index's included) on the server."""
        sql = self._sql
        with self.transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, DDL_KEY))
            tx.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )

    def close(self) -> None:
        with self._guard:
            connections, self._connections = self._connections, []
        for connection in connections:
            with suppress(Exception):  # a dead connection
                connection.close()
        self._local = threading.local()


def register(records, dense, lexical, scheme) -> None:
    """Register the PostgreSQL backends with kbqa.store.factory, whose registering functions
    are passed in (so this module does not import the factory that imports it)."""
    from kbqa.settings import StoreSettings
    from kbqa.store.postgres_search import PgBM25Index, PgVectorIndex

    records(
        NAME,
        lambda folder, create, remote: PostgresRecordStore(folder, create=create, remote=remote),
        lambda folder: holds_remote(folder, NAME),
    )
    dense(PgVectorIndex.name, PgVectorIndex)
    lexical(PgBM25Index.name, PgBM25Index)
    for name in SCHEMES:
        scheme(
            name, StoreSettings(records=NAME, dense=PgVectorIndex.name, lexical=PgBM25Index.name)
        )
