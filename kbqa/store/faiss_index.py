"""The FAISS dense index: exact inner product (IndexFlatIP in an IndexIDMap2), ids = chunk ids.

A cache of the vectors in the record store. `index.<gen>.faiss` holds generation <gen>; it is
written to a temporary name and renamed, and named after the generation it holds, so a reader can
never pair an index with the wrong rows. Missing, stale or damaged: rebuilt from the record store.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.store.base import Change, RecordStore


class FaissIndex:
    name = "faiss"

    def __init__(self, records: RecordStore) -> None:
        self.records = records
        self.folder = Path(records.folder)
        self._lock = threading.RLock()
        self._index: Any = None
        self._generation = -1

    def _path(self, generation: int) -> Path:
        return self.folder / f"index.{generation}.faiss"

    def index(self) -> Any:
        """The FAISS index matching the current committed generation (loaded or rebuilt)."""
        import faiss

        generation = self.records.generation
        with self._lock:
            if self._index is not None and self._generation == generation:
                return self._index
            with self.records.snapshot() as snapshot:
                generation = snapshot.generation
                path = self._path(generation)
                index = None
                if path.exists():
                    try:
                        index = faiss.read_index(str(path))
                    except RuntimeError:
                        index = None  # damaged cache file: rebuild below
                if index is None:
                    index = self._build(snapshot)
            self._index, self._generation = index, generation
            return index

    def _build(self, snapshot: Any) -> Any:
        import faiss

        index = None
        for ids, vectors in snapshot.vector_batches(8192):
            if index is None:
                index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
            index.add_with_ids(vectors, ids)
        if index is None:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.records.dimension() or 1))
        return index

    def apply(self, change: Change) -> None:
        # Keep an already-loaded index in step, so a writer does not rebuild after each batch.
        if not change:
            return
        with self._lock:
            index = self._index
            fits = not change.added_vectors or (
                index is not None and index.d == len(change.added_vectors[0])
            )
            if index is not None and self._generation == change.before and fits:
                if change.removed:
                    index.remove_ids(np.asarray(change.removed, dtype=np.int64))
                if change.added_ids:
                    index.add_with_ids(
                        np.vstack(change.added_vectors).astype(np.float32, copy=False),
                        np.asarray(change.added_ids, dtype=np.int64),
                    )
                self._generation = change.after
            elif self._generation != change.after:
                self._index = None

    def save(self) -> None:
        """Persist the current index (atomic rename), and remove older generations' files."""
        import faiss

        with self._lock:
            index = self.index()
            target = self._path(self._generation)
            if not target.exists():
                temporary = target.with_suffix(f".tmp{os.getpid()}")
                faiss.write_index(index, str(temporary))
                os.replace(temporary, target)
        for old in self.folder.glob("index.*.faiss"):
            if old != target:
                old.unlink(missing_ok=True)

    def search(
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
        with self._lock:
            scores, ids = index.search(
                np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1),
                min(limit, index.ntotal),
                params=params,
            )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def close(self) -> None:
        with self._lock:
            self._index, self._generation = None, -1
