"""`kbqa bench search`: search latency over 10k and 100k chunks vs raw FAISS on the same index.

The chunks' vectors are random unit vectors (embedding 100k real chunks would take an hour on
2 cores); their texts are real sentences, so BM25 does real work. Query embedding is included in
kbqa's figure, and reported separately, so the ratio shows the cost of everything else.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kbqa.bench.common import fill_synthetic, latencies, machine, peak_rss_mb, percentile


def run(args: argparse.Namespace) -> int:
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="kbqa-bench-")))
    print(f"machine: {machine()}")
    queries_zh = ["ChatGLM-6B 有多少参数？", "BLOOM 的词表有多大？", "如何配置代理端口？"]
    queries_en = ["How many layers does LLaMA 7B have?", "What is ALiBi?", "default port"]
    queries = (queries_zh + queries_en) * (args.queries // 6 + 1)
    queries = queries[: args.queries]
    for size in [int(s) for s in args.sizes.split(",")]:
        kb = KnowledgeBase.create(f"s{size}", settings)
        started = time.perf_counter()
        fill_synthetic(kb, size)
        print(f"\n{size} chunks stored in {time.perf_counter() - started:.1f} s")

        kb.search("warm-up")  # loads the embedder, jieba and the index
        index = kb.store.index()
        vectors = [kb.embedder.encode_query(q) for q in queries[:20]]

        embed_ms = latencies(kb.embedder.encode_query, queries)
        raw_ms = latencies(
            lambda v, index=index: index.search(v.reshape(1, -1), 5),
            vectors * (len(queries) // 20 + 1),
        )
        rows = {}
        for mode in ("dense", "bm25", "hybrid"):
            # The first stage only: `kbqa bench rerank` measures the second.
            rows[mode] = latencies(
                lambda q, m=mode, kb=kb: kb.search(q, k=5, mode=m, rerank="none"), queries
            )
        raw_p50 = percentile(raw_ms, 50)
        embed_p50 = percentile(embed_ms, 50)
        print(
            f"  query embedding alone: p50 {embed_p50:.2f} ms, p95 {percentile(embed_ms, 95):.2f} ms"
        )
        print(
            f"  raw FAISS search (k=5): p50 {raw_p50:.3f} ms, p95 {percentile(raw_ms, 95):.3f} ms"
        )
        for mode, values in rows.items():
            p50 = percentile(values, 50)
            print(
                f"  kbqa {mode:6} search: p50 {p50:.2f} ms, p95 {percentile(values, 95):.2f} ms; "
                f"ratio to embedding + raw FAISS {p50 / (embed_p50 + raw_p50):.2f}"
            )
    print(f"\npeak RSS: {peak_rss_mb():.0f} MB")
    return 0
