"""The FAISS dense index: exact inner product (IndexFlatIP in an IndexIDMap2), ids = chunk ids.

A cache of the vectors in the record store. `index.<gen>.<state>.faiss` holds generation <gen>
of the committed state named <state> (random per commit, so a restored or rolled-back
store.sqlite that reuses a generation number never pairs with a newer file); it is written to a
temporary name and renamed. A file is used only if it also holds as many vectors as the records
and of their dimension. Missing, stale or damaged: rebuilt from the record store. Temporary files
left by a killed writer are removed when the index is opened.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.store.base import Change, Problem, RecordStore
from kbqa.store.leftovers import remove_stale_temporaries


class FaissIndex:
    name = "faiss"
    part = "dense index"

    def __init__(self, records: RecordStore) -> None:
        self.records = records
        self.folder = Path(records.folder)
        self._lock = threading.RLock()
        self._index: Any = None
        self._version: tuple[int, str] = (-1, "")
        remove_stale_temporaries(self.folder)

    def _path(self, version: tuple[int, str]) -> Path:
        generation, state = version
        return self.folder / f"index.{generation}.{state}.faiss"

    def _committed(self) -> tuple[int, str]:
        return self.records.generation, self.records.state

    def index(self) -> Any:
        """The FAISS index matching the current committed state (loaded or rebuilt)."""
        with self._lock:
            if self._index is not None and self._version == self._committed():
                return self._index
            with self.records.snapshot() as snapshot:
                version = (snapshot.generation, snapshot.state)
                index = self._read(self._path(version), snapshot.count)
                if index is None:
                    index = self._build(snapshot)
            self._index, self._version = index, version
            return index

    def _read(self, path: Path, count: int) -> Any:
        """The saved index at `path` if it exists and fits the records, else None."""
        import faiss

        if not path.exists():
            return None
        try:
            index = faiss.read_index(str(path))
        except RuntimeError:
            return None  # damaged cache file
        dimension = self.records.dimension()
        if index.ntotal != count or (count and dimension and index.d != dimension):
            return None
        return index

    def check(self) -> list[Problem]:
        """Whether the saved index of the committed state is sound (none saved is fine: it is a
        cache, rebuilt on use; files of other states are stale caches, removed at the next save)."""
        with self.records.snapshot() as snapshot:
            version, count = (snapshot.generation, snapshot.state), snapshot.count
        current = self._path(version)
        if current.exists() and self._read(current, count) is None:
            detail = f"{current.name} is damaged or does not hold the {count} records' vectors"
            return [Problem(self.part, detail, True)]
        return []

    def rebuild(self) -> None:
        """Forget what is loaded or saved and build the index again from the record store."""
        with self._lock:
            self._index, self._version = None, (-1, "")
            for old in self.folder.glob("index.*.faiss"):
                old.unlink(missing_ok=True)
            self.save()

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
            if index is not None and self._version[0] == change.before and fits:
                if change.removed:
                    index.remove_ids(np.asarray(change.removed, dtype=np.int64))
                if change.added_ids:
                    index.add_with_ids(
                        np.vstack(change.added_vectors).astype(np.float32, copy=False),
                        np.asarray(change.added_ids, dtype=np.int64),
                    )
                self._version = (change.after, self.records.state)
            elif self._version[0] != change.after:
                self._index = None

    def save(self) -> None:
        """Persist the current index (atomic rename), and remove older generations' files."""
        import faiss

        with self._lock:
            index = self.index()
            target = self._path(self._version)
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
            self._index, self._version = None, (-1, "")
