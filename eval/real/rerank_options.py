"""Reranking options the default install does not ship, measured against the ones it does.

Over the same fused candidates (hybrid search, top 30, no second stage), each option reorders the
best DEPTH and the figures are hit@1 (per language), hit@5 and MRR of the evidence, with the ms a
query the option adds on this machine:

- none: the fused order;
- sentences: the default second stage (`kbqa.chain.rerank.sentences`);
- late: late interaction over e5's token vectors (ColBERT's MaxSim: each query token's best
  cosine to any token of the chunk, averaged), a third list in the fusion;
- sentences+late: both;
- upr: the loaded LM's likelihood of the question given the passage (UPR, Sachan et al. 2022),
  a third list in the fusion; the passage is cut to UPR_TOKENS tokens;
- sentences+upr: both.

    KBQA_HOME=/tmp/realhome python eval/real/rerank_options.py tune late upr
    KBQA_HOME=/tmp/realhome python eval/real/rerank_options.py test late upr

Slow (the LM reads five passages a question): a benchmark, not a test.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kbqa.chain.rerank.sentences import SentenceReranker
from kbqa.chain.rewrite import Turn, rewrite
from kbqa.eval.dataset import Prediction, read_questions
from kbqa.eval.metrics import first_hit_rank, has_retrieval_truth
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import Settings
from kbqa.text.fusion import rrf_term
from kbqa.text.language import detect_language
from kbqa.types import Hit

DEPTH = 5
UPR_TOKENS = 128
UPR_PROMPT = "\nPlease write a question based on this passage.\nQuestion:"


def candidates(kb: KnowledgeBase, split: str) -> list[tuple[object, str, list[Hit]]]:
    """(question, the query retrieval ran, its fused top 30) for each answerable question."""
    rows = []
    for q in read_questions(Path(__file__).with_name(f"{split}.jsonl")):
        if q.kind == "unanswerable" or not has_retrieval_truth(q):
            continue
        turns: list[Turn] = []
        for text in q.conversation:
            rw = rewrite(text, turns, detect_language(text), mode="history", llm=None,
                         template=None, llm_capable=False)  # fmt: skip
            hits = kb.search(rw.query, k=30, rerank="none")
            sources = tuple(dict.fromkeys((h.source, h.page) for h in hits[:1]))
            turns.append(Turn(question=text, query=rw.query, answer="", sources=sources,
                              resolved=rw.question))  # fmt: skip
        rows.append((q, rw.query, hits))
    return rows


class LateInteraction:
    """MaxSim of e5's (the torch engine's) last hidden states, prefix and special tokens out."""

    def __init__(self, embedder) -> None:
        self.engine = embedder._torch

    def states(self, text: str, is_query: bool) -> np.ndarray:
        import torch

        engine = self.engine
        ids = engine.content_ids([text], is_query=is_query)[0][: engine.window]
        prefix = len(engine.content_ids([""], is_query=is_query)[0])
        tok = engine.tokenizer
        with torch.inference_mode(), engine._autocast():
            batch = torch.tensor([[tok.bos, *ids, tok.eos]])
            hidden = engine.model(input_ids=batch).last_hidden_state.float()[0].numpy()
        hidden = hidden[1 + prefix : -1]
        return hidden / np.maximum(np.linalg.norm(hidden, axis=1, keepdims=True), 1e-12)

    def scores(self, query: str, hits: list[Hit]) -> list[float]:
        q = self.states(query, True)
        return [
            float((q @ self.states(f"{h.heading or ''}\n{h.text}", False).T).max(axis=1).mean())
            for h in hits
        ]


class QuestionLikelihood:
    """UPR: mean log-probability of the question's tokens after the passage, by the loaded LM."""

    def __init__(self, settings: Settings) -> None:
        from kbqa.llm.cache import shared_models

        self.backend = shared_models().lease(settings).backend

    def scores(self, query: str, hits: list[Hit]) -> list[float]:
        passages = [f"Passage: {h.heading or ''}\n{h.text}" for h in hits]
        scored = self.backend.continuation_logprobs(passages, " " + query, UPR_TOKENS, UPR_PROMPT)
        if scored is None:
            raise SystemExit("upr needs a backend that scores text (the transformers backend)")
        return [sum(row) / len(row) for row in scored]


def with_list(base: list[float], extra: list[float]) -> list[int]:
    """The order of `base` scores plus one fused list ranking the first len(extra) by `extra`."""
    added = [0.0] * len(base)
    for rank, i in enumerate(sorted(range(len(extra)), key=lambda i: -extra[i]), start=1):
        added[i] = rrf_term(rank)
    return sorted(range(len(base)), key=lambda i: -(base[i] + added[i]))


def figures(rows, orders: list[list[int]]) -> str:
    ranks = {"zh": [], "en": []}
    for (q, _, hits), order in zip(rows, orders, strict=True):
        rank = first_hit_rank(q, Prediction.from_hits(q.id, [hits[i] for i in order]).retrieved)
        ranks["zh" if "-zh-" in q.id else "en"].append(rank)
    every = ranks["zh"] + ranks["en"]

    def hit(rs, k):
        return sum(1 for r in rs if r and r <= k) / len(rs)

    mrr = sum(1 / r for r in every if r) / len(every)
    return (
        f"hit@1 {hit(every, 1):.3f} (zh {hit(ranks['zh'], 1):.3f}, en {hit(ranks['en'], 1):.3f})"
        f"  hit@5 {hit(every, 5):.3f}  MRR {mrr:.3f}"
    )


def main() -> None:
    split, options = sys.argv[1], sys.argv[2:] or ["late", "upr"]
    settings = Settings.load()
    kb = KnowledgeBase.open("real", settings)
    rows = candidates(kb, split)
    sentences = SentenceReranker(kb.embedder)
    fused = [[float(h.extra.get("fused", 0.0)) for h in hits] for _, _, hits in rows]
    timed: dict[str, float] = {}
    started = time.perf_counter()
    by_sentence = [sentences.scores(query, hits) for _, query, hits in rows]
    timed["sentences"] = time.perf_counter() - started
    orders = {
        "none": [list(range(len(hits))) for _, _, hits in rows],
        "sentences": [sorted(range(len(s)), key=lambda i: -s[i]) for s in by_sentence],
    }
    makers: dict[str, Callable[[], object]] = {
        "late": lambda: LateInteraction(kb.embedder),
        "upr": lambda: QuestionLikelihood(settings),
    }
    for option in options:
        scorer = makers[option]()
        started = time.perf_counter()
        scores = [scorer.scores(query, hits[:DEPTH]) for _, query, hits in rows]
        timed[option] = time.perf_counter() - started
        orders[option] = [with_list(f, s) for f, s in zip(fused, scores, strict=True)]
        orders[f"sentences+{option}"] = [
            with_list(b, s) for b, s in zip(by_sentence, scores, strict=True)
        ]
    for name, order in orders.items():
        added = sum(timed.get(part, 0.0) for part in name.split("+")) * 1000 / len(rows)
        print(f"{split:5} {name:16} {figures(rows, order)}  +{added:.0f} ms/query")


if __name__ == "__main__":
    main()
