"""A lexical reranker: how much of the question each candidate covers, and how closely.

No model, a few milliseconds for 30 candidates. Fusion ranks a chunk by each list's rank only;
this stage reads the candidates' text and asks two things of each, over the question's key terms
(content words, and names such as "InhibitorsMax" or "--line-ranges", matched whole):

- coverage: the share of the question's terms (weighted by their rarity among the candidates, so
  words every candidate has count little) that the chunk or its heading contains;
- proximity: the same share within the chunk's best single sentence or line: a manual answers in
  one place, where the question's terms meet.

score = fused score (scaled to the best candidate's) + COVERAGE * coverage + PROXIMITY * proximity.
The weights were chosen on eval/real's `tune` split only (0.2 and 0.2 of 0-0.5 tried). It is not
the default: on `tune` it lifts hit@1 from 0.575 to 0.675, but on `test` it does not help (0.750
to 0.740) and on eval/dev it costs 0.03 (0.937 to 0.905): docs/benchmarks.md, "Reranking".
"""

from __future__ import annotations

import math

import numpy as np

from kbqa.chain.relevance import name_pattern, names, normal_text
from kbqa.chain.rerank.base import Reranker
from kbqa.chain.terms import key_terms, sentences
from kbqa.types import Hit

COVERAGE = 0.2
PROXIMITY = 0.2


class TermReranker(Reranker):
    name = "terms"

    def __init__(self, coverage: float = COVERAGE, proximity: float = PROXIMITY) -> None:
        self.coverage = coverage
        self.proximity = proximity

    def scores(
        self, query: str, hits: list[Hit], query_vector: np.ndarray | None = None
    ) -> list[float]:
        return [
            _prior(hit, hits) + self.coverage * coverage + self.proximity * proximity
            for hit, (coverage, proximity) in zip(hits, term_shares(query, hits), strict=True)
        ]


def term_shares(query: str, hits: list[Hit]) -> list[tuple[float, float]]:
    """(coverage, proximity) of each hit: the rarity-weighted share of the question's terms the
    chunk (or its heading) holds, and that its best single sentence holds; 0 without terms."""
    matchers = _matchers(query)
    if not matchers:
        return [(0.0, 0.0) for _ in hits]
    texts = [normal_text(f"{hit.heading or ''}\n{hit.text}") for hit in hits]
    weights = _rarity(matchers, texts)
    total = sum(weights.values()) or 1.0
    shares = []
    for hit, text in zip(hits, texts, strict=True):
        found = {term for term, match in matchers.items() if match(text)}
        coverage = sum(weights[t] for t in found) / total
        proximity = 0.0
        if found:
            for sentence in sentences(hit.text) or [hit.text]:
                normal = normal_text(sentence)
                share = sum(weights[t] for t in found if matchers[t](normal)) / total
                proximity = max(proximity, share)
        shares.append((coverage, proximity))
    return shares


def _prior(hit: Hit, hits: list[Hit]) -> float:
    """The fused score scaled to the best candidate's (1.0 for it)."""
    best = max(float(h.extra.get("fused", 0.0)) for h in hits) or 1.0
    return float(hit.extra.get("fused", 0.0)) / best


def _matchers(query: str):
    """term -> a test on normalised text: names matched whole, words as substrings."""
    matchers = {}
    for name in names(query):
        pattern = name_pattern(name)
        matchers[f"name:{name.lower()}"] = lambda text, p=pattern: bool(p.search(text))
    for term in key_terms(query):
        term = normal_text(term)
        if term and f"name:{term}" not in matchers:
            matchers[term] = lambda text, t=term: t in text
    return matchers


def _rarity(matchers: dict, texts: list[str]) -> dict[str, float]:
    """Each term's weight: log(1 + n / df) over the candidates (0 when no candidate has it)."""
    n = len(texts)
    weights = {}
    for term, match in matchers.items():
        df = sum(1 for text in texts if match(text))
        weights[term] = math.log(1 + n / df) if df else 0.0
    return weights
