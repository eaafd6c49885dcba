"""Fusion: several ranked lists into one score per item.

Reciprocal-rank fusion (RRF): an item at rank r (from 1) in a list of weight w gets
w / (RRF_K + r); its fused score is the sum over the lists it appears in. RRF_K = 60 is the usual
constant: it flattens the weight of the top ranks, so one list's first place does not outvote
agreement between lists.

Convex combination (`convex_scores`): where the lists carry scores, each list's scores are scaled
to [0, 1] over the list, or over its best few (min-max), and summed with weights. Unlike ranks, the scores keep how far
ahead a list's best item is: a chunk that BM25 alone finds far ahead of the rest (an exact name)
is not outvoted by chunks both lists rank tenth (Bruch et al. 2023, "An Analysis of Fusion
Functions for Hybrid Retrieval").
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

RRF_K = 60

K = TypeVar("K", bound=Hashable)


def rrf_term(rank: int, weight: float = 1.0, k: int = RRF_K) -> float:
    """The score one list gives the item at `rank` (1 is first); a smaller `k` weighs the top
    ranks more."""
    return weight / (k + rank)


def rrf_scores(rankings: Iterable[tuple[Sequence[K], float]]) -> dict[K, float]:
    """Fused scores of (ranked keys, weight) lists, keyed in the order items were first seen."""
    scores: dict[K, float] = {}
    for keys, weight in rankings:
        for rank, key in enumerate(keys, start=1):
            scores[key] = scores.get(key, 0.0) + rrf_term(rank, weight)
    return scores


def convex_scores(
    lists: Iterable[tuple[dict[K, float], float]], depth: int | None = None
) -> dict[K, float]:
    """Fused scores of (item -> score, weight) lists: the weighted sum of each list's scores
    scaled to [0, 1] (its best item 1, its worst 0, or with `depth` its `depth`-th best 0 and
    those below it too; a list whose scores are all equal gives 1); keyed in the order items
    were first seen."""
    fused: dict[K, float] = {}
    for scores, weight in lists:
        if not scores:
            continue
        ranked = sorted(scores.values(), reverse=True)
        low, high = ranked[min(depth, len(ranked)) - 1 if depth else -1], ranked[0]
        for key, score in scores.items():
            if high > low:
                scaled = max(0.0, (score - low) / (high - low))
            else:  # the best `depth` are equal: they count 1, those below them 0
                scaled = 1.0 if score >= high else 0.0
            fused[key] = fused.get(key, 0.0) + weight * scaled
    return fused


def best_first(scores: dict[K, float]) -> list[K]:
    """Keys by descending score; ties keep the order the keys were first seen in."""
    return sorted(scores, key=lambda key: -scores[key])
