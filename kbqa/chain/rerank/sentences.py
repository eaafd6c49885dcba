"""e5 at sentence level: each of the best few candidates scored by its best single sentence.

A chunk's vector averages everything the chunk says; a manual answers in one line ("InhibitorsMax=
… defaults to 8192"), and a chunk holding that line among ten others can score below a chunk that
is about the topic in general. This stage embeds the sentences (lines of a man page, with the
option name or heading they belong to) of the best `depth` fused candidates with the knowledge
base's own embedder, and adds a third ranked list to the reciprocal-rank fusion: the candidates
ordered by their best sentence's cosine to the query. Fusing ranks keeps the stage free of a
weight on e5's narrow cosine range (0.75-0.9 for most text). A candidate that gives the kind of
answer asked for ("默认值是…" for "不配置时…", "-A NUM" for "用哪个选项") gains a little
(KIND_WEIGHT): the classic answer-type check, on the same kinds the quote choice reads.

The default second stage. On eval/real `tune` it lifts hit@1 from 0.650 to 0.700, on eval/dev
from 0.937 to 0.968 (depths 3-12 and weights 0.5-2 were tried on `tune` only; from depth 5 on
the figures hold). Cost: one embedding pass over the candidates' sentences, so it grows with
`depth`: about +0.33 s a query on 2 cores (docs/benchmarks.md, "Eighth session"). Vectors are
cached by sentence, so a follow-up on the same pages costs little.
"""

from __future__ import annotations

import numpy as np

from kbqa.chain.answer_kinds import asked_kinds, given_kinds
from kbqa.chain.rerank.base import Reranker
from kbqa.chain.sentence_vectors import sentence_unit, shared_sentence_vectors
from kbqa.chain.terms import sentences
from kbqa.embedders import Embedder
from kbqa.text.fusion import rrf_term
from kbqa.types import Hit

# Candidates whose sentences are embedded (3-12 tried on eval/real tune: the same hit@1 from 5).
DEPTH = 5
WEIGHT = 1.0  # the sentence list's weight in the fusion, against 1.0 each for dense and BM25
MAX_SENTENCES = 24  # per candidate, so one long table chunk cannot dominate the cost
# A candidate giving every kind of answer the question asks for (a default, a number, an option:
# `answer_kinds`) gains this share of a first place in one fused list (0.3-1.8 tried on eval/real
# tune: hit@1 0.708 -> 0.725 at 0.3, 0.717 from 0.6 on).
KIND_WEIGHT = 0.3


class SentenceReranker(Reranker):
    name = "sentences"

    def __init__(
        self,
        embedder: Embedder,
        *,
        depth: int = DEPTH,
        weight: float = WEIGHT,
    ) -> None:
        self.embedder = embedder
        self.depth = depth
        self.weight = weight
        self.vectors = shared_sentence_vectors(embedder)

    def scores(
        self, query: str, hits: list[Hit], query_vector: np.ndarray | None = None
    ) -> list[float]:
        fused = [float(hit.extra.get("fused", 0.0)) for hit in hits]
        head = hits[: self.depth]
        best = self.best_sentence_cosines(query, head, query_vector)
        order = sorted(range(len(head)), key=lambda i: -best[i])
        extra = [0.0] * len(hits)
        for rank, index in enumerate(order, start=1):
            extra[index] = rrf_term(rank, self.weight)
        asked = asked_kinds(query)
        if asked:
            for index, hit in enumerate(head):
                given = given_kinds(f"{hit.heading or ''}\n{hit.text}", asked)
                extra[index] += rrf_term(1, KIND_WEIGHT * len(given) / len(asked))
        return [f + e for f, e in zip(fused, extra, strict=True)]

    def best_sentence_cosines(
        self, query: str, hits: list[Hit], query_vector: np.ndarray | None = None
    ) -> list[float]:
        """The highest cosine between the query and any sentence of each hit (`query_vector`:
        the query already embedded by the searcher; embedded here when None)."""
        units = [_units(hit) for hit in hits]
        if query_vector is None:
            query_vector = self.embedder.encode_query(query)
        flat = self.vectors.cosines(query, [u for group in units for u in group], query_vector)
        out, at = [], 0
        for group in units:
            out.append(max(flat[at : at + len(group)], default=0.0))
            at += len(group)
        return out


def _units(hit: Hit) -> list[str]:
    """The sentences of a hit as the embedder sees them: under the hit's heading."""
    found = [s for s in sentences(hit.text) if len(s) > 3][:MAX_SENTENCES]
    return [sentence_unit(hit.heading, s) for s in found] or [sentence_unit(hit.heading, hit.text)]
