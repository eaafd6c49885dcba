"""`kbqa bench store`: each store backend at 10k and 100k chunks, against its own engine.

Backends: the embedded default (SQLite + FTS5 + FAISS), Milvus Lite (a local .db; `--milvus-uri`
for a server) and PostgreSQL + pgvector (`--pg-uri`, else a pgserver started for the run when
the `pgserver` wheel is installed, as in the tests). For each, in one process:
- storing: chunks/s of the store's writes (records, lexical index, dense index), chunks of real
  sentences with random unit vectors (bench.common.fill_synthetic): embedding is the same for
  every backend and `kbqa bench ingest` measures it;
- the raw engine's own nearest-neighbour query (FAISS `index.search`, pgvector's `ORDER BY <#>`,
  Milvus's `search`) over the same vectors: the reference;
- kbqa's dense index search (the engine query plus kbqa's generation filter and id mapping), and
  its ratio to the raw query;
- kbqa's hybrid search (query embedding, dense, BM25, fusion, rows), and its ratio to the query
  embedding plus the raw query.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from kbqa.bench.common import fill_synthetic, latencies, machine, peak_rss_mb, percentile

BACKENDS = ("faiss", "milvus", "pgvector")
QUERIES = [
    "ChatGLM-6B 有多少参数？",
    "BLOOM 的词表有多大？",
    "如何配置代理端口？",
    "How many layers does LLaMA 7B have?",
    "What is ALiBi?",
    "default port",
]


@contextlib.contextmanager
def _pgserver(folder: Path) -> Iterator[str | None]:
    try:
        import pgserver
    except ImportError:
        yield None
        return
    server = pgserver.get_server(str(folder), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def _p(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):.2f} ms, p95 {percentile(values, 95):.2f} ms"


def _measure(kb, backend: str, size: int, queries: list[str]) -> None:
    started = time.perf_counter()
    fill_synthetic(kb, size)
    seconds = time.perf_counter() - started
    print(f"\n{backend}, {size} chunks: stored in {seconds:.1f} s ({size / seconds:,.0f} chunks/s)")
    kb.search("warm-up")  # loads the embedder, jieba and whatever the indexes cache
    index = kb.store.index()
    vectors = [kb.embedder.encode_query(q) for q in queries]
    raw = latencies(lambda v: index.search(v.reshape(1, -1), 5), vectors)
    dense = latencies(lambda v: kb.store.dense.search(v, 5), vectors)
    embed = latencies(kb.embedder.encode_query, queries)
    # the first stage only (`kbqa bench rerank` measures the second)
    hybrid = latencies(lambda q: kb.search(q, k=5, mode="hybrid", rerank="none"), queries)
    raw_p50, embed_p50 = percentile(raw, 50), percentile(embed, 50)
    print(f"  raw engine query (k=5):  {_p(raw)}")
    print(
        f"  kbqa dense index search: {_p(dense)}; ratio to raw {percentile(dense, 50) / raw_p50:.2f}"
    )
    print(f"  query embedding alone:   {_p(embed)}")
    print(
        f"  kbqa hybrid search:      {_p(hybrid)}; ratio to embedding + raw "
        f"{percentile(hybrid, 50) / (embed_p50 + raw_p50):.2f}"
    )


def run(args: argparse.Namespace) -> int:
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import Settings, StoreSettings

    folder = Path(tempfile.mkdtemp(prefix="kbqa-bench-store-"))
    settings = Settings(home=folder / "home")
    queries = (QUERIES * (args.queries // len(QUERIES) + 1))[: args.queries]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        print(f"unknown backends {', '.join(unknown)} (known: {', '.join(BACKENDS)})")
        return 2
    print(f"machine: {machine()}")
    with contextlib.ExitStack() as stack:
        for backend in backends:
            if backend == "faiss":
                uri = ""
            elif backend == "milvus":
                uri = args.milvus_uri or f"milvus://{folder}/milvus.db"
            else:
                uri = args.pg_uri or stack.enter_context(_pgserver(folder / "pg"))
                if not uri:
                    print(
                        "\npgvector: skipped (no --pg-uri and the pgserver wheel is not installed)"
                    )
                    continue
            for size in [int(s) for s in args.sizes.split(",")]:
                store = StoreSettings(uri=uri)
                kb = KnowledgeBase.create(
                    f"{backend}-{size}", settings.model_copy(update={"store": store})
                )
                try:
                    _measure(kb, backend, size, queries)
                finally:
                    kb.close()
                    with contextlib.suppress(Exception):
                        KnowledgeBase.delete(f"{backend}-{size}", settings)
    print(f"\npeak RSS: {peak_rss_mb():.0f} MB")
    return 0
