"""`MilvusRecordStore`: a knowledge base's rows in Milvus collections.

The design (collections, atomic batches by generation tags and a one-row commit, the writer's
lock or lease, the URI forms) is in kbqa/store/milvus.py's docstring.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.errors import KnowledgeBaseError
from kbqa.store.base import FileRecord, NewChunk, Problem, StoredChunk
from kbqa.store.milvus import (
    _CHUNK_FIELDS,
    _DUMMY,
    _FILE_FIELDS,
    _RESERVED,
    BATCH,
    PATH_MAX,
    SCHEMA_VERSION,
    STRONG,
    VARCHAR_MAX,
    WINDOW,
    Batch,
    View,
    _commit_value,
    _ints,
    _parts,
    _strings,
    collection_prefix,
    connection,
    literal,
    vector_index,
)
from kbqa.store.milvus_lock import flock_writer, lease_writer
from kbqa.store.remote import Remote


class _Snapshot:
    def __init__(self, records: MilvusRecordStore, view: View) -> None:
        self._records = records
        self._view = view
        self.generation = view.generation
        self.state = view.state
        self.count = records._count(view)

    def vector_batches(self, size: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        ids: list[int] = []
        vectors: list[np.ndarray] = []
        for row in self._records._in_id_order(self._view, ["id", "vector"]):
            ids.append(int(row["id"]))
            vectors.append(np.asarray(row["vector"], dtype=np.float32))
            if len(ids) >= size:
                yield np.asarray(ids, dtype=np.int64), np.vstack(vectors)
                ids, vectors = [], []
        if ids:
            yield np.asarray(ids, dtype=np.int64), np.vstack(vectors)


def _chunk(row: dict) -> StoredChunk:
    return StoredChunk(
        int(row["id"]),
        row["uid"],
        row["doc"],
        int(row["position"]),
        row["text"],
        json.loads(row["metadata"]),
    )


def _file(row: dict) -> FileRecord:
    return FileRecord(*(row[name] for name in _FILE_FIELDS))


class MilvusRecordStore:
    """One knowledge base's rows in Milvus. Writers hold `writer()`; thread-safe."""

    name = "milvus"

    def __init__(self, folder: Path, *, create: bool = False, remote: Remote | None = None) -> None:
        if remote is None:
            raise KnowledgeBaseError(
                "the milvus record store keeps a base on a server: create it with "
                "--store milvus://host:19530 (or milvus:///abs/path/kb.db for Milvus Lite)"
            )
        self.folder = Path(folder)
        self.remote = remote
        self.target, options = connection(remote)
        self.lite = not self.target.startswith(("http://", "https://"))
        prefix = collection_prefix(remote.name)
        self.names = {p: f"{prefix}_{p}" for p in ("meta", "files", "chunks", "lexical", "gone")}
        self.lock_path = Path(f"{self.target}.{prefix}.lock")  # Milvus Lite's writer lock
        self._batch_lock = threading.Lock()
        self._ready: set[str] = set()
        self.client = self._connect(options)
        try:
            existing = set(self.client.list_collections())
            if self.names["meta"] not in existing:
                if not create:
                    raise KnowledgeBaseError(
                        f"no knowledge base {remote.name!r} on {remote.kept_uri} (its collections "
                        "are gone); delete the folder or create it again"
                    )
                self._create_base()
            else:  # attach: another process made it (never wiped)
                for part in self.names:
                    if self.names[part] in existing:
                        self._load(part)
        except KnowledgeBaseError:
            self.client.close()
            raise
        except Exception as error:
            self.client.close()
            raise KnowledgeBaseError(f"Milvus at {remote.kept_uri}: {error}") from error

    # -- connecting and collections ---------------------------------------------------------------

    def _connect(self, options: dict[str, Any]) -> Any:
        from pymilvus import MilvusClient

        if self.lite:
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
            # No keepalive pings to an in-process server: Milvus Lite answers pymilvus's (every
            # 10 s) with GOAWAY "too_many_pings", which gRPC logs to stderr.
            options = {**options, "grpc_options": {"grpc.keepalive_time_ms": 2**31 - 1}}
        try:
            return MilvusClient(uri=self.target, timeout=30, **options)
        except Exception as error:
            hint = (
                " (Milvus Lite serves one process at a time: is another kbqa using this file?)"
                if self.lite
                else ""
            )
            raise KnowledgeBaseError(
                f"cannot reach Milvus at {self.remote.kept_uri}: {error}{hint}"
            ) from error

    def _load(self, part: str) -> None:
        self.client.load_collection(self.names[part])
        self._ready.add(part)

    def _create(self, part: str, schema: Any, index: Any) -> None:
        name = self.names[part]
        try:
            self.client.create_collection(name, schema=schema, consistency_level=STRONG)
        except Exception:
            if not self.client.has_collection(name):  # not a replica's race: a real failure
                raise
        # Not pymilvus's create-with-index, which polls the new index every 0.5 s (a second
        # per base on Milvus Lite); loading waits for the index anyway. A replica racing us may
        # have made the index already.
        with suppress(Exception):
            self.client.create_index(name, index, sync=False)
        self._load(part)

    def has(self, part: str) -> bool:
        """Whether a collection exists (the chunks and lexical ones appear at the first insert)."""
        if part not in self._ready and self.client.has_collection(self.names[part]):
            self._load(part)
        return part in self._ready

    def _keyed_schema(self, key_length: int, fields: Sequence[tuple[str, Any, dict]]) -> tuple:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=key_length)
        for name, kind, options in fields:
            schema.add_field(name, getattr(DataType, kind), **options)
        schema.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
        index = self.client.prepare_index_params()
        index.add_index(field_name="_v", index_type="FLAT", metric_type="IP")
        return schema, index

    def _create_base(self) -> None:
        text = {"max_length": PATH_MAX}
        self._create(
            "meta", *self._keyed_schema(512, [("value", "VARCHAR", {"max_length": VARCHAR_MAX})])
        )
        file_fields = [
            ("doc", "VARCHAR", text),
            ("source", "VARCHAR", text),
            ("origin", "VARCHAR", {**text, "nullable": True}),
            ("sha256", "VARCHAR", {"max_length": 128}),
            ("size", "INT64", {}),
            ("mtime", "DOUBLE", {}),
            ("pages", "INT64", {"nullable": True}),
            ("chunks", "INT64", {}),
            ("added_at", "DOUBLE", {}),
            ("added", "INT64", {}),
        ]
        self._create("files", *self._keyed_schema(PATH_MAX + 32, file_fields))
        self._create("gone", *self._keyed_schema(PATH_MAX + 64, [("gen", "INT64", {})]))
        present = self._meta(["schema_version", "commit"])
        first = {"schema_version": str(SCHEMA_VERSION), "commit": _commit_value(0, "0", 0)}
        if missing := {k: v for k, v in first.items() if k not in present}:
            self._put_meta(missing)

    def ensure_chunks(self, dimension: int) -> None:
        """The chunks collection, made at the first insert (when the dimension is known)."""
        if self.has("chunks"):
            return
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("uid", DataType.VARCHAR, max_length=PATH_MAX)
        schema.add_field("doc", DataType.VARCHAR, max_length=PATH_MAX, nullable=True)
        schema.add_field("position", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX)
        schema.add_field("metadata", DataType.VARCHAR, max_length=VARCHAR_MAX)
        schema.add_field("added", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dimension))
        self._create("chunks", schema, vector_index(self.client))

    # -- the manifest --------------------------------------------------------------------------

    def _meta(self, keys: Sequence[str] | None = None) -> dict[str, str]:
        where = f"key in {_strings(keys)}" if keys is not None else 'key != ""'
        rows = self.client.query(
            self.names["meta"],
            filter=where,
            output_fields=["key", "value"],
            consistency_level=STRONG,
        )
        return {row["key"]: row["value"] for row in rows}

    def _put_meta(self, values: dict[str, str]) -> None:
        rows = [{"key": k, "value": v, "_v": _DUMMY} for k, v in values.items()]
        self.client.upsert(self.names["meta"], rows)

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        if key in {"generation", "state"}:
            view = self.view()
            return str(view.generation) if key == "generation" else view.state
        return self._meta([key]).get(key, default)

    def set_meta(self, values: dict[str, Any]) -> None:
        if reserved := _RESERVED & set(values):
            raise ValueError(f"meta keys {sorted(reserved)} are the store's own")
        self._put_meta({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()})

    def manifest(self) -> dict[str, str]:
        rows = {k: v for k, v in self._meta().items() if k not in _RESERVED}
        view = self.view()
        return {**rows, "generation": str(view.generation), "state": view.state}

    def view(self) -> View:
        """The committed state now (asked of the server every time: nothing is cached)."""
        commit = json.loads(self._meta(["commit"]).get("commit") or _commit_value(0, "0", 0))
        generation, state = int(commit["generation"]), str(commit["state"])
        tokens = int(commit.get("tokens") or 0)
        if not commit.get("gone"):
            return View(generation, state, tokens=tokens)
        ids, keys = set(), set()
        for row in self._all("gone", f"gen <= {generation}", ["key"]):
            kind, _, target = row["key"].partition(":")
            (ids.add(int(target)) if kind == "c" else keys.add(target))
        return View(generation, state, frozenset(ids), frozenset(keys), True, tokens)

    @property
    def generation(self) -> int:
        return self.view().generation

    @property
    def state(self) -> str:
        """Names the committed state exactly (random per commit; "0" before the first one)."""
        return self.view().state

    def dimension(self) -> int | None:
        value = self.get_meta("dimension")
        return int(value) if value else None

    # -- writing ----------------------------------------------------------------------------------

    def writer(self, wait_s: float = 0.0) -> AbstractContextManager[None]:
        """Exclusive write access: a flock beside a Milvus Lite file, a lease row on a server
        (kbqa/store/milvus_lock.py)."""
        if self.lite:
            return flock_writer(self.lock_path, wait_s, self.remote.name)
        return lease_writer(self, wait_s)

    @contextmanager
    def transaction(self) -> Iterator[Batch]:
        """One atomic batch (see the module docstring); the caller holds writer()."""
        with self._batch_lock:
            view = self.recover()
            batch = Batch(view, view.generation + 1)
            try:
                yield batch
                if batch.wrote:
                    self._commit(batch)
            except BaseException:
                if not batch.committed:  # after the commit point, the next batch sweeps
                    self._discard(batch)
                raise

    def recover(self) -> View:
        """Delete what a killed batch left (rows of generations never committed) and sweep
        committed deletions; returns the committed state, with nothing awaiting a sweep."""
        view = self.view()
        for part in ("chunks", "lexical", "files"):
            if self.has(part):
                self.client.delete(self.names[part], filter=f"added > {view.generation}")
        self.client.delete(self.names["gone"], filter=f"gen > {view.generation}")
        if view.unswept:
            self._sweep(view, view.gone_ids, view.gone_keys)
        return View(view.generation, view.state, tokens=view.tokens)

    def _commit(self, batch: Batch) -> None:
        if self.view().generation != batch.view.generation:
            raise KnowledgeBaseError(
                f"another writer committed to {self.remote.name!r} during this batch; "
                "it was discarded, try again"
            )
        gone = [f"c:{i}" for i in sorted(batch.gone_ids)] + [
            f"f:{k}" for k in sorted(batch.gone_keys)
        ]
        for part in _parts(gone):
            rows = [{"key": key, "gen": batch.pending, "_v": _DUMMY} for key in part]
            self.client.upsert(self.names["gone"], rows)
        state = batch.state or secrets.token_hex(8)
        tokens = batch.view.tokens + batch.tokens
        # The commit point: one row.
        self._put_meta({"commit": _commit_value(batch.pending, state, len(gone), tokens)})
        batch.committed = True
        if gone:
            self._sweep(View(batch.pending, state, tokens=tokens), batch.gone_ids, batch.gone_keys)

    def set_tokens(self, view: View, tokens: int) -> None:
        """Record the lexical rows' word count at the committed state `view` (a rebuild)."""
        self._put_meta({"commit": _commit_value(view.generation, view.state, 0, tokens)})

    def _sweep(self, view: View, ids: Iterable[int], keys: Iterable[str]) -> None:
        ids, keys = sorted(ids), sorted(keys)
        for part in ("chunks", "lexical"):
            if ids and self.has(part):
                for some in _parts(ids):
                    self.client.delete(self.names[part], ids=list(some))
        for some in _parts(keys):
            self.client.delete(self.names["files"], ids=list(some))
        self.client.delete(self.names["gone"], filter=f"gen <= {view.generation}")
        self._put_meta({"commit": _commit_value(view.generation, view.state, 0, view.tokens)})

    def _discard(self, batch: Batch) -> None:
        """A failed batch deletes its own rows (what a kill leaves, the next batch deletes)."""
        try:
            for part in ("chunks", "lexical", "files"):
                if self.has(part):
                    self.client.delete(self.names[part], filter=f"added == {batch.pending}")
            self.client.delete(self.names["gone"], filter=f"gen == {batch.pending}")
        except Exception:  # the server is gone too: the next batch cleans up
            pass

    def _allocate(self, count: int) -> list[int]:
        first = int(self._meta(["next_id"]).get("next_id") or 1)
        self._put_meta({"next_id": str(first + count)})  # before the rows: ids never come back
        return list(range(first, first + count))

    def delete_chunks(
        self, tx: Batch, *, doc: str | None = None, uid: str | None = None
    ) -> list[int]:
        if (doc is None and uid is None) or not self.has("chunks"):
            return []
        which = f"uid == {literal(uid)}" if uid is not None else f"doc == {literal(doc)}"
        where = f"{which} and (added <= {tx.view.generation} or added == {tx.pending})"
        found = self._all("chunks", where, ["id"])
        ids = sorted(int(r["id"]) for r in found if int(r["id"]) not in tx.gone_ids)
        new = [i for i in ids if i in tx.new_chunks]
        if new:  # written by this batch: nobody has seen them, delete them now
            self.client.delete(self.names["chunks"], ids=new)
            tx.new_chunks.difference_update(new)
        tx.gone_ids.update(i for i in ids if i not in new)
        tx.wrote = tx.wrote or bool(ids)
        return ids

    def insert_chunks(
        self, tx: Batch, chunks: Sequence[NewChunk], vectors: np.ndarray
    ) -> list[int]:
        if len(chunks) != len(vectors):
            raise ValueError("one vector per chunk is required")
        if not chunks:
            return []
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.ensure_chunks(vectors.shape[1])
        uids = [c.uid for c in chunks]
        if len(set(uids)) != len(uids) or self._visible_uids(tx, uids):
            raise KnowledgeBaseError("a chunk with this uid is already stored (uids are unique)")
        ids = self._allocate(len(chunks))
        rows = []
        for chunk_id, chunk, vector in zip(ids, chunks, vectors, strict=True):
            metadata = json.dumps(chunk.metadata, ensure_ascii=False)
            for what, value in (("text", chunk.text), ("metadata", metadata)):
                if len(value.encode("utf-8")) > VARCHAR_MAX:
                    raise KnowledgeBaseError(
                        f"chunk {chunk.uid!r}: its {what} is over Milvus's {VARCHAR_MAX} bytes"
                    )
            rows.append(
                {
                    "id": chunk_id,
                    "uid": chunk.uid,
                    "doc": chunk.doc,
                    "position": int(chunk.position),
                    "text": chunk.text,
                    "metadata": metadata,
                    "added": tx.pending,
                    "vector": vector,
                }
            )
        tx.wrote = True
        tx.new_chunks.update(ids)
        for part in _parts(rows):
            self.client.insert(self.names["chunks"], list(part))
        return ids

    def _visible_uids(self, tx: Batch, uids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for part in _parts(list(uids)):
            where = f"uid in {_strings(part)} and (added <= {tx.view.generation} or added == {tx.pending})"
            found.update(
                r["uid"]
                for r in self._all("chunks", where, ["id", "uid"])
                if int(r["id"]) not in tx.gone_ids
            )
        return found

    def _visible_file_keys(self, tx: Batch, doc: str) -> list[str]:
        where = f"doc == {literal(doc)} and added <= {tx.view.generation}"
        return [r["key"] for r in self._all("files", where, ["key"])]

    def put_file(self, tx: Batch, record: FileRecord) -> None:
        tx.gone_keys.update(self._visible_file_keys(tx, record.doc))
        key = f"{tx.pending}:{record.doc}"
        row = {name: getattr(record, name) for name in _FILE_FIELDS}
        tx.wrote = True
        tx.new_files.add(key)
        self.client.upsert(
            self.names["files"], [{**row, "key": key, "added": tx.pending, "_v": _DUMMY}]
        )

    def delete_file(self, tx: Batch, doc: str) -> None:
        gone = set(self._visible_file_keys(tx, doc)) - tx.gone_keys
        tx.gone_keys.update(gone)
        key = f"{tx.pending}:{doc}"
        tx.wrote = tx.wrote or bool(gone) or key in tx.new_files
        if key in tx.new_files:
            self.client.delete(self.names["files"], ids=[key])
            tx.new_files.discard(key)

    def bump_generation(self, tx: Batch) -> tuple[int, int]:
        tx.wrote = True
        tx.state = secrets.token_hex(8)
        return tx.view.generation, tx.pending

    # -- reading ----------------------------------------------------------------------------------

    def _all(self, part: str, where: str, fields: list[str]) -> list[dict]:
        """Every row of `part` matching `where`: in pages on a server (which caps the rows one
        query returns); Milvus Lite returns them all at once."""
        if self.lite:
            return self._query(part, where, fields)
        iterator = self.client.query_iterator(
            self.names[part],
            batch_size=BATCH,
            filter=where,
            output_fields=fields,
            consistency_level=STRONG,
        )
        rows: list[dict] = []
        try:
            while page := iterator.next():
                rows.extend(page)
        finally:
            iterator.close()
        return rows

    def _query(self, part: str, where: str, fields: list[str]) -> list[dict]:
        return self.client.query(
            self.names[part], filter=where, output_fields=fields, consistency_level=STRONG
        )

    def _in_id_order(self, view: View, fields: list[str]) -> Iterator[dict]:
        if not self.has("chunks"):
            return
        end = int(self._meta(["next_id"]).get("next_id") or 1)
        for low in range(0, end, WINDOW):
            where = f"id >= {low} and id < {low + WINDOW} and {view.chunks()}"
            yield from sorted(self._query("chunks", where, fields), key=lambda r: r["id"])

    def files(self) -> list[FileRecord]:
        rows = self._all("files", self.view().files(), _FILE_FIELDS)
        return sorted((_file(r) for r in rows), key=lambda f: f.doc)

    def file(self, doc: str) -> FileRecord | None:
        rows = self._query(
            "files", f"doc == {literal(doc)} and {self.view().files()}", _FILE_FIELDS
        )
        return _file(rows[0]) if rows else None

    def _count(self, view: View) -> int:
        if not self.has("chunks"):
            return 0
        rows = self._query("chunks", view.chunks(), ["count(*)"])
        return int(rows[0]["count(*)"])

    def count(self) -> int:
        return self._count(self.view())

    def get(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not len(ids) or not self.has("chunks"):
            return {}
        view = self.view()
        out: dict[int, StoredChunk] = {}
        for part in _parts([int(i) for i in ids]):
            for row in self._query(
                "chunks", f"id in {_ints(part)} and {view.chunks()}", _CHUNK_FIELDS
            ):
                out[int(row["id"])] = _chunk(row)
        return out

    def get_by_uids(self, uids: Sequence[str]) -> list[StoredChunk]:
        if not uids or not self.has("chunks"):
            return []
        view = self.view()
        found: dict[str, StoredChunk] = {}
        for part in _parts(list(uids)):
            for row in self._query(
                "chunks", f"uid in {_strings(part)} and {view.chunks()}", _CHUNK_FIELDS
            ):
                found[row["uid"]] = _chunk(row)
        return [found[uid] for uid in uids if uid in found]

    def iter_chunks(self) -> Iterator[StoredChunk]:
        for row in self._in_id_order(self.view(), _CHUNK_FIELDS):
            yield _chunk(row)

    def neighbours(self, doc: str, position: int, span: int) -> list[StoredChunk]:
        if not self.has("chunks"):
            return []
        where = (
            f"doc == {literal(doc)} and position >= {int(position - span)} "
            f"and position <= {int(position + span)} and {self.view().chunks()}"
        )
        return sorted(
            (_chunk(r) for r in self._query("chunks", where, _CHUNK_FIELDS)),
            key=lambda c: c.position,
        )

    def ids_for_sources(self, sources: Sequence[str]) -> np.ndarray:
        if not sources or not self.has("chunks"):
            return np.empty(0, dtype=np.int64)
        view = self.view()
        names = _strings(sources)
        docs = sorted(
            {
                r["doc"]
                for r in self._all(
                    "files", f"(source in {names} or doc in {names}) and {view.files()}", ["doc"]
                )
            }
        )
        ids: list[int] = []
        for part in _parts(docs):
            ids += [
                int(r["id"])
                for r in self._all("chunks", f"doc in {_strings(part)} and {view.chunks()}", ["id"])
            ]
        return np.asarray(sorted(ids), dtype=np.int64)

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        if not len(ids) or not self.has("chunks"):
            return {}
        view = self.view()
        out: dict[int, np.ndarray] = {}
        for part in _parts([int(i) for i in ids]):
            for row in self._query(
                "chunks", f"id in {_ints(part)} and {view.chunks()}", ["id", "vector"]
            ):
                out[int(row["id"])] = np.asarray(row["vector"], dtype=np.float32)
        return out

    @contextmanager
    def snapshot(self) -> Iterator[_Snapshot]:
        """One committed state's rows. A batch committing meanwhile may sweep rows it deleted
        from under a long read; the Milvus indexes never need one (they are the rows)."""
        yield _Snapshot(self, self.view())

    # -- consistency ----------------------------------------------------------------------------

    def check(self) -> list[Problem]:
        view = self.view()
        counted: dict[str, int] = {}
        try:
            files = self.files()
            for row in self._in_id_order(view, ["id", "doc", "metadata"]):
                json.loads(row["metadata"])
                if row["doc"] is not None:
                    counted[row["doc"]] = counted.get(row["doc"], 0) + 1
        except ValueError as error:
            return [Problem("records", f"a chunk's metadata is not JSON ({error})", False)]
        except Exception as error:
            return [Problem("records", f"records cannot all be read ({error})", False)]
        problems = []
        for record in files:
            held = counted.pop(record.doc, 0)
            if held != record.chunks:
                detail = (
                    f"{record.doc}: {held} chunks stored, {record.chunks} recorded; ingest it again"
                )
                problems.append(Problem("records", detail, False))
        for doc in sorted(counted):
            problems.append(Problem("records", f"{doc}: chunks of a file not recorded", False))
        dimension = self.dimension()
        if dimension and self.has("chunks"):
            fields = self.client.describe_collection(self.names["chunks"])["fields"]
            held = next(int(f["params"]["dim"]) for f in fields if f["name"] == "vector")
            if held != dimension:
                detail = (
                    f"the chunks collection holds {held}-d vectors, the manifest says {dimension}"
                )
                problems.append(Problem("records", detail, False))
        return problems

    def rewrite(self) -> None:
        """The server keeps its own storage (no file of ours to copy): sweep what a killed
        writer left, which is all a rewrite could fix here."""
        self.recover()

    def drop(self) -> None:
        """Drop the base's collections (the caller holds writer())."""
        for name in self.names.values():
            if self.client.has_collection(name):
                self.client.drop_collection(name)
        self._ready.clear()
        if self.lite:
            self.lock_path.unlink(missing_ok=True)

    def close(self) -> None:
        with suppress(Exception):
            self.client.close()
