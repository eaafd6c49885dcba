"""Retrieval for one turn: the standalone query, plus the raw follow-up and the earlier sources.

For a follow-up, the rewritten query finds the subject's passages, but the user's own words may
still matter (a rewrite can go wrong), so both result lists are fused by reciprocal rank, the
rewritten one weighted higher; chunks from the pages the previous answer cited get a small boost.
A chunk found by both keeps its higher cosine, which is what the refusal cut-off reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kbqa.types import Hit

RRF_K = 60
RAW_WEIGHT = 0.5  # the raw follow-up's list, next to the rewritten query's (1.0)
SOURCE_BOOST = 0.3  # extra weight, as a fraction of a rank-1 vote, for the earlier answer's pages


def _key(hit: Hit) -> Any:
    return hit.chunk_id or (hit.source, hit.page, hit.position)


def fuse(
    rankings: list[tuple[list[Hit], float]],
    k: int,
    boost: Iterable[tuple[str, int | None]] = (),
) -> list[Hit]:
    """Weighted reciprocal-rank fusion of several hit lists, best first, at most `k`."""
    boosted = set(boost)
    score: dict[Any, float] = {}
    best: dict[Any, Hit] = {}
    for hits, weight in rankings:
        for rank, hit in enumerate(hits, start=1):
            key = _key(hit)
            score[key] = score.get(key, 0.0) + weight / (RRF_K + rank)
            if key not in best or hit.score > best[key].score:
                best[key] = hit
    for key, hit in best.items():
        if (hit.source, hit.page) in boosted:
            score[key] += SOURCE_BOOST / (RRF_K + 1)
    order = sorted(score, key=lambda key: -score[key])
    return [best[key] for key in order[:k]]


def retrieve(
    kb: Any,
    query: str,
    question: str,
    k: int,
    *,
    follow_up: bool = False,
    boost: Iterable[tuple[str, int | None]] = (),
    mode: str | None = None,
) -> list[Hit]:
    """The chunks for this turn, best first."""
    fetch = max(k, 10)  # a deeper pool, so fusion can promote what one list ranks 6th-10th
    hits = kb.search(query, k=fetch, mode=mode)
    if not follow_up:
        return hits[:k]
    lists = [(hits, 1.0)]
    if question.strip() != query.strip():
        lists.append((kb.search(question, k=fetch, mode=mode), RAW_WEIGHT))
    return fuse(lists, k, boost)
