"""The reranker contract: a query and its fused candidates in, the same hits reordered out."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from kbqa.types import Hit


class Reranker(ABC):
    #: the registered name, reported by `kbqa search` and the benchmarks
    name: str

    @abstractmethod
    def scores(
        self, query: str, hits: list[Hit], query_vector: np.ndarray | None = None
    ) -> list[float]:
        """One relevance score per hit (higher is better), in the hits' order. `query_vector`
        is the query as the searcher embedded it, for a stage that embeds (None: not given)."""

    def rerank(
        self, query: str, hits: list[Hit], query_vector: np.ndarray | None = None
    ) -> list[Hit]:
        """`hits` best first by `scores`; ties keep the fused order. Each hit's score is kept
        in `hit.extra["rerank"]`."""
        if len(hits) < 2:
            return list(hits)
        values = self.scores(query, hits, query_vector)
        for hit, value in zip(hits, values, strict=True):
            hit.extra["rerank"] = float(value)
        order = sorted(range(len(hits)), key=lambda i: -values[i])
        return [hits[i] for i in order]
