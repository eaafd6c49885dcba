"""`kbqa bench rerank`: hit@1, hit@5, MRR and ms per query of each second stage, on a question set.

Runs the same retrieval (hybrid, top 10, follow-ups rewritten from history, as `kbqa eval
--retrieval-only`) once per reranker over one knowledge base, and reports what each adds to the
time of a query against the fused order ("none") measured in the same process.

    kbqa ingest eval/real/docs --kb real
    kbqa bench rerank --kb real --questions eval/real/tune.jsonl,eval/real/test.jsonl
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from kbqa.bench.common import machine


def run(args: argparse.Namespace) -> int:
    from kbqa.eval.dataset import read_questions
    from kbqa.eval.metrics import compute_metrics
    from kbqa.eval.runner import run_retrieval
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import Settings

    settings = Settings.load()
    kb = KnowledgeBase.open(args.kb, settings)
    rerankers = args.rerankers.split(",")
    print(f"machine: {machine()}")
    print(f"knowledge base: {args.kb} ({kb.settings.embedder.name}); candidates {args.candidates}")
    header = (
        f"{'questions':18} {'reranker':14} {'lang':4} {'n':>4} {'hit@1':>6} {'hit@5':>6} "
        f"{'MRR':>6} {'ms/query':>9} {'added':>7}"
    )
    print(header)
    for path in args.questions.split(","):
        questions = read_questions(Path(path))
        base_ms: float | None = None
        for name in rerankers:
            retrieval = kb.settings.retrieval.model_copy(
                update={"rerank": name, "rerank_candidates": args.candidates}
            )
            kb.settings = kb.settings.model_copy(update={"retrieval": retrieval})
            kb.search("warm-up", k=5)  # loads the reranker's model outside the timing
            queries = sum(len(q.conversation) for q in questions)
            started = time.perf_counter()
            predictions = list(run_retrieval(kb, questions, k=10, mode=args.mode))
            ms = 1000 * (time.perf_counter() - started) / queries
            base_ms = ms if base_ms is None else base_ms
            report = compute_metrics(questions, predictions)
            for lang, group in [("all", report.overall), *report.by_lang.items()]:
                added = f"{ms - base_ms:+7.0f}" if lang == "all" else ""
                timing = f"{ms:9.0f}" if lang == "all" else " " * 9
                print(
                    f"{Path(path).name:18} {name:14} {lang:4} {group.retrieval_n:4} "
                    f"{_f(group.hit_at.get(1))} {_f(group.hit_at.get(5))} {_f(group.mrr)} "
                    f"{timing} {added}"
                )
    kb.close()
    return 0


def _f(value: float | None) -> str:
    return f"{value:6.3f}" if value is not None else "     -"
