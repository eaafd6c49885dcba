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
from kbqa.store.base import FileRecord, NewChunk
from kbqa.store.locks import flock_writer
from kbqa.store.milvus import (
    _DUMMY,
    _FILE_FIELDS,
    _RESERVED,
    PATH_MAX,
    SCHEMA_VERSION,
    STRONG,
    VARCHAR_MAX,
    Batch,
    View,
    _commit_value,
    _parts,
    _strings,
    collection_prefix,
    connection,
    literal,
    vector_index,
)
from kbqa.store.milvus_lock import lease_writer
from kbqa.store.milvus_reads import MilvusReads
from kbqa.store.remote import Remote


class MilvusRecordStore(MilvusReads):
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
        tokens, rows = int(commit.get("tokens") or 0), int(commit.get("rows") or 0)
        if not commit.get("gone"):
            return View(generation, state, tokens=tokens, rows=rows)
        ids, keys = set(), set()
        for row in self._all("gone", f"gen <= {generation}", ["key"]):
            kind, _, target = row["key"].partition(":")
            (ids.add(int(target)) if kind == "c" else keys.add(target))
        return View(generation, state, frozenset(ids), frozenset(keys), True, tokens, rows)

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
        return View(view.generation, view.state, tokens=view.tokens, rows=view.rows)

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
        after = View(
            batch.pending,
            state,
            tokens=batch.view.tokens + batch.tokens,
            rows=batch.view.rows + batch.rows,
        )
        # The commit point: one row.
        self._put_meta({"commit": _commit_value(*self._counts(after, len(gone)))})
        batch.committed = True
        if gone:
            self._sweep(after, batch.gone_ids, batch.gone_keys)

    @staticmethod
    def _counts(view: View, gone: int = 0) -> tuple[int, str, int, int, int]:
        return view.generation, view.state, gone, view.tokens, view.rows

    def set_counts(self, view: View, *, tokens: int | None = None, rows: int | None = None) -> None:
        """Record recounted words or chunks at the committed state `view` (a rebuild, a repair)."""
        tokens = view.tokens if tokens is None else tokens
        rows = view.rows if rows is None else rows
        self._put_meta({"commit": _commit_value(view.generation, view.state, 0, tokens, rows)})

    def _sweep(self, view: View, ids: Iterable[int], keys: Iterable[str]) -> None:
        ids, keys = sorted(ids), sorted(keys)
        for part in ("chunks", "lexical"):
            if ids and self.has(part):
                for some in _parts(ids):
                    self.client.delete(self.names[part], ids=list(some))
        for some in _parts(keys):
            self.client.delete(self.names["files"], ids=list(some))
        self.client.delete(self.names["gone"], filter=f"gen <= {view.generation}")
        self._put_meta({"commit": _commit_value(*self._counts(view))})

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
        tx.rows -= len(ids)
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
        tx.rows += len(ids)
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

    def rewrite(self) -> None:
        """The server keeps its own storage (no file of ours to copy): sweep what a killed
        writer left and count the chunks again, which is all a rewrite could fix here."""
        view = self.recover()
        self.set_counts(view, rows=self._scan_count(view))

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
