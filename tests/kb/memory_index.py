"""A second dense index, registered through the store factory: numpy brute force, in memory.

It exists to show the storage seam: the same store tests run on it and on FAISS
(tests/kb/conftest.py registers it as "numpy").
"""

from __future__ import annotations

import threading

import numpy as np

from kbqa.store.base import Change, Problem, RecordStore


class NumpyIndex:
    name = "numpy"

    def __init__(self, records: RecordStore) -> None:
        self.records = records
        self._lock = threading.RLock()
        self._ids = np.empty(0, dtype=np.int64)
        self._matrix: np.ndarray | None = None
        self._generation = -1

    @property
    def ntotal(self) -> int:
        return len(self._ids)

    def index(self) -> NumpyIndex:
        """Itself, rebuilt from the record store when not at the committed generation."""
        with self._lock:
            if self._matrix is None or self._generation != self.records.generation:
                with self.records.snapshot() as snapshot:
                    batches = list(snapshot.vector_batches())
                    self._generation = snapshot.generation
                dimension = self.records.dimension() or 1
                self._ids = np.concatenate([ids for ids, _ in batches] or [self._ids[:0]])
                self._matrix = np.vstack(
                    [vectors for _, vectors in batches] or [np.empty((0, dimension), np.float32)]
                )
            return self

    def apply(self, change: Change) -> None:
        if not change:
            return
        with self._lock:
            if self._matrix is None or self._generation != change.before:
                self._matrix = None if self._generation != change.after else self._matrix
                return
            keep = ~np.isin(self._ids, np.asarray(change.removed, dtype=np.int64))
            ids, matrix = self._ids[keep], self._matrix[keep]
            if change.added_ids:
                added = np.vstack(change.added_vectors).astype(np.float32)
                matrix = added if matrix.shape[0] == 0 else np.vstack([matrix, added])
                ids = np.concatenate([ids, np.asarray(change.added_ids, dtype=np.int64)])
            self._ids, self._matrix, self._generation = ids, matrix, change.after

    def search(
        self, vector: np.ndarray, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        with self._lock:
            self.index()
            ids, matrix = self._ids, self._matrix
        if allowed is not None:
            mask = np.isin(ids, allowed)
            ids, matrix = ids[mask], matrix[mask]
        if len(ids) == 0:
            return []
        scores = matrix @ np.asarray(vector, dtype=np.float32).reshape(-1)
        best = np.argsort(-scores, kind="stable")[:limit]
        return [(int(ids[i]), float(scores[i])) for i in best]

    def save(self) -> None:
        pass  # in memory only: rebuilt from the record store when a base is opened

    def check(self) -> list[Problem]:
        return []  # nothing persisted, so nothing can go stale or be damaged

    def rebuild(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._matrix, self._generation = None, -1
