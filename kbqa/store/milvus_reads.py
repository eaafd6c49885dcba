"""The reads of the milvus record store (`MilvusReads`, mixed into MilvusRecordStore).

Every read asks the server for the committed state first (`view()`) and filters on it
(kbqa/store/milvus.py says how), so nothing is cached across commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from kbqa.store.base import FileRecord, Problem, StoredChunk
from kbqa.store.milvus import (
    _CHUNK_FIELDS,
    _FILE_FIELDS,
    BATCH,
    STRONG,
    WINDOW,
    View,
    _ints,
    _parts,
    _strings,
    literal,
)


class _Snapshot:
    def __init__(self, records: MilvusReads, view: View) -> None:
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


class MilvusReads:
    """Reading one base's committed rows; the class it is mixed into connects and writes."""

    client: Any
    names: dict[str, str]
    lite: bool

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
        return view.rows  # kept in the commit record: no scan

    def _scan_count(self, view: View) -> int:
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
        loose = 0  # chunks of no file (added through the API)
        try:
            files = self.files()
            for row in self._in_id_order(view, ["id", "doc", "metadata"]):
                json.loads(row["metadata"])
                if row["doc"] is not None:
                    counted[row["doc"]] = counted.get(row["doc"], 0) + 1
                else:
                    loose += 1
        except ValueError as error:
            return [Problem("records", f"a chunk's metadata is not JSON ({error})", False)]
        except Exception as error:
            return [Problem("records", f"records cannot all be read ({error})", False)]
        problems = []
        if (held := sum(counted.values()) + loose) != view.rows:
            detail = f"{held} chunks stored, the commit record counts {view.rows}"
            problems.append(Problem("records", detail, True))
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
