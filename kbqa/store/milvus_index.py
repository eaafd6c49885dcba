"""The Milvus dense index: the engine's own exact search over a milvus record store's vectors.

Dense ("milvus"): the chunks collection's vector field, FLAT index, IP metric (exact inner
product on the L2-normalised vectors); (id, inner product) best first. Written with the rows, in
the same batch, so there is nothing to follow, save or rebuild from a cache: `apply` and `save`
do nothing, and every search filters on the committed generation (kbqa/store/milvus.py), so a
commit by another client is seen by the next search.

Lexical ("milvus-bm25"): kbqa/store/milvus_bm25.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kbqa.errors import KnowledgeBaseError
from kbqa.store.base import Change, Problem, RecordStore
from kbqa.store.milvus import (
    STRONG,
    _ints,
    vector_index,
)
from kbqa.store.milvus_records import MilvusRecordStore

#: Milvus caps a search's limit (topk) at 16,384
TOPK_MAX = 16384
BM25_PARAMS = {"bm25_k1": 1.2, "bm25_b": 0.75}


def _milvus_records(records: RecordStore, what: str) -> MilvusRecordStore:
    if not isinstance(records, MilvusRecordStore):
        raise KnowledgeBaseError(f"the {what} needs the milvus record store, not {records.name!r}")
    return records


def _allowed(allowed: np.ndarray | None) -> str:
    return "" if allowed is None else f" and id in {_ints(np.asarray(allowed).tolist())}"


@dataclass(frozen=True)
class MilvusIndexView:
    """What `index()` gives: the collection and its size, for benchmarks and checks."""

    client: Any
    collection: str
    ntotal: int
    d: int

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Milvus's own query, shaped like FAISS's `index.search` (scores, ids): the reference
        `kbqa bench store` measures kbqa's dense search against (no generation filter)."""
        found = self.client.search(
            self.collection,
            data=np.asarray(queries, dtype=np.float32).tolist(),
            anns_field="vector",
            limit=k,
            output_fields=["id"],
            search_params={"metric_type": "IP"},
        )
        scores = np.array([[hit["distance"] for hit in row] for row in found], dtype=np.float32)
        ids = np.array([[hit["id"] for hit in row] for row in found], dtype=np.int64)
        return scores, ids


class MilvusDenseIndex:
    name = "milvus"
    part = "dense index"

    def __init__(self, records: RecordStore) -> None:
        self.records = _milvus_records(records, "milvus dense index")

    def apply(self, change: Change) -> None:
        pass  # the vectors are the rows: written and committed with them

    def search(
        self, vector: np.ndarray, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        records = self.records
        if (allowed is not None and len(allowed) == 0) or limit <= 0 or not records.has("chunks"):
            return []
        where = records.view().chunks() + _allowed(allowed)
        found = records.client.search(
            records.names["chunks"],
            data=[np.asarray(vector, dtype=np.float32).reshape(-1).tolist()],
            anns_field="vector",
            limit=min(int(limit), TOPK_MAX),
            filter=where,
            output_fields=["id"],
            search_params={"metric_type": "IP"},
            consistency_level=STRONG,
        )
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def index(self) -> MilvusIndexView:
        records = self.records
        return MilvusIndexView(
            records.client, records.names["chunks"], records.count(), records.dimension() or 0
        )

    def save(self) -> None:
        pass  # the server persists on write

    def check(self) -> list[Problem]:
        records = self.records
        if not records.has("chunks"):
            return []
        try:
            described = records.client.describe_index(records.names["chunks"], "vector")
        except Exception as error:
            return [Problem(self.part, f"the vector index cannot be read ({error})", True)]
        kind = (described or {}).get("index_type"), (described or {}).get("metric_type")
        if kind != ("FLAT", "IP"):
            detail = f"the vector index is {kind[0]}/{kind[1]}, not FLAT/IP (exact inner product)"
            return [Problem(self.part, detail, True)]
        return []

    def rebuild(self) -> None:
        """Build the vector index again (FLAT, IP)."""
        records = self.records
        if not records.has("chunks"):
            return
        name = records.names["chunks"]
        records.client.release_collection(name)
        if "vector" in records.client.list_indexes(name):
            records.client.drop_index(name, "vector")
        records.client.create_index(name, vector_index(records.client), sync=False)
        records.client.load_collection(name)

    def close(self) -> None:
        pass  # the record store owns the client
