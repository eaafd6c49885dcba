"""Reciprocal-rank fusion (RRF): several ranked lists into one score per item.

An item at rank r (from 1) in a list of weight w gets w / (RRF_K + r); its fused score is the sum
over the lists it appears in. RRF_K = 60 is the usual constant: it flattens the weight of the top
ranks, so one list's first place does not outvote agreement between lists.
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


def best_first(scores: dict[K, float]) -> list[K]:
    """Keys by descending score; ties keep the order the keys were first seen in."""
    return sorted(scores, key=lambda key: -scores[key])
