"""`kbqa bench retrieval`: hit@1, hit@5 and MRR on the dev set, per embedder and retrieval mode.

Builds one knowledge base per embedder from knowledge/ and eval/corpus/ (what the dev set asks
about) in a temporary home, then scores dense, BM25 and hybrid retrieval, and hybrid with
follow-up rewriting switched off (the peers' raw-last-message retrieval) for comparison.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kbqa.bench.common import REPO, machine


def run(args: argparse.Namespace) -> int:
    from kbqa.eval.dataset import read_questions
    from kbqa.eval.metrics import compute_metrics
    from kbqa.eval.runner import run_retrieval
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import EmbedderSettings, RetrievalSettings, Settings

    questions = read_questions(Path(args.questions))
    home = Path(tempfile.mkdtemp(prefix="kbqa-bench-"))
    print(f"machine: {machine()}")
    rerank = args.rerank or RetrievalSettings().rerank
    print(f"questions: {args.questions} ({len(questions)}); rerank: {rerank}\n")
    header = f"{'embedder':24} {'mode':16} {'lang':4} {'hit@1':>6} {'hit@5':>6} {'MRR':>6}"
    rows: list[str] = []
    for name in args.embedders.split(","):
        embedder = EmbedderSettings(name=name, precision=args.precision)
        retrieval = RetrievalSettings(rerank=rerank)
        settings = Settings(home=home, embedder=embedder, retrieval=retrieval)
        kb = KnowledgeBase.create(f"dev-{len(rows)}", settings)
        report = kb.add([REPO / "knowledge", REPO / "eval" / "corpus"])
        print(f"{name}: ingested {report.chunks_added} chunks in {report.seconds:.1f} s")
        runs = [("dense", "history"), ("bm25", "history"), ("hybrid", "history"), ("hybrid", "off")]
        for mode, rewrite in runs:
            started = time.perf_counter()
            predictions = list(run_retrieval(kb, questions, k=10, mode=mode, rewrite_mode=rewrite))
            seconds = time.perf_counter() - started
            metrics = compute_metrics(questions, predictions)
            label = mode if rewrite != "off" else "hybrid, raw turn"
            groups = [("all", metrics.overall), *metrics.by_lang.items()]
            for lang, group in groups:
                rows.append(
                    f"{name:24} {label:16} {lang:4} {_f(group.hit_at.get(1))} "
                    f"{_f(group.hit_at.get(5))} {_f(group.mrr)}"
                )
            multi = metrics.by_kind.get("multi-turn")
            fact = metrics.by_kind.get("fact")
            if multi and fact:
                rows.append(
                    f"{'':24} {label:16} hit@5 fact {_f(fact.hit_at.get(5))}, multi-turn "
                    f"{_f(multi.hit_at.get(5))}; {1000 * seconds / len(questions):.0f} ms/question"
                )
        kb.close()
    print()
    print(header)
    print("\n".join(rows))
    return 0


def _f(value: float | None) -> str:
    return f"{value:6.3f}" if value is not None else "     -"
