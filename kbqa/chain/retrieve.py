"""Retrieval for one turn: the standalone query, with the earlier answer's sources boosted.

A follow-up is searched with its standalone query (rewrite.py), never with the raw last message
alone. Fusing in the raw message's own results was tried and dropped: a generic follow-up ("And
what is its default value?") matches every page of a configuration reference, and those pages then
outrank the subject's passage (on the dev set, one follow-up's evidence fell from rank 1 to 9).
Chunks from the pages the previous answer cited get a small boost (a few ranks at most), since a
follow-up usually asks about the same place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kbqa.text.fusion import best_first, rrf_scores, rrf_term
from kbqa.types import Hit

SOURCE_BOOST = 0.3  # extra weight, as a fraction of a rank-1 vote, for the earlier answer's pages


def _key(hit: Hit) -> Any:
    return hit.chunk_id or (hit.source, hit.page, hit.position)


def fuse(
    rankings: list[tuple[list[Hit], float]],
    k: int,
    boost: Iterable[tuple[str, int | None]] = (),
) -> list[Hit]:
    """Weighted reciprocal-rank fusion of hit lists, best first, at most `k`; a chunk found in
    several lists keeps its highest cosine."""
    boosted = set(boost)
    score = rrf_scores([([_key(hit) for hit in hits], weight) for hits, weight in rankings])
    best: dict[Any, Hit] = {}
    for hits, _weight in rankings:
        for hit in hits:
            key = _key(hit)
            if key not in best or hit.score > best[key].score:
                best[key] = hit
    for key, hit in best.items():
        if (hit.source, hit.page) in boosted:
            score[key] += rrf_term(1, SOURCE_BOOST)
    order = best_first(score)
    return [best[key] for key in order[:k]]


def retrieve(
    kb: Any,
    query: str,
    k: int,
    *,
    boost: Iterable[tuple[str, int | None]] = (),
    mode: str | None = None,
    threshold: float | None = None,
    expand: int | None = None,
) -> list[Hit]:
    """The chunks for this turn, best first, searched with the caller's settings (None: the
    knowledge base's own)."""
    boost = tuple(boost)
    options = {"mode": mode, "threshold": threshold, "expand": expand}
    if not boost:
        return kb.search(query, k=k, **options)
    # A deeper pool, so the boost can lift a chunk ranked just below the cut.
    hits = kb.search(query, k=max(k, 10), **options)
    return fuse([(hits, 1.0)], k, boost)
