"""`Store`: one knowledge base's record store, dense index and lexical index, written together.

Backend-neutral: it sees the three pieces through their interfaces (kbqa/store/base.py) and
runs each write as the record store's one transaction (the lexical index written inside it),
then lets the dense index follow the committed change. Open one with kbqa.store.factory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.store.base import (
    Change,
    DenseIndex,
    FileRecord,
    LexicalIndex,
    NewChunk,
    Problem,
    RecordStore,
    StoredChunk,
)


class Store:
    def __init__(self, records: RecordStore, dense: DenseIndex, lexical: LexicalIndex) -> None:
        self.records = records
        self.dense = dense
        self.lexical = lexical
        self.new = False  # whether opening it created it (kbqa.store.factory.open_store says)

    @property
    def folder(self) -> Path:
        return self.records.folder

    # -- writing (the caller holds writer()) --------------------------------------------------------

    def writer(self, wait_s: float = 0.0) -> AbstractContextManager[None]:
        return self.records.writer(wait_s)

    def replace_documents(
        self, documents: Sequence[tuple[FileRecord, Sequence[NewChunk], np.ndarray]]
    ) -> None:
        """Atomically replace the chunks of each (file, chunks, vectors) and record the file."""

        def write(tx: Any, change: Change) -> None:
            for record, chunks, vectors in documents:
                self._remove(tx, change, self.records.delete_chunks(tx, doc=record.doc))
                self.records.put_file(tx, record)
                self._insert(tx, change, chunks, vectors)

        self._write(write)

    def upsert_chunks(self, chunks: Sequence[NewChunk], vectors: np.ndarray) -> None:
        """Insert chunks, replacing any with the same uid (LangChain add-by-id semantics)."""

        def write(tx: Any, change: Change) -> None:
            for chunk in chunks:
                self._remove(tx, change, self.records.delete_chunks(tx, uid=chunk.uid))
            self._insert(tx, change, chunks, vectors)

        self._write(write)

    def delete_uids(self, uids: Iterable[str]) -> int:
        def write(tx: Any, change: Change) -> None:
            for uid in uids:
                self._remove(tx, change, self.records.delete_chunks(tx, uid=uid))

        return len(self._write(write).removed)

    def delete_documents(self, docs: Iterable[str]) -> int:
        def write(tx: Any, change: Change) -> None:
            for doc in docs:
                self._remove(tx, change, self.records.delete_chunks(tx, doc=doc))
                self.records.delete_file(tx, doc)

        return len(self._write(write).removed)

    def _write(self, body: Callable[[Any, Change], None]) -> Change:
        with self.records.transaction() as tx:
            change = Change(before=-1, after=-1)
            body(tx, change)
            if change:
                change.before, change.after = self.records.bump_generation(tx)
        self.dense.apply(change)
        return change

    def _remove(self, tx: Any, change: Change, ids: list[int]) -> None:
        if ids:
            self.lexical.remove(tx, ids)
            change.removed += ids

    def _insert(
        self, tx: Any, change: Change, chunks: Sequence[NewChunk], vectors: np.ndarray
    ) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = self.records.insert_chunks(tx, chunks, vectors)
        self.lexical.add(tx, zip(ids, chunks, strict=True))
        change.added_ids += ids
        change.added_vectors += list(vectors)

    def save_index(self) -> None:
        self.dense.save()

    # -- consistency ---------------------------------------------------------------------------

    def check(self) -> list[Problem]:
        """Everything found wrong: the records first (if they cannot be read, nothing else can)."""
        problems = self.records.check()
        if any(p.part == "records" and not p.repairable for p in problems):
            return problems
        return problems + self.lexical.check() + self.dense.check()

    def repair(self, problems: Sequence[Problem]) -> None:
        """Rebuild what `problems` (from check(), all repairable) say is damaged, from the
        records; the caller holds writer()."""
        unrepairable = [str(p) for p in problems if not p.repairable]
        if unrepairable:
            raise ValueError(f"cannot repair: {'; '.join(unrepairable)}")
        parts = {p.part for p in problems}
        self.dense.close()
        if "records" in parts:
            self.records.rewrite()
        if parts & {"records", "lexical index"}:
            self.lexical.rebuild()
        self.dense.rebuild()

    # -- reading (the common ones; search goes to .records, .dense and .lexical directly) --------

    @property
    def generation(self) -> int:
        return self.records.generation

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        return self.records.get_meta(key, default)

    def set_meta(self, values: dict[str, Any]) -> None:
        self.records.set_meta(values)

    def manifest(self) -> dict[str, str]:
        return self.records.manifest()

    def dimension(self) -> int | None:
        return self.records.dimension()

    def files(self) -> list[FileRecord]:
        return self.records.files()

    def file(self, doc: str) -> FileRecord | None:
        return self.records.file(doc)

    def count(self) -> int:
        return self.records.count()

    def neighbours(self, doc: str, position: int, span: int) -> list[StoredChunk]:
        return self.records.neighbours(doc, position, span)

    def index(self) -> Any:
        """The dense engine's own index at the committed generation (has `.ntotal`)."""
        return self.dense.index()

    def close(self) -> None:
        self.dense.close()
        self.lexical.close()
        self.records.close()
