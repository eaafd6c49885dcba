"""Dense (cosine, the dense index) and BM25 (the lexical index), fused by reciprocal rank.

Scores: every hit carries its cosine similarity to the query, clamped to [0, 1] (negative cosines
become 0), whichever list found it; the threshold applies to that number. Ranking is by the fused
rank, not by the cosine, because BM25 rescues exact terms (names, numbers, error codes) that small
embedders miss, especially in Chinese.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kbqa.embedders import Embedder
from kbqa.store.base import StoredChunk
from kbqa.store.store import Store
from kbqa.text.fusion import best_first, rrf_scores
from kbqa.types import TABLE, TEXT, Hit


class Reranker(Protocol):
    """A second stage (kbqa.chain.rerank has them): the same hits, reordered."""

    def rerank(
        self, query: str, hits: list[Hit], query_vector: np.ndarray | None = None
    ) -> list[Hit]: ...


@dataclass(frozen=True)
class SearchRequest:
    query: str
    k: int = 5
    mode: str = "hybrid"  # "hybrid" | "dense" | "bm25"
    threshold: float = 0.0
    sources: Sequence[str] | None = None
    expand: int = 0
    # A second stage over the best `rerank_candidates` fused hits (None: fused order).
    reranker: Reranker | None = None
    rerank_candidates: int = 30


class HybridSearcher:
    def __init__(self, store: Store, embedder: Embedder, *, candidates: int = 50) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates

    def run(self, request: SearchRequest) -> list[Hit]:
        if request.mode not in {"hybrid", "dense", "bm25"}:
            raise ValueError(f"unknown retrieval mode {request.mode!r}: hybrid, dense or bm25")
        query = request.query.strip()
        records = self.store.records
        if not query or records.count() == 0:
            return []
        allowed = records.ids_for_sources(request.sources) if request.sources else None
        pool = max(self.candidates, request.k * 4)
        query_vector = self.embedder.encode_query(query)

        dense: list[int] = []
        cosine: dict[int, float] = {}
        if request.mode in {"hybrid", "dense"}:
            for chunk_id, score in self.store.dense.search(query_vector, pool, allowed):
                dense.append(chunk_id)
                cosine[chunk_id] = score
        bm25: list[int] = []
        if request.mode in {"hybrid", "bm25"}:
            bm25 = self.store.lexical.search(query, pool, allowed)

        fused = rrf_scores([(dense, 1.0), (bm25, 1.0)])
        order = best_first(fused)

        missing = [chunk_id for chunk_id in order if chunk_id not in cosine]
        for chunk_id, vector in records.vectors(missing).items():
            cosine[chunk_id] = float(np.dot(vector, query_vector))
        # An id another process deleted since the index searches has no vector or row (a
        # replica replacing a file on a shared server): it is skipped, not an error.
        kept = [i for i in order if i in cosine and max(cosine[i], 0.0) >= request.threshold]
        depth = max(request.k, request.rerank_candidates) if request.reranker else request.k
        kept = kept[:depth]

        dense_rank = {chunk_id: rank for rank, chunk_id in enumerate(dense, start=1)}
        bm25_rank = {chunk_id: rank for rank, chunk_id in enumerate(bm25, start=1)}
        rows = records.get(kept)
        kept = [chunk_id for chunk_id in kept if chunk_id in rows]
        hits = []
        for chunk_id in kept:
            hit = to_hit(rows[chunk_id], max(0.0, min(1.0, cosine[chunk_id])))
            hit.dense_rank = dense_rank.get(chunk_id)
            hit.bm25_rank = bm25_rank.get(chunk_id)
            hit.extra["fused"] = fused[chunk_id]
            hits.append(hit)
        if request.reranker is not None:
            # The query vector goes along, so a stage that embeds does not embed the query again.
            hits = request.reranker.rerank(query, hits, query_vector)
        hits = hits[: request.k]
        if request.expand:
            by_uid = {row.uid: row for row in rows.values()}
            for hit in hits:
                self._expand(hit, by_uid[hit.chunk_id], request.expand)
        return hits

    def _expand(self, hit: Hit, row: StoredChunk, span: int) -> None:
        # A table chunk already holds whole rows under their header; text around it would
        # break the table's form (and a text hit gains nothing from a table's rows).
        if row.doc is None or row.metadata.get("kind") == TABLE:
            return
        around = self.store.records.neighbours(row.doc, row.position, span)
        # Neighbours on other pages would make the hit's page wrong: keep the same page only.
        same_page = [
            c
            for c in around
            if c.metadata.get("page") == row.metadata.get("page")
            and c.metadata.get("kind") != TABLE
        ]
        hit.text = "\n".join(chunk.text for chunk in same_page) or hit.text
        hit.extra["expanded_positions"] = [chunk.position for chunk in same_page]


def to_hit(row: StoredChunk, score: float) -> Hit:
    metadata = row.metadata
    return Hit(
        text=row.text,
        source=str(metadata.get("source", row.doc or "")),
        page=metadata.get("page"),
        score=score,
        path=str(metadata.get("path", row.doc or "")),
        position=int(metadata.get("position", row.position)),
        heading=metadata.get("heading"),
        chunk_id=row.uid,
        kind=str(metadata.get("kind", TEXT)),
        table=metadata.get("table"),
    )
