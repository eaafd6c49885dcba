"""Dense (cosine, the dense index) and BM25 (the lexical index), fused by their scores.

Scores: every hit carries its cosine similarity to the query, clamped to [0, 1] (negative cosines
become 0), whichever list found it; the threshold applies to that number. Ranking is by the fused
score, not by the cosine, because BM25 rescues exact terms (names, numbers, error codes) that
small embedders miss, especially in Chinese.

The fusion is a convex combination of each list's scores scaled to [0, 1] over its best
candidates (`kbqa.text.fusion.convex_scores`, DENSE_WEIGHT, NORM_DEPTH), not reciprocal ranks:
on real manuals the evidence is often first in one list and far down the other (a paraphrased option description
that e5 ranks 2nd and BM25 99th; a path BM25 ranks 1st and e5 60th), and rank fusion buried it
under chunks both lists put around tenth. On eval/real `tune` (docs/benchmarks.md, "Thirteenth
session") hit@1 went from 0.700 to 0.733, hit@5 from 0.900 to 0.942 and MRR from 0.785 to
0.821; weights 0.4-0.6 all beat rank fusion there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kbqa.embedders import Embedder
from kbqa.store.base import StoredChunk
from kbqa.store.store import Store
from kbqa.text.fusion import best_first, convex_scores, rrf_term
from kbqa.types import TABLE, TEXT, Hit

# The cosine's share of the fused score, BM25's the rest (0.4 / 0.5 / 0.6 / 0.7 tried on eval/real
# tune: hit@1 0.708 / 0.725 / 0.708 / 0.683, hit@5 0.933 / 0.942 / 0.942 / 0.908).
DENSE_WEIGHT = 0.5
# Each list is scaled over its best NORM_DEPTH scores (the rest count 0), so the size of the
# base does not set the scale: in a 47-chunk base the dense list holds every chunk, and scaled
# over all of them the 9th cosine counted nearly as much as the 1st (the sample's "ChatGLM-6B 有
# 多少参数？" then opened with a LLaMA chunk that BM25 put first). 20 / 30 tried on eval/real tune:
# hit@1 0.733 / 0.717, hit@5 0.942 / 0.950, MRR 0.821 / 0.816, quote answers 0.733 / 0.758; at 30
# that sample question's two best chunks swap (they tie under rank fusion too) and its reply
# quotes fine-tuning memory instead of the parameter count, so 20.
NORM_DEPTH = 20
# Fused scores are put on reciprocal-rank fusion's scale (first in both lists: 2 / (60 + 1)), so
# the shares of a first place that the rerankers add (`rrf_term`) weigh what they were tuned to.
FUSED_SCALE = rrf_term(1, 2.0)


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

        # (chunk id -> score) in each list's order, best first
        dense: dict[int, float] = {}
        if request.mode in {"hybrid", "dense"}:
            dense = dict(self.store.dense.search(query_vector, pool, allowed))
        bm25: dict[int, float] = {}
        if request.mode in {"hybrid", "bm25"}:
            bm25 = dict(self.store.lexical.search(query, pool, allowed))

        fused = _fuse(dense, bm25)
        order = best_first(fused)
        cosine = dict(dense)

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
        # Those under another heading are another topic: on eval/real tune, expand 1 and 2 over
        # any neighbour cost quote answers 0.758 -> 0.708 and 0.633; within the section, 0.742.
        same_page = [
            c
            for c in around
            if c.metadata.get("page") == row.metadata.get("page")
            and c.metadata.get("kind") != TABLE
            and c.metadata.get("heading") == row.metadata.get("heading")
        ]
        hit.text = "\n".join(chunk.text for chunk in same_page) or hit.text
        hit.extra["expanded_positions"] = [chunk.position for chunk in same_page]


def _fuse(dense: dict[int, float], bm25: dict[int, float]) -> dict[int, float]:
    """The fused score of every candidate: DENSE_WEIGHT of its scaled cosine and the rest of its
    scaled BM25 score; a list that found nothing gives its share to the other."""
    lists = [
        (scores, weight)
        for scores, weight in ((dense, DENSE_WEIGHT), (bm25, 1 - DENSE_WEIGHT))
        if scores
    ]
    total = sum(weight for _, weight in lists) or 1.0
    fused = convex_scores(lists, NORM_DEPTH)
    return {chunk_id: score / total * FUSED_SCALE for chunk_id, score in fused.items()}


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
