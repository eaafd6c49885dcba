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

import numpy as np

from kbqa.bench.common import machine, peak_rss_mb, percentile, synthetic_pages


def run(args: argparse.Namespace) -> int:
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import Settings
    from kbqa.store.chunk_store import FileRecord, NewChunk

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="kbqa-bench-")))
    print(f"machine: {machine()}")
    queries_zh = ["ChatGLM-6B 有多少参数？", "BLOOM 的词表有多大？", "如何配置代理端口？"]
    queries_en = ["How many layers does LLaMA 7B have?", "What is ALiBi?", "default port"]
    queries = (queries_zh + queries_en) * (args.queries // 6 + 1)
    queries = queries[: args.queries]
    for size in [int(s) for s in args.sizes.split(",")]:
        kb = KnowledgeBase.create(f"s{size}", settings)
        dimension = kb.embedder.dimension
        rng = np.random.default_rng(0)
        texts = synthetic_pages(size, 200, seed=size)
        started = time.perf_counter()
        with kb.store.writer():
            for start in range(0, size, 5000):
                part = texts[start : start + 5000]
                vectors = rng.standard_normal((len(part), dimension)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                record = FileRecord(
                    f"part{start}.txt", f"part{start}.txt", None, "0", 0, 0.0, None, len(part), 0.0
                )
                chunks = [
                    NewChunk(
                        uid=f"part{start}.txt#{i}",
                        text=text,
                        metadata={
                            "source": record.source,
                            "path": record.doc,
                            "position": i,
                            "page": None,
                        },
                        doc=record.doc,
                        position=i,
                    )
                    for i, text in enumerate(part)
                ]
                kb.store.replace_documents([(record, chunks, vectors)])
            kb.store.save_index()
        print(f"\n{size} chunks stored in {time.perf_counter() - started:.1f} s")

        kb.search("warm-up")  # loads the embedder, jieba and the index
        index = kb.store.index()
        vectors = [kb.embedder.encode_query(q) for q in queries[:20]]

        def latencies(function, items) -> list[float]:
            out = []
            for item in items:
                started = time.perf_counter()
                function(item)
                out.append((time.perf_counter() - started) * 1000)
            return out

        embed_ms = latencies(kb.embedder.encode_query, queries)
        raw_ms = latencies(
            lambda v, index=index: index.search(v.reshape(1, -1), 5),
            vectors * (len(queries) // 20 + 1),
        )
        rows = {}
        for mode in ("dense", "bm25", "hybrid"):
            rows[mode] = latencies(lambda q, m=mode, kb=kb: kb.search(q, k=5, mode=m), queries)
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
